"""The commands: runc's names, global flags, flags and semantics (the
parser is minioci/flags.py, the dispatch minioci/cli.py).  Each takes
(global flags, command flags, timeline)."""
import os

from . import container as ctr
from . import parent, state
from .errors import MiniociError, strerror
from .flags import Args, Command, Flag, parse_flags

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31,
}


# runc's global flags: before the command.
GLOBAL_FLAGS = [
    Flag(("root",), "root", "str", None, "state directory (root's /run/minioci; a user's "
         "$XDG_RUNTIME_DIR/minioci)"),
    Flag(("log",), "log", "str", help="write errors (and --debug output) to this file"),
    Flag(("log-format",), "log_format", "str", "text", "text or json"),
    Flag(("debug",), "debug", help="print debug messages"),
    Flag(("systemd-cgroup",), "systemd_cgroup", help="use systemd to manage cgroups (not available)"),
    Flag(("rootless",), "rootless", "str", help="true, false or auto (default): whether a refused cgroup means "
                                                 "rootless (docs/rootless.md)"),
    Flag(("criu",), "criu", "str", help="accepted for runc compatibility"),
    Flag(("version", "v"), "version", help="print the version"),
    Flag(("help", "h"), "help", help="show help"),
]


def parse_globals(argv, environ=None):
    """(global flags, the rest of argv): global flags come before the command.
    Without --root, the state root is the caller's default (`environ`'s, a
    served request's environment; else this process's)."""
    split = 0
    while split < len(argv) and argv[split].startswith("-"):
        name = argv[split].lstrip("-").partition("=")[0]
        flag = next((f for f in GLOBAL_FLAGS if name in f.names), None)
        split += 1
        if flag is not None and flag.kind in ("str", "int") and "=" not in argv[split - 1]:
            split += 1
    g = parse_flags(argv[:split], GLOBAL_FLAGS)
    g.root_given = g.root is not None
    if not g.root_given:
        g.root = state.default_root(environ)
    return g, argv[split:]


def parse_command(rest):
    """(Command, its Args) for `rest` (the command and what follows it), or
    (Command, None) when it asks for its help."""
    cmd = COMMANDS.get(rest[0])
    if cmd is None:
        raise MiniociError(f"unknown command {rest[0]!r} (see minioci --help)")
    if cmd.asks_for_help(rest[1:]):
        return cmd, None
    if cmd.raw:
        args = Args()
        args.positional = rest[1:]
    else:
        args = parse_flags(rest[1:], cmd.flags, cmd.stop_at_args, where=f"minioci {cmd.name}")
    n = len(args.positional)
    if n < cmd.min_args or (cmd.max_args is not None and n > cmd.max_args):
        raise MiniociError(f"minioci {cmd.name}: usage: minioci {cmd.name} {cmd.usage}")
    return cmd, args


def parse_signal(text):
    """A signal by number, name (TERM, SIGTERM) or real-time name (RTMIN+3)."""
    if text.isdigit():
        n = int(text)
        if 1 <= n <= 64:
            return n
        raise MiniociError(f"invalid signal {text!r}")
    name = text.upper()
    name = name[3:] if name.startswith("SIG") else name
    if name in SIGNALS:
        return SIGNALS[name]
    for base, sign, start in (("RTMIN", "+", 34), ("RTMAX", "-", 64)):
        if name.startswith(base):
            off = name[len(base):]
            if off == "" or (off[0] == sign and off[1:].isdigit()):
                n = start + (int(off[1:]) if off else 0) * (1 if sign == "+" else -1)
                if 34 <= n <= 64:
                    return n
    raise MiniociError(f"invalid signal {text!r}")


def _bundle_and_id(a):
    """`run bundles/x` (a bundle, id generated) or runc's `run [-b DIR] ID`."""
    if _names_a_bundle(a):
        return a.positional[0], state.generate_id()
    bundle = a.bundle or "."
    cid = a.positional[0] if a.positional else state.generate_id()
    return bundle, cid


