"""Spec → Plan: every step the container's process takes, as plain data.

The plan is the seam between Python and the kernel (youki's Syscall trait,
here as data): it is built without touching the system, tests assert it
without root, and minioci-init (native/child.c) executes it in the child.
Each step is a dict: {"op": ..., "phase": <timing label>, fields...}; the
field names per op are listed in minioci/shim.py.

The order follows runc's init: namespaces, rootfs and mounts, devices,
pivot_root, hostname, sysctls, readonly and masked paths, rlimits, the
bounding set, user, cwd, capabilities, no_new_privs, then seccomp as late as
it can be and execve.
"""
import os

from .spec import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE, NAMESPACES,
                   NO_CAPABILITIES, sysctl_path)

S_IFCHR, S_IFBLK, S_IFIFO = 0o020000, 0o060000, 0o010000
CAP_SYS_ADMIN_BIT = 1 << 21

# Namespaces clone() creates: a PID namespace only takes effect for children,
# and the user namespace must exist before the others are created inside it.
CLONE_NAMESPACES = ("user", "pid")
# The rest are unshared one by one in the child, so each is timed on its own.
# cgroup comes after the parent has put the child in its cgroup, so the new
# namespace is rooted there.
UNSHARE_ORDER = ("cgroup", "ipc", "uts", "network", "mount", "time")
# Joining by path: user first, since the others are owned by a user namespace.
SETNS_ORDER = ("user", "cgroup", "ipc", "uts", "network", "mount", "time")

# runc's DefaultSimpleDevices: (path, major, minor).
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/tty", 5, 0), ("/dev/urandom", 1, 9), ("/dev/random", 1, 8))
DEV_SYMLINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"))

_SHORT_NS = {"network": "net", "mount": "mnt"}

# A tmpfs mount step's extras (native/minioci_shim.h enum mo_tmpfs): tmpcopyup;
# no mode= given, so a directory there keeps its mode (runc), not tmpfs's 1777.
TMPFS_COPYUP, TMPFS_KEEP_MODE = 1, 2

# Step fields that hold one of the parent's fds for the child to use (the
# Plan's cgroup_fd is another); a negative value is no fd.
FD_FIELDS = {"wait_start": "fd", "terminal": "socket_fd", "seccomp": "listener_fd", "mount": "source_fd",
             "setns": "fd"}


class Plan:
    """What the child does, and what the parent must do for it.

    With a new user namespace (`parent_setup`) the child first waits, before
    it even starts minioci-init, while the parent writes its id maps and puts
    it in its cgroup: an execve in a user namespace whose root is not mapped
    yet would drop every capability.  Otherwise the child runs straight
    through and joins its cgroup itself: born into the v2 one by clone3
    (cgroup_fd), entering each v1 hierarchy through its `tasks` file.
    """

    def __init__(self, clone_flags, cgroup_fd, steps, uid_mappings, gid_mappings, preserve_fds=0,
                 parent_setup=False, source_fds=(), file=None):
        self.parent_setup = parent_setup
        self.file = file                    # the config a step's "field" is in (failure)
        self.source_fds = list(source_fds)  # bind sources the parent opened (Options.source_fds)
        self.clone_flags = clone_flags
        self.cgroup_fd = cgroup_fd
        self.steps = steps
        self.uid_mappings = uid_mappings
        self.gid_mappings = gid_mappings
        self.preserve_fds = preserve_fds    # fds 3 .. 3+n-1 reach the container

    def fds(self):
        """The fds (beyond stdio and the preserved ones) that steps use: the
        only others the child keeps (native/spawn.c closes the rest)."""
        wanted = [s.get(FD_FIELDS[s["op"]]) for s in self.steps if s["op"] in FD_FIELDS]
        wanted += self.source_fds
        return sorted({fd for fd in wanted if fd is not None and fd >= 0})

    def with_fds(self, numbers):
        """A copy whose fds are renumbered (`numbers`: old → new), for a
        parent that holds them at other numbers (a served request's front
        end: remote.py)."""
        steps = []
        for step in self.steps:
            field = FD_FIELDS.get(step["op"])
            if field and step.get(field) in numbers:
                step = dict(step, **{field: numbers[step[field]]})
            steps.append(step)
        return Plan(self.clone_flags, numbers.get(self.cgroup_fd, self.cgroup_fd), steps, self.uid_mappings,
                    self.gid_mappings, self.preserve_fds, self.parent_setup,
                    [numbers.get(fd, fd) for fd in self.source_fds], self.file)

    def failure(self, index, message):
        """The error for the child's failure at step `index`: named by the
        file and JSON path the step comes from, where it has one (a step's
        "field": a mount, an rlimit, a sysctl, oomScoreAdj), since what a
        kernel refuses in a user namespace is a field it cannot honour."""
        from .errors import ConfigError, MiniociError
        field = self.steps[index].get("field") if 0 <= index < len(self.steps) else None
        return ConfigError(self.file, field, message) if field and self.file else MiniociError(message)

    def ops(self):
        return [s["op"] for s in self.steps]

    def find(self, op, **fields):
        """The steps with this op whose fields match (for tests and tools)."""
        return [s for s in self.steps if s["op"] == op and all(s.get(k) == v for k, v in fields.items())]


