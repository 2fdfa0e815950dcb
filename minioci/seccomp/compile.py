"""Profile → BPF with libseccomp, through pyseccomp.  Imported only on a cache
miss: `import pyseccomp` alone costs ~30 ms (ctypes, and ctypes.util runs
`ldconfig -p`), more than the rest of a container start.

The steps are crun's (so the program is byte-identical to the one crun
builds): seccomp_init with the default action, each architecture added, then
every rule whose action differs from the default (libseccomp refuses the
others, and the default does their job), then seccomp_export_bpf.
"""
import errno
import os

from .. import log
from ..errors import ConfigError, MiniociError, strerror

NR_SCMP_ERROR = -1        # what libseccomp resolves an unknown syscall name to


def compile_profile(profile):
    """The BPF program (bytes) for a profile.Profile."""
    pyseccomp = _pyseccomp()
    f = pyseccomp.SyscallFilter(profile.default_action)
    where = f"{profile.where}.architectures" if profile.where else "architectures"
    for i, (name, token) in enumerate(profile.architectures):
        try:
            f.add_arch(token)
        except OSError as e:
            if e.errno == errno.EEXIST:        # the native one is there from the start
                continue
            why = ("its byte order differs from this machine's" if e.errno == errno.EDOM
                   else f"libseccomp {library()[0]} does not support it")
            raise ConfigError(profile.file, f"{where}[{i}]", f"{name} cannot be added: {why}") from None
    for rule in profile.rules:
        if rule.action == profile.default_action:
            continue
        conditions = [pyseccomp.Arg(index, op, value, value_two) for index, op, value, value_two in rule.args]
        # Two conditions on one argument cannot be ANDed by libseccomp: like
        # runc and crun, each becomes a rule of its own.
        one_each = len({a[0] for a in rule.args}) < len(rule.args)
        for j, name in enumerate(rule.names):
            nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            if nr == NR_SCMP_ERROR:
                log.debug(f"seccomp: unknown syscall {name!r} ignored ({rule.path}.names[{j}])")
                continue
            try:
                if one_each:
                    for cond in conditions:
                        f.add_rule(rule.action, nr, cond)
                else:
                    f.add_rule(rule.action, nr, *conditions)
            except OSError as e:
                raise ConfigError(profile.file, f"{rule.path}.names[{j}]",
                                  f"libseccomp refused the rule for {name!r}: {strerror(e.errno)}") from None
    fd = os.memfd_create("minioci-seccomp", os.MFD_CLOEXEC)
    with open(fd, "w+b") as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def _pyseccomp():
    try:
        import pyseccomp
    except (ImportError, RuntimeError) as e:      # RuntimeError: it found no libseccomp
        raise MiniociError(f"compiling linux.seccomp needs pyseccomp and libseccomp "
                           f"(pip install 'minioci[seccomp]'): {e}") from None
    return pyseccomp


def library():
    """(version, path) of the libseccomp this process has loaded."""
    import ctypes
    _pyseccomp()          # loads the library
    path = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.rstrip("\n").split(None, 5)
            if len(fields) == 6 and "/libseccomp.so" in fields[5] and not fields[5].endswith("(deleted)"):
                path = fields[5]
                break
    if path is None:
        raise OSError(errno.ENOENT, "libseccomp is not loaded")

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    lib = ctypes.CDLL(path)
    lib.seccomp_version.restype = ctypes.POINTER(Version)
    v = lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}", path