def _preserve_fds(a):
    """--preserve-fds, checked: the shim takes 3 + N as a C int."""
    if not 0 <= a.preserve_fds <= 2**31 - 4:
        raise MiniociError(f"--preserve-fds {a.preserve_fds}: must be in range 0-{2**31 - 4}")
    return a.preserve_fds


def _names_a_bundle(a):
    return a.bundle is None and a.positional and os.path.isfile(os.path.join(a.positional[0], "config.json"))


def own_process(name, a):
    """Whether command `name`, with flags `a`, gets a process of its own
    when served: those that run for long whatever happens (events without
    --stats, bench).  The others run in a resident worker (server.py), which
    a `run` or `exec` in the foreground keeps for as long as its process
    runs."""
    return name in ("bench", "serve") or (name == "events" and not a.stats)


def starts_a_container(name):
    """Whether command `name` may start a container with namespaces of its
    own (the server gives its worker a sandbox made ahead; `exec` joins the
    container's)."""
    return name in ("create", "run")


def _start_options(a, create):
    return ctr.StartOptions(create=create, pid_file=a.pid_file, console_socket=a.console_socket,
                            no_pivot=a.no_pivot, preserve_fds=_preserve_fds(a),
                            detach=getattr(a, "detach", False), no_new_keyring=a.no_new_keyring)


def cmd_run(g, a, tl):
    bundle, cid = _bundle_and_id(a)
    from . import spec as spec_mod
    spec = spec_mod.load(bundle)
    tl.mark("config")
    container = state.Container(g.root, cid)
    if a.detach:
        started = ctr.start(spec, container, _start_options(a, create=False), tl)
        ctr.run_poststart(started.state)
        _report_timing(g, tl, a.timing, cid, "run")
        return 0
    return _run_foreground(g, spec, container, a, tl)


def _terminal_size(proc):
    if proc is not None and proc.terminal and os.isatty(0):
        from .terminal import window_size
        return window_size(0)
    return None


def _run_foreground(g, spec, container, a, tl):
    """Start, pass signals on, relay the terminal, reap, clean up; exit with
    the container's status (128+N for signal N)."""
    fg = parent.foreground()
    opts = _start_options(a, create=False)
    opts.console_size = _terminal_size(spec.process)
    started = ctr.start(spec, container, opts, tl)
    fg.attach(started.child)
    ctr.run_poststart(started.state)
    try:
        code = fg.wait(started.child)
        if code == 128 + 9:
            _say_if_oom_killed(started)
    finally:
        started.child.release()
        if not a.keep:
            ctr.stop_and_remove(started, tl)
    _report_timing(g, tl, a.timing, container.id, "run", exit_code=code)
    return code


def _say_if_oom_killed(started):
    """A SIGKILL that came from the OOM killer: say so, since the exit
    status alone (137) cannot (the cgroup is gone once run returns)."""
    from .cgroups import stats
    if stats.oom_kills(started.cgroup) > 0:
        os.write(2, f"minioci: container {started.container.id}: killed by the OOM killer "
                    "(it reached its memory limit)\n".encode())


def cmd_exec(g, a, tl):
    """runc exec: a new process in a running container.  Failures exit 255,
    as runc's do (podman only tells zero from non-zero)."""
    cid = a.positional[0]
    try:
        given = _exec_process_file(a)
        c, data, status = ctr.load(g.root, cid, lock=False)
        proc = _exec_process(a, given, ctr.container_process(c, data))
        ctr.check_exec_size(proc, a.process or "exec")
        tl.mark("config")
        if a.tty and not a.console_socket and a.detach:
            raise MiniociError("exec --tty --detach needs --console-socket")
        opts = ctr.ExecOptions(console_socket=a.console_socket, preserve_fds=_preserve_fds(a),
                               pid_file=a.pid_file, console_size=_terminal_size(proc),
                               sub_cgroups=a.cgroup)
        fg = None if a.detach else parent.foreground()
        child = ctr.exec_in(c, data, status, proc, opts, tl)
    except MiniociError as e:
        e.status = 255
        raise
    if a.detach:
        _report_timing(g, tl, None, cid, "exec")
        return 0
    fg.attach(child)
    try:
        code = fg.wait(child)
    finally:
        child.release()
    _report_timing(g, tl, None, cid, "exec", exit_code=code)
    return code


