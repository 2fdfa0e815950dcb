"""The container's parent on the served path: the client's front end
(native/frontend.c), driven by the worker over the request's connection.

`Parent.spawn` returns a Child with shim.Child's interface, call for call
(wire.py lists the messages); `Parent.foreground` returns parent.Foreground's
twin.  The front end does what only the container's parent may: clone, reap,
forward signals, relay the terminal; the worker does everything else, exactly
as the direct path does (container.py never knows which it has).
"""
import struct

from . import wire
from .errors import MiniociError, strerror

# mo_wait_report's outcomes (native/minioci_shim.h enum mo_report).
REPORT_READY, REPORT_ERROR, REPORT_TERMINAL, REPORT_HOOKS, REPORT_PID = 1, 2, 3, 4, 5
# REPORT: outcome, pid, errno, t_report, t_clone, t_child, t_init, failed step, steps done,
# message length (native/wire.h struct mo_wire_report)
REPORT_HEAD = "iiiqqqqiii"
# SPAWN: clone flags, steps, cgroup fd, preserved fds, new user namespace, kept fds
# (struct mo_wire_spawn), then the kept fds (i32 each) and the encoded plan
SPAWN_HEAD = "Qiiiii"


class Parent:
    def __init__(self, conn, fd_window=-1):
        self.conn = conn
        self.fd_window = fd_window           # where the front end takes a plan's fds (-1: it says)

    def call(self, kind, payload=b"", fds=(), reply=wire.RESULT):
        """Send one message and wait for the front end's answer."""
        try:
            wire.send(self.conn, kind, payload, fds)
            return wire.receive(self.conn, reply)[1]
        except (OSError, wire.ProtocolError) as e:
            raise MiniociError(f"the front end (the container's parent) is gone: {e}") from None

    def tell(self, kind, payload=b""):
        """Send one message that has no answer."""
        try:
            wire.send(self.conn, kind, payload)
        except OSError as e:
            raise MiniociError(f"the front end (the container's parent) is gone: {e}") from None

    def result(self, kind, payload, what):
        rc = struct.unpack("<i", self.call(kind, payload))[0]
        if rc < 0:
            raise MiniociError(f"{what}: {strerror(-rc)}")

    def spawn(self, plan):
        return Child(self, plan)

    def foreground(self):
        return Foreground(self)


class Child:
    """shim.Child's twin: the child is the front end's, these calls are its."""

    def __init__(self, remote, plan):
        from . import shim
        self.remote = remote
        self.plan = plan
        self.terminal_fd = None           # the front end holds the terminal and relays it
        self.t_report = None
        self._listener_state = None
        mine = plan.fds() + ([plan.cgroup_fd] if plan.cgroup_fd is not None and plan.cgroup_fd >= 0 else [])
        with_spawn = []
        if 0 <= remote.fd_window and len(mine) <= wire.FD_WINDOW:
            theirs = [remote.fd_window + i for i in range(len(mine))]
            with_spawn = mine                 # they go with SPAWN, to those numbers
        elif mine:
            payload = remote.call(wire.SPAWN_FDS, fds=mine, reply=wire.FD_NUMBERS)
            theirs = list(struct.unpack(f"<{len(mine)}i", payload))
            if min(theirs) < 0:
                raise MiniociError("the front end could not take the container's fds")
        else:
            theirs = []
        there = plan.with_fds(dict(zip(mine, theirs)))
        data = shim.encode(there)
        keep = there.fds()
        head = struct.pack("<" + SPAWN_HEAD, there.clone_flags, len(there.steps),
                           -1 if there.cgroup_fd is None else there.cgroup_fd, there.preserve_fds,
                           int(there.parent_setup), len(keep))
        payload = remote.call(wire.SPAWN, head + struct.pack(f"<{len(keep)}i", *keep) + data, fds=with_spawn,
                              reply=wire.SPAWNED)
        rc, pid, t_clone = struct.unpack("<iiq", payload)
        if rc < 0:
            raise MiniociError(f"clone container process: {strerror(-rc)}")
        self.pid = pid
        self._times = (t_clone, 0, 0, [])

    def go(self, state=b""):
        self.remote.result(wire.GO, state, "start container process")

    def set_listener_state(self, make):
        """As shim.Child's: `make(pid)` is sent for the process that loads
        the filter, this one or the one a fork step makes."""
        self._listener_state = make
        if not self.plan.find("fork"):
            self._send_listener_state()

    def _send_listener_state(self):
        state = self._listener_state(self.pid)
        self.remote.result(wire.LISTENER_STATE, state,
                           f"pass the seccomp listener state ({len(state)} bytes) to the container process")

    def wait_report(self):
        while True:
            r = wire.Reader(self.remote.call(wire.WAIT_REPORT, reply=wire.REPORT))
            what, self.pid, err, self.t_report, t_clone, t_child, t_init, failed, done, _ = r.ints(REPORT_HEAD)
            self._times = (t_clone, t_child, t_init, list(r.ints(f"{done}q")))
            msg = r.string()
            if what == REPORT_TERMINAL:
                continue                  # the front end keeps the pty master
            if what == REPORT_READY:
                return "ready"
            if what == REPORT_HOOKS:
                return "hooks"
            if what == REPORT_PID:
                # The plan goes on in a sibling (the front end reaped the first).
                if self._listener_state is not None:
                    self._send_listener_state()
                continue
            if what == REPORT_ERROR:
                raise self.plan.failure(failed, f"{msg}: {strerror(err)}" if err else msg)
            if what == 0:
                return "exec"
            raise MiniociError(f"read from container process: {strerror(-what)}")

    def step_times(self):
        return self._times

    def kill_and_reap(self):
        self.remote.call(wire.KILL_REAP)

    def release(self):
        self.remote.tell(wire.RELEASE)


class Foreground:
    """parent.Foreground's twin: the front end forwards the signals, relays
    the terminal and reaps; from now on its signals go to the container."""

    def __init__(self, remote):
        self.remote = remote
        remote.tell(wire.FOREGROUND)

    def attach(self, child):
        self.remote.tell(wire.ATTACH)        # signals held back so far go now

    def wait(self, child):
        return struct.unpack("<i", self.remote.call(wire.SUPERVISE, reply=wire.EXITED))[0]
