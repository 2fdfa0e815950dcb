"""config.json → Spec: read and validated once, before anything is created.

Like runc's specconv, this is the only place that reads the raw JSON of a
container's config.  Every error names the file and the JSON path at fault:
`bundles/x/config.json: process.args: must be a non-empty array of strings`.
Later stages (plan, cgroups, seccomp) get plain, checked values.
"""
import os

from . import leanjson
from .errors import ConfigError, strerror

# CLONE_NEW* flags, by the runtime-spec's namespace type names.
NAMESPACES = {
    "mount": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "user": 0x10000000,
    "pid": 0x20000000, "network": 0x40000000, "cgroup": 0x02000000, "time": 0x00000080,
}

# Capability numbers are their index here (linux/capability.h).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS = {name: i for i, name in enumerate(CAPABILITIES)}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# Mount flags (linux/mount.h).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOSYMFOLLOW = 32, 64, 128, 256
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC = 1024, 2048, 4096, 8192, 16384
MS_SILENT, MS_POSIXACL, MS_UNBINDABLE, MS_PRIVATE = 32768, 1 << 16, 1 << 17, 1 << 18
MS_SLAVE, MS_SHARED, MS_RELATIME, MS_I_VERSION = 1 << 19, 1 << 20, 1 << 21, 1 << 23
MS_STRICTATIME, MS_LAZYTIME = 1 << 24, 1 << 25

# option -> (clears?, flag), as runc maps them.
MOUNT_OPTIONS = {
    "acl": (False, MS_POSIXACL), "noacl": (True, MS_POSIXACL),
    "async": (True, MS_SYNCHRONOUS), "sync": (False, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME), "noatime": (False, MS_NOATIME),
    "bind": (False, MS_BIND), "rbind": (False, MS_BIND | MS_REC),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV), "nodev": (False, MS_NODEV),
    "diratime": (True, MS_NODIRATIME), "nodiratime": (False, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC), "noexec": (False, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION), "noiversion": (True, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME), "nolazytime": (True, MS_LAZYTIME),
    "loud": (True, MS_SILENT), "silent": (False, MS_SILENT),
    "mand": (False, MS_MANDLOCK), "nomand": (True, MS_MANDLOCK),
    "relatime": (False, MS_RELATIME), "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME), "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID), "suid": (True, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW), "symfollow": (True, MS_NOSYMFOLLOW),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
}
PROPAGATIONS = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
# mount_setattr(2) attributes, for the recursive options.
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
MOUNT_ATTR_RELATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME = 0x0, 0x10, 0x20, 0x70
MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOSYMFOLLOW = 0x80, 0x200000
# option -> (attributes to set, attributes to clear), applied to the mount
# and every mount below it.  An atime mode clears the whole atime field
# first (the kernel takes one mode, or EINVAL).
RECURSIVE_MOUNT_OPTIONS = {
    "rro": (MOUNT_ATTR_RDONLY, 0), "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0), "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0), "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0), "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME), "rnorelatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME), "ratime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
}

HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer",
               "poststart", "poststop")

