"""minioci's command line: runc's commands, flags and exit statuses.

A small hand-written parser (argparse costs ~11 ms to import here, more than
the rest of a container start): global flags, a command, its flags and
arguments.  Like runc (urfave/cli), `-flag` and `--flag` are the same, and
`--flag=value` and `--flag value` both work.
"""
import os
import sys

from .errors import MiniociError


class Flag:
    def __init__(self, names, dest, kind="bool", default=None, help=""):
        self.names = names            # ("bundle", "b"): --bundle, -bundle, -b
        self.dest = dest
        self.kind = kind              # bool | str | int | list | optional (value only via =)
        self.default = default if default is not None else ([] if kind == "list" else
                                                            False if kind == "bool" else None)
        self.help = help


class Command:
    def __init__(self, name, func, flags, usage, summary, min_args=0, max_args=0, stop_at_args=False,
                 raw=False):
        self.name, self.func, self.flags = name, func, flags
        self.usage, self.summary = usage, summary
        self.min_args, self.max_args = min_args, max_args
        self.stop_at_args = stop_at_args   # exec: everything after the id is the command
        self.raw = raw                     # bench: its modules parse their own flags


GLOBAL_FLAGS = [
    Flag(("root",), "root", "str", "/run/minioci", "state directory"),
    Flag(("log",), "log", "str", help="write errors (and --debug output) to this file"),
    Flag(("log-format",), "log_format", "str", "text", "text or json"),
    Flag(("debug",), "debug", help="print debug messages"),
    Flag(("systemd-cgroup",), "systemd_cgroup", help="use systemd to manage cgroups (not available)"),
    Flag(("rootless",), "rootless", "str", help="accepted for runc compatibility"),
    Flag(("criu",), "criu", "str", help="accepted for runc compatibility"),
    Flag(("version", "v"), "version", help="print the version"),
    Flag(("help", "h"), "help", help="show help"),
]


class Args:
    def __init__(self):
        self.positional = []


def parse_flags(argv, flags, stop_at_args=False, where="minioci"):
    """Parse flags (anywhere, unless stop_at_args) and positionals."""
    table = {}
    for f in flags:
        for n in f.names:
            table[n] = f
    args = Args()
    for f in flags:
        setattr(args, f.dest, f.default if f.kind != "list" else list(f.default))
    i = 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            args.positional += argv[i:]
            break
        if not tok.startswith("-") or tok == "-":
            args.positional.append(tok)
            if stop_at_args:         # exec: after the id, the rest is the command
                args.positional += argv[i:]
                break
            continue
        name, eq, value = tok.lstrip("-").partition("=")
        f = table.get(name)
        if f is None:
            raise MiniociError(f"{where}: unknown flag {tok.split('=')[0]}")
        if f.kind == "bool":
            v = True if not eq else value.lower() in ("1", "true", "yes")
            setattr(args, f.dest, v)
            continue
        if f.kind == "optional":
            setattr(args, f.dest, value if eq else True)
            continue
        if not eq:
            if i >= len(argv):
                raise MiniociError(f"{where}: flag {tok} needs a value")
            value = argv[i]
            i += 1
        if f.kind == "int":
            try:
                value = int(value)
            except ValueError:
                raise MiniociError(f"{where}: flag {tok} needs a number, not {value!r}") from None
        if f.kind == "list":
            getattr(args, f.dest).append(value)
        else:
            setattr(args, f.dest, value)
    return args


