"""A served request, in the process the server forked for it (server.py).

The worker becomes the client as far as the command can tell: the client's
fds at their numbers (stdio, preserved fds), its working directory, umask and
environment; then it runs the same command line as the direct path (the
function the server was given: cli.main), on a timeline that began in the
front end.  The container's parent is the front end (parent.serve_through:
its children, and its cgroup and capabilities, are what a container gets).
When the client goes away, the worker dies at once, as a direct-path runtime
would have been killed with it.
"""
import os
import socket
import struct
import sys
import time

from . import wire


def forked(server, conn, req, peer_pid, marks, run_command):
    """Forked for this request.  `marks`: the server's [(t, phase)] for the
    timeline; `run_command(argv, timeline)`: cli.main.  Never returns."""
    marks = marks + [(time.monotonic_ns(), "fork")]
    _default_signals()
    server.forget()
    serve(conn, req, peer_pid, marks, run_command, server.socket)


def spare(server, jobs, run_command):
    """Forked before any request asked (the server keeps one spare): let go
    of the server and rehearse now, then take the request the server hands
    over on `jobs` (wire.JOB).  Never returns."""
    _default_signals()
    recent = list(server.recent)
    server.forget()
    where = server.socket
    _close_all_but([jobs.fileno()])
    _rehearse(recent)
    try:
        _, payload, fds = wire.receive(jobs, wire.JOB)
    except (OSError, wire.ProtocolError):
        os._exit(0)                          # retired unused
    t = time.monotonic_ns()
    jobs.close()
    peer_pid, marks, request = wire.decode_job(payload)
    req = wire.Request(request, fds[1:])
    serve(socket.socket(fileno=fds[0]), req, peer_pid, marks + [(t, "handover")], run_command, where)


def serve(conn, req, peer_pid, marks, run_command, where):
    """Claim the request, become the client, run its command line.  Never
    returns.  Until the claim nothing with an effect happens; after it, the
    worker can still refuse (the front end then runs the direct path) as
    long as it has run nothing."""
    if not req.claim():
        os._exit(0)                          # the client gave up waiting: it runs the direct path
    try:
        wire.send(conn, wire.STARTED, struct.pack("<i", os.getpid()))
    except OSError:
        os._exit(0)                          # the client is gone
    try:
        conn = _become_the_client(conn, req, peer_pid, where)
    except Exception as e:                  # a bug: the client runs the direct path, and says why
        try:
            wire.send(conn, wire.REFUSED, f"the worker failed to start: {e!r}".encode())
        except OSError:
            pass                            # the server tells it (WORKER_EXIT)
        os._exit(1)
    _die_with_client(conn)
    from . import parent, remote
    from .timing import Timeline
    tl = Timeline(start=req.t_start)
    tl.mark("front end", req.t_connect)
    tl.mark("connect", req.t_sent)
    for t, phase in marks:
        tl.mark(phase, t)
    tl.mark("worker")
    parent.serve_through(remote.Parent(conn, req.fd_window), peer_pid)
    try:
        code = run_command(req.argv[1:], tl)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        # What Python does with an exception nobody caught: a traceback, status 1.
        import traceback
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    try:
        wire.send(conn, wire.EXIT, struct.pack("<i", code))
    except OSError:
        pass
    os._exit(code)


def _become_the_client(conn, req, peer_pid, where):
    conn = _take_fds(conn, req)
    os.umask(req.umask)
    os.environ.clear()
    for entry in req.env:
        key, eq, value = entry.partition("=")
        if eq and key:
            os.environ[key] = value
    _new_stdio()
    from . import control, log, state
    state.forget_trusted_roots()             # the server's, or a spare's rehearsal: checked afresh
    log.configure()                          # the server's --log and --debug are not the client's
    control.served_by = f"pid {os.getppid()}, {where}"
    return conn


def _rehearse(recent):
    """Run now, on nothing that matters, the code a request runs first: the
    pages it writes are copied (fork's copy-on-write, ~3 us a page on this
    machine kind) before a client waits for them.  `recent`: (argv, cwd) of
    the last requests that loaded a config.  Nothing here has an effect
    outside this process; what fails is skipped."""
    env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    for _ in range(3):
        os.open("/dev/null", os.O_RDWR)     # 0, 1, 2 until the client's come
    _new_stdio()
    from . import commands, container, leanjson, spec, state
    from .timing import Timeline
    tl = Timeline()
    for argv, cwd in recent:
        try:
            g, rest = commands.parse_globals(argv[1:])
            cmd, args = commands.parse_command(rest)
            bundle, name = commands.config_to_load(g, cmd.name, args, cwd)
            container.rehearse_start(spec.load(bundle, name, cwd=cwd), state.Container(g.root, "rehearsal"))
        except Exception:
            pass
        tl.mark("rehearsal")
    leanjson.dumps(state.new_state("rehearsal", "/", "/", 0, {}))
    tl.as_dict(command="rehearsal")


def _default_signals():
    """As a new Python process has them: the server's handlers and wakeup
    fd are its own."""
    import signal
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _close_all_but(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass                          # listdir's own


def _take_fds(conn, req):
    """The client's fds at their numbers, the working directory entered,
    and nothing else of the server's open; the connection (close-on-exec)
    is returned, at a number above the client's."""
    import fcntl
    conn_fd = conn.detach()
    wanted = {n: fd for n, fd in req.fds.items()}
    keep = [conn_fd, req.cwd_fd] + list(wanted.values())
    above = max([2] + list(wanted) + keep) + 1
    moved = {fd: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in keep}
    _close_all_but(set(moved.values()))
    for number, fd in wanted.items():
        os.dup2(moved[fd], number)            # inheritable, as the client had it
    os.fchdir(moved[req.cwd_fd])
    for fd in list(wanted.values()) + [req.cwd_fd]:
        os.close(moved[fd])
    req.fds, req.cwd_fd = {}, None
    return socket.socket(fileno=moved[conn_fd])


def _new_stdio():
    """sys.stdin/stdout/stderr on the client's fds 0-2, buffered as a new
    process would buffer them (line by line on a terminal)."""
    def stream(fd, mode, errors):
        try:
            line = mode == "w" and os.isatty(fd)
            return open(fd, mode, buffering=1 if line else -1, closefd=False, encoding="utf-8",
                        errors=errors)
        except OSError:
            return None                       # the client had it closed
    sys.stdin = stream(0, "r", "surrogateescape")
    sys.stdout = stream(1, "w", "surrogateescape")
    sys.stderr = stream(2, "w", "backslashreplace")


def _die_with_client(conn):
    """If the client disappears (killed, like a direct-path runtime can be),
    so does this worker, at once: SIGIO comes when the connection changes,
    and a hang-up means the client is gone."""
    import fcntl
    import select
    import signal

    def check(sig, frame):
        p = select.poll()
        p.register(conn, select.POLLRDHUP)
        if any(ev & (select.POLLHUP | select.POLLRDHUP) for _, ev in p.poll(0)):
            os.kill(os.getpid(), signal.SIGKILL)
    signal.signal(signal.SIGIO, check)
    fcntl.fcntl(conn, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) | os.O_ASYNC)
    check(signal.SIGIO, None)                 # gone already?