# Sysctls that belong to a namespace, as runc's validator knows them.
IPC_SYSCTLS = frozenset(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                         "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                         "kernel.shm_rmid_forced"])
_SYSCTL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
HOST_NAME_MAX = 64       # and a domain name's too (the kernel's __NEW_UTS_LEN)
# Values the shim takes in a C int (native/minioci_shim.h's i1, i2): uids and
# gids, umask, device owners, hook timeouts.  runc's range for ids is the same.
C_INT_MAX = 2**31 - 1


class Spec:
    """A validated config.json.  Attributes mirror the runtime-spec, in
    snake_case, with values already converted (flags, masks, numbers)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# What an absent process.capabilities means: nothing, in every set.
NO_CAPABILITIES = Spec(bounding=0, effective=0, inheritable=0, permitted=0, ambient=0)


def load(bundle, config_name="config.json", cwd=None):
    """Read and validate `<bundle>/config.json` into a Spec.  `cwd`: the
    directory a relative bundle is in, if not this process's (a server's
    worker reading a client's bundle).  Its warnings are logged.  Every load
    parses afresh: a Spec is the request's own (start() changes it: the
    capabilities it cannot grant, a network namespace made for it), and a
    warm process parses a config in ~0.3 ms here, less than a deep copy."""
    file = os.path.join(bundle, config_name)
    if cwd is None:
        where, abs_bundle = file, os.path.abspath(bundle)
    else:
        where, abs_bundle = os.path.join(cwd, file), os.path.normpath(os.path.join(cwd, bundle))
    c = Checker(file)
    spec = parse(_decode(_read(where, file), file), file, abs_bundle, c)
    c.say_warnings()
    return spec


def read_json(file):
    """The decoded JSON document in `file`; errors name the file."""
    return _decode(_read(file, file), file)


def _read(path, file):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(file, "", f"cannot read: {strerror(e.errno)}") from None


def _decode(raw, file):
    try:
        return leanjson.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(file, "", f"invalid UTF-8: {e.reason}") from None
    except ValueError as e:
        raise ConfigError(file, "", f"invalid JSON: {e}") from None


def load_process(file):
    """Read and validate a process.json (`exec --process`), whose JSON paths
    start at its top level: `process.json: args: must be ...`."""
    try:
        with open(file, "rb") as f:
            doc = leanjson.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise ConfigError(file, "", f"cannot read: {strerror(e.errno)}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(file, "", f"invalid JSON: {e}") from None
    c = Checker(file)
    c.object(doc, "")
    _check_process_support(c, doc, "")
    proc = _process(c, doc, "")
    c.say_warnings()
    return proc


def parse(doc, file, bundle, c=None):
    """Validate a decoded config (`doc`) read from `file` in `bundle`.  Its
    warnings are logged here, or by the caller that passes its Checker."""
    own_checker = c is None
    c = c or Checker(file)
    c.object(doc, "")
    linux = c.field(doc, "linux", "", "object", default={})
    namespaces = _namespaces(c, linux)
    spec = Spec(
        file=file,
        bundle=bundle,
        oci_version=_oci_version(c, doc),
        root=_root(c, doc, bundle),
        process=_process(c, doc.get("process"), "process") if doc.get("process") is not None else None,
        hostname=c.field(doc, "hostname", "", "string", default=None),
        domainname=c.field(doc, "domainname", "", "string", default=None),
        mounts=[_mount(c, m, f"mounts[{i}]", bundle)
                for i, m in enumerate(c.field(doc, "mounts", "", "array", default=[]))],
        hooks=_hooks(c, doc),
        annotations=_string_map(c, doc, "annotations", ""),
        namespaces=namespaces,
        uid_mappings=_id_mappings(c, linux, "uidMappings"),
        gid_mappings=_id_mappings(c, linux, "gidMappings"),
        devices=[_device(c, d, f"linux.devices[{i}]")
                 for i, d in enumerate(c.field(linux, "devices", "linux", "array", default=[]))],
        cgroups_path=c.field(linux, "cgroupsPath", "linux", "string", default=None),
        resources=c.field(linux, "resources", "linux", "object", default=None),
        rootfs_propagation=_rootfs_propagation(c, linux),
        masked_paths=_abs_paths(c, linux, "maskedPaths"),
        readonly_paths=_abs_paths(c, linux, "readonlyPaths"),
        sysctl=_string_map(c, linux, "sysctl", "linux"),
        seccomp=c.field(linux, "seccomp", "linux", "object", default=None),
        time_offsets=_time_offsets(c, linux),
        personality=_personality(c, linux),
        memory_policy=_memory_policy(c, linux),
    )
    _check_unsupported(c, doc, linux)
    _check_consistency(c, spec)
    if own_checker:
        c.say_warnings()
    return spec


def _p(path):
    """A JSON path prefix: "process." inside config.json, "" for a process.json."""
    return f"{path}." if path else ""


class Checker:
    """Type checks that raise ConfigError naming the file and JSON path."""

    def __init__(self, file):
        self.file = file
        self.warnings = []         # said once the config is found valid (say_warnings)

    def fail(self, path, message):
        raise ConfigError(self.file, path, message)

    def host(self, check, *args):
        """Run `check(self, *args)`, a check whose outcome depends on the host
        rather than on the config's bytes (a path that must exist)."""
        check(self, *args)

    def warn(self, message):
        """A warning about the config, logged once it is found valid (an
        invalid one gets its error alone)."""
        _warn(self, message)

    def say_warnings(self):
        if not self.warnings:
            return
        from . import log
        for message in self.warnings:
            log.warning(message)
        self.warnings = []

    def object(self, value, path):
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
        return value

    def field(self, d, key, path, kind, required=False, default=None):
        where = f"{path}.{key}" if path else key
        value = d.get(key)
        if value is None:
            if required:
                self.fail(where, "is required")
            return default
        return self.check(value, where, kind)

    def check(self, value, where, kind):
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "uint32": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT32_MAX,
            "cint": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= C_INT_MAX,
            "uint64": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT64_MAX,
            "strings": isinstance(value, list) and all(isinstance(s, str) for s in value),
        }[kind]
        if not ok:
            self.fail(where, _KIND_MESSAGES[kind])
        # The kernel takes C strings: a NUL would cut a path or an argument short.
        if kind == "string" and "\0" in value:
            self.fail(where, "must not contain a NUL byte")
        if kind == "strings":
            for i, item in enumerate(value):
                if "\0" in item:
                    self.fail(f"{where}[{i}]", "must not contain a NUL byte")
        return value


