"""linux.seccomp → Profile: the OCI seccomp section, validated into plain data.

Every error names the file and the JSON path, like spec.py's:
`config.json: linux.seccomp.syscalls[3].action: unknown action 'SCMP_ACT_FOO'`.
Nothing here imports libseccomp: names and numbers are the runtime-spec's and
libseccomp's public constants, so validation is cheap and runs on every start.
Syscall names are only checked for type; unknown ones are skipped when the
filter is compiled (as runc and crun do), since they depend on libseccomp.
"""
from .filter_flags import FLAGS

EPERM = 1

# libseccomp's SCMP_ACT_* values; ERRNO and TRACE carry a 16-bit datum.
ACT_KILL_THREAD = 0x00000000
ACT_KILL_PROCESS = 0x80000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_NOTIFY = 0x7FC00000
ACT_ALLOW = 0x7FFF0000
ACTIONS = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS, "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO, "SCMP_ACT_TRACE": ACT_TRACE, "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY, "SCMP_ACT_ALLOW": ACT_ALLOW,
}
WITH_DATUM = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
MAX_DATUM = 0xFFFF

# libseccomp's enum scmp_compare.
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
MAX_ARGS = 6

# The runtime-spec's architectures as libseccomp's tokens (AUDIT_ARCH_* values:
# ELF machine | 64-bit | little-endian | MIPS n32).
_B64, _LE, _N32 = 0x80000000, 0x40000000, 0x20000000
ARCHITECTURES = {
    "SCMP_ARCH_X86": 3 | _LE, "SCMP_ARCH_X86_64": 62 | _B64 | _LE, "SCMP_ARCH_X32": 62 | _LE,
    "SCMP_ARCH_ARM": 40 | _LE, "SCMP_ARCH_AARCH64": 183 | _B64 | _LE,
    "SCMP_ARCH_MIPS": 8, "SCMP_ARCH_MIPS64": 8 | _B64, "SCMP_ARCH_MIPS64N32": 8 | _B64 | _N32,
    "SCMP_ARCH_MIPSEL": 8 | _LE, "SCMP_ARCH_MIPSEL64": 8 | _B64 | _LE,
    "SCMP_ARCH_MIPSEL64N32": 8 | _B64 | _LE | _N32,
    "SCMP_ARCH_PPC": 20, "SCMP_ARCH_PPC64": 21 | _B64, "SCMP_ARCH_PPC64LE": 21 | _B64 | _LE,
    "SCMP_ARCH_S390": 22, "SCMP_ARCH_S390X": 22 | _B64,
    "SCMP_ARCH_PARISC": 15, "SCMP_ARCH_PARISC64": 15 | _B64,
    "SCMP_ARCH_RISCV64": 243 | _B64 | _LE, "SCMP_ARCH_LOONGARCH64": 258 | _B64 | _LE,
    "SCMP_ARCH_M68K": 4, "SCMP_ARCH_SH": 42 | _LE, "SCMP_ARCH_SHEB": 42,
}

# The listener gets its fd with sendmsg(2) after the filter is loaded: a
# notification on sendmsg itself would wait for a listener without its fd.
NOT_NOTIFIABLE = frozenset(["sendmsg"])


class Rule:
    """One syscalls[] entry: `action` is libseccomp's value (datum included),
    `args` are (index, op, value, valueTwo) tuples."""

    def __init__(self, path, names, action, action_name, args):
        self.path = path
        self.names = names
        self.action = action
        self.action_name = action_name
        self.args = args


class Profile:
    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def uses_notify(self):
        return any(r.action == ACT_NOTIFY for r in self.rules)


