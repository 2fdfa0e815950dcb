"""Seccomp: the OCI `linux.seccomp` section compiled once into BPF, then
loaded from a verified cache.

    profile.py       linux.seccomp → Profile (validated plain data, JSON-path errors)
    filter_flags.py  seccomp(2)'s flags: their names, and what this kernel takes
    key.py           the cache key: the whole seccomp object, libseccomp, machine, kernel
    cache.py         <root>/seccomp-cache/: verified entries, atomic writes, LRU bound, trust
    compile.py       Profile → BPF with pyseccomp (imported on a cache miss only)
    bpf.py           sanity checks of a BPF program
    notify.py        SCMP_ACT_NOTIFY: the listener socket and the state it receives
    commands.py      `minioci seccomp compile|cache [clear]`

The child loads the program (native/child.c, step "seccomp"); this package
only decides what it loads.  Importing it is cheap: what is heavy (pyseccomp,
ctypes) is imported only where a compile needs it.
"""
from . import filter_flags

# crun's annotation: a ready BPF program, base64, used instead of compiling.
BPF_ANNOTATION = "run.oci.seccomp_bpf_data"

class Filter:
    """What the container's process loads: the program, seccomp(2)'s flags,
    and for SCMP_ACT_NOTIFY the listener that gets the notification fd."""

    def __init__(self, bpf, flags=0, listener_path="", listener_metadata=""):
        self.bpf = bpf
        self.flags = flags
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata


def prepare(spec, root, tl):
    """The Filter for spec (None without one): from the cache under `root`
    (the state root), or validated, compiled and cached.  Marks `seccomp.key`,
    then `seccomp.cache` (hit) or `validate` and `seccomp.compile` (miss)."""
    raw = spec.seccomp
    annotated = BPF_ANNOTATION in spec.annotations
    if raw is not None and not annotated:
        from .cache import Cache
        cache = Cache(root)
        library = cache.library()
        if library:
            from . import key
            k = key.compute(raw, library)
        else:
            k = None
        tl.mark("seccomp.key")
        bpf = cache.load(k) if k else None
        if bpf is not None:
            # This very object (the key covers all of it) was validated and
            # compiled before: it is not parsed again.
            tl.mark("seccomp.cache")
            return Filter(bpf, *_settings(raw))
    from . import profile as profile_mod
    prof = profile_mod.parse(raw, spec.file) if raw is not None else None
    if annotated:
        bpf = from_annotation(spec.annotations[BPF_ANNOTATION], spec.file)
        tl.mark("validate")
        return Filter(bpf, *_settings(raw))
    if prof is None:
        return None
    tl.mark("validate")
    bpf, _ = compile_and_store(raw, prof, cache)
    tl.mark("seccomp.compile")
    return Filter(bpf, *_settings(raw))


def _settings(raw):
    """(seccomp(2) flags, listener path, listener metadata) of a valid
    seccomp object (None: no filter of its own)."""
    if raw is None:
        return 0, "", ""
    notify = any(r.get("action") == "SCMP_ACT_NOTIFY" for r in raw.get("syscalls") or [])
    flags = filter_flags.for_load(raw, notify)
    if not notify:
        return flags, "", ""
    return flags, raw.get("listenerPath") or "", raw.get("listenerMetadata") or ""


def compile_and_store(raw, prof, cache):
    """Compile `prof` (parsed from `raw`) and store it in `cache`: (bpf, key)."""
    from . import key
    from .compile import compile_profile, library
    bpf = compile_profile(prof)
    identity = key.library_identity(*library())
    k = key.compute(raw, identity)
    if cache.store(k, bpf):
        cache.set_library(identity)
    return bpf, k


# /proc/sys/kernel/seccomp/actions_avail's names for the OCI actions.
_KERNEL_ACTIONS = {"SCMP_ACT_KILL": "kill_thread", "SCMP_ACT_KILL_THREAD": "kill_thread",
                   "SCMP_ACT_KILL_PROCESS": "kill_process", "SCMP_ACT_TRAP": "trap",
                   "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_TRACE": "trace", "SCMP_ACT_LOG": "log",
                   "SCMP_ACT_NOTIFY": "user_notif", "SCMP_ACT_ALLOW": "allow"}


def features():
    """linux.seccomp of the runtime-spec's features document (`minioci
    features`): what this kernel and the installed libseccomp support."""
    import errno
    from .profile import ARCHITECTURES, OPS
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            avail = set(f.read().split())
        import pyseccomp
    except (OSError, ImportError, RuntimeError):
        return {"enabled": False}
    archs = []
    for name, token in ARCHITECTURES.items():
        try:
            pyseccomp.SyscallFilter(pyseccomp.ALLOW).add_arch(token)
            archs.append(name)
        except OSError as e:
            if e.errno == errno.EEXIST:          # the native one
                archs.append(name)
    return {"enabled": True,
            "actions": sorted(a for a, k in _KERNEL_ACTIONS.items() if k in avail),
            "operators": sorted(OPS), "archs": sorted(archs), "knownFlags": sorted(filter_flags.FLAGS),
            "supportedFlags": filter_flags.supported()}


def kept_filter(container, record):
    """The Filter kept at create in `container`'s state entry (`record` is
    state.json's "seccomp"), or None if the container has none.  A missing or
    damaged program is an error: exec never runs a process without the
    container's filter."""
    if record is None:
        return None
    import os
    from ..errors import MiniociError, strerror
    from ..state import SECCOMP_BPF
    from .bpf import INSN_SIZE, MAX_INSNS, problem
    path = os.path.join(container.dir, SECCOMP_BPF)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            bpf = os.read(fd, MAX_INSNS * INSN_SIZE + 1)
        finally:
            os.close(fd)
    except OSError as e:
        raise MiniociError(f"container {container.id!r}: its seccomp filter {path}: {strerror(e.errno)}") from None
    why = problem(bpf)
    if why:
        raise MiniociError(f"container {container.id!r}: its seccomp filter {path} is damaged: {why}")
    return Filter(bpf, record["flags"], record["listener_path"], record["listener_metadata"])


def libseccomp_version():
    """The installed libseccomp's version ("2.5.4"), or None; through ctypes
    alone, without pyseccomp (`minioci --version`, `minioci features`)."""
    import ctypes
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
        v = lib.seccomp_version().contents
        return f"{v[0]}.{v[1]}.{v[2]}"
    except (OSError, AttributeError):
        return None


def from_annotation(text, file):
    import binascii
    from . import bpf as bpf_mod
    from ..errors import ConfigError
    where = f"annotations.{BPF_ANNOTATION}"
    try:
        try:
            bpf = binascii.a2b_base64(text, strict_mode=True)
        except TypeError:            # Python < 3.11
            bpf = binascii.a2b_base64(text)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(file, where, f"invalid base64: {e}") from None
    problem = bpf_mod.problem(bpf)
    if problem:
        raise ConfigError(file, where, f"not a BPF program: {problem}")
    return bpf
