"""Seccomp: the OCI `linux.seccomp` section compiled once into BPF, then
loaded from a verified cache.

    profile.py   linux.seccomp → Profile (validated plain data, JSON-path errors)
    key.py       the cache key: the whole seccomp object, libseccomp, machine, kernel
    cache.py     <root>/seccomp-cache/: verified entries, atomic writes, LRU bound, trust
    compile.py   Profile → BPF with pyseccomp (imported on a cache miss only)
    bpf.py       sanity checks of a BPF program
    notify.py    SCMP_ACT_NOTIFY: the listener socket and the state it receives
    commands.py  `minioci seccomp compile|cache [clear]`

The child loads the program (native/child.c, step "seccomp"); this package
only decides what it loads.  Importing it is cheap: what is heavy (pyseccomp,
ctypes) is imported only where a compile needs it.
"""
import os

from .. import log

# crun's annotation: a ready BPF program, base64, used instead of compiling.
BPF_ANNOTATION = "run.oci.seccomp_bpf_data"

# seccomp(2)'s SECCOMP_FILTER_FLAG_*.
FLAG_TSYNC = 1
FLAG_LOG = 2
FLAG_SPEC_ALLOW = 4
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16
FLAG_WAIT_KILLABLE_RECV = 32
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC, "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}


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
        from . import key
        from .cache import Cache
        cache = Cache(root)
        library = cache.library()
        k = key.compute(raw, library) if library else None
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
        bpf = _from_annotation(spec.annotations[BPF_ANNOTATION], spec.file)
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
    flags = _load_flags(raw, notify)
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


# seccomp(2) flags by the kernel release that brought them.
_FLAG_KERNELS = {"SECCOMP_FILTER_FLAG_TSYNC": (3, 17), "SECCOMP_FILTER_FLAG_LOG": (4, 14),
                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 17), "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (5, 19)}
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
    kernel = _kernel_version()
    return {"enabled": True,
            "actions": sorted(a for a, k in _KERNEL_ACTIONS.items() if k in avail),
            "operators": sorted(OPS), "archs": sorted(archs), "knownFlags": sorted(FLAGS),
            "supportedFlags": sorted(f for f, since in _FLAG_KERNELS.items() if kernel >= since)}


def _load_flags(raw, uses_notify):
    """seccomp(2) flags for a valid seccomp object, as this kernel takes them."""
    flags = 0
    for name in raw.get("flags") or []:
        flags |= FLAGS[name]
    if uses_notify:
        flags |= FLAG_NEW_LISTENER
        if flags & FLAG_TSYNC:
            # The kernel refuses TSYNC with a listener unless told to report
            # a thread it cannot sync as ESRCH (there is only one thread).
            flags |= FLAG_TSYNC_ESRCH
    if flags & FLAG_WAIT_KILLABLE_RECV:
        if not uses_notify:
            log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no SCMP_ACT_NOTIFY rule")
            flags &= ~FLAG_WAIT_KILLABLE_RECV
        elif _kernel_version() < (5, 19):
            log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: kernel older than 5.19")
            flags &= ~FLAG_WAIT_KILLABLE_RECV
    return flags


def _kernel_version():
    parts = []
    for p in os.uname().release.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def _from_annotation(text, file):
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