_KIND_MESSAGES = {
    "string": "must be a string", "bool": "must be a boolean", "object": "must be an object",
    "array": "must be an array", "int": "must be an integer",
    "uint32": "must be an integer from 0 to 4294967295",
    "cint": f"must be in range 0-{C_INT_MAX}",
    "uint64": "must be an integer from 0 to 18446744073709551615",
    "strings": "must be an array of strings",
}


def _oci_version(c, doc):
    """SemVer 2.0.0, of the 1.x specification minioci implements."""
    version = c.field(doc, "ociVersion", "", "string", required=True)
    core, _, rest = version.partition("-")
    core = core.partition("+")[0]
    numbers = core.split(".")
    if len(numbers) != 3 or not all(n.isdigit() and (n == "0" or not n.startswith("0")) for n in numbers):
        c.fail("ociVersion", f"{version!r} is not a SemVer version (MAJOR.MINOR.PATCH)")
    if numbers[0] != "1":
        c.fail("ociVersion", f"{version!r}: minioci implements version 1 of the runtime-spec")
    return version


def _root(c, doc, bundle):
    root = c.object(c.field(doc, "root", "", "object", required=True), "root")
    path = c.field(root, "path", "root", "string", required=True)
    if not path:
        c.fail("root.path", "must not be empty")
    full = os.path.normpath(os.path.join(bundle, path))
    c.host(_must_be_directory, "root.path", full)
    return Spec(path=full,
                readonly=c.field(root, "readonly", "root", "bool", default=False))


def _process(c, proc, path):
    c.object(proc, path)
    args = proc.get("args")
    if not (isinstance(args, list) and args and all(isinstance(a, str) for a in args)) or not args[0]:
        c.fail(f"{_p(path)}args", "must be a non-empty array of strings")
    c.check(args, f"{_p(path)}args", "strings")
    cwd = c.field(proc, "cwd", path, "string", required=True)
    if not cwd.startswith("/"):
        c.fail(f"{_p(path)}cwd", f"must be an absolute path, not {cwd!r}")
    env = c.field(proc, "env", path, "strings", default=[])
    for i, e in enumerate(env):
        if "=" not in e or e.startswith("="):
            c.fail(f"{_p(path)}env[{i}]", f"must be KEY=value, not {e!r}")
    user = c.field(proc, "user", path, "object", required=True)
    upath = f"{_p(path)}user"
    caps = c.field(proc, "capabilities", path, "object", default=None)
    console = c.field(proc, "consoleSize", path, "object", default=None)
    oom = c.field(proc, "oomScoreAdj", path, "int", default=None)
    if oom is not None and not -1000 <= oom <= 1000:
        c.fail(f"{_p(path)}oomScoreAdj", "must be from -1000 to 1000")
    return Spec(
        terminal=c.field(proc, "terminal", path, "bool", default=False),
        console_size=(c.field(console, "height", f"{_p(path)}consoleSize", "uint32", required=True),
                      c.field(console, "width", f"{_p(path)}consoleSize", "uint32", required=True))
        if console else None,
        args=args,
        env=env,
        cwd=os.path.normpath(cwd),
        uid=c.field(user, "uid", upath, "cint", required=True),
        gid=c.field(user, "gid", upath, "cint", required=True),
        umask=c.field(user, "umask", upath, "cint", default=None),
        additional_gids=[c.check(g, f"{upath}.additionalGids[{i}]", "cint")
                         for i, g in enumerate(c.field(user, "additionalGids", upath, "array", default=[]))],
        capabilities=_capabilities(c, caps, f"{_p(path)}capabilities") if caps is not None else None,
        rlimits=_rlimits(c, proc, path),
        # None when absent: an exec'd process then keeps the container's.
        no_new_privileges=c.field(proc, "noNewPrivileges", path, "bool", default=None),
        oom_score_adj=oom,
        scheduler=_scheduler(c, proc, path),
        io_priority=_io_priority(c, proc, path),
        apparmor_profile=c.field(proc, "apparmorProfile", path, "string", default=""),
        selinux_label=c.field(proc, "selinuxLabel", path, "string", default=""),
    )


# process.scheduler: sched_setattr(2)'s policies and flags.
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
               "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}
MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
              "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_NUMA_BALANCING": 1 << 13}
INT32 = (-2**31, 2**31 - 1)


def _one_of(c, value, table, where, what):
    if value not in table:
        c.fail(where, f"unknown {what} {value!r} (one of {', '.join(table)})")
    return table[value]