def main(argv=None):
    from .timing import Timeline, start_of_main
    tl = Timeline()
    start_of_main(tl)
    argv = sys.argv[1:] if argv is None else argv
    # Global flags come before the command.
    split = 0
    while split < len(argv) and argv[split].startswith("-"):
        name = argv[split].lstrip("-").partition("=")[0]
        flag = next((f for f in GLOBAL_FLAGS if name in f.names), None)
        split += 1
        if flag is not None and flag.kind in ("str", "int") and "=" not in argv[split - 1]:
            split += 1
    try:
        g = parse_flags(argv[:split], GLOBAL_FLAGS)
        if g.log_format not in ("text", "json"):
            raise MiniociError(f"invalid --log-format {g.log_format!r}: use text or json")
        if g.log or g.debug:
            from . import log
            log.configure(g.log, g.log_format, g.debug)
        if g.version:
            return _version()
        rest = argv[split:]
        if not rest or g.help or rest[0] in ("help", "-h", "--help"):
            _usage(rest[1:] if rest and rest[0] == "help" else [])
            return 0 if (g.help or rest) else 2
        if g.systemd_cgroup:
            raise MiniociError("--systemd-cgroup: minioci manages cgroupfs directly; systemd cgroup "
                               "management is not available (no systemd on this host)")
        from . import commands
        cmd = commands.COMMANDS.get(rest[0])
        if cmd is None:
            raise MiniociError(f"unknown command {rest[0]!r} (see minioci --help)")
        if _asks_for_help(rest[1:], cmd):
            sys.stdout.write(_command_help(cmd))
            return 0
        if cmd.raw:
            args = Args()
            args.positional = rest[1:]
        else:
            args = parse_flags(rest[1:], cmd.flags, cmd.stop_at_args, where=f"minioci {cmd.name}")
        n = len(args.positional)
        if n < cmd.min_args or (cmd.max_args is not None and n > cmd.max_args):
            raise MiniociError(f"minioci {cmd.name}: usage: minioci {cmd.name} {cmd.usage}")
        return cmd.func(g, args, tl) or 0
    except MiniociError as e:
        from . import log
        log.error(str(e))
        return e.status
    except KeyboardInterrupt:
        return 130


def _asks_for_help(argv, cmd):
    """-h/--help among the command's own flags.  For exec and bench, whose
    trailing arguments are someone else's (`exec ID ls -h`), only before the
    first of those."""
    if cmd.stop_at_args or cmd.raw:
        argv = argv[:next((i for i, t in enumerate(argv) if not t.startswith("-")), len(argv))]
    return "-h" in argv or "--help" in argv


def _version():
    """runc's layout, which dockerd and podman read: `NAME version X`,
    `commit: C`, `spec: Y`, then the pieces it is made of."""
    from . import OCI_VERSION, __version__
    lines = [f"minioci version {__version__}", f"commit: {_commit()}", f"spec: {OCI_VERSION}",
             f"python: {sys.version.split()[0]}"]
    try:
        from . import _shim  # noqa: F401  (the native shim is part of the install)
        lines.append("shim: cffi API mode")
    except ImportError:
        lines.append("shim: not built")
    lib = _libseccomp_version()
    if lib:
        lines.append(f"libseccomp: {lib}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _commit():
    """The source commit this copy was installed from (written at build
    time: setup.py), or "unknown"."""
    try:
        from ._commit import COMMIT
    except ImportError:
        return "unknown"
    return COMMIT


def _libseccomp_version():
    import ctypes
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_version.restype = ctypes.POINTER(ctypes.c_uint * 3)
        v = lib.seccomp_version().contents
        return f"{v[0]}.{v[1]}.{v[2]}"
    except (OSError, AttributeError):
        return None


def _usage(topic):
    from . import commands
    if topic and topic[0] in commands.COMMANDS:
        sys.stdout.write(_command_help(commands.COMMANDS[topic[0]]))
        return
    lines = ["usage: minioci [global flags] <command> [flags] [arguments]", "",
             "A lightweight OCI container runtime that times its own startup.", "", "Commands:"]
    for cmd in commands.COMMANDS.values():
        lines.append(f"  {cmd.name:<10} {cmd.summary}")
    lines += ["", "Global flags:"] + [_flag_line(f) for f in GLOBAL_FLAGS]
    lines += ["", "`minioci <command> --help` shows a command's flags."]
    sys.stdout.write("\n".join(lines) + "\n")


def _flag_line(f):
    names = ", ".join(("--" if len(n) > 1 else "-") + n for n in f.names)
    value = {"str": " VALUE", "int": " N", "list": " VALUE", "optional": "[=VALUE]"}.get(f.kind, "")
    return f"  {names + value:<28} {f.help}"


def _command_help(cmd):
    lines = [f"usage: minioci {cmd.name} {cmd.usage}", "", cmd.summary]
    if cmd.flags:
        lines += ["", "Flags:"] + [_flag_line(f) for f in cmd.flags]
    return "\n".join(lines) + "\n"


def run():
    """The program's entry point: main(), then exit without the interpreter's
    finalization (module teardown costs ~3 ms here and frees nothing that
    matters: the process is gone)."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
