"""Starting a container: validate, reserve, set up, spawn, hand over.

`start()` does what `create` and `run` share: everything up to the moment the
container's process is ready (waiting for `start`) or has exec'ed.  Each
phase is marked on the timeline.  Whatever fails, everything this start made
(state entry, cgroup directories, the half-built process) is removed before
the error propagates.  With a network mode that needs links (veth, ipvlan,
macvlan) the parent makes the network namespace first and the child joins it.
"""
import os
import time

from . import cgroups, parent, state
from .errors import ConfigError, MiniociError, SysError, strerror

# The modules only starting a process needs (shim, plan, resources, devices,
# hooks) are imported where they are used: `start`, `kill` and `delete` are
# separate processes, and each import costs a fraction of a millisecond.


class StartOptions:
    def __init__(self, create=False, pid_file=None, console_socket=None, no_pivot=False,
                 preserve_fds=0, detach=False, console_size=None, no_new_keyring=False):
        self.create = create
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.detach = detach
        self.console_size = console_size    # (rows, cols) for the pty, if known
        self.no_new_keyring = no_new_keyring  # keep the caller's session keyring (runc's flag)


class Started:
    """A container whose process is running (or waiting for `start`)."""

    def __init__(self, container, spec, child, cgroup, state_data):
        self.container = container
        self.spec = spec
        self.child = child
        self.cgroup = cgroup
        self.state = state_data

    @property
    def pid(self):
        return self.child.pid


