"""The state store: one directory per container under the root (--root,
default_root() without), holding state.json (written
atomically), seccomp.bpf (the container's filter, written once at create,
for `exec`) and, while the container is created but not started, exec.fifo.
Each container is locked (a POSIX record lock on its `lock` file) by any
command that changes it, so commands on one id are serialized.

state.json is input like config.json: every load checks the type of each
field minioci reads (`validate`), and a file that cannot be read or has the
wrong shape is a BadState naming the file and JSON path.  Besides runc's
fields it keeps what later commands need and must not read from the bundle
again (the bundle may have changed or gone): the cgroup directories, the
namespaces, the hooks, and the container's process and seccomp settings,
which `exec` inherits.
"""
import os

from . import OCI_VERSION, leanjson, rfc3339_now
from .errors import ConfigError, MiniociError, strerror

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
LOCK_FILE = "lock"
SECCOMP_BPF = "seccomp.bpf"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
# The id names the container's directory (and, by default, its cgroup
# directories): one file name, at most NAME_MAX bytes.
MAX_ID_LENGTH = 255


# The root also holds the seccomp cache (minioci/seccomp/cache.py): not a container.
SECCOMP_CACHE = "seccomp-cache"
RESERVED_IDS = frozenset([SECCOMP_CACHE])


class BadState(ConfigError):
    """A state.json that cannot be read or is not what minioci writes.  The
    container is then `unknown`: `list` shows it so, and `delete --force`
    looks for what remains of it by its id (container.delete)."""


def check_id(cid):
    if not cid or cid in (".", "..") or not set(cid) <= _ID_CHARS:
        raise MiniociError(f"invalid container id {cid!r}: use letters, digits and _+-. only")
    if len(cid) > MAX_ID_LENGTH:
        raise MiniociError(f"invalid container id {cid[:32]}...: {len(cid)} characters, more than "
                           f"{MAX_ID_LENGTH} (it names a directory, and a file name has at most "
                           f"{MAX_ID_LENGTH} bytes)")
    if cid in RESERVED_IDS:
        raise MiniociError(f"invalid container id {cid!r}: minioci keeps its {cid} there")


def default_root(environ=None):
    """Where this caller's containers live without --root, and where its
    server listens (wire.server_socket): root's /run/minioci; a rootless
    caller's (a plain user, or root of a user namespace someone else made,
    as rootless podman runs its runtime) $XDG_RUNTIME_DIR/minioci, else
    /run/user/<its uid on the host>/minioci (as runc and crun do).
    native/frontend.c has the twin (default_root)."""
    uid = os.geteuid()
    if uid == 0:
        from . import rootless
        if not rootless.in_user_namespace():
            return "/run/minioci"
        uid = rootless.host_uid()
    runtime = (os.environ if environ is None else environ).get("XDG_RUNTIME_DIR", "")
    return os.path.join(runtime, "minioci") if runtime.startswith("/") else f"/run/user/{uid}/minioci"


def generate_id():
    return "minioci-" + os.urandom(6).hex()


def untrusted(path, st, owner):
    """Why the directory `path` (its stat `st`) may not be trusted with what
    minioci keeps there, or "": it must be a directory of `owner`'s that
    nobody else can write in."""
    import stat
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != owner:
        return f"{path} belongs to uid {st.st_uid}, not {owner}"
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


_trusted_roots = set()


def check_root(root, what="state root", remember=True):
    """The state root must be the caller's alone (trust.open_dir): whoever
    else could write in it, or swap it on its way, could plant an entry (a
    state.json naming another container's cgroup, whose processes `delete
    --force` would kill) or hold an id.  A root that does not exist yet is
    made 0700 by the first create, which checks it again.  A trusted root is
    not checked again in this process if `remember` (a command lives for
    milliseconds; a server does not, and does not remember)."""
    if root in _trusted_roots:
        return
    from . import trust
    try:
        fd = trust.open_dir(root)
    except trust.Untrusted as e:
        raise MiniociError(trust.refusal(what, root, e)) from None
    except OSError as e:
        raise _sys_error(f"{what} {root}", e) from None
    if fd is not None:
        os.close(fd)
        if remember:
            _trusted_roots.add(root)


