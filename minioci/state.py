"""The state store: one directory per container under the root (--root,
default /run/minioci: see commands.GLOBAL_FLAGS), holding state.json (written
atomically) and, while the container is created but not started, exec.fifo.
Each container is locked (a POSIX record lock on its `lock` file) by any
command that changes it, so commands on one id are serialized.
"""
import os
import time

from . import OCI_VERSION, leanjson
from .errors import MiniociError

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
LOCK_FILE = "lock"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


# The root also holds the seccomp cache (minioci/seccomp/cache.py): not a container.
SECCOMP_CACHE = "seccomp-cache"
RESERVED_IDS = frozenset([SECCOMP_CACHE])


def check_id(cid):
    if not cid or cid in (".", "..") or not set(cid) <= _ID_CHARS or len(cid) > 1024:
        raise MiniociError(f"invalid container id {cid!r}: use letters, digits and _+-. only")
    if cid in RESERVED_IDS:
        raise MiniociError(f"invalid container id {cid!r}: minioci keeps its {cid} there")


def generate_id():
    return "minioci-" + os.urandom(6).hex()


class Container:
    """A container's entry in the state store."""

    def __init__(self, root, cid):
        check_id(cid)
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self._lock_fd = None

    @property
    def exec_fifo(self):
        return os.path.join(self.dir, EXEC_FIFO)

    def reserve(self):
        """Claim the id: mkdir is atomic, so two creates cannot both win."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        try:
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise MiniociError(f"container {self.id!r} already exists") from None
        self.lock()

    def exists(self):
        return os.path.exists(os.path.join(self.dir, STATE_FILE))

    def lock(self):
        """Hold this container's lock until unlock() or exit.

        A POSIX record lock (lockf), not flock: it belongs to this process,
        so the container's process, cloned from us and waiting for `start`,
        does not hold it too."""
        import fcntl
        if self._lock_fd is not None:
            return
        if not os.path.isdir(self.dir):
            raise MiniociError(f"container {self.id!r} does not exist")
        try:
            fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise MiniociError(f"container {self.id!r} does not exist") from None
        fcntl.lockf(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def creator_active(self):
        """Whether another process holds this container's lock: while the
        state says "creating", that is the create at work (a create that
        died half-way holds nothing)."""
        import fcntl
        if self._lock_fd is not None:
            return False          # ours; and a second fd closed here would drop it
        try:
            fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)          # and with it the lock just taken
        return False

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def save(self, state):
        path = os.path.join(self.dir, STATE_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, leanjson.dumps(state).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def load(self):
        try:
            with open(os.path.join(self.dir, STATE_FILE), "rb") as f:
                return leanjson.loads(f.read().decode())
        except FileNotFoundError:
            raise MiniociError(f"container {self.id!r} does not exist") from None
        except ValueError as e:
            raise MiniociError(f"{self.dir}/{STATE_FILE}: corrupt state: {e}") from None

    def remove(self):
        """Delete the entry (and everything in it)."""
        try:
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        self.unlock()


def list_ids(root):
    try:
        return sorted(d for d in os.listdir(root)
                      if os.path.exists(os.path.join(root, d, STATE_FILE)))
    except FileNotFoundError:
        return []


def new_state(cid, bundle, rootfs, pid, annotations, **internal):
    """The state.json of a new container: runc's fields plus minioci's own
    (cgroup directories, the init's start time to detect pid reuse...)."""
    return dict(internal, ociVersion=OCI_VERSION, id=cid, pid=pid, status="creating", bundle=bundle,
                rootfs=rootfs, created=rfc3339_now(), owner="", annotations=annotations or {},
                pid_start=process_start_time(pid) if pid else None)


def rfc3339_now():
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def process_start_time(pid):
    """The process's start time in clock ticks (/proc/<pid>/stat field 22),
    or None if it is gone: with the pid, it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":        # a zombie has exited; only its parent's wait is left
        return None
    return int(fields[19])


def is_alive(state):
    pid = state.get("pid") or 0
    return pid > 0 and process_start_time(pid) == state.get("pid_start")


def status(container, state):
    """creating | created | running | paused | stopped, from the live
    system.  The state file says "creating" until the create is done; if
    the create died half-way, what it left is judged as any container."""
    if state.get("status") == "creating" and container.creator_active():
        return "creating"
    if not is_alive(state):
        return "stopped"
    if os.path.exists(container.exec_fifo):
        return "created"
    from .cgroups import freezer
    if freezer.is_frozen(state.get("cgroup_dirs") or []):
        return "paused"
    return "running"