def _scheduler(c, proc, path):
    """(policy, flags, nice, priority, runtime, deadline, period) for
    sched_setattr, or None."""
    sched = c.field(proc, "scheduler", path, "object", default=None)
    if sched is None:
        return None
    where = f"{_p(path)}scheduler"
    policy = _one_of(c, c.field(sched, "policy", where, "string", required=True), SCHED_POLICIES,
                     f"{where}.policy", "policy")
    if policy == SCHED_POLICIES["SCHED_ISO"]:
        c.fail(f"{where}.policy", "SCHED_ISO is not implemented by Linux")
    flags = 0
    for i, name in enumerate(c.field(sched, "flags", where, "strings", default=[])):
        flags |= _one_of(c, name, SCHED_FLAGS, f"{where}.flags[{i}]", "flag")
    numbers = {}
    for key in ("nice", "priority"):
        v = c.field(sched, key, where, "int", default=0)
        if not INT32[0] <= v <= INT32[1]:
            c.fail(f"{where}.{key}", "must be a 32-bit integer")
        numbers[key] = v
    if not -20 <= numbers["nice"] <= 19:
        c.fail(f"{where}.nice", f"must be from -20 to 19, not {numbers['nice']}")
    realtime = policy in (SCHED_POLICIES["SCHED_FIFO"], SCHED_POLICIES["SCHED_RR"])
    if realtime and not 1 <= numbers["priority"] <= 99:
        c.fail(f"{where}.priority", f"must be from 1 to 99 for a realtime policy, not {numbers['priority']}")
    if not realtime and numbers["priority"] != 0:
        c.fail(f"{where}.priority", "must be 0 unless the policy is SCHED_FIFO or SCHED_RR")
    times = [c.field(sched, key, where, "uint64", default=0) for key in ("runtime", "deadline", "period")]
    return (policy, flags, numbers["nice"], numbers["priority"], *times)


def _io_priority(c, proc, path):
    """The ioprio_set(2) value (class << 13 | level), or None."""
    io = c.field(proc, "ioPriority", path, "object", default=None)
    if io is None:
        return None
    where = f"{_p(path)}ioPriority"
    cls = _one_of(c, c.field(io, "class", where, "string", required=True), IOPRIO_CLASSES,
                  f"{where}.class", "class")
    level = c.field(io, "priority", where, "int", required=True)
    if not 0 <= level <= 7:
        c.fail(f"{where}.priority", f"must be from 0 to 7, not {level}")
    return cls << 13 | level


def _personality(c, linux):
    value = c.field(linux, "personality", "linux", "object", default=None)
    if value is None:
        return None
    domain = _one_of(c, c.field(value, "domain", "linux.personality", "string", required=True),
                     PERSONALITIES, "linux.personality.domain", "domain")
    if c.field(value, "flags", "linux.personality", "strings", default=[]):
        c.fail("linux.personality.flags", "no flags are defined (the runtime-spec supports none)")
    return domain


def _memory_policy(c, linux):
    """(mode | flags, node list) for set_mempolicy(2), or None."""
    value = c.field(linux, "memoryPolicy", "linux", "object", default=None)
    if value is None:
        return None
    where = "linux.memoryPolicy"
    mode = _one_of(c, c.field(value, "mode", where, "string", required=True), MPOL_MODES, f"{where}.mode", "mode")
    flags = 0
    for i, name in enumerate(c.field(value, "flags", where, "strings", default=[])):
        flags |= _one_of(c, name, MPOL_FLAGS, f"{where}.flags[{i}]", "flag")
    text = c.field(value, "nodes", where, "string", default="")
    nodes = []
    for item in filter(None, text.split(",")):
        lo, _, hi = item.strip().partition("-")
        if not lo.isdigit() or (hi and (not hi.isdigit() or int(hi) < int(lo))):
            c.fail(f"{where}.nodes", f"{text!r} is not a list of nodes like 0-3,7")
        nodes += range(int(lo), int(hi or lo) + 1)
    if max(nodes, default=0) >= 1024:
        c.fail(f"{where}.nodes", "node numbers go up to 1023")
    no_nodes = mode in (MPOL_MODES["MPOL_DEFAULT"], MPOL_MODES["MPOL_LOCAL"])
    if no_nodes and nodes:
        c.fail(f"{where}.nodes", "must be empty for MPOL_DEFAULT and MPOL_LOCAL")
    if not no_nodes and mode != MPOL_MODES["MPOL_PREFERRED"] and not nodes:
        c.fail(f"{where}.nodes", "must name at least one node for this mode")
    return mode | flags, sorted(set(nodes))


def _capabilities(c, caps, path):
    """The five sets as bit masks.  A name no kernel interface maps is logged
    as a warning and left out, as the runtime-spec wants ("Runtimes SHOULD
    NOT fail if the container configuration requests capabilities that
    cannot be granted"); container.py leaves out those the host withholds."""
    masks = {}
    for kind in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        mask = 0
        for i, name in enumerate(c.field(caps, kind, path, "strings", default=[])):
            number = CAP_NUMBERS.get(name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper())
            if number is None:
                c.warn(f"{c.file}: {_p(path)}{kind}[{i}]: unknown capability {name!r}: left out")
                continue
            mask |= 1 << number
        masks[kind] = mask
    # What capset(2) refuses, said with the JSON path rather than its EPERM.
    for kind, within in (("effective", "permitted"), ("inheritable", "bounding")):
        extra = masks[kind] & ~masks[within]
        if extra:
            name = CAPABILITIES[(extra & -extra).bit_length() - 1]
            c.fail(f"{_p(path)}{kind}", f"{name} is not in {within} (the kernel refuses an {kind} "
                                        f"capability outside the {within} set)")
    return Spec(**masks)


