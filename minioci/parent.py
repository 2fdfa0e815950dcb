"""The container's parent: the process that clones the container's process,
passes signals on to it, relays its terminal and reaps it.

On the direct path that is this process: shim.Child and Foreground below.
On the served path (`minioci serve`) it is the client's front end
(native/frontend.c), which engines expect to be the container's parent, and
the worker that runs the command drives it over the request's connection
(remote.py: the same interface).  The lifecycle (container.py, commands.py)
asks here for a child or a foreground, and does not know which it gets.
"""
import os

# Signals `run` and `exec` pass on to their process, as runc does.
FORWARDED_SIGNALS = (1, 2, 3, 10, 12, 15, 28)   # HUP INT QUIT USR1 USR2 TERM WINCH
SIGWINCH = 28

_remote = None          # the served request's front end (remote.Parent), in a worker
_remote_pid = None      # ... and its pid


def serve_through(remote, pid):
    """This process is a server's worker: children are the front end's
    (process `pid`); (None, None) when its request is done (a resident
    worker)."""
    global _remote, _remote_pid
    _remote, _remote_pid = remote, pid


def proc_file(name):
    """The /proc file `name` of the container's parent-to-be: this process,
    or the front end, whose cgroup (a relative cgroupsPath starts there) and
    capabilities the container inherits."""
    return f"/proc/{_remote_pid or 'self'}/{name}"


def caller_pid():
    """The pid the caller started: this process, or on the served path its
    front end (which systemd's socket activation names in LISTEN_PID)."""
    return _remote_pid or os.getpid()


def spawn(plan):
    """Clone the container's process and start it on `plan`: a shim.Child,
    or its remote twin."""
    if _remote is not None:
        return _remote.spawn(plan)
    from . import shim
    return shim.Child(plan)


def made_ahead(spec, tl):
    """{namespace type: fd} of new namespaces made ahead for this container,
    which it joins instead of making them: only a served request's worker
    has any (minioci/sandbox.py)."""
    if _remote is None:
        return {}
    from . import sandbox
    return sandbox.take(spec, tl)


def foreground():
    """What `run` and `exec` hold while their process runs in the foreground
    (created before the process exists, so no signal is lost)."""
    if _remote is not None:
        return _remote.foreground()
    return Foreground()


class Foreground:
    """Pass our signals on to the process, relay its terminal, reap it."""

    def __init__(self):
        import _signal      # not `signal`: it imports enum, ~4 ms
        from . import shim
        self.pid = None
        self.pending = []
        self.relay = None
        for sig in FORWARDED_SIGNALS:
            _signal.signal(sig, self._forward)
        # Orphans of a container without its own PID namespace come to us,
        # and are reaped (as `runc run` does).
        shim.lib.mo_set_child_subreaper()

    def _forward(self, sig, frame):
        if sig == SIGWINCH and self.relay is not None:
            self.relay.resize()
        elif self.pid is not None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        else:
            self.pending.append(sig)     # arrived before the process existed

    def attach(self, child):
        self.pid = child.pid
        for sig in self.pending:
            self._forward(sig, None)

    def wait(self, child):
        """Relay the child's terminal (if any) until it closes, then reap;
        the exit status the way a shell reports it (128+N for signal N)."""
        if child.terminal_fd is not None:
            from .terminal import Relay
            self.relay = Relay(child.terminal_fd)
            with self.relay:
                self.relay.run()
        return wait_exit(self.pid, self._forward)


SIGCHLD = 17


def wait_exit(pid, forward):
    """Reap until `pid` exits, passing the signals `run` forwards to
    `forward(sig, None)` meanwhile; its exit code the way a shell reports it
    (128+N for death by signal N).  The signals are blocked and taken here
    one by one: a Python handler runs only between bytecodes, so one that
    came just before waitpid blocked would wait with it, for as long as the
    container runs (a test's SIGINT did)."""
    import _signal
    watched = FORWARDED_SIGNALS + (SIGCHLD,)
    before = _signal.pthread_sigmask(_signal.SIG_BLOCK, watched)
    try:
        while True:
            got, status = os.waitpid(-1, os.WNOHANG)
            if got == pid:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            if got == 0:
                sig = _signal.sigwaitinfo(watched).si_signo
                if sig != SIGCHLD:
                    forward(sig, None)
    finally:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, before)
