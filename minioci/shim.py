"""The bridge to native/shim.c: encode a Plan as C steps, spawn, report.

FIELDS is the one table that says which struct mo_step field each plan field
travels in; native/minioci_shim.h documents the same per op.
"""
import os

from ._shim import ffi, lib
from .errors import MiniociError, strerror

FIELDS = {
    "wait_parent": {},
    "parent_hooks": {},
    "hook": {"path": "s1", "args": "v1", "env": "v2", "timeout": "i1", "state": "i2", "name": "s2"},
    "setns": {"path": "s1", "nstype": "i1"},
    "unshare": {"nstype": "i1", "name": "s1"},
    "join_cgroup": {"path": "s1", "v2": "i1"},
    "rootfs": {"path": "s1", "propagation": "u1"},
    "mount": {"source": "s1", "destination": "s2", "fstype": "s3", "data": "s4",
              "flags": "u1", "propagation": "u2", "target_kind": "i1"},
    "mqueue": {"destination": "s2", "flags": "u1"},
    "mknod": {"destination": "s2", "mode": "u1", "dev": "u2", "uid": "i1", "gid": "i2"},
    "bind_dev": {"source": "s1", "destination": "s2"},
    "symlink": {"target": "s1", "destination": "s2"},
    "pivot_root": {},
    "move_root": {},
    "root_propagation": {"propagation": "u1"},
    "remount_root_ro": {},
    "mask": {"path": "s1"},
    "readonly": {"path": "s1"},
    "sethostname": {"name": "s1"},
    "setdomainname": {"name": "s1"},
    "write_file": {"path": "s1", "content": "s2"},
    "loopback_up": {},
    "rlimit": {"resource": "i1", "name": "s1", "soft": "u1", "hard": "u2"},
    "cap_bounding": {"keep": "u1"},
    "user": {"uid": "i1", "gid": "i2", "groups": "gids"},
    "caps": {"effective": "u1", "permitted": "u2", "inheritable": "u3", "ambient": "u4"},
    "no_new_privs": {},
    "umask": {"mask": "i1"},
    "chdir": {"path": "s1"},
    "terminal": {"socket_fd": "i1", "uid": "u1", "gid": "u2", "size": "u3"},
    "find_exec": {"file": "s1", "env": "v2"},
    "seccomp": {"bpf": "blob", "flags": "i1", "listener_fd": "i2"},
    "close_fds": {"first": "i1"},
    "wait_start": {"fd": "i1"},
    "exec": {"args": "v1", "env": "v2"},
    "fork": {},
}
OPS = {name: getattr(lib, "MO_OP_" + name.upper()) for name in FIELDS}
# Keys a step carries for Python only.
_PY_ONLY = ("op", "phase")


def encode(plan):
    """C memory for `plan`: (struct mo_plan *, objects keeping it alive)."""
    keep = []

    def cstr(value):
        if value is None:
            return ffi.NULL
        buf = ffi.new("char[]", value.encode() if isinstance(value, str) else value)
        keep.append(buf)
        return buf

    def cvec(values):
        ptrs = [cstr(v) for v in values] + [ffi.NULL]
        arr = ffi.new("char *[]", ptrs)
        keep.append(arr)
        return arr

    steps = ffi.new("struct mo_step[]", len(plan.steps))
    keep.append(steps)
    for i, step in enumerate(plan.steps):
        c = steps[i]
        op = step["op"]
        c.op = OPS[op]
        table = FIELDS[op]
        for key, value in step.items():
            if key in _PY_ONLY:
                continue
            field = table[key]       # KeyError: a plan field the table lacks
            if field[0] == "s":
                setattr(c, field, cstr(value))
            elif field[0] == "v":
                setattr(c, field, cvec(value))
            elif field == "blob":
                buf = ffi.new("unsigned char[]", bytes(value))
                keep.append(buf)
                c.blob, c.blob_len = buf, len(value)
            elif field == "gids":
                buf = ffi.new("unsigned int[]", list(value) or [0])
                keep.append(buf)
                c.blob, c.blob_len = ffi.cast("unsigned char *", buf), 4 * len(value)
            else:
                setattr(c, field, value)
    cplan = ffi.new("struct mo_plan *")
    cplan.clone_flags = plan.clone_flags
    cplan.pid_ns_path = cstr(plan.pid_ns_path)
    cplan.cgroup_fd = -1 if plan.cgroup_fd is None else plan.cgroup_fd
    cplan.nsteps = len(plan.steps)
    cplan.steps = steps
    keep.append(cplan)
    return cplan, keep


class Child:
    """A spawned child running a plan; the parent's handle on it."""

    def __init__(self, plan):
        self.plan = plan
        self._cplan, self._keep = encode(plan)
        self._c = ffi.new("struct mo_child *")
        rc = lib.mo_spawn(self._cplan, self._c)
        if rc < 0:
            raise MiniociError(f"clone container process: {strerror(-rc)}")
        self.pid = self._c.pid
        self.terminal_fd = None

    def go(self, state=b""):
        """Let the child go on; `state` is the JSON its own hooks get."""
        rc = lib.mo_go(self._c, state, len(state))
        if rc < 0:
            raise MiniociError(f"start container process: {strerror(-rc)}")

    def set_listener_state(self, state):
        """The bytes the child sends its seccomp listener with the notify fd."""
        rc = lib.mo_set_listener_state(self._c, state, len(state))
        if rc < 0:
            raise MiniociError(f"pass the seccomp listener state ({len(state)} bytes) to the container "
                               f"process: {strerror(-rc)}")

    def wait_report(self):
        """Block until the child execs ("exec"), reports it is waiting for
        start ("ready"), waits for the parent's hooks ("hooks") or fails
        (raises MiniociError with its message)."""
        fd = ffi.new("int *")
        while True:
            what = lib.mo_wait_report(self._c, fd)
            if what == lib.MO_REPORT_TERMINAL:
                self.terminal_fd = fd[0]
                continue
            if fd[0] >= 0:
                os.close(fd[0])
            if what == lib.MO_REPORT_READY:
                return "ready"
            if what == lib.MO_REPORT_HOOKS:
                return "hooks"
            if what == lib.MO_REPORT_PID:
                # The plan goes on in a sibling; reap the process that forked it.
                os.waitpid(self.pid, 0)
                self.pid = self._c.shared.pid
                continue
            if what == lib.MO_REPORT_ERROR:
                raise self.error()
            if what == 0:
                return "exec"
            raise MiniociError(f"read from container process: {strerror(-what)}")

    def error(self):
        sh = self._c.shared
        msg = ffi.string(sh.msg).decode(errors="replace")
        err = sh.err
        return MiniociError(f"{msg}: {strerror(err)}" if err else msg)

    def step_times(self):
        """(t_clone, t_child, [end of each step]) in CLOCK_MONOTONIC ns; a step
        that did not run has no entry."""
        sh = self._c.shared
        return sh.t_clone, sh.t_child, [sh.t_step[i] for i in range(sh.steps_done)]

    def release(self):
        lib.mo_release(self._c)


def now():
    return lib.mo_now()