def _rlimits(c, proc, path):
    seen, out = set(), []
    for i, rl in enumerate(c.field(proc, "rlimits", path, "array", default=[])):
        where = f"{_p(path)}rlimits[{i}]"
        c.object(rl, where)
        name = c.field(rl, "type", where, "string", required=True)
        if name not in RLIMITS:
            c.fail(f"{where}.type", f"unknown rlimit {name!r}")
        if name in seen:
            c.fail(f"{where}.type", f"{name} is given twice")
        seen.add(name)
        soft = c.field(rl, "soft", where, "uint64", required=True)
        hard = c.field(rl, "hard", where, "uint64", required=True)
        if soft > hard:
            c.fail(where, f"soft limit {soft} is above hard limit {hard}")
        out.append((RLIMITS[name], name, soft, hard))
    return out


def _mount(c, m, path, bundle):
    c.object(m, path)
    dest = c.field(m, "destination", path, "string", required=True)
    if not dest:
        c.fail(f"{path}.destination", "must not be empty")
    if not dest.startswith("/"):
        # runtime-spec: "it MAY be a relative path, in which case it MUST be
        # interpreted as relative to "/"" (old tools write "proc").
        dest = "/" + dest
    # A mount's own mappings: an idmapped mount through a user namespace
    # made for it (without them, idmap uses the container's).
    uid_mappings, gid_mappings = _id_mappings(c, m, "uidMappings", path), _id_mappings(c, m, "gidMappings", path)
    if bool(uid_mappings) != bool(gid_mappings):
        c.fail(f"{path}.{'gidMappings' if uid_mappings else 'uidMappings'}",
               "is required with the other (a mount's own mappings come in pairs)")
    mtype = c.field(m, "type", path, "string", default="")
    source = c.field(m, "source", path, "string", default="")
    options = c.field(m, "options", path, "strings", default=[])
    flags, propagation, data = 0, 0, []
    attr_set = attr_clr = 0
    copyup = False
    idmap = None
    for i, opt in enumerate(options):
        if opt in MOUNT_OPTIONS:
            clears, flag = MOUNT_OPTIONS[opt]
            flags = flags & ~flag if clears else flags | flag
        elif opt in PROPAGATIONS:
            propagation |= PROPAGATIONS[opt]
        elif opt in RECURSIVE_MOUNT_OPTIONS:       # the last word on an attribute wins
            to_set, to_clear = RECURSIVE_MOUNT_OPTIONS[opt]
            attr_set = (attr_set & ~to_clear & ~to_set) | to_set
            attr_clr = (attr_clr & ~to_set) | to_clear
            if to_clear == MOUNT_ATTR__ATIME:
                attr_clr |= MOUNT_ATTR__ATIME
        elif opt == "tmpcopyup":
            copyup = True
        elif opt in ("idmap", "ridmap"):
            idmap = opt
        else:
            data.append(opt)       # filesystem-specific, passed to mount(2) as data
    bind = mtype == "bind" or bool(flags & MS_BIND)
    if bind:
        flags |= MS_BIND
        if not source:
            c.fail(f"{path}.source", "is required for a bind mount")
        source = os.path.normpath(os.path.join(bundle, source))
        c.host(_must_exist, f"{path}.source", source, f"{source} does not exist")
    elif not mtype:
        c.fail(f"{path}.type", "is required unless the mount is a bind mount")
    if copyup and (bind or mtype != "tmpfs"):
        c.fail(f"{path}.options", "tmpcopyup is for tmpfs mounts only")
    if uid_mappings and not idmap:
        idmap = "idmap"            # mappings alone ask for it (runc: non-recursive)
    if idmap and not bind:
        c.fail(f"{path}.options" if not uid_mappings else f"{path}.uidMappings",
               f"{idmap} is for bind mounts only")
    dest = os.path.normpath(dest)
    return Spec(destination=dest, type=mtype, source=source, options=options,
                flags=flags, propagation=propagation, data=",".join(data), bind=bind, path=path,
                in_proc=_in_proc(c, path, dest, mtype, bind),
                attr_set=attr_set, attr_clr=attr_clr, copyup=copyup, idmap=idmap,
                uid_mappings=uid_mappings, gid_mappings=gid_mappings)


# What a bundle may mount inside /proc (runc's list: the files lxcfs stands in
# for).  Anything else there would be laid over the procfs files minioci and
# the masked and read-only paths rely on (the CVE-2025-52881 class).
PROC_MOUNTS_ALLOWED = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                       "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid",
                       "/proc/sys/crypto/fips_enabled")
# How a mount's destination meets /proc (the child checks where it resolves to:
# native/minioci_shim.h, enum mo_in_proc).
IN_PROC_NO, IN_PROC_ALLOWED, IN_PROC_IF_PROCFS = 0, 1, 2