class Options:
    """How this start differs from a plain `run`."""

    def __init__(self, exec_fifo_fd=None, console_fd=None, no_pivot=False, preserve_fds=0,
                 cgroup_mounts=None, cgroup_join=(), cgroup_fd=None, seccomp=None, console_size=None,
                 seccomp_listener_fd=None, source_fds=None, session_keyring=None, listen_fds=0,
                 made_ahead=None, rootfs_parent=None):
        self.exec_fifo_fd = exec_fifo_fd     # create: wait on this fd for `start`
        self.console_fd = console_fd         # --console-socket, connected
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds     # fds 3 .. 3+n-1 reach the container
        # The first of them are systemd's socket activation's (LISTEN_FDS):
        # the environment says so, as runc sets it.
        self.listen_fds = listen_fds
        # Steps that mount the container's cgroups at a "cgroup" mount; from
        # cgroups.container_mounts(), given (mount spec) -> [steps].
        self.cgroup_mounts = cgroup_mounts
        # The child's own cgroup join: steps from Cgroup.join_steps(), and an
        # fd of the v2 directory to clone3 into.
        self.cgroup_join = cgroup_join
        self.cgroup_fd = cgroup_fd
        self.seccomp = seccomp               # a seccomp.Filter, or None
        self.seccomp_listener_fd = seccomp_listener_fd   # connected to its listenerPath (NOTIFY)
        # {index in spec.mounts: fd of its bind source as a detached mount
        # tree}, opened by the parent: in a user namespace the child may not
        # reach the source by path.
        self.source_fds = source_fds or {}
        # (rows, cols) of the pty when process.consoleSize does not say
        # (`run` passes its own terminal's).
        self.console_size = console_size
        # The container's session keyring, "_ses.<id>" (None: --no-new-keyring,
        # the caller's stays).
        self.session_keyring = session_keyring
        # {namespace type: fd} of new namespaces made ahead (minioci/sandbox.py),
        # joined instead of unshared.
        self.made_ahead = made_ahead or {}
        # The mount point the rootfs lies on (or is), for a shared root: made
        # private before the rootfs is bound (see _rootfs).
        self.rootfs_parent = rootfs_parent