def _exec_process_file(a):
    """--process's process, validated, or None for a command line."""
    if not a.process:
        if len(a.positional) < 2:
            raise MiniociError("exec: a command (or --process FILE) is required")
        return None
    if len(a.positional) > 1:
        raise MiniociError("exec: give either --process or a command, not both")
    from . import spec as spec_mod
    return spec_mod.load_process(a.process)


def _exec_process(a, given, base):
    """The process to exec: --process's (`given`), with what it leaves out
    from the container's own process `base`; or `base` with the command
    line's changes (as runc does).  Never anything from the bundle, which
    may have changed since create."""
    if given is not None:
        return ctr.inherit(given, base)
    from . import spec as spec_mod
    proc = base
    proc.args = a.positional[1:]
    proc.terminal = a.tty
    if a.cwd:
        if not a.cwd.startswith("/"):
            raise MiniociError(f"exec: --cwd {a.cwd!r} must be an absolute path")
        proc.cwd = a.cwd
    for e in a.env:
        if "=" not in e or e.startswith("="):
            raise MiniociError(f"exec: --env {e!r} must be KEY=value")
    proc.env = proc.env + a.env
    if a.user:
        uid, _, gid = a.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise MiniociError(f"exec: --user {a.user!r} must be UID[:GID] (numbers)")
        proc.uid, proc.gid = int(uid), int(gid or 0)
    if a.additional_gids:
        if not all(g.isdigit() for g in a.additional_gids):
            raise MiniociError(f"exec: --additional-gids must be numbers, not {' '.join(a.additional_gids)!r}")
        proc.additional_gids = [int(x) for x in a.additional_gids]
    for what, value in (("--user", proc.uid), ("--user", proc.gid)) + tuple(
            ("--additional-gids", g) for g in proc.additional_gids):
        if value > spec_mod.C_INT_MAX:
            raise MiniociError(f"exec: {what}: uids and gids must be in range 0-{spec_mod.C_INT_MAX}")
    if a.cap:
        # Bounding, effective and permitted only, as runc does since
        # CVE-2022-29162: an inheritable (or ambient) capability would stay
        # with a non-root process across execve.
        bits = 0
        for name in a.cap:
            upper = name.upper()
            number = spec_mod.CAP_NUMBERS.get(upper if upper.startswith("CAP_") else "CAP_" + upper)
            if number is None:
                raise MiniociError(f"exec: unknown capability {name!r}")
            bits |= 1 << number
        caps = proc.capabilities
        proc.capabilities = spec_mod.Spec(bounding=caps.bounding | bits, effective=caps.effective | bits,
                                          permitted=caps.permitted | bits, inheritable=caps.inheritable,
                                          ambient=caps.ambient)
    if a.no_new_privs:
        proc.no_new_privileges = True
    return proc


def _report_timing(g, tl, mode, cid, command, **extra):
    """--timing's table or JSON (`mode`), MINIOCI_TIMING's file, and the
    host config's timing_dir (minioci/hostconfig.py)."""
    from . import timing
    timing.report(tl, "table" if mode is True else mode or None, timing_dir=g.host_config.get("timing_dir"),
                  id=cid, command=command, **extra)


def cmd_create(g, a, tl):
    cid = a.positional[0]
    from . import spec as spec_mod
    spec = spec_mod.load(a.bundle or ".")
    tl.mark("config")
    ctr.start(spec, state.Container(g.root, cid), _start_options(a, create=True), tl)
    _report_timing(g, tl, None, cid, "create")
    return 0


def cmd_start(g, a, tl):
    tl.mark("config")
    ctr.start_created(g.root, a.positional[0], tl)
    _report_timing(g, tl, None, a.positional[0], "start")
    return 0


def _public_state(c, data, status):
    return {"ociVersion": data.get("ociVersion"), "id": c.id,
            "pid": data.get("pid", 0) if status != "stopped" else 0, "status": status,
            "bundle": data.get("bundle"), "rootfs": data.get("rootfs"), "created": data.get("created"),
            "owner": data.get("owner", ""), "annotations": data.get("annotations") or {}}