def _in_proc(c, path, dest, mtype, bind):
    """IN_PROC_*: a mount inside /proc is refused but for runc's list; on
    /proc itself only a proc mount, or a bind whose source the child finds
    to be a procfs (as runc allows)."""
    where = "/" + dest.lstrip("/")
    if where == "/proc":
        if bind:
            return IN_PROC_IF_PROCFS
        if mtype != "proc":
            c.fail(f"{path}.type", f"{mtype!r} cannot be mounted on /proc: only a proc mount or a bind of a "
                                   "procfs can be")
        return IN_PROC_ALLOWED
    if not where.startswith("/proc/"):
        return IN_PROC_NO
    if where not in PROC_MOUNTS_ALLOWED:
        c.fail(f"{path}.destination", f"{dest} is inside /proc, where nothing may be mounted but "
                                      f"{', '.join(PROC_MOUNTS_ALLOWED)}")
    return IN_PROC_ALLOWED


def _hooks(c, doc):
    hooks = c.field(doc, "hooks", "", "object", default={})
    out = {}
    for stage in HOOK_STAGES:
        lst = []
        for i, h in enumerate(c.field(hooks, stage, "hooks", "array", default=[])):
            where = f"hooks.{stage}[{i}]"
            c.object(h, where)
            hpath = c.field(h, "path", where, "string", required=True)
            if not hpath.startswith("/"):
                c.fail(f"{where}.path", f"must be an absolute path, not {hpath!r}")
            timeout = c.field(h, "timeout", where, "int", default=None)
            if timeout is not None and not 0 < timeout <= C_INT_MAX:
                c.fail(f"{where}.timeout", f"must be in range 1-{C_INT_MAX} (seconds)")
            lst.append(Spec(path=hpath, args=c.field(h, "args", where, "strings", default=[hpath]),
                            env=c.field(h, "env", where, "strings", default=[]), timeout=timeout))
        out[stage] = lst
    return out


def _string_map(c, d, key, path):
    value = c.field(d, key, path, "object", default={})
    where = f"{path}.{key}" if path else key
    for k, v in value.items():
        if not k:
            c.fail(where, "a key must not be empty")
        if "\0" in k:
            c.fail(f"{where}.{k!r}", "a key must not contain a NUL byte")
        c.check(v, f"{where}.{k}", "string")
    return value


def _namespaces(c, linux):
    out = {}
    for i, ns in enumerate(c.field(linux, "namespaces", "linux", "array", default=[])):
        where = f"linux.namespaces[{i}]"
        c.object(ns, where)
        t = c.field(ns, "type", where, "string", required=True)
        if t not in NAMESPACES:
            c.fail(f"{where}.type", f"unknown namespace type {t!r}")
        if t in out:
            c.fail(f"{where}.type", f"namespace {t!r} is given twice")
        p = c.field(ns, "path", where, "string", default="")
        if p:
            c.host(check_namespace_file, f"{where}.path", p, t)
        out[t] = p
    return out


NS_GET_NSTYPE = 0xB703   # ioctl on a namespace file: its CLONE_NEW* type


def check_namespace_file(c, where, path, nstype):
    if not path.startswith("/"):
        c.fail(where, f"must be an absolute path, not {path!r}")
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        c.fail(where, f"{path}: {strerror(e.errno)}")
    try:
        actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        actual = None
    finally:
        os.close(fd)
    if actual != NAMESPACES[nstype]:
        c.fail(where, f"{path} is not a {nstype} namespace")


def _id_mappings(c, obj, key, path="linux"):
    """[(containerID, hostID, size)] of obj[key] (at JSON path `path`)."""
    out = []
    for i, m in enumerate(c.field(obj, key, path, "array", default=[])):
        where = f"{path}.{key}[{i}]"
        c.object(m, where)
        cid = c.field(m, "containerID", where, "uint32", required=True)
        hid = c.field(m, "hostID", where, "uint32", required=True)
        size = c.field(m, "size", where, "uint32", required=True)
        if size == 0:
            c.fail(f"{where}.size", "must be greater than zero")
        out.append((cid, hid, size))
    for index in (0, 1):           # neither container nor host ranges may overlap
        spans = sorted((m[index], m[index] + m[2], n) for n, m in enumerate(out))
        for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
            if s2 < e1:
                side = "containerID" if index == 0 else "hostID"
                c.fail(f"{path}.{key}[{n2}]", f"{side} range overlaps {path}.{key}[{n1}]")
    if len(out) > 340:
        c.fail(f"{path}.{key}", "the kernel allows at most 340 mappings")
    return out


# A device type's file-type bits (S_IFCHR, S_IFBLK, S_IFIFO), which a
# fileMode may carry as stat(2) reports them (podman sends 0o20666).
DEVICE_TYPE_BITS = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}
S_IFMT = 0o170000