def build(spec, opts=None):
    """The plan for starting spec's process.  Pure: reads nothing but the
    bind-mount sources' types (a file source needs a file mount point)."""
    opts = opts or Options()
    ns = spec.namespaces
    proc = spec.process
    new = {t for t, p in ns.items() if not p}
    steps = []

    def add(op, phase, **fields):
        steps.append(dict(op=op, phase=phase, **fields))

    clone_flags = 0
    # A new PID namespace made at clone would belong to our user namespace;
    # with a user namespace joined by path it must belong to that one, so it
    # is unshared after the join and a fork makes its pid 1 (runc does the same).
    late_pid = "pid" in new and bool(ns.get("user"))
    for t in CLONE_NAMESPACES:
        if t in new and not (t == "pid" and late_pid):
            clone_flags |= NAMESPACES[t]
    cgroup_fd = opts.cgroup_fd
    if "user" in new:
        # Root in a new user namespace maps to an unprivileged host id that
        # may not write the host's cgroup files: the parent does it, with the
        # id maps, while the child waits (Plan.parent_setup) before it
        # becomes the namespace's root.
        cgroup_fd = None
    else:
        for s in opts.cgroup_join:
            add(**s)
    # Only stdio and --preserve-fds reach the container (CVE-2024-21626).
    add("close_fds", "fds", first=3 + opts.preserve_fds)

    _join_namespaces(ns, add, late_pid)
    for t in UNSHARE_ORDER:
        if t in new and t in opts.made_ahead:
            add("setns", f"ns.{_SHORT_NS.get(t, t)}", nstype=NAMESPACES[t], fd=opts.made_ahead[t])
        elif t in new:
            add("unshare", f"ns.{_SHORT_NS.get(t, t)}", nstype=NAMESPACES[t], name=t)
            if t == "network":
                add("loopback_up", "ns.net")
            if t == "time" and spec.time_offsets:
                lines = "".join(f"{clock} {s} {n}\n" for clock, (s, n) in sorted(spec.time_offsets.items()))
                add("write_proc", "ns.time", path="/proc/self/timens_offsets", content=lines)
    _session_keyring(opts, add, "user" in ns, own=True)

    # The rootfs is set up in the container's mount namespace, new or joined
    # by path (runc does the same).  With none of its own the container
    # shares the runtime's (runtime-spec) and is only chrooted into its
    # root: spec.py refused whatever would have mounted in it.
    mount_ns = "mount" in ns
    if mount_ns:
        _rootfs(spec, opts, add)
    else:
        _creation_hooks(spec, add)
        add("chroot", "pivot_root", path=spec.root.path)
    if spec.hostname is not None:
        add("sethostname", "hostname", name=spec.hostname)
    if spec.domainname is not None:
        add("setdomainname", "hostname", name=spec.domainname)
    for key, value in spec.sysctl.items():
        add("write_proc", "sysctl", path=sysctl_path(key), content=value, field=f"linux.sysctl.{key}")
    if mount_ns:
        for i, p in enumerate(spec.readonly_paths):
            add("readonly", "readonly paths", path=p, field=f"linux.readonlyPaths[{i}]")
        for i, p in enumerate(spec.masked_paths):
            add("mask", "masked paths", path=p, field=f"linux.maskedPaths[{i}]")
        if spec.rootfs_propagation & MS_UNBINDABLE:     # after the last bind in the container
            add("root_propagation", "pivot_root", propagation=spec.rootfs_propagation)
    if spec.personality is not None:
        add("personality", "process", persona=spec.personality)
    if spec.memory_policy is not None:
        mode, nodes = spec.memory_policy
        add("mempolicy", "process", mode=mode, nodemask=_nodemask(nodes), maxnode=1024 + 1)
    if proc is not None:
        dev_tmpfs = any(m.destination == "/dev" and not m.bind for m in spec.mounts)
        _process(proc, opts, add, _hook_steps(spec, "startContainer", 1), console=mount_ns and dev_tmpfs)
    return Plan(clone_flags, cgroup_fd, steps, spec.uid_mappings, spec.gid_mappings, opts.preserve_fds,
                parent_setup="user" in new, source_fds=opts.source_fds.values(), file=spec.file)


def build_exec(proc, namespaces, opts):
    """The plan for `exec`: a new process `proc` (a validated process spec)
    joins a running container's cgroup and namespaces ({type: path}; its PID
    namespace through clone) and gets its own security settings."""
    steps = []

    def add(op, phase, **fields):
        steps.append(dict(op=op, phase=phase, **fields))

    for s in opts.cgroup_join:        # as host root, before any user namespace
        add(**s)
    add("close_fds", "fds", first=3 + opts.preserve_fds)
    _join_namespaces(namespaces, add)
    _session_keyring(opts, add, "user" in namespaces, own=False)
    _process(proc, opts, add)
    return Plan(0, opts.cgroup_fd, steps, [], [], opts.preserve_fds)