def cmd_state(g, a, tl):
    import json
    c, data, status = ctr.load(g.root, a.positional[0], lock=False)
    print(json.dumps(_public_state(c, data, status), indent=2))
    return 0


def cmd_kill(g, a, tl):
    sig = parse_signal(a.positional[1]) if len(a.positional) > 1 else 15
    ctr.signal_container(g.root, a.positional[0], sig, all_processes=a.all)
    return 0


def cmd_delete(g, a, tl):
    tl.mark("config")
    ctr.delete(g.root, a.positional[0], tl, force=a.force)
    _report_timing(g, tl, None, a.positional[0], "delete")
    return 0


def cmd_list(g, a, tl):
    import json
    from .errors import ConfigError
    rows = []
    for cid in state.list_ids(g.root):
        c = state.Container(g.root, cid)
        try:
            data = c.load()
            row = _public_state(c, data, state.status(c, data))
        except ConfigError:   # state.BadState, or cgroup_dirs outside the cgroup mounts
            row = _public_state(c, {}, "unknown")
        except MiniociError:
            if not state.abandoned(c.dir):     # deleted while we looked (not lost: see abandoned)
                continue
            row = _public_state(c, {}, "unknown")
        row["owner"] = _owner(c.dir)
        rows.append(row)
    if a.quiet:
        print("\n".join(r["id"] for r in rows))
    elif a.format == "json":
        print(json.dumps(rows))
    else:
        lines = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        lines += [(r["id"], str(r["pid"]), r["status"], r["bundle"] or "", r["created"] or "",
                   r["owner"]) for r in rows]
        widths = [max(len(line[i]) for line in lines) for i in range(6)]
        for line in lines:
            print("   ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    return 0


def _owner(directory):
    """Who owns a container, as runc's `list` says it: the user owning its
    state directory, by name (`#UID` when /etc/passwd has none).  `state`
    leaves "owner" empty, as runc's does."""
    import pwd
    try:
        uid = os.stat(directory).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


# ---- update, pause, resume, ps, events: the container's cgroup ----------------

# runc's update flags: (flag, JSON path in LinuxResources, kind).  Memory
# sizes take units (64m, 1g) as runc's go-units RAMInBytes does.
UPDATE_FLAGS = [
    ("memory", ("memory", "limit"), "size"),
    ("memory-reservation", ("memory", "reservation"), "size"),
    ("memory-swap", ("memory", "swap"), "size"),
    ("cpu-share", ("cpu", "shares"), "int"),
    ("cpu-shares", ("cpu", "shares"), "int"),
    ("cpu-quota", ("cpu", "quota"), "int"),
    ("cpu-period", ("cpu", "period"), "int"),
    ("cpu-burst", ("cpu", "burst"), "int"),
    ("cpu-rt-runtime", ("cpu", "realtimeRuntime"), "int"),
    ("cpu-rt-period", ("cpu", "realtimePeriod"), "int"),
    ("cpu-idle", ("cpu", "idle"), "int"),
    ("cpuset-cpus", ("cpu", "cpus"), "str"),
    ("cpuset-mems", ("cpu", "mems"), "str"),
    ("pids-limit", ("pids", "limit"), "int"),
    ("blkio-weight", ("blockIO", "weight"), "int"),
]
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text):
    """A byte count as runc reads one (go-units RAMInBytes): 1024, 64m,
    1.5g, 64MiB, 2GB, in binary units; -1 for no limit."""
    import re
    if text.strip() == "-1":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?", text.strip().lower())
    if not m:
        raise MiniociError(f"invalid size {text!r} (bytes, or a number with k, m, g, t: 64m; -1 for no limit)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def _update_request(a):
    """(resources, file label, {JSON path: flag}) from --resources or the flags."""
    given = [(flag, path, kind, getattr(a, "u_" + flag.replace("-", "_")))
             for flag, path, kind in UPDATE_FLAGS]
    given = [g for g in given if g[3] is not None]
    if a.resources is not None:
        if given:
            raise MiniociError("minioci update: --resources and resource flags cannot be combined")
        import json
        import sys
        label = "stdin" if a.resources == "-" else a.resources
        try:
            text = sys.stdin.read() if a.resources == "-" else open(a.resources).read()
        except OSError as e:
            raise MiniociError(f"--resources {a.resources}: {strerror(e.errno)}") from None
        try:
            request = json.loads(text)
        except ValueError as e:
            raise MiniociError(f"{label}: invalid JSON: {e}") from None
        if not isinstance(request, dict):
            raise MiniociError(f"{label}: must be a JSON object (LinuxResources)")
        return request, label, {}
    if not given:
        raise MiniociError("minioci update: nothing to update: give --resources FILE or resource flags "
                           "(see minioci update --help)")
    request, flags = {}, {}
    for flag, (section, key), kind, value in given:
        if kind == "size":
            try:
                value = parse_size(value)
            except MiniociError as e:
                raise MiniociError(f"minioci update: --{flag}: {e}") from None
        elif kind == "int":
            try:
                value = int(value)
            except ValueError:
                raise MiniociError(f"minioci update: --{flag} needs a number, not {value!r}") from None
        request.setdefault(section, {})[key] = value
        flags[f"{section}.{key}"] = flag
    return request, "minioci update", flags


def cmd_update(g, a, tl):
    from .errors import ConfigError
    request, label, flags = _update_request(a)
    try:
        ctr.update(g.root, a.positional[0], request, label)
    except ConfigError as e:
        flag = flags.get(e.path.split("[")[0]) if e.path else None
        if flag is None:
            raise
        raise MiniociError(f"minioci update: --{flag}: {str(e)[len(f'{e.file}: {e.path}: '):]}") from None
    return 0


def cmd_pause(g, a, tl):
    ctr.pause(g.root, a.positional[0])
    return 0


def cmd_resume(g, a, tl):
    ctr.resume(g.root, a.positional[0])
    return 0


def cmd_ps(g, a, tl):
    """runc's ps: the container's pids as JSON, or `ps` (default -ef) filtered
    to the container's processes."""
    import json
    import subprocess
    cid, ps_args = a.positional[0], a.positional[1:] or ["-ef"]
    pids = ctr.processes(g.root, cid)
    if a.format == "json":
        print(json.dumps(pids, separators=(",", ":")))
        return 0
    if a.format != "table":
        raise MiniociError(f"minioci ps: --format {a.format!r}: use table or json")
    try:
        out = subprocess.run(["ps"] + ps_args, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise MiniociError("minioci ps: the ps command is not installed (use --format json)") from None
    except subprocess.CalledProcessError as e:
        first = (e.stderr.strip().splitlines() or [f"exit status {e.returncode}"])[0]     # not its usage text
        raise MiniociError(f"minioci ps: ps {' '.join(ps_args)}: {first}") from None
    lines = out.splitlines()
    if not lines or "PID" not in lines[0].split():
        raise MiniociError(f"minioci ps: ps {' '.join(ps_args)} printed no PID column")
    column = lines[0].split().index("PID")
    wanted = set(pids)
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)
    return 0


MAX_INTERVAL = 24 * 3600


def _duration(text):
    """A Go-style duration (5s, 500ms, 1m) in seconds, up to a day (what
    time.sleep takes is bounded, and inf or nan are no interval)."""
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix):
            try:
                value = float(text[:-len(suffix)]) * scale
            except ValueError:
                break
            if 0 < value <= MAX_INTERVAL:
                return value
    raise MiniociError(f"minioci events: --interval {text!r}: use a duration like 5s or 500ms, at most 24h")


