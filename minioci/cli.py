"""minioci's command line: the dispatch to a command (minioci/commands.py,
which holds the global flags and the commands; the parser is
minioci/flags.py), exit statuses, --version and --help.  `serve` is
dispatched here: the server (minioci/server.py) runs every other command
through main().
"""
import os
import sys

from .errors import MiniociError, strerror
from .flags import flag_line

HOST_CONFIG = "/etc/minioci/minioci.conf"


def main(argv=None, tl=None):
    """Run the command line `argv` (default: this process's); its exit
    status.  `tl` is the timeline so far: a served request's (worker.py)
    begins in the front end, a direct run's with this process."""
    if tl is None:
        from .timing import Timeline, start_of_main
        tl = Timeline()
        start_of_main(tl)
    argv = sys.argv[1:] if argv is None else argv
    from . import commands
    try:
        g, rest = commands.parse_globals(argv)
        if g.log_format not in ("text", "json"):
            raise MiniociError(f"invalid --log-format {g.log_format!r}: use text or json")
        if g.log or g.debug or g.log_format != "text":
            from . import log
            log.configure(g.log, g.log_format, g.debug)
        if g.rootless:
            from . import rootless
            rootless.set_mode(g.rootless)
        if g.version:
            return _version()
        if not rest or g.help or rest[0] in ("help", "-h", "--help"):
            _usage(rest[1:] if rest and rest[0] == "help" else [])
            return 0 if (g.help or rest) else 2
        if g.systemd_cgroup:
            from .cgroups import CGROUPFS_DRIVERS
            raise MiniociError("--systemd-cgroup: minioci has no systemd cgroup driver (it manages cgroupfs "
                               "itself): give the engine its cgroupfs driver " + CGROUPFS_DRIVERS)
        cmd, args = commands.parse_command(rest)
        if args is None:
            sys.stdout.write(cmd.help())
            return 0
        if cmd.func is None:
            # `serve`: the server runs the other commands, each with main().
            from . import server
            return server.main(g, args, run=main)
        g.host_config = host_config() if cmd.timed else {}
        # A command lives for milliseconds and makes no garbage worth a
        # cycle collection, which would cost ~0.8 ms of a start (the server,
        # which lives long, keeps its collector).
        import gc
        gc.disable()
        return cmd.func(g, args, tl) or 0
    except MiniociError as e:
        from . import log
        log.error(str(e))
        return e.status
    except KeyboardInterrupt:
        return 130


def host_config():
    """{key: value} from the host's config file (MINIOCI_CONFIG names
    another), {} when there is none.  Read by every command that may write
    its timings, before it does anything: a host without the file pays one
    failed open() here and no import (minioci/hostconfig.py reads a file
    that is there)."""
    path = os.environ.get("MINIOCI_CONFIG") or HOST_CONFIG
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        if path == HOST_CONFIG:
            return {}
        raise MiniociError(f"MINIOCI_CONFIG {path}: no such file or directory") from None
    except OSError as e:
        raise MiniociError(f"{path}: {strerror(e.errno)}") from None
    from . import hostconfig
    return hostconfig.read(path, fd)


def _version():
    """runc's layout, which dockerd and podman read: `NAME version X`,
    `commit: C`, `spec: Y`, then the pieces it is made of."""
    from . import OCI_VERSION, __version__
    lines = [f"minioci version {__version__}", f"commit: {_commit()}", f"spec: {OCI_VERSION}",
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


def _commit():
    """The source commit this copy was installed from (written at build
    time: setup.py), or "unknown"."""
    try:
        from ._commit import COMMIT
    except ImportError:
        return "unknown"
    return COMMIT


def _usage(topic):
    from . import commands
    if topic and topic[0] in commands.COMMANDS:
        sys.stdout.write(commands.COMMANDS[topic[0]].help())
        return
    lines = ["usage: minioci [global flags] <command> [flags] [arguments]", "",
             "A lightweight OCI container runtime that times its own startup.", "", "Commands:"]
    for cmd in commands.COMMANDS.values():
        lines.append(f"  {cmd.name:<10} {cmd.summary}")
    lines += ["", "Global flags:"] + [flag_line(f) for f in commands.GLOBAL_FLAGS]
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