def start(spec, container, opts, tl):
    """Set up and spawn the container described by `spec`; returns Started
    once its process has exec'ed, or (create) waits for `start`."""
    from .cgroups import devices, resources
    proc = spec.process
    if proc is None:
        raise MiniociError(f"{spec.file}: process: is required to start a container")
    if proc.terminal and opts.console_socket is None and (opts.create or opts.detach):
        raise MiniociError("process.terminal needs --console-socket when the container is "
                           "created or run detached")
    if opts.pid_file and not os.path.isdir(os.path.dirname(os.path.abspath(opts.pid_file))):
        raise MiniociError(f"--pid-file {opts.pid_file}: its directory does not exist")
    listen = listen_fds()
    check_preserved_fds(listen + opts.preserve_fds)
    check_exec_size(proc, spec.file)
    if os.path.lexists(container.dir):     # said first (reserve() is what claims the id)
        raise MiniociError(f"container {container.id!r} already exists")
    _leave_out_ungrantable_capabilities(proc, spec.file)
    default_id_mappings(spec)
    # Rootless (docs/rootless.md): a plain user is known now; root of a user
    # namespace it did not make, when the host refuses its first cgroup.
    rootless = os.geteuid() != 0
    if rootless:
        from . import rootless as rootless_mod
        rootless_mod.check_plain_user(spec)
    cgroup, wanted, devices_part, device_filter = _cgroup_settings(spec, container, rootless)
    tl.mark("validate")
    seccomp = _seccomp(spec, container.root, tl)
    net = network_settings(spec, container)
    tl.mark("validate")

    undo = []
    child = None
    try:
        container.reserve()
        undo.append(container.remove)
        if seccomp is not None:
            container.save_seccomp(seccomp.bpf)
        # Recorded before anything else is made, so that `delete --force`
        # finds it all even if this process is killed half-way (parents
        # are registered before they are made: see cgroups.remove), unless
        # it finds it by the id alone (cgroups.find_named: each directory is
        # named after it, and no parent is to be made): then the save at the
        # end is the only one.  The process and seccomp records are what
        # `exec` inherits.
        data = state.new_state(container.id, spec.bundle, spec.root.path, 0, spec.annotations,
                               cgroup_dirs=cgroup.directories(), cgroup_path=cgroup.path,
                               cgroup_existing=cgroup.note_existing(), resources=spec.resources or {},
                               hooks=_hooks_as_dicts(spec), network=net.record() if net else None,
                               process=state.process_record(proc), seccomp=state.seccomp_record(seccomp))
        if opts.no_new_keyring:
            data["no_new_keyring"] = True       # exec keeps the caller's too (runc)
        if data["cgroup_existing"] or not all(cgroups.named_after(os.path.basename(d), container.id)
                                              and os.path.isdir(os.path.dirname(d)) for d in data["cgroup_dirs"]):
            container.save(data)
        fifo_fd = console_fd = listener_fd = None
        if opts.create:
            os.mkfifo(container.exec_fifo, 0o600)
            # O_RDWR: the child can block reading it without a writer yet, and
            # `start` can open it for writing without blocking.
            fifo_fd = os.open(container.exec_fifo, os.O_RDWR | os.O_CLOEXEC)
            undo.append(lambda: os.close(fifo_fd))
        if opts.console_socket and proc.terminal:
            console_fd = _connect(opts.console_socket)
            undo.append(lambda: os.close(console_fd))
        if seccomp is not None and seccomp.listener_path:
            from .seccomp import notify
            listener_fd = notify.connect(seccomp.listener_path)
            undo.append(lambda: os.close(listener_fd))
        # (A plain user's child reaches what its parent reaches: it opens none.)
        source_fds = _open_bind_sources(spec, all_of_them="user" in spec.namespaces and os.geteuid() == 0)
        undo.append(lambda: _close_all(source_fds.values()))
        _idmap_with_own_mappings(spec, source_fds)
        tl.mark("state")
        undo.append(lambda: cgroup.destroy())          # the Cgroup in force when it runs
        if not rootless:
            try:
                cgroup.create()
            except cgroups.Denied:
                from . import rootless as rootless_mod
                if not rootless_mod.active():
                    raise
                rootless = True
                cgroup, wanted, devices_part, device_filter = _cgroup_settings(spec, container, rootless)
        if rootless:
            wanted = _make_rootless_cgroup(spec, cgroup, wanted, container, data)
        owner = None if rootless else _cgroup_owner(spec)
        if owner is not None:
            cgroup.delegate(owner)
        tl.mark_part("cgroup.create")
        resources.apply(wanted)
        check_realtime_budget(proc, cgroup, spec.file, "process.scheduler.policy")
        tl.mark_part("cgroup.resources")
        if devices_part is not None:
            devices.apply(devices_part, device_filter, wanted.devices, spec.file)
        cgroup_fd = cgroup.open_v2()
        if cgroup_fd is not None:
            undo.append(lambda: os.close(cgroup_fd))
        tl.mark_part("cgroup.devices")
        tl.mark("cgroup")
        if net is not None:
            from . import network
            undo.append(lambda: network.teardown(data["network"]))
            network.setup(net, data["network"], lambda: container.save(data), tl)
            spec.namespaces["network"] = net.netns      # the child joins it

        made_ahead = {} if rootless else parent.made_ahead(spec, tl)   # its namespaces are its user namespace's
        undo.append(lambda: _close_all(made_ahead.values()))
        the_plan = _plan(spec, container.id, cgroup, opts, seccomp, fifo_fd, console_fd, listener_fd, cgroup_fd,
                         source_fds, rootless, listen, made_ahead)
        tl.mark("plan")

        if spec.namespaces.get("user"):         # joined by path: it has its maps already
            _idmap_bind_sources(spec, source_fds, spec.namespaces["user"])
        child = parent.spawn(the_plan)
        _close_all(made_ahead.values())         # the child has them
        made_ahead.clear()
        tl.mark("prepare", child.step_times()[0])
        # Saved with the status at the end (or before hooks that might ask):
        # until then `delete --force` finds the process by its cgroup, which
        # it is born in or joins first, and it dies with us (PDEATHSIG).
        data.update(pid=child.pid, pid_start=state.process_start_time(child.pid, exited_too=True),
                    namespaces=_namespace_paths(spec, child.pid))
        if listener_fd is not None:
            child.set_listener_state(lambda pid: notify.message(seccomp, container.id, pid, spec.bundle,
                                                                spec.annotations))
        tl.mark("state")
        if the_plan.parent_setup:
            _write_id_maps(child.pid, spec)
            tl.mark("userns.map")
            _idmap_bind_sources(spec, source_fds, f"/proc/{child.pid}/ns/user")
            cgroup.join(child.pid)
            tl.mark("cgroup.join")
            child.go()
        outcome = child.wait_report()
        if child.pid != data["pid"]:       # the plan forked (plan.py: late_pid, a PID namespace joined)
            data.update(pid=child.pid, pid_start=state.process_start_time(child.pid, exited_too=True),
                        namespaces=_namespace_paths(spec, child.pid))
        if outcome == "hooks":
            container.save(data)
            outcome = _creation_hooks(spec, container, child, data, tl)
        _mark_child_steps(tl, child, outcome)

        if opts.pid_file:
            write_pid_file(opts.pid_file, child.pid)
            tl.mark("pid file")
        data["status"] = "created"      # the create operation is done (runtime-spec lifecycle 2)
        container.save(data)
        tl.mark("state")
        container.unlock()
        for fd in (fifo_fd, console_fd, listener_fd, cgroup_fd):
            if fd is not None:
                os.close(fd)
        _close_all(source_fds.values())
        return Started(container, spec, child, cgroup, data)
    except BaseException:
        if child is not None:
            child.kill_and_reap()
            child.release()
        for step in reversed(undo):
            try:
                step()
            except (OSError, MiniociError):
                pass
        if child is not None:
            # It existed and is gone: the runtime-spec's lifecycle ends with poststop.
            _run_hooks(data, "poststop", "stopped", 0)
        raise


def _cgroup_settings(spec, container, rootless=False):
    """(Cgroup, resources to write, the devices' part and filter): what the
    container's cgroup will be, checked, before anything is made.  Rootless,
    the resources are checked but not routed (which hierarchies a user may
    write is known once they are made: _make_rootless_cgroup), and device
    rules are left to the user namespace, where no device node can be made
    (runc and crun do not apply them rootless either)."""
    from .cgroups import devices, resources
    layout = cgroups.detect()
    path = cgroups.resolve_path(spec.cgroups_path, container.id, spec.file, rootless)
    cgroup = cgroups.Cgroup.for_path(layout, path, file=spec.file)
    wanted = resources.plan(spec.resources, spec.file, linux_devices=spec.devices)
    if rootless:
        return cgroup, wanted, None, None
    resources.route(cgroup, wanted)
    devices_part, device_filter = devices.route(cgroup, wanted.devices, spec.file)
    return cgroup, wanted, devices_part, device_filter


def _make_rootless_cgroup(spec, cgroup, wanted, container, data):
    """Rootless: the container gets the cgroup directories this user may
    make (none, on a host that delegated it nothing) and stays in the
    caller's cgroup elsewhere; a resource whose controller it got no
    directory for is refused naming the field.  The state says which
    hierarchies it is left out of.  Returns the routed resources."""
    from .cgroups import resources
    left_out = cgroup.create_writable()
    resources.route(cgroup, wanted)
    data.update(cgroup_dirs=cgroup.directories(), cgroup_path=cgroup.path, cgroup_left_out=left_out,
                cgroup_existing=[d for d in cgroup.existing if d in cgroup.directories()])
    container.save(data)
    return wanted