def _join_namespaces(namespaces, add, late_pid=False):
    """setns into each namespace given by path ({type: path}), user first;
    after the user namespace, become its root (the ids held until then are
    the host's, unmapped there), and with late_pid make the new PID
    namespace there and fork into it (see build).  A PID namespace given by
    path is joined last, and a fork makes the process that is in it: the
    child enters only as minioci-init, never as a copy of its parent (the
    parent could clone it there directly, but that copy would be a host
    executable the container can see: CVE-2019-5736)."""
    for t in SETNS_ORDER:
        if namespaces.get(t):
            add("setns", f"ns.{_SHORT_NS.get(t, t)}", path=namespaces[t], nstype=NAMESPACES[t])
            if t == "user":
                add("user", "ns.user", uid=0, gid=0, groups=[])
                if late_pid:
                    add("unshare", "ns.pid", nstype=NAMESPACES["pid"], name="pid")
                    add("fork", "ns.pid")
    if namespaces.get("pid"):
        add("setns", "ns.pid", path=namespaces["pid"], nstype=NAMESPACES["pid"])
        add("fork", "ns.pid")


# The bits added to a new session keyring's permissions (linux/key.h): its
# owner may search it, as runc lets it, so that `exec` finds it by name; in a
# user namespace others may too, as runc adds (runc leaves the owner out
# there, so its exec'd processes each get a keyring of their own instead).
KEY_USR_SEARCH, KEY_OTH_SEARCH = 0x00080000, 0x00000008


def _session_keyring(opts, add, userns, own):
    """Join the container's own session keyring (made by its first process:
    `own`), as runc does: nothing the caller keeps in its session keyring
    reaches the container."""
    if opts.session_keyring is None:
        return
    add("session_keyring", "keyring", name=opts.session_keyring,
        perm=(KEY_USR_SEARCH | (KEY_OTH_SEARCH if userns else 0)) if own else 0)


def _rootfs(spec, opts, add):
    ns = spec.namespaces
    # By default nothing mounted in the container propagates back to the
    # host: "/" is made a slave first.  A shared root (rootfsPropagation
    # "shared"/"rshared", as containerd asks for a Bidirectional volume) is
    # made shared from the start, as runc does, so that the bind mounts keep
    # their host peer groups and a mount made inside such a volume reaches
    # the host; made shared later, they would be slaves of the host (a new
    # peer group of their own), and the mount would stay inside.  The mount
    # the rootfs lies on is then made private first (opts.rootfs_parent), so
    # that binding the rootfs propagates nowhere and pivot_root, which refuses
    # a shared parent, runs.  An unbindable root is made so at the very end
    # (see build): nothing can be bound from an unbindable mount.
    prop = spec.rootfs_propagation
    before = prop if prop and not prop & MS_UNBINDABLE else MS_SLAVE | MS_REC
    add("rootfs", "rootfs", path=spec.root.path, propagation=before,
        **({"parent": opts.rootfs_parent} if before & MS_SHARED and opts.rootfs_parent else {}))

    dev_is_bind = False
    dest_seen = set()
    for i, m in enumerate(spec.mounts):
        dest_seen.add(m.destination)
        if m.destination == "/dev" and m.bind:
            dev_is_bind = True
        if m.type == "cgroup":
            if opts.cgroup_mounts is None:
                raise ValueError("plan needs cgroup_mounts for a cgroup mount")
            steps = opts.cgroup_mounts(m)
            for s in steps:
                add(**dict(s, field=m.path))
        elif m.type == "mqueue":
            # Lazy mqueue: mounted only because the config asks.  A fresh
            # mqueue filesystem, also without an IPC namespace of its own
            # (--ipc host: it then shows the host's queues), as runc mounts
            # it; the shim binds the host's /dev/mqueue only where the kernel
            # refuses the mount (a user namespace without its own IPC one).
            # Its own phase, so its cost shows.
            add("mqueue", "mqueue", destination=m.destination, flags=m.flags & ~(MS_BIND | MS_REC), field=m.path)
        else:
            kind = 1
            if m.bind and not os.path.isdir(m.source):
                kind = 2
            fields = dict(source=m.source if m.bind else (m.source or m.type),
                          destination=m.destination, fstype=None if m.bind else m.type, data=m.data or None,
                          flags=m.flags, propagation=m.propagation, target_kind=kind)
            if i in opts.source_fds:
                fields["source_fd"] = opts.source_fds[i]
            tmpfs = (TMPFS_COPYUP if m.copyup else 0) | \
                (TMPFS_KEEP_MODE if m.type == "tmpfs" and not m.bind and ",mode=" not in f",{m.data}" else 0)
            if tmpfs:
                fields["tmpfs"] = tmpfs
            if m.in_proc:
                fields["in_proc"] = m.in_proc
            add("mount", f"mount {m.destination}", field=m.path, **fields)
        if m.attr_set or m.attr_clr:
            # rro, rnosuid...: this mount and all below it (mount_setattr)
            add("setattr", f"mount {m.destination}", path=m.destination, attr_set=m.attr_set,
                attr_clr=m.attr_clr, field=m.path)
    # A /dev of the container's own gets pts and shm even when the config has
    # no mounts for them (runc's default spec always lists both).
    dev_tmpfs = any(m.destination == "/dev" and not m.bind for m in spec.mounts)
    if dev_tmpfs and "/dev/pts" not in dest_seen:
        add("mount", "mount /dev/pts", source="devpts", destination="/dev/pts", fstype="devpts",
            data="newinstance,ptmxmode=0666,mode=0620" + ("" if "user" in ns else ",gid=5"),
            flags=MS_NOSUID | MS_NOEXEC, propagation=0, target_kind=1)
    if dev_tmpfs and "/dev/shm" not in dest_seen:
        add("mount", "mount /dev/shm", source="shm", destination="/dev/shm", fstype="tmpfs",
            data="mode=1777,size=65536k", flags=MS_NOSUID | MS_NOEXEC | MS_NODEV, propagation=0,
            target_kind=1)

    if not dev_is_bind:
        _devices(spec, add)
    if spec.process is not None and spec.process.cwd != "/":
        # Made if missing (runc and crun do), before the root can turn read-only.
        add("mkdir", "cwd", path=spec.process.cwd)
    _creation_hooks(spec, add)
    if opts.no_pivot:
        add("move_root", "pivot_root")
    else:
        add("pivot_root", "pivot_root")
    if prop & MS_SHARED:       # shared: only possible once pivot_root is done
        add("root_propagation", "pivot_root", propagation=prop)
    if spec.root.readonly:
        add("remount_root_ro", "rootfs")


