"""The bridge to the native side: encode a Plan as bytes, spawn the child
that runs it (native/spawn.c, then minioci-init: native/init.c, child.c),
collect its reports and timestamps.

FIELDS is the one table that says which struct mo_step field each plan field
travels in; native/minioci_shim.h documents the same per op, and the byte
format encode() writes.
"""
import os

from ._shim import ffi, lib
from .errors import MiniociError, strerror

FIELDS = {
    "parent_hooks": {},
    "hook": {"path": "s1", "args": "v1", "env": "v2", "timeout": "i1", "state": "i2", "name": "s2"},
    "setns": {"path": "s1", "nstype": "i1", "fd": "i2"},
    "unshare": {"nstype": "i1", "name": "s1"},
    "join_cgroup": {"path": "s1", "v2": "i1"},
    "rootfs": {"path": "s1", "propagation": "u1", "parent": "s2"},
    "mount": {"source": "s1", "destination": "s2", "fstype": "s3", "data": "s4",
              "flags": "u1", "propagation": "u2", "target_kind": "i1", "source_fd": "i2", "tmpfs": "u3",
              "in_proc": "u4"},
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
    "write_proc": {"path": "s1", "content": "s2"},
    "loopback_up": {},
    "rlimit": {"resource": "i1", "name": "s1", "soft": "u1", "hard": "u2"},
    "cap_bounding": {"keep": "u1"},
    "user": {"uid": "i1", "gid": "i2", "groups": "gids"},
    "caps": {"effective": "u1", "permitted": "u2", "inheritable": "u3", "ambient": "u4"},
    "no_new_privs": {},
    "umask": {"mask": "i1"},
    "chdir": {"path": "s1"},
    "terminal": {"socket_fd": "i1", "uid": "u1", "gid": "u2", "size": "u3", "console": "i2"},
    "find_exec": {"file": "s1", "env": "v2"},
    "seccomp": {"bpf": "blob", "flags": "i1", "listener_fd": "i2"},
    "close_fds": {"first": "i1"},
    "wait_start": {"fd": "i1"},
    "exec": {"args": "v1", "env": "v2"},
    "fork": {},
    "mkdir": {"path": "s1"},
    "chroot": {"path": "s1"},
    "personality": {"persona": "u1"},
    "scheduler": {"attr": "blob"},
    "ioprio": {"value": "i1"},
    "mempolicy": {"mode": "i1", "nodemask": "blob", "maxnode": "u1"},
    "setattr": {"path": "s1", "attr_set": "u1", "attr_clr": "u2"},
    "session_keyring": {"name": "s1", "perm": "u1"},
    "chown_stdio": {"uid": "i1"},
}
OPS = {name: getattr(lib, "MO_OP_" + name.upper()) for name in FIELDS}
# Keys a step carries for Python only.
_PY_ONLY = ("op", "phase", "field")
# The executable a container's process runs until it execs (native/init.c).
EXE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "minioci")

_NULL = b"\xff\xff\xff\xff"
# How each kind of field is written (native/minioci_shim.h has the format).
_TAGS = {name: bytes([getattr(lib, "MO_F_" + name.upper())]) for name in
         ("i1", "i2", "u1", "u2", "u3", "u4", "s1", "s2", "s3", "s4", "v1", "v2", "blob")}
_TAGS["gids"] = _TAGS["blob"]


def _string(value):
    if value is None:
        return _NULL
    raw = value.encode() if isinstance(value, str) else bytes(value)
    if b"\0" in raw:
        raise ValueError("contains a NUL byte")
    return len(raw).to_bytes(4, "little") + raw + b"\0"


