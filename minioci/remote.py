"""The container's parent on the served path: the client's front end
(native/frontend.c), driven by the worker over the request's connection.

`Parent.spawn` returns a Child with shim.Child's interface, call for call
(wire.py lists the messages); `Parent.foreground` returns parent.Foreground's
twin.  The front end does what only the container's parent may: clone, reap,
forward signals, relay the terminal; the worker does everything else, exactly
as the direct path does (container.py never knows which it has).
"""
import os
import struct

from . import wire
from .errors import MiniociError

# mo_wait_report's outcomes, as REPORT carries them (native/minioci_shim.h).
OUTCOMES = {0: "exec", 1: "ready", 4: "hooks"}
REPORT_ERROR = 2
REPORT_HEAD = "iiiqqqiii"     # outcome, pid, errno, t_report, t_clone, t_child, failed step, steps done, msg length


class Parent:
    def __init__(self, conn):
        self.conn = conn

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
            raise MiniociError(f"{what}: {os.strerror(-rc)}")

    def spawn(self, plan, dumpable=True):
        return Child(self, plan, dumpable)

    def foreground(self):
        return Foreground(self)


class Child:
    """shim.Child's twin: the child is the front end's, these calls are its."""

    def __init__(self, remote, plan, dumpable=True):
        from . import shim
        self.remote = remote
        self.plan = plan
        self.terminal_fd = None           # the front end holds the terminal and relays it
        self.t_report = None
        mine = plan_fds(plan)
        theirs = []
        if mine:
            payload = remote.call(wire.SPAWN_FDS, fds=mine, reply=wire.FD_NUMBERS)
            theirs = list(struct.unpack(f"<{len(mine)}i", payload))
        flags = 0 if dumpable else wire.SPAWN_NOT_DUMPABLE
        payload = remote.call(wire.SPAWN, struct.pack("<I", flags) +
                              shim.encode(renumbered(plan, dict(zip(mine, theirs)))), reply=wire.SPAWNED)
        rc, pid, t_clone = struct.unpack("<iiq", payload)
        if rc < 0:
            raise MiniociError(f"clone container process: {os.strerror(-rc)}")
        self.pid = pid
        self._times = (t_clone, 0, [])

    def go(self, state=b""):
        self.remote.result(wire.GO, state, "start container process")

    def set_listener_state(self, state):
        self.remote.result(wire.LISTENER_STATE, state,
                           f"pass the seccomp listener state ({len(state)} bytes) to the container process")

    def wait_report(self):
        r = wire.Reader(self.remote.call(wire.WAIT_REPORT, reply=wire.REPORT))
        outcome, self.pid, err, self.t_report, t_clone, t_child, _, done, _ = r.ints(REPORT_HEAD)
        self._times = (t_clone, t_child, list(r.ints(f"{done}q")))
        msg = r.string()
        if outcome in OUTCOMES:
            return OUTCOMES[outcome]
        if outcome == REPORT_ERROR:
            raise MiniociError(f"{msg}: {os.strerror(err)}" if err else msg)
        raise MiniociError(f"read from container process: {os.strerror(-outcome)}")

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


def plan_fds(plan):
    """The parent's fds the plan hands the child, each once."""
    from .plan import FD_FIELDS
    fds = [plan.cgroup_fd] if plan.cgroup_fd is not None and plan.cgroup_fd >= 0 else []
    for step in plan.steps:
        field = FD_FIELDS.get(step["op"])
        if field and step.get(field) is not None and step[field] >= 0 and step[field] not in fds:
            fds.append(step[field])
    return fds


def renumbered(plan, numbers):
    """A copy of `plan` whose fds are the front end's (`numbers`: ours → theirs)."""
    from .plan import FD_FIELDS, Plan
    steps = []
    for step in plan.steps:
        field = FD_FIELDS.get(step["op"])
        if field and step.get(field) in numbers:
            step = dict(step, **{field: numbers[step[field]]})
        steps.append(step)
    return Plan(plan.clone_flags, plan.pid_ns_path, numbers.get(plan.cgroup_fd, plan.cgroup_fd), steps,
                plan.uid_mappings, plan.gid_mappings)