def parse(raw, file, where="linux.seccomp"):
    """Validate a seccomp object (`raw`, decoded JSON) found at JSON path
    `where` of `file` ("" for a file holding only the profile)."""
    from ..spec import Checker
    c = Checker(file)

    def at(key):
        return f"{where}.{key}" if where else key

    c.object(raw, where)
    default_name = c.field(raw, "defaultAction", where, "string", required=True)
    default_errno = c.field(raw, "defaultErrnoRet", where, "uint32", default=None)
    default = _action(c, default_name, default_errno, at("defaultAction"), at("defaultErrnoRet"))
    if default == ACT_NOTIFY:
        c.fail(at("defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action")

    arches = c.field(raw, "architectures", where, "strings", default=[])
    for i, name in enumerate(arches):
        if name not in ARCHITECTURES:
            c.fail(f"{at('architectures')}[{i}]", f"unknown architecture {name!r}")
    flags = 0
    for i, name in enumerate(c.field(raw, "flags", where, "strings", default=[])):
        if name not in FLAGS:
            c.fail(f"{at('flags')}[{i}]", f"unknown flag {name!r}")
        flags |= FLAGS[name]
    listener_path = c.field(raw, "listenerPath", where, "string", default="")
    if listener_path and not listener_path.startswith("/"):
        c.fail(at("listenerPath"), f"must be an absolute path, not {listener_path!r}")
    metadata = c.field(raw, "listenerMetadata", where, "string", default="")

    rules = [_rule(c, r, f"{at('syscalls')}[{i}]")
             for i, r in enumerate(c.field(raw, "syscalls", where, "array", default=[]))]
    profile = Profile(default_action=default, default_name=default_name,
                      architectures=[(n, ARCHITECTURES[n]) for n in arches], flags=flags,
                      listener_path=listener_path, listener_metadata=metadata, rules=rules,
                      where=where, file=file)
    notify = [r for r in rules if r.action == ACT_NOTIFY]
    if notify and not listener_path:
        c.fail(at("listenerPath"), f"is required: {notify[0].path} uses SCMP_ACT_NOTIFY")
    return profile


def _action(c, name, datum, where, datum_where):
    if name not in ACTIONS:
        c.fail(where, f"unknown action {name!r}")
    if name not in WITH_DATUM:
        if datum is not None:
            c.fail(datum_where, f"only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not {name}")
        return ACTIONS[name]
    if datum is None:
        datum = EPERM          # runc's and crun's default for both
    elif datum > MAX_DATUM:
        c.fail(datum_where, f"must be from 0 to {MAX_DATUM}")
    return ACTIONS[name] | datum


def _rule(c, r, where):
    c.object(r, where)
    names = c.field(r, "names", where, "strings", required=True)
    name = c.field(r, "action", where, "string", required=True)
    action = _action(c, name, c.field(r, "errnoRet", where, "uint32", default=None),
                     f"{where}.action", f"{where}.errnoRet")
    if action == ACT_NOTIFY:
        for j, n in enumerate(names):
            if n in NOT_NOTIFIABLE:
                c.fail(f"{where}.names[{j}]", f"SCMP_ACT_NOTIFY cannot be used for {n}: "
                       "minioci passes the listener its fd with it")
    args = c.field(r, "args", where, "array", default=[])
    if len(args) > MAX_ARGS:
        c.fail(f"{where}.args", f"has {len(args)} conditions; libseccomp takes at most {MAX_ARGS}")
    conditions = []
    for k, a in enumerate(args):
        aw = f"{where}.args[{k}]"
        c.object(a, aw)
        index = c.field(a, "index", aw, "uint32", required=True)
        if index >= MAX_ARGS:
            c.fail(f"{aw}.index", f"must be from 0 to {MAX_ARGS - 1}")
        value = c.field(a, "value", aw, "uint64", required=True)
        value_two = c.field(a, "valueTwo", aw, "uint64", default=0)
        op = c.field(a, "op", aw, "string", required=True)
        if op not in OPS:
            c.fail(f"{aw}.op", f"unknown operator {op!r}")
        conditions.append((index, OPS[op], value, value_two))
    return Rule(where, names, action, name, conditions)


def action_name(action):
    """SCMP_ACT_ERRNO(38), SCMP_ACT_ALLOW... for messages and tools."""
    for name, value in ACTIONS.items():
        if name in WITH_DATUM and action & 0xFFFF0000 == value:
            return f"{name}({action & 0xFFFF})"
        if action == value:
            return name
    return hex(action)