def _creation_hooks(spec, add):
    """Stop for the parent's prestart/createRuntime hooks, then run
    createContainer: after the mounts, while the old root is still reachable,
    as the runtime-spec wants."""
    if any(spec.hooks.get(s) for s in ("prestart", "createRuntime", "createContainer", "startContainer")):
        add("parent_hooks", "hooks.createRuntime")
        for s in _hook_steps(spec, "createContainer", 0):
            add(**s)


def _hook_steps(spec, stage, state_index):
    if not spec.hooks.get(stage):
        return []
    from . import hooks
    return hooks.child_steps(spec, stage, state_index)


def _devices(spec, add):
    userns = "user" in spec.namespaces
    devices = {path: (path, "c", major, minor, 0o666, 0, 0) for path, major, minor in DEFAULT_DEVICES}
    for d in spec.devices:
        devices[d.path] = (d.path, d.type, d.major, d.minor, d.file_mode, d.uid, d.gid)
    for path, dtype, major, minor, mode, uid, gid in devices.values():
        if userns:
            # mknod is not allowed in a user namespace: bind the host's node.
            add("bind_dev", "devices", source=path, destination=path)
        else:
            kind = {"c": S_IFCHR, "u": S_IFCHR, "b": S_IFBLK, "p": S_IFIFO}[dtype]
            add("mknod", "devices", destination=path, mode=kind | mode,
                dev=_makedev(major, minor), uid=uid, gid=gid)
    for target, link in DEV_SYMLINKS:
        add("symlink", "devices", target=target, destination=link)
    add("symlink", "devices", target="pts/ptmx", destination="/dev/ptmx")
    if os.path.exists("/proc/kcore"):
        add("symlink", "devices", target="/proc/kcore", destination="/dev/core")