def _cgroup_owner(spec):
    """The host uid that gets the container's v2 cgroup, or None: as the
    runtime-spec's "Cgroup ownership" says, only for a container with a new
    user namespace and a new cgroup namespace whose config mounts "cgroup"
    on /sys/fs/cgroup read-write; the uid is the one process.user.uid maps
    to."""
    ns = spec.namespaces
    if ns.get("user", True) or ns.get("cgroup", True):      # absent, or joined by path
        return None
    if not any(m.source == "cgroup" and m.destination == "/sys/fs/cgroup" and "ro" not in m.options
               for m in spec.mounts):
        return None
    uid = spec.process.uid
    return next((host + uid - inside for inside, host, size in spec.uid_mappings
                 if inside <= uid < inside + size), None)


def _plan(spec, cid, cgroup, opts, seccomp, fifo_fd=None, console_fd=None, listener_fd=None, cgroup_fd=None,
          source_fds=None, rootless=False, listen=0, made_ahead=None):
    from . import plan as plan_mod
    ns = spec.namespaces
    return plan_mod.build(spec, plan_mod.Options(
        exec_fifo_fd=fifo_fd, console_fd=console_fd, no_pivot=opts.no_pivot, listen_fds=listen,
        preserve_fds=listen + opts.preserve_fds, seccomp=seccomp, seccomp_listener_fd=listener_fd,
        console_size=opts.console_size, session_keyring=session_keyring(cid, opts.no_new_keyring),
        # rootless: in a user namespace even without one of the config's own
        cgroup_mounts=lambda m: cgroup.container_mounts(m, "cgroup" in ns, "user" in ns or rootless),
        cgroup_join=cgroup.join_steps(), cgroup_fd=cgroup_fd, source_fds=source_fds, made_ahead=made_ahead,
        rootfs_parent=rootfs_parent(spec)))


def rootfs_parent(spec):
    """For a shared root (rootfsPropagation "shared"/"rshared"), the mount
    point the rootfs lies on, or is: the child makes it private in the
    container's mount namespace before it binds the rootfs (plan._rootfs).
    None otherwise: nothing to read."""
    from .spec import MS_SHARED
    if not spec.rootfs_propagation & MS_SHARED or spec.namespaces.get("mount"):
        return None
    return mount_point_of(os.path.realpath(spec.root.path))


def mount_point_of(path, mountinfo="/proc/self/mountinfo"):
    """The mount point `path` (absolute, no symlinks) lies on: the longest
    one that is `path` or a directory above it."""
    best = "/"
    with open(mountinfo) as f:
        for line in f:
            point = line.split(" ", 5)[4]
            for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
                point = point.replace(code, char)
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best


def session_keyring(cid, no_new_keyring):
    """The name of a container's session keyring (runc's), or None."""
    return None if no_new_keyring else f"_ses.{cid}"


# The child keeps at most 64 fds it was given (native/spawn.c); beyond
# these, bind sources are reached by path.
_MAX_SOURCE_FDS = 48


def _open_bind_sources(spec, all_of_them):
    """{index in spec.mounts: fd} of bind sources, each a detached copy of
    its mount tree: all of them (`all_of_them`) for a container in a user
    namespace, whose child is an unprivileged host user that may not reach
    a source below a directory only host root can traverse (the parent
    opens them, as runc and crun do, and the child attaches them with
    move_mount); else only those idmapped by mappings of their own."""
    from . import shim
    from .spec import MS_REC
    fds = {}
    for i, m in enumerate(spec.mounts):
        if m.bind and (all_of_them or m.uid_mappings) and len(fds) < _MAX_SOURCE_FDS:
            fd = shim.lib.mo_open_tree(m.source.encode(), int(bool(m.flags & MS_REC)))
            if fd < 0:
                _close_all(fds.values())
                raise MiniociError(f"{spec.file}: {m.path}.source: open {m.source}: {strerror(-fd)}")
            fds[i] = fd
    return fds


def _idmap_with_own_mappings(spec, source_fds):
    """Bind mounts with uidMappings and gidMappings of their own: their
    trees map ids through a user namespace made with those mappings."""
    from . import shim
    for i, m in enumerate(spec.mounts):
        if not m.uid_mappings:
            continue
        if i not in source_fds:
            raise MiniociError(f"{spec.file}: {m.path}: too many bind mounts to idmap this one")
        lines = ["".join(f"{inside} {host} {size}\n" for inside, host, size in maps)
                 for maps in (m.uid_mappings, m.gid_mappings)]
        userns = shim.lib.mo_userns_fd(lines[0].encode(), lines[1].encode())
        if userns < 0:
            raise MiniociError(f"{spec.file}: {m.path}: a user namespace for its mappings: {strerror(-userns)}")
        try:
            rc = shim.lib.mo_idmap_tree(source_fds[i], userns, int(m.idmap == "ridmap"))
        finally:
            os.close(userns)
        if rc < 0:
            raise MiniociError(f"{spec.file}: {m.path}: {m.idmap} of {m.source}: {strerror(-rc)}")


