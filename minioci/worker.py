"""A served request, in a worker: a resident one, which serves one request
after another (resident), the spare forked ahead (spare), or a worker forked
for it (forked); see server.py.

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


def forked(server, conn, req, peer_pid, marks, run_command, made=None):
    """Forked for this request.  `marks`: the server's [(t, phase)] for the
    timeline; `run_command(argv, timeline)`: cli.main; `made`: a sandbox
    made ahead for it (sandbox.make's).  Never returns."""
    marks = marks + [(time.monotonic_ns(), "fork")]
    _default_signals()
    server.forget()
    if made is not None:
        from . import sandbox
        sandbox.give(*made, RESIDENT_FD)
    serve(conn, req, peer_pid, marks, run_command, server.socket)


def spare(server, jobs, run_command):
    """Forked before any request asked (the server keeps one spare): let
    go of the server and rehearse now, make the sandboxes the server lacks
    or asks for (sent to it: wire.SANDBOX), then take the request the
    server hands over on `jobs` (wire.JOB).  Never returns."""
    _default_signals()
    wanted = server.sandboxes_wanted()
    server.forget()
    where = server.socket
    _close_all_but([jobs.fileno()])
    _rehearse()
    _make_sandboxes(jobs, wanted)
    while True:
        try:
            kind, payload, fds = _next_job(jobs, (wire.JOB, wire.SANDBOX))
        except (OSError, wire.ProtocolError):
            os._exit(0)                      # retired unused
        if kind == wire.JOB:
            break
        _make_sandboxes(jobs, struct.unpack("<i", payload)[0])     # the server asks for more
    t = time.monotonic_ns()
    jobs.close()
    conn, req, peer_pid, marks = _job(payload, fds)
    serve(conn, req, peer_pid, marks + [(t, "handover")], run_command, where)


def _job(payload, fds):
    """A JOB's (connection, Request, client pid, server's marks); the
    sandbox that came with it is this worker's now."""
    peer_pid, marks, sandbox_ns, request = wire.decode_job(payload)
    if sandbox_ns >= 0:
        from . import sandbox
        sandbox.give(fds[1:4], sandbox_ns, RESIDENT_FD)
        fds[1:4] = []
    return socket.socket(fileno=fds[0]), wire.Request(request, fds[1:]), peer_pid, marks


def _next_job(jobs, kinds=wire.JOB):
    """The next message from the server (a JOB, or one of `kinds`):
    ProtocolError on EOF (retired)."""
    try:
        return wire.receive(jobs, kinds)
    except ConnectionResetError:
        # Said once when the server closed its end with something of ours
        # unread (a SANDBOX, a DONE), before what it had sent us.
        return wire.receive(jobs, kinds)


def _readable(sock):
    import select
    return bool(select.select([sock], [], [], 0)[0])


def _make_sandboxes(jobs, wanted):
    """Make `wanted` sandboxes (minioci/sandbox.py) and send each to the
    server, unless a request comes first."""
    from . import sandbox
    for _ in range(wanted):
        if _readable(jobs):
            return                           # a request (or EOF): it goes first
        made = sandbox.make()
        if made is None:
            return
        fds, ns = made
        try:
            wire.send(jobs, wire.SANDBOX, struct.pack("<q", ns), fds)
        except OSError:
            return                           # the server has closed its end: a request came, or EOF
        finally:
            for fd in fds:
                os.close(fd)


def resident(server, jobs, run_command):
    """A worker that lives on: it serves the requests the server hands it
    (wire.JOB) one after another, each as a worker forked for it would, and
    says DONE after each.  Every command but those that run for long whatever
    happens comes here (commands.own_process); a resident worker's pages,
    copied once, are not copied again for every request, and what it has
    run once is warm.  Never returns: on EOF (the server retired it, or
    stopped) it exits."""
    import fcntl
    _default_signals()
    where = server.socket
    server.forget()
    # Above any fd number a client may pass on (wire.MAX_FDS), so that the
    # client's fds never land on it.
    try:
        mine = fcntl.fcntl(jobs.fileno(), fcntl.F_DUPFD_CLOEXEC, RESIDENT_FD)
    except OSError:                          # RLIMIT_NOFILE below it: _take_fds refuses a clash
        mine = os.dup(jobs.fileno())
    jobs.close()
    jobs = socket.socket(fileno=mine)
    _close_all_but([mine])
    env = dict(os.environ)
    umask = os.umask(0o022)
    _rehearse()
    _rehearse_light(run_command)
    _between_requests(mine, env, umask)
    while True:
        try:
            _, payload, fds = _next_job(jobs)
        except (OSError, wire.ProtocolError, KeyboardInterrupt):
            os._exit(0)                      # retired
        t = time.monotonic_ns()
        try:
            conn, req, peer_pid, marks = _job(payload, fds)
            if _serve(conn, req, peer_pid, marks + [(t, "handover")], run_command, where, jobs) is None:
                # Not claimed, or the client gone: nothing was run.  The
                # connection is still this socket's, closed now: left to
                # the next request's rebinding of `conn`, its close would
                # hit whatever that request got at the same fd number.
                conn.close()
                wire.send(jobs, wire.DONE)
        except BaseException:                # KeyboardInterrupt between the command and here, a bug,
            os._exit(1)                      # the server gone: the server tells the client (WORKER_EXIT)
        del conn, req                        # nothing of this request outlives it, by fd number or object
        _between_requests(mine, env, umask)


# Where a worker keeps fds of its own across a request (a resident worker's
# socket to the server, a spare's sandbox): above every fd number a client
# can pass (the front end passes at most wire.MAX_FDS).
RESIDENT_FD = 256


def _between_requests(mine, env, umask):
    """What a request changed in this process, as a fresh worker has it:
    no fd but the server's socket (the command's locks go with theirs),
    the root directory, the server's environment and umask, default
    signal handlers, the collector on, a quiet log, no front end to serve
    through, no sandbox, no --rootless, no warning said already."""
    import gc
    from . import control, log, parent, rootless, sandbox, state
    from .seccomp import cache
    parent.serve_through(None, None)
    sandbox.forget()
    state.release_removed()
    rootless.set_mode("auto")                # a request's --rootless was its own
    cache.forget_warnings()
    _close_all_but([mine])
    for _ in range(3):
        os.open("/dev/null", os.O_RDWR)     # 0, 1, 2 until the next client's come
    _new_stdio()
    os.chdir("/")
    os.umask(umask)
    os.environ.clear()
    os.environ.update(env)
    _default_signals()
    gc.enable()
    log.configure()
    control.served_by = None


def serve(conn, req, peer_pid, marks, run_command, where):
    """Claim the request, become the client, run its command line, exit
    with its status.  Never returns."""
    os._exit(_serve(conn, req, peer_pid, marks, run_command, where) or 0)


def _serve(conn, req, peer_pid, marks, run_command, where, jobs=None):
    """Claim the request, become the client, run its command line; its exit
    status, or None if it was not claimed (or its client is gone).  Until
    the claim nothing with an effect happens; after it, the worker can still
    refuse (the front end then runs the direct path) as long as it has run
    nothing.  `jobs`: a resident worker's socket to the server (kept open:
    the worker lives on after the request, and says DONE there)."""
    if not req.claim():
        return None                          # the client gave up waiting: it runs the direct path
    try:
        wire.send(conn, wire.STARTED, struct.pack("<ii", os.getpid(), wire.RESIDENT if jobs else 0))
    except OSError:
        return None                          # the client is gone
    from . import sandbox
    mine = sandbox.held() + ([] if jobs is None else [jobs.fileno()])
    try:
        conn = _become_the_client(conn, req, peer_pid, where, mine)
    except Exception as e:                  # a bug: the client runs the direct path, and says why
        try:
            wire.send(conn, wire.REFUSED, f"the worker failed to start: {e!r}".encode())
        except OSError:
            pass                            # the server tells it (WORKER_EXIT)
        os._exit(1)
    _die_with_client(conn)
    from . import parent, remote
    from .timing import Timeline
    tl = Timeline(start=req.t_start, pid=peer_pid)
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
    _live_on_without(conn)
    if jobs is not None:
        # Free for the next request before its client has the answer: its
        # next command finds this worker free, even if this worker is
        # preempted right after the answer (a loaded machine).  Killed
        # before it takes the next request, that request goes to another
        # (the server keeps it until it is claimed).
        try:
            wire.send(jobs, wire.DONE)
        except OSError:
            pass                             # retired: the server has closed its end
    try:
        wire.send(conn, wire.EXIT, struct.pack("<i", code))
    except OSError:
        pass
    # Closed through this object, which every holder shares (remote.Parent
    # too): one kept alive elsewhere can no longer close a later request's
    # fd of the same number.
    fd = conn.detach()
    if fd >= 0:
        os.close(fd)
    return code


def _become_the_client(conn, req, peer_pid, where, keep=()):
    conn = _take_fds(conn, req, keep)
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


def _rehearse():
    """Run now, on nothing that matters, the code a request runs first: the
    pages it writes are copied (fork's copy-on-write, ~3 us a page on this
    machine kind) before a client waits for them.  Nothing here has an
    effect outside this process."""
    env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    for _ in range(3):
        os.open("/dev/null", os.O_RDWR)     # 0, 1, 2 until the client's come
    _new_stdio()
    from . import leanjson, state
    from .timing import Timeline
    tl = Timeline()
    leanjson.dumps(state.new_state("rehearsal", "/", "/", 0, {}))
    tl.mark("rehearsal")
    tl.as_dict(command="rehearsal")


def _rehearse_light(run_command):
    """A resident worker's rehearsal: commands that change nothing (a list
    of the default state root, the state of an id no container can have),
    their output to /dev/null, so that the pages those commands write are
    copied before a client waits for them."""
    from . import log
    from .timing import Timeline
    log.configure()                          # the server's --log: a rehearsal's refusal is nobody's error
    for argv in (["list"], ["state", "minioci:rehearsal"]):
        try:
            run_command(argv, Timeline())
        except BaseException:
            pass


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


def _take_fds(conn, req, keep=()):
    """The client's fds at their numbers, the working directory entered,
    and nothing else of the server's open (but `keep`, a resident worker's
    own: they are close-on-exec and stay where they are, below what the
    client needs them for); the connection (close-on-exec) is returned, at a
    number above the client's."""
    import fcntl
    conn_fd = conn.detach()
    wanted = {n: fd for n, fd in req.fds.items()}
    taken = [conn_fd, req.cwd_fd] + list(wanted.values())
    above = max([2] + list(wanted) + taken + list(keep)) + 1
    moved = {fd: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in taken}
    if set(keep) & set(wanted):
        raise RuntimeError(f"the client's fds {sorted(set(keep) & set(wanted))} are this worker's own")
    _close_all_but(set(moved.values()) | set(keep))
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


# The connection a worker dies with if its client goes (see _die_with_client).
_client = None


def _die_with_client(conn):
    """If the client disappears (killed, like a direct-path runtime can be),
    so does this worker, at once: SIGIO comes when the connection changes,
    and a hang-up means the client is gone."""
    import fcntl
    import select
    import signal
    global _client

    def check(sig, frame):
        if _client is None:
            return                            # a resident worker between requests
        p = select.poll()
        p.register(_client, select.POLLRDHUP)
        if any(ev & (select.POLLHUP | select.POLLRDHUP) for _, ev in p.poll(0)):
            os.kill(os.getpid(), signal.SIGKILL)
    _client = conn
    signal.signal(signal.SIGIO, check)
    fcntl.fcntl(conn, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) | os.O_ASYNC)
    check(signal.SIGIO, None)                 # gone already?


def _live_on_without(conn):
    """The request is done: its client may go now (it will, once it has the
    exit status) without taking this worker along.  The server holds the
    same connection until then: O_ASYNC goes, or its hang-up would still
    signal us."""
    import fcntl
    global _client
    _client = None
    try:
        fcntl.fcntl(conn, fcntl.F_SETFL, fcntl.fcntl(conn, fcntl.F_GETFL) & ~os.O_ASYNC)
    except OSError:
        pass