def _device(c, d, where):
    c.object(d, where)
    path = c.field(d, "path", where, "string", required=True)
    # Anywhere in the container (the spec does not confine devices to /dev).
    if not path.startswith("/") or os.path.normpath(path) == "/" or ".." in path.split("/"):
        c.fail(f"{where}.path", f"must be an absolute path in the container, not {path!r}")
    dtype = c.field(d, "type", where, "string", required=True)
    if dtype not in ("c", "b", "u", "p"):
        c.fail(f"{where}.type", f"unknown device type {dtype!r} (one of c, b, u, p)")
    needs_numbers = dtype != "p"
    mode = c.field(d, "fileMode", where, "uint32", default=0o666)
    if mode & ~(S_IFMT | 0o7777) or mode & S_IFMT not in (0, DEVICE_TYPE_BITS[dtype]):
        c.fail(f"{where}.fileMode", f"{mode:#o} is not a mode for a device of type {dtype!r} "
                                    f"(permission bits, optionally with the type's {DEVICE_TYPE_BITS[dtype]:#o})")
    mode &= 0o7777
    return Spec(path=os.path.normpath(path), type=dtype,
                major=c.field(d, "major", where, "uint32", required=needs_numbers, default=0),
                minor=c.field(d, "minor", where, "uint32", required=needs_numbers, default=0),
                file_mode=mode,
                uid=c.field(d, "uid", where, "cint", default=0),
                gid=c.field(d, "gid", where, "cint", default=0))


def _rootfs_propagation(c, linux):
    value = c.field(linux, "rootfsPropagation", "linux", "string", default="")
    if value and value not in PROPAGATIONS:
        c.fail("linux.rootfsPropagation", f"unknown propagation {value!r}")
    return PROPAGATIONS.get(value, 0)


def _abs_paths(c, linux, key):
    paths = c.field(linux, key, "linux", "strings", default=[])
    for i, p in enumerate(paths):
        if not p.startswith("/"):
            c.fail(f"linux.{key}[{i}]", f"must be an absolute path, not {p!r}")
    return [os.path.normpath(p) for p in paths]


def _time_offsets(c, linux):
    offsets = c.field(linux, "timeOffsets", "linux", "object", default={})
    out = {}
    for clock, value in offsets.items():
        where = f"linux.timeOffsets.{clock}"
        if clock not in ("monotonic", "boottime"):
            c.fail(where, f"unknown clock {clock!r} (monotonic or boottime)")
        c.object(value, where)
        out[clock] = (c.field(value, "secs", where, "int", default=0),
                      c.field(value, "nanosecs", where, "uint32", default=0))
    return out


def _check_unsupported(c, doc, linux):
    """Things the spec asks for that this host or minioci cannot honour are
    errors, never silently skipped."""
    for key in ("intelRdt", "netDevices"):
        if linux.get(key) is not None:
            c.fail(f"linux.{key}", "is not supported by minioci")
    _check_process_support(c, doc.get("process") or {}, "process")
    if linux.get("mountLabel"):
        c.host(_mount_label, "linux.mountLabel")


def _check_process_support(c, proc, path):
    for key in ("execCPUAffinity",):
        if proc.get(key) is not None:
            c.fail(f"{_p(path)}{key}", "is not supported by minioci")
    # A label or profile is either applied or refused, never dropped.
    profile = proc.get("apparmorProfile")
    if profile and isinstance(profile, str):
        if not apparmor_enabled():
            c.fail(f"{_p(path)}apparmorProfile", "AppArmor is not enabled on this host")
        elif any(ch < " " or ch == "\x7f" for ch in profile):
            c.fail(f"{_p(path)}apparmorProfile", f"{profile[:60]!r}: a profile name has no control characters")
    if proc.get("selinuxLabel"):
        c.fail(f"{_p(path)}selinuxLabel",
               "applying SELinux labels is not supported by minioci" if selinux_enabled()
               else "SELinux is not enabled on this host")


def _mount_label(c, where):
    # Without SELinux a mount label means nothing, and runc and crun mount
    # without it; with SELinux it would have to be applied.
    if selinux_enabled():
        c.fail(where, "applying SELinux labels is not supported by minioci")
    c.warnings.append(f"{c.file}: {where}: ignored, SELinux is not enabled on this host")


def _warn(c, message):
    c.warnings.append(message)


def _must_exist(c, where, path, message):
    if not os.path.exists(path):
        c.fail(where, message)


def _must_be_directory(c, where, path):
    if not os.path.isdir(path):
        c.fail(where, f"{path} is not a directory")


def selinux_enabled():
    return os.path.exists("/sys/fs/selinux/enforce")


def apparmor_enabled():
    """As runc asks: the LSM's securityfs is there and the module is on."""
    if not os.path.exists("/sys/kernel/security/apparmor"):
        return False
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def apparmor_exec_attr():
    """Where a process names the AppArmor profile its next execve enters:
    the LSM's own directory (Linux 5.8), else the shared attr file."""
    return "/proc/self/attr/apparmor/exec" if os.path.exists("/proc/self/attr/apparmor") else "/proc/self/attr/exec"