def cmd_events(g, a, tl):
    """runc's events: with --stats, one stats snapshot as JSON; without, a
    snapshot every --interval (and an "oom" event when the OOM killer
    struck) until the container stops."""
    import json
    import sys
    import time
    cid = a.positional[0]
    interval = _duration(a.interval)
    oom_kills = None
    while True:
        try:
            data = ctr.stats(g.root, cid)
        except MiniociError:
            if a.stats or oom_kills is None:
                raise
            return 0                  # the container stopped
        if not a.stats:
            kills = ctr.oom_kills(g.root, cid)
            if oom_kills is not None and kills > oom_kills:
                print(json.dumps({"type": "oom", "id": cid}, separators=(",", ":")))
            oom_kills = kills
        print(json.dumps({"type": "stats", "id": cid, "data": data}, separators=(",", ":")))
        sys.stdout.flush()
        if a.stats:
            return 0
        time.sleep(interval)


def cmd_features(g, a, tl):
    import json
    from .specgen import features
    print(json.dumps(features(), indent=2))
    return 0


def cmd_spec(g, a, tl):
    import json
    from .specgen import default_config
    from . import safefile
    path = os.path.join(a.bundle or ".", "config.json")
    try:
        # O_EXCL: never over an existing file, nor through a symlink
        safefile.create(path, json.dumps(default_config(rootless=a.rootless), indent=2) + "\n")
    except FileExistsError:
        raise MiniociError(f"{path} exists: remove it first") from None
    except OSError as e:
        from .errors import strerror
        raise MiniociError(f"{path}: {strerror(e.errno)}") from None
    return 0