def _idmap_bind_sources(spec, source_fds, userns_path):
    """idmap/ridmap without mappings of the mount's own: the detached trees
    of those bind sources map ids through the container's user namespace
    (MOUNT_ATTR_IDMAP), before the child attaches them."""
    wanted = [(i, m) for i, m in enumerate(spec.mounts) if m.idmap and not m.uid_mappings]
    if not wanted:
        return
    from . import shim
    userns = os.open(userns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for i, m in wanted:
            if i not in source_fds:
                raise MiniociError(f"{spec.file}: {m.path}: too many bind mounts to idmap this one")
            rc = shim.lib.mo_idmap_tree(source_fds[i], userns, int(m.idmap == "ridmap"))
            if rc < 0:
                raise MiniociError(f"{spec.file}: {m.path}.options: {m.idmap} of {m.source}: {strerror(-rc)}")
    finally:
        os.close(userns)


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def listen_fds():
    """How many fds systemd's socket activation passed: LISTEN_FDS, at 3,
    4, ..., when LISTEN_PID is the pid the caller started (parent.caller_pid).
    As runc, `create` and `run` hand them to the container's process, at
    the same numbers and before any --preserve-fds ones (see plan.Options)."""
    n = os.environ.get("LISTEN_FDS", "")
    if not n.isdigit() or os.environ.get("LISTEN_PID") != str(parent.caller_pid()):
        return 0
    return int(n)


def check_preserved_fds(n):
    """--preserve-fds N passes fds 3 .. 3+N-1: each must be the caller's.
    Checked before we open any fd of our own, which would otherwise take a
    missing one's number and cross into the container with it."""
    for fd in range(3, 3 + n):
        try:
            os.fstat(fd)
        except OSError:
            raise MiniociError(f"--preserve-fds {n}: fd {fd} is not open") from None


# What execve(2) takes (linux/binfmts.h, fs/exec.c): one string of at most
# MAX_ARG_STRLEN bytes (its NUL counted), and all of them with their pointers
# in a quarter of the stack limit, at most 6 MiB, at least ARG_MAX.
MAX_ARG_STRLEN = ARG_MAX = 131072
RLIMIT_STACK = 3


def check_exec_size(proc, file):
    """process.args and process.env must fit what execve takes: the kernel
    would only say "argument list too long", and only at exec.  Refused here
    naming the field and the limit, on either path, before anything is made.
    Counts what minioci passes (not the HOME it may add, nor the path of
    the program): only what execve would surely refuse is refused."""
    count = len(proc.args) + len(proc.env)
    chars = sum(map(len, proc.args)) + sum(map(len, proc.env)) + count
    if 4 * chars + 8 * count <= ARG_MAX:         # the common case: far from any limit
        return
    total = 8 * max(len(proc.args), 1) + 8 * len(proc.env)
    for name, values in (("args", proc.args), ("env", proc.env)):
        for i, value in enumerate(values):
            size = len(value.encode(errors="surrogateescape")) + 1
            if size > MAX_ARG_STRLEN:
                raise ConfigError(file, f"process.{name}[{i}]", f"{size - 1} bytes, more than the "
                                  f"{MAX_ARG_STRLEN - 1} the kernel takes in one string of a program's "
                                  "arguments or environment")
            total += size
    if total <= ARG_MAX:
        return
    stack = next((soft for resource, _, soft, _ in proc.rlimits if resource == RLIMIT_STACK), None)
    if stack is None:                            # the container's parent's, inherited
        with open(parent.proc_file("limits")) as f:
            field = next(line for line in f if line.startswith("Max stack size")).split()[3]
        stack = 2**64 - 1 if field == "unlimited" else int(field)
    limit = max(min(6 << 20, stack // 4), ARG_MAX)
    if total > limit:
        raise ConfigError(file, "process.args and process.env", f"{total} bytes with their pointers, more "
                          f"than the {limit} the kernel lets a program's arguments and environment take (a "
                          f"quarter of its stack limit, {'unlimited' if stack >= 2**63 else stack}; at most "
                          "6 MiB)")


def _leave_out_ungrantable_capabilities(proc, file):
    """A capability outside minioci's own bounding set cannot be granted:
    the runtime-spec wants a warning, not a failure (this sandbox lacks
    CAP_SYS_RESOURCE, which docker --privileged asks for).  Mutates `proc`."""
    caps = proc.capabilities
    if caps is None:
        return
    kinds = ("bounding", "effective", "inheritable", "permitted", "ambient")
    wanted = 0
    for kind in kinds:
        wanted |= getattr(caps, kind)
    have = bounding_set()
    if not wanted & ~have:
        return
    from . import log
    from .spec import CAPABILITIES
    names = [name for i, name in enumerate(CAPABILITIES) if (wanted & ~have) >> i & 1]
    log.warning(f"{file}: process.capabilities: not granted, outside minioci's bounding set: "
                f"{', '.join(names)}")
    for kind in kinds:
        setattr(caps, kind, getattr(caps, kind) & have)


def check_realtime_budget(proc, cgroup, file, where):
    """A real-time policy (SCHED_FIFO, SCHED_RR) needs a real-time budget in
    the process's cpu cgroup where the kernel groups them (cgroup v1 with
    CONFIG_RT_GROUP_SCHED), and a new cgroup has none: sched_setattr would
    fail with EPERM and no word why.  Said here, naming the field that
    gives one (minioci grants none the config does not ask for: the
    budget comes out of the host's)."""
    if proc.scheduler is None:
        return
    from .spec import SCHED_POLICIES
    if proc.scheduler[0] not in (SCHED_POLICIES["SCHED_FIFO"], SCHED_POLICIES["SCHED_RR"]):
        return
    part = cgroup.part_for("cpu")
    if part is None or part.version != 1 or not part.has("cpu.rt_runtime_us") or int(part.read("cpu.rt_runtime_us")):
        return
    policy = next(name for name, n in SCHED_POLICIES.items() if n == proc.scheduler[0])
    raise ConfigError(file, where, f"{policy} needs a real-time budget in the container's cpu cgroup, and "
                      f"{part.directory}/cpu.rt_runtime_us is 0: give one in "
                      "linux.resources.cpu.realtimeRuntime (or with minioci update --cpu-rt-runtime)")


def bounding_set():
    """The capability bounding set of the container's parent-to-be (this
    process, or a served request's front end: parent.proc_file)."""
    return int(_parent_status(b"CapBnd:")[0], 16)


def _parent_status(field):
    """The words of a /proc/<pid>/status line of the container's
    parent-to-be (`field` as it starts the line: b"Uid:")."""
    fd = os.open(parent.proc_file("status"), os.O_RDONLY | os.O_CLOEXEC)
    try:
        text = os.read(fd, 8192)
    finally:
        os.close(fd)
    start = text.index(b"\n" + field) + 1 + len(field)
    return text[start:text.index(b"\n", start)].split()


def default_id_mappings(spec):
    """A new user namespace whose config gives no uidMappings (or no
    gidMappings) maps container id 0 to the caller's effective uid (gid),
    size 1, as crun does (runc refuses): the runtime-spec asks for neither.
    The caller is the container's parent-to-be (a served request's front
    end).  The one place that decides it (a plain user's ids map the same
    way).  Mutates `spec`."""
    if "user" not in spec.namespaces or spec.namespaces["user"]:
        return
    if not spec.uid_mappings:
        spec.uid_mappings = [(0, int(_parent_status(b"Uid:")[1]), 1)]
    if not spec.gid_mappings:
        spec.gid_mappings = [(0, int(_parent_status(b"Gid:")[1]), 1)]


def _kept_seccomp(c, record):
    """The container's filter, kept at create (minioci.seccomp only if it
    has one)."""
    if record is None:
        return None
    from . import seccomp
    return seccomp.kept_filter(c, record)


def _seccomp(spec, root, tl):
    """The seccomp Filter the config asks for, or None.  minioci.seccomp is
    imported only then (a config without one loads none of it), so the
    annotation's name (seccomp.BPF_ANNOTATION, crun's ready BPF) is spelled
    out here."""
    if spec.seccomp is None and "run.oci.seccomp_bpf_data" not in spec.annotations:
        return None
    from . import seccomp      # light: libseccomp is imported on a cache miss only
    return seccomp.prepare(spec, root, tl)


def network_settings(spec, container):
    """The network the parent sets up (minioci/network/), if the config's
    annotations ask for one.  The package is imported only then: a plain run
    stays lean (the prefix is network.PREFIX, spelled out here for that)."""
    if not any(k.startswith("org.minioci.net.") for k in spec.annotations):
        return None
    from . import network
    return network.from_spec(spec, container)


def _hooks_as_dicts(spec):
    if not any(spec.hooks.values()):
        return {}
    from . import hooks
    return hooks.as_dicts(spec.hooks)


def _hook_state(data, status, pid):
    from . import hooks
    return hooks.state_json(data["id"], status, pid, data["bundle"], data["annotations"])


def _run_hooks(data, stage, status, pid, fatal=False):
    """Run the container's `stage` hooks (kept in its state), if it has any."""
    if not (data.get("hooks") or {}).get(stage):
        return
    from . import hooks
    hooks.run(data["hooks"], stage, _hook_state(data, status, pid), fatal=fatal)


def _creation_hooks(spec, container, child, data, tl):
    """The child stopped before pivot_root: run prestart and createRuntime
    here, in the runtime's namespaces, then let it go on with the state its
    own createContainer/startContainer hooks need."""
    _run_hooks(data, "prestart", "creating", child.pid, fatal=True)
    _run_hooks(data, "createRuntime", "creating", child.pid, fatal=True)
    tl.mark("hooks.createRuntime")
    creating = _hook_state(data, "creating", child.pid)
    created = _hook_state(data, "created", child.pid)
    child.go((creating + "\0" + created).encode())
    return child.wait_report()


def run_poststart(data):
    _run_hooks(data, "poststart", "running", data["pid"])


def _mark_child_steps(tl, child, outcome):
    # Read only now: the child stamps its start once it runs, which may be
    # after clone() has returned here.
    _, t_child, t_init, ends = child.step_times()
    tl.mark("clone", t_child)
    if t_init:
        tl.mark("minioci-init", t_init)
    steps = child.plan.steps
    for step, t in zip(steps, ends):
        tl.mark(step["phase"], t)
    if outcome == "exec":
        # The exec step stamps when it called execve; the socket closing (the
        # kernel's close-on-exec) ends it.
        tl.mark("exec", child.t_report)


def _write_id_maps(pid, spec):
    """The child's uid_map and gid_map (a plain user's as rootless.py
    writes them), written as every write minioci makes under /proc is:
    from a checked procfs root (native/procfs.c)."""
    from . import shim
    root = shim.lib.mo_proc_root()
    if root < 0:
        raise MiniociError(f"open a procfs to write /proc/{pid}/uid_map: {strerror(-root)}")

    def write(name, text):
        data = text.encode()
        rc = shim.lib.mo_proc_write(root, f"{pid}/{name}".encode(), data, len(data))
        if rc < 0:
            raise MiniociError(f"write /proc/{pid}/{name}: {strerror(-rc)}")

    try:
        if os.geteuid() != 0:               # a plain user may write only its own ids
            from . import rootless
            rootless.write_id_maps(pid, spec, write)
            return
        for name, mappings in (("uid_map", spec.uid_mappings), ("gid_map", spec.gid_mappings)):
            write(name, "".join(f"{c} {h} {n}\n" for c, h, n in mappings))
    finally:
        os.close(root)


def _namespace_paths(spec, pid):
    """Where `exec` finds each of the container's namespaces."""
    short = {"network": "net", "mount": "mnt"}
    return {t: p or f"/proc/{pid}/ns/{short.get(t, t)}" for t, p in spec.namespaces.items()}


def _connect(path):
    from . import shim
    fd = shim.lib.mo_connect_unix(path.encode())
    if fd < 0:
        raise MiniociError(f"connect to console socket {path}: {strerror(-fd)}")
    return fd


def write_pid_file(path, pid):
    """The host pid, no newline, written atomically (conmon reads it at
    once), and safely in a directory others can write (see safefile)."""
    from . import safefile
    try:
        safefile.replace(path, str(pid))
    except OSError as e:
        raise MiniociError(f"--pid-file {path}: {strerror(e.errno)}") from None


def stop_and_remove(started, tl):
    """After the container's init exited (run): remove the cgroup and the
    state entry, timing each as teardown."""
    now = time.monotonic_ns
    started.container.lock()
    t = now()
    started.cgroup.destroy()
    tl.mark_after_exit("cgroup.remove", t)
    if started.state.get("network"):
        from . import network
        t = now()
        network.teardown(started.state["network"])
        tl.mark_after_exit("network.remove", t)
    t = now()
    started.container.remove()
    tl.mark_after_exit("state.remove", t)
    if started.state.get("hooks"):
        t = now()
        _run_hooks(started.state, "poststop", "stopped", 0)
        tl.mark_after_exit("hooks.poststop", t)


# ---- lifecycle of an existing container (start, exec, kill, delete) ----------

class ExecOptions:
    def __init__(self, console_socket=None, preserve_fds=0, pid_file=None, console_size=None,
                 sub_cgroups=()):
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.pid_file = pid_file
        self.console_size = console_size
        self.sub_cgroups = sub_cgroups       # --cgroup: see cgroups.Cgroup.below


def container_process(c, data):
    """The container's own process, as kept at create: the base of `exec ID
    CMD`, and where an `exec --process` gets what it leaves out."""
    if data.get("process") is None:
        raise MiniociError(f"container {c.id!r}: {c.state_file} has no process record (the container "
                           "was made by an older minioci): recreate it to exec in it")
    return state.process_from_record(data["process"])


def inherit(proc, base):
    """`exec --process`'s process, with what it leaves out taken from the
    container's own process `base`, as runc does: capabilities (none in the
    JSON never means more than the container has), rlimits,
    noNewPrivileges, oomScoreAdj, the AppArmor profile and SELinux label."""
    if proc.capabilities is None:
        proc.capabilities = base.capabilities
    if not proc.rlimits:
        proc.rlimits = base.rlimits
    if proc.no_new_privileges is None:
        proc.no_new_privileges = base.no_new_privileges
    if proc.oom_score_adj is None:
        proc.oom_score_adj = base.oom_score_adj
    proc.apparmor_profile = proc.apparmor_profile or base.apparmor_profile
    proc.selinux_label = proc.selinux_label or base.selinux_label
    return proc


def exec_in(c, data, status, proc, opts, tl):
    """Start `proc` in the running container `c` (whose state, loaded, is
    `data`): its cgroup, every namespace of its init, its seccomp filter,
    and proc's own user, capabilities and rlimits.  Nothing comes from the
    bundle: what the container's process was given is in its state.
    Returns the child (parent.spawn) once it has exec'ed."""
    from . import plan as plan_mod
    check_preserved_fds(opts.preserve_fds)
    cid = c.id
    if status in ("stopped", "paused"):
        raise MiniociError(f"cannot exec in container {cid!r}: it is {status}")
    _leave_out_ungrantable_capabilities(proc, "process")
    seccomp = _kept_seccomp(c, data.get("seccomp"))
    pid = data["pid"]
    short = {"network": "net", "mount": "mnt"}
    namespaces = {t: f"/proc/{pid}/ns/{short.get(t, t)}" for t in (data.get("namespaces") or {})}
    # The directories themselves: a relative cgroupsPath was resolved against
    # the cgroup of whoever created the container, not ours.
    cgroup = _cgroup(c, data)
    if opts.sub_cgroups:
        cgroup = cgroup.below(opts.sub_cgroups)
    check_realtime_budget(proc, cgroup, "process", "scheduler.policy")
    undo = []
    child = None
    try:
        console_fd = None
        if opts.console_socket and proc.terminal:
            console_fd = _connect(opts.console_socket)
            undo.append(lambda: os.close(console_fd))
        listener_fd = None
        if seccomp is not None and seccomp.listener_path:
            from .seccomp import notify
            listener_fd = notify.connect(seccomp.listener_path)
            undo.append(lambda: os.close(listener_fd))
        cgroup_fd = cgroup.open_v2()
        if cgroup_fd is not None:
            undo.append(lambda: os.close(cgroup_fd))
        the_plan = plan_mod.build_exec(proc, namespaces, plan_mod.Options(
            console_fd=console_fd, preserve_fds=opts.preserve_fds, seccomp=seccomp,
            seccomp_listener_fd=listener_fd, console_size=opts.console_size,
            cgroup_join=cgroup.join_steps(), cgroup_fd=cgroup_fd,
            session_keyring=session_keyring(cid, data.get("no_new_keyring", False))))
        tl.mark("plan")
        child = parent.spawn(the_plan)
        if listener_fd is not None:
            child.set_listener_state(lambda joiner: notify.message(seccomp, cid, joiner, data["bundle"],
                                                                   data.get("annotations"), "running", pid))
        outcome = child.wait_report()
        _mark_child_steps(tl, child, outcome)
        if opts.pid_file:
            write_pid_file(opts.pid_file, child.pid)
            tl.mark("pid file")
        return child
    except BaseException:
        if child is not None:
            child.kill_and_reap()
            child.release()
        raise
    finally:
        for step in reversed(undo):
            step()


def load(root, cid, lock=True):
    """(Container, state dict, status) of an existing container; locked for
    commands that change it (state.json is replaced atomically, so readers
    need no lock)."""
    c = state.Container(root, cid)
    if lock:
        c.lock()
    data = c.load()
    return c, data, state.status(c, data)


def start_created(root, cid, tl):
    """`start`: release a created container's process into exec."""
    c, data, status = load(root, cid)
    tl.mark("state")
    if status != "created":
        raise MiniociError(f"cannot start container {cid!r}: it is {status}, not created")
    try:
        fd = os.open(c.exec_fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        # ENXIO: no reader, the process waiting for start is gone.
        raise MiniociError(f"cannot start container {cid!r}: its process is not waiting "
                           f"({strerror(e.errno)})") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.unlink(c.exec_fifo)
    tl.mark("start")
    if data.get("hooks"):
        run_poststart(data)
        tl.mark("hooks.poststart")
    return c, data


def _cgroup(c, data):
    """The container's Cgroup, from the directories in its state; each must
    lie below one of this host's cgroup mounts (ConfigError naming the
    state file and the entry otherwise: see cgroups.Cgroup.from_dirs)."""
    return cgroups.Cgroup.from_dirs(cgroups.detect(), data["cgroup_dirs"], c.state_file, data["cgroup_path"],
                                    data.get("cgroup_left_out") or ())


def signal_container(root, cid, sig, all_processes=False):
    """`kill`: the init, or (--all) every process in the cgroup.  With --all
    the cgroup is frozen while the pids are read and signalled, so that no
    fork slips between (runc does the same); SIGKILL uses v2's cgroup.kill
    where the kernel has it, which needs no freezing.

    As runc: a stopped container's init cannot be signalled, and the error
    says "container not running" (containerd's shim maps those words to
    NotFound); but --all still reaches what is left in its cgroup, which a
    container without a PID namespace of its own keeps after its init has
    exited (the shim asks for exactly that)."""
    c, data, status = load(root, cid)
    if status == "stopped" and not all_processes:
        raise MiniociError(f"cannot signal container {cid!r}: container not running")
    if not all_processes:
        _kill(data["pid"], sig)
        return
    from .cgroups import freezer
    dirs = _cgroup(c, data).directories()
    if not dirs:
        # Rootless without a cgroup: what its PID namespace holds (its init,
        # if it shares the host's).
        for pid in _pid_namespace_members(data):
            _kill(pid, sig)
        return
    if sig == 9 and any(os.path.exists(os.path.join(d, "cgroup.kill")) for d in dirs):
        cgroups.kill(dirs, sig)
        return
    thaw = status != "paused" and freezer.available(dirs)
    if thaw:
        freezer.set_frozen(dirs, True)
    try:
        cgroups.kill(dirs, sig)
    finally:
        if thaw:
            freezer.set_frozen(dirs, False)


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def delete(root, cid, tl, force=False):
    """Remove a container: its processes (with force, or when it was only
    created), cgroup and state.  Unknown ids are fine with force (podman).
    A container whose state cannot be used is deleted (with force) by what
    can be found of it without its state: see _delete_unknown."""
    c = state.Container(root, cid)
    if not os.path.isdir(c.dir):
        if force:
            return
        raise MiniociError(f"container {cid!r} does not exist")
    try:
        c.lock()
    except SysError as e:
        # No lock can be made (a full root): then no create ever got past
        # reserve() here, which makes the lock before anything else.
        import errno
        if not (force and e.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise
    try:
        data = c.load()
        dirs = _cgroup(c, data).directories()
    except ConfigError as e:            # state.BadState, or cgroup_dirs outside any cgroup mount
        if not force:
            raise
        _delete_unknown(c, e)
        return
    except MiniociError:
        if not force or os.path.exists(c.state_file):
            raise
        _delete_unknown(c, None)        # no state.json
        return
    data["cgroup_dirs"] = dirs
    status = state.status(c, data)
    tl.mark("state")
    if status in ("running", "paused") and not force:
        raise MiniociError(f"cannot delete container {cid!r}: it is {status} (use --force)")
    if status != "stopped":
        _kill_all(data)
        tl.mark("kill")
    cgroups.remove(dirs, keep=data.get("cgroup_existing") or ())
    tl.mark("cgroup.remove")
    if data.get("network"):
        from . import network
        network.teardown(data["network"])
        tl.mark("network.remove")
    c.remove()
    tl.mark("state.remove")
    if data.get("hooks"):
        _run_hooks(data, "poststop", "stopped", 0)
        tl.mark("hooks.poststop")


def _delete_unknown(c, problem):
    """`delete --force` of a container whose state is unusable (`problem`)
    or missing (None): find its cgroup directories by its id in every
    hierarchy (the names cgroups.named_after knows, leaving out those of
    the other containers under this root), kill what is in them, remove
    them, then the entry.  If none is found, nothing shows what may still
    run: an unusable state is kept and the error says so; an entry without
    state.json is removed (a create killed before its first save, which
    comes before any process or cgroup is made)."""
    layout = cgroups.detect()
    others = set()
    for other in state.list_ids(c.root):
        if other == c.id:
            continue
        others.add(other)
        try:
            others.update(state.Container(c.root, other).load()["cgroup_dirs"])
        except MiniociError:
            pass
    found = cgroups.find_named(layout, c.id, exclude=others)
    if not found and problem is None:
        c.remove()
        return
    if not found:
        raise MiniociError(f"{problem}; no cgroup named after container {c.id!r} was found, so what "
                           f"may still run of it cannot be: kept {c.dir}")
    _kill_all({"pid": 0, "cgroup_dirs": found})
    cgroups.remove(found)
    netns = os.path.join(c.dir, "netns")
    if os.path.exists(netns):
        from .network import netns as netns_mod
        netns_mod.remove(netns)
    c.remove()


def _kill_all(data, timeout=10.0):
    """SIGKILL the init and everything in the cgroup, then wait until the
    init is gone.  A frozen v1 cgroup is thawed after the kill is queued,
    since its tasks cannot die frozen."""
    import time
    from .cgroups import freezer
    dirs = data["cgroup_dirs"]

    def kill_everything():
        if state.is_alive(data):    # the init itself, never a reused pid (nor 0 or -1)
            _kill(data["pid"], 9)
        cgroups.kill(dirs, 9)

    kill_everything()
    if freezer.is_frozen(dirs):
        freezer.set_frozen(dirs, False)
    deadline = time.monotonic() + timeout
    while state.is_alive(data) or cgroups.pids(dirs):
        if time.monotonic() > deadline:
            raise MiniociError(f"container process {data.get('pid')} did not die within {timeout:g}s")
        time.sleep(0.002)
        kill_everything()


# ---- resources, freezer, processes and stats of a container -------------------

def _running(root, cid, what, allowed=("running", "created", "paused")):
    c, data, status = load(root, cid)
    if status not in allowed:
        raise MiniociError(f"cannot {what} container {cid!r}: it is {status}")
    return c, data, status


def update(root, cid, request, file):
    """`update`: apply the resources in `request` (a LinuxResources object
    from `file`, or built from flags) to a living container, and keep the
    result in its state for the next update."""
    c, data, _ = _running(root, cid, "update")
    current = data.get("resources") or {}
    from .cgroups import resources
    merged = resources.merge(current, request)
    wanted = resources.plan(request, file, prefix="", current=current, with_devices=False)
    resources.apply(resources.route(_cgroup(c, data), wanted))
    data["resources"] = merged
    c.save(data)


def pause(root, cid):
    from .cgroups import freezer
    # A created container has not started its program: nothing to pause yet.
    c, data, _ = _running(root, cid, "pause", ("running",))
    dirs = _cgroup(c, data).directories()
    if not freezer.available(dirs) and data.get("cgroup_left_out"):
        raise MiniociError(f"cannot pause container {cid!r}: it is rootless and has no cgroup with a freezer "
                           "(this user was given no cgroup to freeze it in: see docs/rootless.md)")
    freezer.set_frozen(dirs, True)


def resume(root, cid):
    from .cgroups import freezer
    c, data, _ = _running(root, cid, "resume", ("paused",))
    freezer.set_frozen(_cgroup(c, data).directories(), False)


def processes(root, cid):
    """`ps`: the pids in the container's cgroup (a rootless container
    without one: those in its PID namespace, or its init)."""
    c, data, _ = load(root, cid, lock=False)
    dirs = _cgroup(c, data).directories()
    if dirs or not data.get("cgroup_left_out"):
        return sorted(cgroups.pids(dirs))
    return _pid_namespace_members(data)


def _pid_namespace_members(data):
    """The living processes of the container's own PID namespace (its init
    alone if it shares the host's, or has exited)."""
    if not state.is_alive(data):
        return []
    pid = data["pid"]
    if "pid" not in (data.get("namespaces") or {}):
        return [pid]
    try:
        ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == ns:
                    out.append(int(name))
            except OSError:
                pass
    return sorted(out)


def oom_kills(root, cid):
    from .cgroups import stats as stats_mod
    c, data, status = load(root, cid, lock=False)
    return stats_mod.oom_kills(_cgroup(c, data))


def stats(root, cid):
    """`events --stats`: the cgroup's usage counters, as runc reports them."""
    from .cgroups import stats as stats_mod
    c, data, status = load(root, cid, lock=False)
    if status == "stopped":
        raise MiniociError(f"container {cid!r} is not running")
    cgroup = _cgroup(c, data)
    if not cgroup.directories():
        raise MiniociError(f"container {cid!r} has no cgroup to read statistics from (rootless, and this "
                           "user was given no cgroup: see docs/rootless.md)")
    return stats_mod.collect(cgroup)