def _check_consistency(c, spec):
    ns = spec.namespaces
    if "mount" not in ns:
        _check_without_mount_namespace(c, spec)
    # A new user namespace without mappings maps the caller's ids
    # (container.default_id_mappings, at start).
    if (spec.uid_mappings or spec.gid_mappings) and not ("user" in ns and not ns["user"]):
        c.fail("linux.uidMappings" if spec.uid_mappings else "linux.gidMappings",
               "needs a new user namespace (linux.namespaces has no new 'user')")
    for key in ("hostname", "domainname"):
        value = getattr(spec, key)
        if value is not None and len(value.encode()) > HOST_NAME_MAX:
            c.fail(key, f"must be at most {HOST_NAME_MAX} bytes, not {len(value.encode())}")
    if ns.get("user") == "":
        _check_mount_ids(c, spec)
    for m in spec.mounts:
        if m.idmap and not m.uid_mappings and "user" not in ns:
            c.fail(f"{m.path}.options", f"{m.idmap} maps ids through the container's user namespace "
                                        "(or the mount's own uidMappings and gidMappings): "
                                        "linux.namespaces has no 'user'")
    if spec.hostname and "uts" not in ns:
        c.fail("hostname", "needs a UTS namespace (linux.namespaces has no 'uts')")
    if spec.domainname and "uts" not in ns:
        c.fail("domainname", "needs a UTS namespace (linux.namespaces has no 'uts')")
    if spec.time_offsets and "time" not in ns:
        c.fail("linux.timeOffsets", "needs a time namespace (linux.namespaces has no 'time')")
    for key in spec.sysctl:
        _check_sysctl(c, key, ns, spec)


def _check_mount_ids(c, spec):
    """uid= and gid= mount options (devpts' gid=5) name ids in the new user
    namespace, where the kernel refuses one its mappings lack (runc refuses
    them too; `minioci spec --rootless` leaves gid=5 out)."""
    for m in spec.mounts:
        for opt in m.data.split(",") if "id=" in m.data else ():
            kind, _, value = opt.partition("=")
            if kind in ("uid", "gid") and value.isdigit():
                maps = spec.uid_mappings if kind == "uid" else spec.gid_mappings
                if not any(inside <= int(value) < inside + size for inside, _, size in maps):
                    c.fail(f"{m.path}.options", f"{opt}: {kind} {value} is not mapped in the container's user "
                                                f"namespace (linux.{kind}Mappings), where the kernel refuses it")


def _check_without_mount_namespace(c, spec):
    """Without a mount namespace the container inherits the runtime's
    (runtime-spec, config-linux.md): mounting anything would change the
    host's mount table, so what needs a mount is refused, as runc refuses
    masked and read-only paths ("unable to restrict sys entries without a
    private MNT namespace")."""
    why = "needs a mount namespace of the container's own (linux.namespaces has no 'mount': the " \
          "container shares the host's mount table, which this would change)"
    if spec.mounts:
        c.fail(spec.mounts[0].path, why)
    for key, value in (("linux.maskedPaths", spec.masked_paths), ("linux.readonlyPaths", spec.readonly_paths),
                       ("linux.devices", spec.devices), ("linux.rootfsPropagation", spec.rootfs_propagation)):
        if value:
            c.fail(key, why)
    if spec.root.readonly:
        c.fail("root.readonly", why)


def _check_sysctl(c, key, ns, spec):
    where = f"linux.sysctl.{key}"
    if not key or not set(key) <= _SYSCTL_CHARS or ".." in key.split("/") or key.startswith("/"):
        c.fail(where, "is not a valid sysctl name")
    dotted = key.replace("/", ".")
    if dotted in IPC_SYSCTLS or dotted.startswith("fs.mqueue."):
        if "ipc" not in ns:
            c.fail(where, "needs an IPC namespace (linux.namespaces has no 'ipc')")
    elif dotted.startswith("net."):
        if "network" not in ns:
            c.fail(where, "needs a network namespace (linux.namespaces has no 'network')")
    elif dotted in ("kernel.hostname", "kernel.domainname"):
        if "uts" not in ns:
            c.fail(where, "needs a UTS namespace (linux.namespaces has no 'uts')")
        # The sysctl is written after the field: it would win, silently.
        field = dotted.split(".")[1]
        given = getattr(spec, field)
        if given and given != spec.sysctl[key]:
            c.fail(where, f"{spec.sysctl[key]!r} conflicts with {field} {given!r} (give one of the two)")
    else:
        c.fail(where, "is not in a namespace of the container's own; setting it would change the host")


def sysctl_path(key):
    """The /proc/sys file a sysctl name refers to (`net.ipv4.ip_forward`)."""
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))