def encode(plan):
    """The plan's steps as the bytes native/plan.c decodes."""
    out = [b"MOP1", len(plan.steps).to_bytes(4, "little")]
    for step in plan.steps:
        op = step["op"]
        table = FIELDS[op]
        fields = [(table[k], v) for k, v in step.items() if k not in _PY_ONLY]   # KeyError: a field the table lacks
        out.append(OPS[op].to_bytes(2, "little") + len(fields).to_bytes(2, "little"))
        for field, value in fields:
            try:
                kind = field[0]
                if kind == "i":
                    data = value.to_bytes(4, "little", signed=True)
                elif kind == "u":
                    data = value.to_bytes(8, "little")
                elif kind == "s":
                    data = _string(value)
                elif kind == "v":
                    data = _NULL if value is None else \
                        len(value).to_bytes(4, "little") + b"".join(_string(v) for v in value)
                elif field == "gids":
                    data = b"".join(g.to_bytes(4, "little") for g in value)
                    data = len(data).to_bytes(4, "little") + data
                else:
                    data = len(value).to_bytes(4, "little") + bytes(value)
            except (OverflowError, ValueError) as e:
                # spec.py validates what a config can bring here; this is the last line.
                key = next(k for k, f in table.items() if f == field)
                raise MiniociError(f"step {op} ({step.get('phase')}): {key} {value!r}: "
                                   f"{'out of range' if isinstance(e, OverflowError) else e}") from None
            out.append(_TAGS[field] + data)
    return b"".join(out)


class Child:
    """A spawned child running a plan; the parent's handle on it.  On the
    served path remote.Child is the same interface (see parent.py)."""

    def __init__(self, plan):
        self.plan = plan
        data = encode(plan)
        keep = plan.fds()
        init_fd = lib.mo_init_memfd(EXE.encode())
        if init_fd < 0:
            raise MiniociError(f"copy {EXE} into a sealed memfd: {strerror(-init_fd)}")
        args = ffi.new("struct mo_spawn_args *")
        buf = ffi.from_buffer(data)
        keep_fds = ffi.new("int[]", keep) if keep else ffi.NULL
        args.plan, args.plan_len, args.nsteps = buf, len(data), len(plan.steps)
        args.clone_flags = plan.clone_flags
        args.cgroup_fd = -1 if plan.cgroup_fd is None else plan.cgroup_fd
        args.init_fd = init_fd
        args.preserve_fds = plan.preserve_fds
        args.keep_fds, args.nkeep = keep_fds, len(keep)
        args.new_userns = plan.parent_setup
        self._c = ffi.new("struct mo_child *")
        try:
            rc = lib.mo_spawn(args, self._c)
        finally:
            os.close(init_fd)
        if rc < 0:
            raise MiniociError(f"clone container process: {strerror(-rc)}")
        self.pid = self._c.pid
        self.terminal_fd = None
        self.t_report = None            # when the last report (or the exec) was seen
        self._listener_state = None

    def go(self, state=b""):
        """Let the child go on; `state` is the JSON its own hooks get."""
        rc = lib.mo_go(self._c, state, len(state))
        if rc < 0:
            raise MiniociError(f"start container process: {strerror(-rc)}")

    def set_listener_state(self, make):
        """`make(pid)`: the bytes the child sends its seccomp listener with
        the notify fd, for the process that loads the filter: this one, or
        the one a fork step makes (known once it reports its pid)."""
        self._listener_state = make
        if not self.plan.find("fork"):
            self._send_listener_state()

    def _send_listener_state(self):
        state = self._listener_state(self.pid)
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
            self.t_report = lib.mo_now()
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
                if self._listener_state is not None:
                    self._send_listener_state()
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
        return self.plan.failure(sh.failed_step, f"{msg}: {strerror(err)}" if err else msg)

    def step_times(self):
        """(t_clone, t_child, t_init, [end of each step]) in CLOCK_MONOTONIC
        ns: the clone, its first instruction, minioci-init's first; a step
        (or the init) that did not run has no entry (t_init 0)."""
        sh = self._c.shared
        return sh.t_clone, sh.t_child, sh.t_init, [sh.t_step[i] for i in range(sh.steps_done)]

    def kill_and_reap(self):
        """SIGKILL the child and reap it (a start that failed half-way)."""
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def release(self):
        lib.mo_release(self._c)