def make_root(root, what="state root"):
    """Make the state root, 0700 (and what is missing on its way, writable by
    nobody else whatever the caller's umask, or the next check would refuse
    it), then check it."""
    check_root(root, what)               # the way to it, before anything is made there
    old = os.umask(0o022)
    os.umask(old | 0o022)
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    finally:
        os.umask(old)
    check_root(root, what)


def forget_trusted_roots():
    """Check every root afresh from now on (a worker: the process it was
    forked from may have checked them long ago)."""
    _trusted_roots.clear()


class Container:
    """A container's entry in the state store."""

    def __init__(self, root, cid):
        check_id(cid)
        check_root(root)
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self._lock_fd = None

    @property
    def exec_fifo(self):
        return os.path.join(self.dir, EXEC_FIFO)

    @property
    def state_file(self):
        return os.path.join(self.dir, STATE_FILE)

    def reserve(self):
        """Claim the id: mkdir is atomic, so two creates cannot both win.
        If the lock cannot be made (a full or read-only root), the directory
        goes again: a half-made entry would hold the id for good."""
        try:
            make_root(self.root)
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise MiniociError(f"container {self.id!r} already exists") from None
        except OSError as e:
            raise _sys_error(f"create {self.dir}", e) from None
        try:
            self.lock()
        except BaseException:
            self.remove()
            raise

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
            fd = os.open(os.path.join(self.dir, LOCK_FILE),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except FileNotFoundError:
            raise MiniociError(f"container {self.id!r} does not exist") from None
        except OSError as e:
            raise _sys_error(f"lock {os.path.join(self.dir, LOCK_FILE)}", e) from None
        fcntl.lockf(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def creator_active(self):
        """Whether another process holds this container's lock: while the
        state says "creating", that is the create at work (a create that
        died half-way holds nothing)."""
        if self._lock_fd is not None:
            return False          # ours; and a second fd closed here would drop it
        return _lock_taken(self.dir) is True

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def save(self, state):
        """Replace state.json atomically (a temporary file renamed over it).
        Only root can write in the container's directory (0700), so the
        temporary name needs no protection of its own."""
        path = self.state_file
        tmp = path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                _write_all(fd, leanjson.dumps(state).encode())
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError as e:
            _unlink(tmp)
            raise _sys_error(f"write {path}", e) from None

    def load(self):
        """The container's state, validated; MiniociError if there is no
        such container, BadState if its state.json is unusable."""
        try:
            with open(self.state_file, "rb") as f:
                text = f.read().decode()
        except FileNotFoundError:
            raise MiniociError(f"container {self.id!r} does not exist") from None
        except OSError as e:
            raise BadState(self.state_file, "", f"cannot read: {strerror(e.errno)}") from None
        except UnicodeDecodeError as e:
            raise BadState(self.state_file, "", f"corrupt state: invalid UTF-8: {e.reason}") from None
        try:
            data = leanjson.loads(text)
        except ValueError as e:
            raise BadState(self.state_file, "", f"corrupt state: {e}") from None
        return validate(data, self)

    def save_seccomp(self, bpf):
        """The container's seccomp program, kept for `exec` (written once, at
        create: never compiled or looked up again)."""
        path = os.path.join(self.dir, SECCOMP_BPF)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            try:
                _write_all(fd, bpf)
            finally:
                os.close(fd)
        except OSError as e:
            raise _sys_error(f"write {path}", e) from None

    def remove(self):
        """Delete the entry (and everything in it): state.json first, so
        that the entry is gone for readers, and the lock last.  What it held
        is freed when this process exits (see _kept_until_exit)."""
        try:
            entry = os.open(self.dir, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            entry = None
        if entry is not None:
            _kept_until_exit.append(entry)
            try:
                names = sorted(os.listdir(self.dir), key=lambda n: (n != STATE_FILE, n == LOCK_FILE))
                for name in names:
                    _kept_until_exit.append(os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=entry))
                    os.unlink(name, dir_fd=entry)
                os.rmdir(self.dir)
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            _kept_until_exit.append(self._lock_fd)      # the lock of a file no one can open any more
            self._lock_fd = None


# The directories and files of removed entries, held until this process
# exits: the kernel frees a removed tmpfs directory and its files when the
# last reference goes (50 us to 2 ms on this machine kind, more when it is
# loaded), and a served worker exits after its client has the answer.
_kept_until_exit = []


def release_removed():
    """Let go of what removed entries held (a resident worker, between
    requests)."""
    while _kept_until_exit:
        os.close(_kept_until_exit.pop())


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _sys_error(what, e):
    from .errors import SysError
    if e.errno is None:
        return MiniociError(f"{what}: {e}")
    return SysError(what, e.errno)


def list_ids(root):
    """The ids of the containers under `root`: those with a state.json
    (readable or not: an unreadable one is listed as `unknown`), and those
    that lost it (see abandoned)."""
    check_root(root)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(d for d in names if d not in RESERVED_IDS and
                  (os.path.exists(os.path.join(root, d, STATE_FILE)) or abandoned(os.path.join(root, d))))


def abandoned(directory):
    """A container directory without state.json that nobody is working on:
    its lock exists and is free (a create holds it until its first save,
    a delete until the directory is gone)."""
    if os.path.exists(os.path.join(directory, STATE_FILE)):
        return False
    return _lock_taken(directory) is False and not os.path.exists(os.path.join(directory, STATE_FILE))


def _lock_taken(directory):
    """Whether another process holds the lock of the container directory:
    True or False, None if there is no lock file to ask."""
    import fcntl
    try:
        fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)              # and with it the lock just taken


def new_state(cid, bundle, rootfs, pid, annotations, **internal):
    """The state.json of a new container: runc's fields plus minioci's own
    (cgroup directories, the init's start time to detect pid reuse...)."""
    return dict(internal, ociVersion=OCI_VERSION, id=cid, pid=pid, status="creating", bundle=bundle,
                rootfs=rootfs, created=rfc3339_now(), owner="", annotations=annotations or {},
                pid_start=process_start_time(pid) if pid else None)


# ---- what exec inherits: the container's process and seccomp settings --------

# The process fields kept (a validated spec process, minus its terminal:
# each exec says whether it wants one).
PROCESS_FIELDS = ("args", "env", "cwd", "uid", "gid", "umask", "additional_gids", "capabilities",
                  "rlimits", "no_new_privileges", "oom_score_adj", "scheduler", "io_priority",
                  "apparmor_profile", "selinux_label")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def process_record(proc):
    """The container's process (a spec process) as state.json keeps it."""
    from .spec import NO_CAPABILITIES
    rec = {k: getattr(proc, k) for k in PROCESS_FIELDS}
    caps = proc.capabilities or NO_CAPABILITIES
    rec.update(capabilities={k: getattr(caps, k) for k in CAP_SETS},
               rlimits=[list(r) for r in proc.rlimits], no_new_privileges=bool(proc.no_new_privileges),
               scheduler=list(proc.scheduler) if proc.scheduler is not None else None)
    return rec


def process_from_record(rec):
    """A spec process from a (validated) record: the base of `exec ID CMD`."""
    from .spec import Spec
    fields = dict(rec, capabilities=Spec(**rec["capabilities"]), rlimits=[tuple(r) for r in rec["rlimits"]],
                  additional_gids=list(rec["additional_gids"]), env=list(rec["env"]),
                  scheduler=tuple(rec["scheduler"]) if rec["scheduler"] is not None else None,
                  terminal=False, console_size=None)
    return Spec(**fields)


def seccomp_record(filt):
    """state.json's "seccomp": the filter's settings (its program is in
    seccomp.bpf), or None."""
    if filt is None:
        return None
    return {"flags": filt.flags, "listener_path": filt.listener_path,
            "listener_metadata": filt.listener_metadata}


# ---- validation ------------------------------------------------------------

C_INT_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
NAMESPACE_TYPES = frozenset(["mount", "uts", "ipc", "user", "pid", "network", "cgroup", "time"])


class _Check:
    """Type checks for state.json, raising BadState with the JSON path."""

    def __init__(self, file):
        self.file = file

    def fail(self, where, message):
        raise BadState(self.file, where, message)

    def object(self, v, where):
        if not isinstance(v, dict):
            self.fail(where, "must be an object")
        return v

    def list(self, v, where):
        if not isinstance(v, list):
            self.fail(where, "must be an array")
        return v

    def str(self, v, where):
        if not isinstance(v, str) or "\0" in v:
            self.fail(where, "must be a string (without NUL)")
        return v

    def path(self, v, where):
        self.str(v, where)
        if not v.startswith("/"):
            self.fail(where, f"must be an absolute path, not {v!r}")
        return v

    def bool(self, v, where):
        if not isinstance(v, bool):
            self.fail(where, "must be a boolean")
        return v

    def int(self, v, where, lo, hi):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.fail(where, f"must be an integer in range {lo}-{hi}")
        return v

    def strings(self, v, where):
        for i, s in enumerate(self.list(v, where)):
            self.str(s, f"{where}[{i}]")
        return v

    def fields(self, d, where, required, optional):
        """Check d's fields: {key: check(value, path)}; a required one must be there."""
        self.object(d, where)
        for key, check in required.items():
            if key not in d:
                self.fail(f"{where}.{key}" if where else key, "is required")
        for key, check in list(required.items()) + list(optional.items()):
            if key in d:
                check(d[key], f"{where}.{key}" if where else key)
        return d

    def maybe(self, check):
        return lambda v, where: None if v is None else check(v, where)


def validate(data, container):
    """`data`, decoded from `container`'s state.json, checked field by field
    (every field minioci reads); returned as it is.  Paths that commands act
    on are checked for their form here; cgroup_dirs are checked against the
    host's cgroup mounts where they are used (cgroups.Cgroup.from_dirs)."""
    c = _Check(container.state_file)
    c.object(data, "")

    def ident(v, where):
        if c.str(v, where) != container.id:
            c.fail(where, f"is {v[:64]!r}, not this entry's {container.id!r}")

    def cgroup_dirs(v, where):
        for i, d in enumerate(c.list(v, where)):
            w = f"{where}[{i}]"
            c.path(d, w)
            if os.path.normpath(d) != d or d.startswith("//") or d == "/":
                c.fail(w, f"{d!r} is not a normalized absolute path below /")

    def cgroup_existing(v, where):
        for i, d in enumerate(c.strings(v, where)):
            if d not in data.get("cgroup_dirs", ()):
                c.fail(f"{where}[{i}]", f"{d!r} is not one of cgroup_dirs")

    def cgroup_path(v, where):
        c.str(v, where)
        if not v.strip("/") or ".." in v.split("/"):
            c.fail(where, f"{v!r} is not a cgroup path below the root")

    def network(v, where):
        c.fields(v, where, {"netns": c.path}, {
            "mode": c.str, "host_netns": c.str, "host_ifname": c.maybe(c.str),
            "bridge": c.maybe(c.str), "host_link": c.bool})
        own = os.path.join(container.dir, "netns")
        if v["netns"] != own and not _same_file(os.path.dirname(v["netns"]), container.dir):
            c.fail(f"{where}.netns", f"{v['netns']!r} is not this container's ({own})")

    def namespaces(v, where):
        for t, p in c.object(v, where).items():
            if t not in NAMESPACE_TYPES:
                c.fail(f"{where}.{t}", "is not a namespace type")
            c.str(p, f"{where}.{t}")

    def hooks(v, where):
        for stage, lst in c.object(v, where).items():
            for i, h in enumerate(c.list(lst, f"{where}.{stage}")):
                c.fields(h, f"{where}.{stage}[{i}]", {"path": c.path, "args": c.strings, "env": c.strings},
                         {"timeout": c.maybe(lambda t, w: c.int(t, w, 1, C_INT_MAX))})

    def annotations(v, where):
        for k, s in c.object(v, where).items():
            c.str(s, f"{where}.{k}")

    c.fields(data, "", {
        "id": ident, "pid": lambda v, w: c.int(v, w, 0, C_INT_MAX), "bundle": c.str,
        "cgroup_dirs": cgroup_dirs, "cgroup_path": cgroup_path,
    }, {
        "ociVersion": c.str, "status": c.str, "rootfs": c.str, "created": c.str, "owner": c.str,
        "pid_start": c.maybe(lambda v, w: c.int(v, w, 0, UINT64_MAX)), "annotations": annotations,
        "cgroup_existing": cgroup_existing, "cgroup_left_out": c.strings, "resources": c.object, "hooks": hooks, "network": c.maybe(network), "namespaces": namespaces,
        "process": lambda v, w: _check_process(c, v, w), "no_new_keyring": c.bool,
        "seccomp": c.maybe(lambda v, w: c.fields(v, w, {
            "flags": lambda f, w2: c.int(f, w2, 0, C_INT_MAX), "listener_path": c.str,
            "listener_metadata": c.str}, {})),
    })
    return data


def _check_process(c, v, where):
    def uint(hi):
        return lambda x, w: c.int(x, w, 0, hi)

    def args(a, w):
        if not c.strings(a, w):
            c.fail(w, "must not be empty")

    def gids(g, w):
        for i, x in enumerate(c.list(g, w)):
            c.int(x, f"{w}[{i}]", 0, UINT32_MAX)

    def caps(d, w):
        c.fields(d, w, {k: uint(UINT64_MAX) for k in CAP_SETS}, {})

    def rlimits(lst, w):
        for i, r in enumerate(c.list(lst, w)):
            if not (isinstance(r, list) and len(r) == 4):
                c.fail(f"{w}[{i}]", "must be [resource, name, soft, hard]")
            c.int(r[0], f"{w}[{i}][0]", 0, 15)
            c.str(r[1], f"{w}[{i}][1]")
            c.int(r[2], f"{w}[{i}][2]", 0, UINT64_MAX)
            c.int(r[3], f"{w}[{i}][3]", 0, UINT64_MAX)

    def scheduler(s, w):
        # (policy, flags, nice, priority, runtime, deadline, period): spec._scheduler
        ranges = ((0, 7), (0, UINT64_MAX), (-20, 19), (0, 99), (0, UINT64_MAX), (0, UINT64_MAX), (0, UINT64_MAX))
        if not (isinstance(s, list) and len(s) == len(ranges)):
            c.fail(w, "must be [policy, flags, nice, priority, runtime, deadline, period]")
        for i, (x, (lo, hi)) in enumerate(zip(s, ranges)):
            c.int(x, f"{w}[{i}]", lo, hi)

    c.fields(v, where, {
        "args": args, "env": c.strings, "cwd": c.path, "uid": uint(C_INT_MAX), "gid": uint(C_INT_MAX),
        "umask": c.maybe(uint(C_INT_MAX)), "additional_gids": gids, "capabilities": caps,
        "rlimits": rlimits, "no_new_privileges": c.bool,
        "oom_score_adj": c.maybe(lambda x, w: c.int(x, w, -1000, 1000)),
        "scheduler": c.maybe(scheduler), "io_priority": c.maybe(uint(8 << 13)),
        "apparmor_profile": c.str, "selinux_label": c.str,
    }, {})


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def process_start_time(pid, exited_too=False):
    """The process's start time in clock ticks (/proc/<pid>/stat field 22),
    or None if it is gone: with the pid, it names one process for good.  A
    zombie has exited (only its parent's wait is left): None, unless
    `exited_too` (the start of a child that may have run to its end before
    we look, which is still ours to record)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z" and not exited_too:
        return None
    return int(fields[19])


def is_alive(state):
    """Whether the container's process runs: its pid, and the start time
    recorded with it (none recorded: never)."""
    pid, start = state.get("pid") or 0, state.get("pid_start")
    return pid > 0 and start is not None and process_start_time(pid) == start


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
    from .cgroups import Cgroup, detect, freezer
    dirs = Cgroup.from_dirs(detect(), state["cgroup_dirs"], container.state_file, state["cgroup_path"],
                            state.get("cgroup_left_out") or ()).directories()
    if freezer.is_frozen(dirs):
        return "paused"
    return "running"
