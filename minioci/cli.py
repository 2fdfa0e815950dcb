"""minioci's command line: runc's global flags, the dispatch to a command
(minioci/commands.py), exit statuses, --version and --help.  The parser
itself is minioci/flags.py.
"""
import os
import sys

from .errors import MiniociError
from .flags import Args, Flag, flag_line, parse_flags


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


def main(argv=None, tl=None):
    """Run the command line `argv` (default: this process's); its exit
    status.  `tl` is the timeline so far: a served request's (worker.py)
    begins in the front end, a direct run's with this process."""
    if tl is None:
        from .timing import Timeline, start_of_main
        tl = Timeline()
        start_of_main(tl)
    argv = sys.argv[1:] if argv is None else argv
    try:
        g, rest = parse_globals(argv)
        if g.log or g.debug:
            from . import log
            log.configure(g.log, g.log_format, g.debug)
        if g.version:
            return _version()
        if not rest or g.help or rest[0] in ("help", "-h", "--help"):
            _usage(rest[1:] if rest and rest[0] == "help" else [])
            return 0 if (g.help or rest) else 2
        if g.systemd_cgroup:
            raise MiniociError("--systemd-cgroup: minioci manages cgroupfs directly; systemd cgroup "
                               "management is not available (no systemd on this host)")
        cmd, args = parse_command(rest)
        if args is None:
            sys.stdout.write(cmd.help())
            return 0
        return cmd.func(g, args, tl) or 0
    except MiniociError as e:
        from . import log
        log.error(str(e))
        return e.status
    except KeyboardInterrupt:
        return 130


def parse_globals(argv):
    """(global flags, the rest of argv): global flags come before the command."""
    split = 0
    while split < len(argv) and argv[split].startswith("-"):
        name = argv[split].lstrip("-").partition("=")[0]
        flag = next((f for f in GLOBAL_FLAGS if name in f.names), None)
        split += 1
        if flag is not None and flag.kind in ("str", "int") and "=" not in argv[split - 1]:
            split += 1
    return parse_flags(argv[:split], GLOBAL_FLAGS), argv[split:]


def parse_command(rest):
    """(Command, its Args) for `rest` (the command and what follows it), or
    (Command, None) when it asks for its help."""
    from . import commands
    cmd = commands.COMMANDS.get(rest[0])
    if cmd is None:
        raise MiniociError(f"unknown command {rest[0]!r} (see minioci --help)", status=2)
    if cmd.asks_for_help(rest[1:]):
        return cmd, None
    if cmd.raw:
        args = Args()
        args.positional = rest[1:]
    else:
        args = parse_flags(rest[1:], cmd.flags, cmd.stop_at_args, where=f"minioci {cmd.name}")
    n = len(args.positional)
    if n < cmd.min_args or (cmd.max_args is not None and n > cmd.max_args):
        raise MiniociError(f"minioci {cmd.name}: usage: minioci {cmd.name} {cmd.usage}", status=2)
    return cmd, args


def _version():
    """runc's shape: `runc version X`, `spec: Y`, then the pieces it is made of."""
    from . import OCI_VERSION, __version__
    lines = [f"minioci version {__version__}", f"spec: {OCI_VERSION}",
             f"python: {sys.version.split()[0]}"]
    try:
        from . import shim  # noqa: F401  (the native shim is part of the install)
        lines.append("shim: cffi API mode")
    except ImportError:
        lines.append("shim: not built")
    from .seccomp import libseccomp_version
    lib = libseccomp_version()
    if lib:
        lines.append(f"libseccomp: {lib}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _usage(topic):
    from . import commands
    if topic and topic[0] in commands.COMMANDS:
        sys.stdout.write(commands.COMMANDS[topic[0]].help())
        return
    lines = ["usage: minioci [global flags] <command> [flags] [arguments]", "",
             "A lightweight OCI container runtime that times its own startup.", "", "Commands:"]
    for cmd in commands.COMMANDS.values():
        lines.append(f"  {cmd.name:<10} {cmd.summary}")
    lines += ["", "Global flags:"] + [flag_line(f) for f in GLOBAL_FLAGS]
    lines += ["", "`minioci <command> --help` shows a command's flags."]
    sys.stdout.write("\n".join(lines) + "\n")


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