def _nodemask(nodes):
    """set_mempolicy's bitmask of 1024 nodes, as unsigned longs (64-bit LE)."""
    mask = 0
    for n in nodes:
        mask |= 1 << n
    return mask.to_bytes(1024 // 8, "little")


def _sched_attr(policy, flags, nice, priority, runtime, deadline, period):
    """struct sched_attr as sched_setattr(2) takes it (SCHED_ATTR_SIZE_VER0)."""
    import struct
    return struct.pack("<IIQiIQQQ", 48, policy, flags, nice, priority, runtime, deadline, period)


def _makedev(major, minor):
    # glibc's gnu_dev_makedev
    return ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12)


def _process(proc, opts, add, start_hooks=(), console=False, path="process"):
    """The process's own settings; `console`: its terminal is also the
    container's /dev/console (not for exec, nor without a /dev of its own).
    `path`: where the process is in its file, for the steps' fields."""
    if proc.oom_score_adj is not None:
        add("write_proc", "process", path="/proc/self/oom_score_adj", content=str(proc.oom_score_adj),
            field=f"{path}.oomScoreAdj")
    if proc.apparmor_profile:
        # AppArmor's onexec: the profile is entered at execve.  Set while
        # the process is still root, as runc does (spec.py refused it on a
        # host without AppArmor).
        from .spec import apparmor_exec_attr
        add("write_proc", "apparmor", path=apparmor_exec_attr(), content=f"exec {proc.apparmor_profile}",
            field=f"{path}.apparmorProfile")
    for i, (resource, name, soft, hard) in enumerate(proc.rlimits):
        add("rlimit", "rlimits", resource=resource, name=name, soft=soft, hard=hard, field=f"{path}.rlimits[{i}]")
    # As root, before any capability is dropped (realtime needs CAP_SYS_NICE).
    if proc.scheduler is not None:
        add("scheduler", "process", attr=_sched_attr(*proc.scheduler))
    if proc.io_priority is not None:
        add("ioprio", "process", value=proc.io_priority)
    if proc.terminal:
        rows, cols = proc.console_size or opts.console_size or (0, 0)
        add("terminal", "terminal", socket_fd=-1 if opts.console_fd is None else opts.console_fd,
            uid=proc.uid, gid=proc.gid, size=(rows & 0xffff) << 16 | (cols & 0xffff),
            console=int(console), field=f"{path}.terminal")
    # An absent process.capabilities grants none: every set empty, the
    # bounding set too (or a setuid binary would regain the rest), for any
    # user (runc does the same).
    caps = proc.capabilities or NO_CAPABILITIES
    add("cap_bounding", "capabilities", keep=caps.bounding)
    add("chown_stdio", "user", uid=proc.uid)
    add("user", "user", uid=proc.uid, gid=proc.gid, groups=list(proc.additional_gids))
    add("chdir", "cwd", path=proc.cwd)
    # The seccomp filter is loaded last, right before execve: nothing of
    # minioci's own runs under the container's filter.  Without no_new_privs
    # loading it needs CAP_SYS_ADMIN, so the process holds that one too until
    # then; execve drops it (it is left only where the configuration puts it
    # in the bounding, inheritable or ambient set, which execve keeps).
    hold = CAP_SYS_ADMIN_BIT if opts.seccomp is not None and not proc.no_new_privileges else 0
    add("caps", "capabilities", effective=caps.effective | hold, permitted=caps.permitted | hold,
        inheritable=caps.inheritable, ambient=caps.ambient)
    if proc.no_new_privileges:
        add("no_new_privs", "no_new_privs")
    if proc.umask is not None:
        add("umask", "process", mask=proc.umask)
    env = proc.env
    if opts.listen_fds:
        env = [e for e in env if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))] + \
            [f"LISTEN_FDS={opts.listen_fds}", "LISTEN_PID=1"]
    add("find_exec", "exec", file=proc.args[0], env=env)
    if opts.exec_fifo_fd is not None:
        add("wait_start", "wait for start", fd=opts.exec_fifo_fd)
    for s in start_hooks:
        add(**s)
    if opts.seccomp is not None:
        _seccomp(opts, add)
    add("exec", "exec", args=proc.args, env=env)


def _seccomp(opts, add):
    fd = opts.seccomp_listener_fd
    add("seccomp", "seccomp.load", bpf=opts.seccomp.bpf, flags=opts.seccomp.flags,
        listener_fd=-1 if fd is None else fd)