def cmd_bench(g, a, tl):
    """`bench [startup]`, `bench density N`, `bench net`, ...: minioci/bench/
    dispatches, and each benchmark parses its own flags."""
    from . import bench
    return bench.main(g, a.positional)


def _bench_overview():
    from . import bench
    return bench.overview()


def cmd_timing(g, a, tl):
    from .bench import phases
    return phases.main(g, a)


def cmd_seccomp(g, a, tl):
    from .seccomp import commands as seccomp_commands
    return seccomp_commands.run(g.root, a.positional)


_RUN_FLAGS = [
    Flag(("bundle", "b"), "bundle", "str", help="bundle directory (default: the argument, or .)"),
    Flag(("console-socket",), "console_socket", "str", help="unix socket to send the pty master to"),
    Flag(("pid-file",), "pid_file", "str", help="write the container's host pid here"),
    Flag(("no-pivot",), "no_pivot", help="move the rootfs onto / and chroot instead of pivot_root"),
    Flag(("no-new-keyring",), "no_new_keyring", help="keep the caller's session keyring (else: the container's own)"),
    Flag(("preserve-fds",), "preserve_fds", "int", 0, help="pass this many fds beyond stdio"),
]

COMMANDS = {c.name: c for c in [
    Command("run", cmd_run, _RUN_FLAGS + [
        Flag(("detach", "d"), "detach", help="return once the container runs"),
        Flag(("keep",), "keep", help="keep the container (state, cgroup) after it exits, until delete"),
        Flag(("timing",), "timing", "optional",
             help="print where startup time went (--timing=json for JSON)"),
    ], "[flags] [BUNDLE | ID]", "create and start a container, in the foreground", 0, 1, timed=True),
    Command("create", cmd_create, _RUN_FLAGS, "[flags] ID",
            "create a container; its process waits for `start`", 1, 1, timed=True),
    Command("start", cmd_start, [], "ID", "start a created container", 1, 1, timed=True),
    Command("exec", cmd_exec, [
        Flag(("process", "p"), "process", "str", help="process.json to run (instead of a command)"),
        Flag(("tty", "t"), "tty", help="give the process a terminal"),
        Flag(("console-socket",), "console_socket", "str", help="unix socket to send the pty master to"),
        Flag(("detach", "d"), "detach", help="return once the process runs"),
        Flag(("pid-file",), "pid_file", "str", help="write the process's host pid here"),
        Flag(("cwd",), "cwd", "str", help="working directory in the container"),
        Flag(("env", "e"), "env", "list", help="add KEY=value to the environment"),
        Flag(("user", "u"), "user", "str", help="UID[:GID] to run as"),
        Flag(("additional-gids", "g"), "additional_gids", "list", help="supplementary group id"),
        Flag(("cap", "c"), "cap", "list", help="add a capability"),
        Flag(("no-new-privs",), "no_new_privs", help="set no_new_privs"),
        Flag(("preserve-fds",), "preserve_fds", "int", 0, help="pass this many fds beyond stdio"),
        Flag(("ignore-paused",), "ignore_paused", help="accepted for runc compatibility"),
        Flag(("cgroup",), "cgroup", "list",
             help="run in an existing sub-cgroup: [CONTROLLER[,CONTROLLER]:]PATH (repeatable)"),
    ], "[flags] ID [COMMAND [ARG...]]", "run a new process in a running container", 1, None,
        stop_at_args=True, timed=True),
    Command("state", cmd_state, [], "ID", "print a container's state as JSON", 1, 1),
    Command("kill", cmd_kill, [Flag(("all", "a"), "all", help="signal every process in the container")],
            "[--all] ID [SIGNAL]", "send a signal (default TERM) to a container", 1, 2),
    Command("delete", cmd_delete, [Flag(("force", "f"), "force", help="kill a running container first")],
            "[--force] ID", "remove a container and everything it holds", 1, 1, timed=True),
    Command("update", cmd_update, [
        Flag(("resources", "r"), "resources", "str",
             help="a JSON LinuxResources file to apply ('-' for stdin); other values stay as they are"),
    ] + [Flag((flag,), "u_" + flag.replace("-", "_"), "str", help=f"set linux.resources.{s}.{k}")
         for flag, (s, k), _ in UPDATE_FLAGS],
            "[flags] ID", "change a running container's resource limits", 1, 1),
    Command("pause", cmd_pause, [], "ID", "freeze every process in a container", 1, 1),
    Command("resume", cmd_resume, [], "ID", "thaw a paused container", 1, 1),
    Command("ps", cmd_ps, [Flag(("format", "f"), "format", "str", "table", help="table or json")],
            "[--format table|json] ID [ps options]", "list the processes in a container", 1, None,
            stop_at_args=True),
    Command("events", cmd_events, [
        Flag(("stats",), "stats", help="print one stats snapshot and exit"),
        Flag(("interval",), "interval", "str", "5s", help="time between snapshots (default 5s)"),
    ], "[--stats] [--interval D] ID", "show a container's resource usage (and OOM events)", 1, 1),
    Command("features", cmd_features, [], "", "print what this runtime supports (runtime-spec features)", 0, 0),
    Command("spec", cmd_spec, [
        Flag(("bundle", "b"), "bundle", "str", help="directory to write config.json in (default .)"),
        Flag(("rootless",), "rootless", help="a config for a rootless container (user namespace)"),
    ], "[flags]", "write a default config.json", 0, 0),
    Command("bench", cmd_bench, [], "[NAME] [flags]",
            "benchmarks: startup side by side with crun and runc, density, network modes "
            "(docs/benchmarks.md)",
            0, None, raw=True, more_help=_bench_overview),
    Command("timing", cmd_timing, [
        Flag(("json",), "json", help="print the summary as JSON instead of a table"),
        Flag(("out", "o"), "out", "str", "bench-results", "where the summary's JSON and chart go"),
        Flag(("no-chart",), "no_chart", help="skip the chart"),
    ], "[flags] DIR", "summarize a directory of phase timings (the host config's timing_dir): the median "
            "of each phase per command, as a table and a chart", 1, 1),
    Command("list", cmd_list, [
        Flag(("format", "f"), "format", "str", "table", help="table or json"),
        Flag(("quiet", "q"), "quiet", help="print ids only"),
    ], "[flags]", "list containers", 0, 0),
    # No function: cli.main runs the server, which runs every other command.
    Command("serve", None, [
        Flag(("stop",), "stop", help="stop the server"),
        Flag(("status",), "status", help="say whether a server listens, and what it has done"),
        Flag(("preload",), "preload", help="import pyroute2 and pyseccomp at start, not on first use"),
        Flag(("socket",), "socket", "str", help="listen (or ask) here, not in the default state root; front "
             "ends find it through MINIOCI_SERVE_SOCKET"),
    ], "[--socket PATH] [--stop | --status | --preload]",
            "serve this user's requests, for every state root, from a warm process (docs/serve.md)", 0, 0),
    Command("seccomp", cmd_seccomp, [], "compile FILE | cache [clear]",
            "compile a seccomp profile into the cache ahead of time; show or clear the cache", 1, 2),
]}
