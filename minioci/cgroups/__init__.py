"""A container's cgroup, on cgroup v2, v1 and hybrid hosts.

`detect()` reads the host's layout from /proc/self/mountinfo (and the
kernel's controller names from /proc/cgroups).  A `Cgroup` is the
container's directory in every hierarchy the layout has: on v2 one
directory; on v1 one per hierarchy; on a hybrid host both, each controller
where it actually lives (as runc does).  The per-version work is in v1.py
and v2.py; this module only composes them.

The container's process joins by itself (see `join_steps`); the functions at
the end (`pids`, `kill`, `remove`) work on an existing container from the
directory list kept in its state.
"""
import os

from ..errors import ConfigError, MiniociError, strerror
from . import fs

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUPS = "/proc/cgroups"

# What /proc/cgroups lists on current kernels; used where it cannot be read.
KNOWN_CONTROLLERS = frozenset(["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                               "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"])


# v1 controller → the v2 controller that does its work.
V2_NAMES = {"blkio": "io", "cpuacct": "cpu"}


class Layout:
    """The cgroup hierarchies mounted on this host.

    kind: "v2", "v1" or "hybrid".  v1: {hierarchy name: (mountpoint, mount
    root, controllers)}, the name being what /proc/self/cgroup calls it
    ("memory", "cpu,cpuacct", "name=systemd").  v2: (mountpoint, mount root)
    of the cgroup2 mount, or None.
    """

    def __init__(self, v1, v2):
        self.v1 = v1
        self.v2 = v2
        self.kind = "hybrid" if v1 and v2 else "v1" if v1 else "v2"
        self._v2_controllers = None

    def v1_controllers(self):
        return {c for _, _, ctrls in self.v1.values() for c in ctrls}

    def v2_controllers(self):
        """The controllers the cgroup2 root offers (cgroup.controllers)."""
        if self._v2_controllers is None:
            ctrls = frozenset()
            if self.v2:
                try:
                    ctrls = frozenset(fs.read(self.v2[0], "cgroup.controllers").split())
                except OSError:
                    pass
            self._v2_controllers = ctrls
        return self._v2_controllers

    def where(self, controller):
        """"v1", "v2" or None: where `controller` is mounted here."""
        if controller in self.v1_controllers():
            return "v1"
        if controller in self.v2_controllers():
            return "v2"
        return None


def detect(mountinfo=MOUNTINFO, proc_cgroups=PROC_CGROUPS):
    """The host's layout, from mountinfo's cgroup and cgroup2 mounts.  The
    last one is kept while the files read the same (a server's workers
    inherit it: see server.py)."""
    global _last_layout
    with open(mountinfo) as f:
        text = f.read()
    controllers = kernel_controllers(proc_cgroups)
    if _last_layout is not None and _last_layout[:2] == (text, controllers):
        return _last_layout[2]
    layout = parse_layout(text, controllers)
    _last_layout = (text, controllers, layout)
    return layout


_last_layout = None


def kernel_controllers(proc_cgroups=PROC_CGROUPS):
    """{controller: enabled} from /proc/cgroups (subsys_name hierarchy
    num_cgroups enabled)."""
    try:
        with open(proc_cgroups) as f:
            lines = f.read().splitlines()
    except OSError:
        return {c: True for c in KNOWN_CONTROLLERS}
    out = {}
    for line in lines:
        if line and not line.startswith("#"):
            fields = line.split()
            out[fields[0]] = len(fields) < 4 or fields[3] == "1"
    return out


def parse_layout(mountinfo_text, controllers):
    """A Layout from mountinfo text; `controllers` names the kernel's v1
    controllers (mount options that are not one of them are flags)."""
    v1, v2 = {}, None
    for line in mountinfo_text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mount_root, mountpoint = rfields[0], _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2":
            v2 = v2 or (mountpoint, mount_root)
        elif fstype == "cgroup":
            ctrls = [o for o in rfields[2].split(",") if o in controllers or o.startswith("name=")]
            if ctrls:
                # The first mount of a hierarchy wins (later ones are binds).
                v1.setdefault(",".join(ctrls), (mountpoint, mount_root, ctrls))
    if not v1 and not v2:
        raise MiniociError("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")
    return Layout(v1, v2)


def _unescape(path):
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def own_cgroups(text=None):
    """{frozenset of controller names: cgroup path} of the runtime: the
    container's parent (parent.proc_file: in a served request the front
    end); the v2 hierarchy's key is frozenset({""})."""
    if text is None:
        from .. import parent
        with open(parent.proc_file("cgroup")) as f:
            text = f.read()
    out = {}
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        out[frozenset(names.split(","))] = path
    return out


# Where containers go without a cgroupsPath.
DEFAULT_PARENT = "/minioci"
# How each engine is told to drive cgroupfs rather than systemd (every one
# defaults to systemd's driver on a systemd host): said where minioci refuses.
CGROUPFS_DRIVERS = ("(podman --cgroup-manager=cgroupfs, dockerd --exec-opt native.cgroupdriver=cgroupfs, "
                    "containerd's SystemdCgroup = false)")


def resolve_path(cgroups_path, container_id, file="config.json", rootless=False):
    """The container's cgroup path: linux.cgroupsPath, or /minioci/<id>
    (rootless: <id> below the caller's own cgroup, the one place a user may
    have been given: docs/rootless.md).

    The systemd form `slice:prefix:name` needs systemd, which minioci does not
    drive; it is refused with a clear error, as is any `..` or `.`.
    """
    where = "linux.cgroupsPath"
    if not cgroups_path:
        return container_id if rootless else f"{DEFAULT_PARENT}/{container_id}"
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise ConfigError(file, where, f"{cgroups_path!r} is systemd's slice:prefix:name form; minioci "
                                       f"manages cgroupfs itself and cannot use it: give the engine its cgroupfs "
                                       f"driver {CGROUPFS_DRIVERS}")
    parts = cgroups_path.split("/")
    if ".." in parts or "." in parts:
        raise ConfigError(file, where, f"{cgroups_path!r} must not contain '..' or '.'")
    if not cgroups_path.strip("/"):
        raise ConfigError(file, where, f"{cgroups_path!r} is the root cgroup; name a cgroup below it")
    return cgroups_path


def named_after(name, container_id):
    """Whether a cgroup directory called `name` is one a container's would
    be: its id itself (minioci's /minioci/<id>, a cgroupsPath ending in the
    id), or <prefix>-<id> and <prefix>-<id>.scope, with a prefix of letters,
    digits and _ (podman's cgroupfs /libpod_parent/libpod-<id>, and the
    systemd form slice:prefix:<id> as runc and crun make it,
    machine.slice/libpod-<id>.scope)."""
    if name == container_id:
        return True
    for suffix in ("-" + container_id, "-" + container_id + ".scope"):
        prefix = name[:-len(suffix)]
        if name.endswith(suffix) and prefix and all(ch.isalnum() or ch == "_" for ch in prefix):
            return True
    return False


def find_named(layout, container_id, exclude=()):
    """The directories, in every hierarchy of `layout`, named after
    container `container_id` (see named_after): how `delete --force` finds a
    container whose state is lost.  Directories in `exclude`, or named
    exactly as an id in it, belong to other containers and are left out;
    nothing below a match is searched (it belongs to the match)."""
    mounts = [m for m, _, _ in layout.v1.values()] + ([layout.v2[0]] if layout.v2 else [])
    found = []
    for mountpoint in mounts:
        for top, dirs, _ in os.walk(mountpoint):
            keep = []
            for d in dirs:
                path = os.path.join(top, d)
                if named_after(d, container_id) and path not in exclude and d not in exclude:
                    found.append(path)
                else:
                    keep.append(d)
            dirs[:] = keep
    return found


class Cgroup:
    """The container's cgroup: its directory in every hierarchy of `layout`
    (`parts`).  Nothing touches the filesystem until create()."""

    def __init__(self, layout, parts, path=None):
        self.layout = layout
        self.parts = parts        # one v1.Hierarchy or v2.Unified per hierarchy
        self.path = path          # the cgroupsPath it was made from, if known
        self.v2 = next((p for p in parts if p.version == 2), None)
        self.existing = []        # directories that were there before the container: kept
        # Rootless: the parts this user could not make (create_writable); the
        # container stays in the caller's cgroup in those hierarchies.
        self.left_out = []

    def note_existing(self):
        """Which of the directories exist already (a cgroupsPath naming a
        cgroup made by someone else): the runtime-spec forbids deleting what
        the container did not create, so those are emptied, never removed."""
        self.existing = [d for d in self.directories() if os.path.isdir(d)]
        return self.existing

    @classmethod
    def for_path(cls, layout, path, own=None, file="config.json"):
        """The container's directories for cgroup path `path`: absolute, or
        relative to this process's own cgroup in each hierarchy (runc's
        rule).  Refused if one would hold minioci itself, or is in use
        already (processes, cgroups below it, a parent minioci made for
        other containers): deleting the container removes its directories
        with everything below and kills what is inside."""
        from . import v1, v2
        own = own_cgroups() if own is None else own
        found = []               # (part, mountpoint, mount root, minioci's own cgroup there)
        for name, (mountpoint, root, ctrls) in layout.v1.items():
            mine = own.get(frozenset(ctrls))
            found.append((v1.Hierarchy(name, ctrls, directory_in(mountpoint, root, path, mine)),
                          mountpoint, root, mine))
        if layout.v2:
            mountpoint, root = layout.v2
            mine = own.get(frozenset([""]))
            found.append((v2.Unified(directory_in(mountpoint, root, path, mine), layout.v2_controllers()),
                          mountpoint, root, mine))
        for part, mountpoint, root, mine in found:
            here = directory_in(mountpoint, root, mine or "/", None)
            if _under(here, part.directory):
                raise ConfigError(file, "linux.cgroupsPath",
                                  f"{path!r} would hold minioci's own cgroup ({here})")
            held = _in_use(part.directory)
            if held:
                raise ConfigError(file, "linux.cgroupsPath", f"{path!r}: {part.directory} is in use (it holds "
                                                             f"{held}); a container's cgroup must be its own")
        return cls(layout, [f[0] for f in found], path)

    @classmethod
    def from_dirs(cls, layout, directories, file="state.json", path=None, left_out=()):
        """An existing container's Cgroup, from the directories in its state
        (a relative cgroupsPath was resolved against its creator's cgroup).
        Commands kill what is in these directories and remove them with
        everything below, so each must lie strictly below one of this host's
        cgroup mounts: any other path (the cgroup root itself, /tmp/..., /)
        is refused, naming `file` and the entry.  With `path`, the cgroup
        path they were made for (kept in the state too), each must end with
        it and every hierarchy must have exactly one: a damaged list is
        refused rather than half acted on.  `left_out`: the hierarchies a
        rootless container has no directory in (create_writable)."""
        from . import v1, v2
        parts = []
        for i, d in enumerate(directories):
            where = f"cgroup_dirs[{i}]"
            name = next((n for n, (mountpoint, _, _) in layout.v1.items() if _below(d, mountpoint)), None)
            if name is not None:
                parts.append(v1.Hierarchy(name, layout.v1[name][2], d))
            elif layout.v2 and _below(d, layout.v2[0]):
                parts.append(v2.Unified(d, layout.v2_controllers()))
            else:
                mounts = [m for m, _, _ in layout.v1.values()] + ([layout.v2[0]] if layout.v2 else [])
                raise ConfigError(file, where, f"{d!r} is not below a cgroup mount of this "
                                               f"host ({', '.join(sorted(mounts))})")
            if path is not None and not d.endswith("/" + path.strip("/")):
                raise ConfigError(file, where, f"{d!r} is not a directory of cgroup {path!r} (cgroup_path)")
        cgroup = cls(layout, parts)
        for name in left_out:
            if name in layout.v1:
                cgroup.left_out.append(v1.Hierarchy(name, layout.v1[name][2], None))
            elif name == "unified" and layout.v2:
                cgroup.left_out.append(v2.Unified(None, layout.v2_controllers()))
        if path is not None:
            names = [p.name for p in parts]
            for name in list(layout.v1) + (["unified"] if layout.v2 else []):
                want = 0 if name in left_out else 1
                if names.count(name) != want:
                    raise ConfigError(file, "cgroup_dirs", f"has {names.count(name)} directories in the "
                                                           f"{name} hierarchy, not {want}")
        return cgroup

    def below(self, requests):
        """The Cgroup of existing sub-cgroups, for `exec --cgroup`: each
        request is runc's "[CONTROLLER[,CONTROLLER...]:]PATH", PATH relative
        to the container's cgroup; one without controllers goes for every
        hierarchy a request does not name."""
        default, by_controller = None, {}
        for request in requests:
            names, _, path = request.rpartition(":")
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise MiniociError(f"exec --cgroup {request}: the path must be relative to the "
                                   "container's cgroup, without '..'")
            if not names:
                default = path
            for name in filter(None, names.split(",")):
                if self.part_for(name) is None and not any(p.name == name for p in self.parts):
                    raise MiniociError(f"exec --cgroup {request}: no hierarchy has controller {name!r}")
                by_controller[name] = path
        dirs = []
        for part in self.parts:
            names = set(part.controllers) | {part.name}
            if part.version == 2:
                names |= {v1 for v1, v2 in V2_NAMES.items() if v2 in part.controllers}
            path = next((by_controller[n] for n in sorted(names) if n in by_controller), default)
            d = os.path.join(part.directory, path) if path else part.directory
            if not os.path.isdir(d):
                raise MiniociError(f"exec --cgroup: {d} does not exist (the sub-cgroup must exist)")
            dirs.append(d)
        return Cgroup.from_dirs(self.layout, dirs)

    def delegate(self, uid):
        """Hand the v2 directory to `uid` (the runtime-spec's "Cgroup
        ownership"): the directory itself and the files the kernel lists as
        safe to delegate, never a limit the container could raise.  v1
        hierarchies are never delegated (not safe there)."""
        if self.v2 is None:
            return
        d = self.v2.directory
        try:
            os.chown(d, uid, -1)
            for name in _delegate_files():
                try:
                    os.chown(os.path.join(d, name), uid, -1)
                except FileNotFoundError:
                    pass                     # listed, but not in every cgroup
        except OSError as e:
            raise MiniociError(f"hand cgroup {d} to uid {uid}: {strerror(e.errno)}") from None

    def directories(self):
        return [p.directory for p in self.parts]

    def part_for(self, controller):
        """The part holding `controller` (named as v1 names it), or None.  A
        controller is bound to exactly one hierarchy; v2 calls blkio "io"
        and does cpuacct's accounting in "cpu"."""
        for part in self.parts:
            if (V2_NAMES.get(controller, controller) if part.version == 2 else controller) in part.controllers:
                return part
        return None

    def create(self):
        """Make the directories, and the missing parents (each registered as
        minioci's before it is made; see remove()).  On failure, remove what
        was made; a directory the host would not let us make is Denied."""
        try:
            for part in self.parts:
                part.create(register_parent)
        except OSError as e:
            remove(self.directories(), keep=self.existing)
            raise (Denied if e.errno in DENIED else MiniociError)(
                f"create cgroup {e.filename}: {strerror(e.errno)}") from None

    def create_writable(self):
        """Rootless: make each directory this user may make, and only it (a
        parent it would make could be registered nowhere, and stay: a
        missing parent leaves that hierarchy out), with
        the v2 controllers the user's own subtree passes down; the parts it
        may not make are left out (`left_out`).  Returns their names."""
        self.note_existing()
        kept = []
        for part in self.parts:
            try:
                part.create(None, rootless=True)
                kept.append(part)
            except OSError as e:
                if e.errno not in DENIED and e.errno != 2:      # ENOENT: its parent is not there
                    remove([p.directory for p in kept], keep=self.existing)
                    raise MiniociError(f"create cgroup {e.filename or part.directory}: "
                                       f"{strerror(e.errno)}") from None
                self.left_out.append(part)
        self.parts = kept
        self.v2 = next((p for p in kept if p.version == 2), None)
        return [p.name for p in self.left_out]

    def left_out_because(self, controller):
        """Why a rootless container has no cgroup for `controller`, or ""."""
        for part in self.left_out:
            if (V2_NAMES.get(controller, controller) if part.version == 2 else controller) in part.controllers \
                    or (controller == "unified" and part.version == 2):
                from ..rootless import host_uid
                where = f" {part.directory}" if part.directory else f" in the {part.name} hierarchy"
                return (f"cannot be honoured rootless: this user (uid {host_uid()}) could not make the "
                        f"container's cgroup{where} (see docs/rootless.md: a delegated cgroup)")
        return ""

    def join(self, pid):
        """Move `pid` in from outside (cgroup.procs: the slow, locked way)."""
        for part in self.parts:
            part.join(pid)

    def join_steps(self):
        """Plan steps by which the container's process joins by itself: the
        v1 `tasks` files, and v2's cgroup.procs unless clone3 placed it."""
        return [dict(op="join_cgroup", phase="cgroup.join",
                     path=os.path.join(p.directory, "tasks" if p.version == 1 else "cgroup.procs"),
                     v2=int(p.version == 2))
                for p in self.parts]

    def open_v2(self):
        """An fd of the v2 directory for clone3's CLONE_INTO_CGROUP, or None."""
        if self.v2 is None:
            return None
        return os.open(self.v2.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def container_mounts(self, m, cgroupns, userns):
        """Plan steps for a config mount of type "cgroup" (m): what the
        container sees at m.destination.

        With a cgroup namespace the filesystems are mounted (the kernel roots
        them at the container's cgroup); without one, or where a user
        namespace may not mount v1, the container's own directories are
        bound in, as runc does.  On v1 and hybrid hosts a tmpfs holds one
        directory per hierarchy (and `unified` for the v2 one).
        """
        from ..spec import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT
        dest, flags = m.destination, m.flags & ~(MS_BIND | MS_REC)

        def mount(target, fstype, source, data=None, bind=False):
            return dict(op="mount", phase="mount cgroup", source=source, destination=target,
                        fstype=None if bind else fstype, data=data,
                        flags=flags | (MS_BIND | MS_REC if bind else 0), propagation=0, target_kind=1)

        v2 = self.v2 or next((p for p in self.left_out if p.version == 2), None)
        # A hierarchy a rootless container was left out of shows the cgroup
        # it is in there: the caller's.
        own = self._own_directories() if self.left_out else {}
        if self.layout.kind == "v2":
            if cgroupns:
                return [mount(dest, "cgroup2", "cgroup2")]
            return [mount(dest, None, own.get(v2.name, v2.directory), bind=True)]
        steps = [dict(mount(dest, "tmpfs", "tmpfs", "mode=755"), flags=flags & ~MS_RDONLY)]
        for part in self.parts + self.left_out:
            if part.version == 2:
                continue
            mountpoint = self.layout.v1[part.name][0]
            target = f"{dest}/{os.path.basename(mountpoint)}"
            if cgroupns and not userns:
                steps.append(mount(target, "cgroup", "cgroup", ",".join(sorted(part.controllers))))
            else:
                steps.append(mount(target, None, own.get(part.name, part.directory), bind=True))
            for ctrl in part.controllers:           # cpu -> cpu,cpuacct for comounts
                if ctrl != os.path.basename(mountpoint) and "," in os.path.basename(mountpoint):
                    steps.append(dict(op="symlink", phase="mount cgroup",
                                      target=os.path.basename(mountpoint), destination=f"{dest}/{ctrl}"))
        if v2 is not None:
            target = f"{dest}/{os.path.basename(self.layout.v2[0])}"
            steps.append(mount(target, "cgroup2", "cgroup2") if cgroupns
                         else mount(target, None, own.get(v2.name, v2.directory), bind=True))
        if flags & MS_RDONLY:
            steps.append(dict(mount(dest, None, None), flags=flags | MS_REMOUNT))
        return steps

    def _own_directories(self):
        """{hierarchy name: the caller's cgroup directory there} for the
        parts left out."""
        mine = own_cgroups()
        out = {}
        for part in self.left_out:
            if part.version == 2:
                mountpoint, root = self.layout.v2
                path = mine.get(frozenset([""]), "/")
            else:
                mountpoint, root, ctrls = self.layout.v1[part.name]
                path = mine.get(frozenset(ctrls), "/")
            out[part.name] = directory_in(mountpoint, root, path, None)
        return out

    def destroy(self):
        remove(self.directories(), keep=self.existing)


# What the host answers a user that may not make a cgroup directory.
DENIED = frozenset([1, 13, 30])           # EPERM, EACCES, EROFS


class Denied(MiniociError):
    """The host would not let us make a cgroup directory: as root of a user
    namespace, minioci is rootless (container.py)."""


# Without /sys/kernel/cgroup/delegate, the runtime-spec's list.
DELEGATE_FALLBACK = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def _delegate_files():
    try:
        return fs.read("/sys/kernel/cgroup", "delegate").split()
    except FileNotFoundError:
        return DELEGATE_FALLBACK


def _under(path, mountpoint):
    return (path + "/").startswith(mountpoint.rstrip("/") + "/")


def _in_use(directory):
    """What an existing cgroup directory holds that is not a new container's
    ("" if nothing, or if it does not exist: the usual case, one syscall)."""
    try:
        entries = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return ""
    with entries:
        below = next((e.name for e in entries if e.is_dir(follow_symlinks=False)), None)
    if below is not None:
        return f"cgroups below it, such as {below}"
    procs = fs.read_pids(directory)
    if procs:
        return f"processes, such as {procs[0]}"
    if os.path.exists(_parent_entry(directory)):
        return "other containers' cgroups: minioci made it as their parent"
    return ""


def _below(path, mountpoint):
    """`path` (normalized) is a directory strictly below `mountpoint`."""
    return path.startswith(mountpoint.rstrip("/") + "/") and path.rstrip("/") != mountpoint.rstrip("/")


def directory_in(mountpoint, mount_root, path, own):
    """The directory of cgroup `path` (absolute, or relative to `own`) in a
    hierarchy mounted at `mountpoint`."""
    if not path.startswith("/"):
        path = os.path.join(own or "/", path)
    # A mount whose root is not "/" (a cgroup namespace, a bind) shows the
    # hierarchy from that root on.
    if mount_root != "/" and _under(path, mount_root):
        path = path[len(mount_root.rstrip("/")):]
    return os.path.normpath(mountpoint + "/" + path.lstrip("/"))


# ---- an existing container's cgroup, from the directories in its state ------

def pids(directories):
    """Every process in the container's cgroup, sub-cgroups included (from its
    first readable directory: each hierarchy holds them all)."""
    for d in directories:
        procs = fs.read_pids(d, recursive=True)
        if procs is not None:
            return procs
    return []


def kill(directories, sig=9):
    """Signal every process in the container's cgroup.  SIGKILL goes through
    v2's cgroup.kill where the kernel has it (atomic: no fork escapes it);
    otherwise the processes are signalled one by one."""
    if sig == 9:
        for d in directories:
            if os.path.exists(os.path.join(d, "cgroup.kill")):
                try:
                    fs.write(d, "cgroup.kill", "1")
                    return
                except OSError:
                    break
    me = os.getpid()
    for pid in pids(directories):
        if pid != me:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def remove(directories, timeout=5.0, keep=()):
    """Remove a container's cgroup directories (and any cgroups its processes
    made below them), killing whatever is still inside and waiting for it to
    go; then the parents minioci made for it, where nobody else uses them.
    The directories in `keep` (there before the container) are only emptied.
    The common case, an empty cgroup, is one rmdir per directory."""
    import time
    deadline = time.monotonic() + timeout
    for d in directories:
        while True:
            try:
                if d in keep:
                    _empty(d)
                else:
                    fs.remove_tree(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                procs = fs.read_pids(d, recursive=True) or []
                if os.getpid() in procs:
                    raise MiniociError(f"remove cgroup {d}: it holds minioci itself") from None
                if time.monotonic() > deadline:
                    raise MiniociError(f"remove cgroup {d}: {strerror(e.errno)} "
                                       f"(processes still inside: {procs})") from None
                kill([d])
                time.sleep(0.002)
        if d not in keep and os.path.dirname(d) not in _held:
            remove_parents(os.path.dirname(d))


def _empty(d):
    """The cgroups below `d` go; OSError (EBUSY) while processes are in `d`."""
    for entry in os.scandir(d):
        if entry.is_dir(follow_symlinks=False):
            fs.remove_tree(entry.path)
    if fs.read_pids(d, recursive=False):
        raise OSError(16, os.strerror(16), d)


# ---- the parents minioci made (/minioci, a cgroupsPath's missing parents) ------
#
# Containers share parents, and the one that made a parent may go first: its
# own record would leave the parent behind.  So a parent is registered as
# minioci's (a file named after it, made before the mkdir) in one place for
# all state roots, and whoever leaves it empty removes it:
#   - unregister, then rmdir;
#   - busy: register again and retry the rmdir once: whoever was inside
#     either left in between (the retry succeeds) or is still inside and will
#     find the registration when it leaves.

# In /run, which only root can write: its plain O_CREAT opens need no guard
# against planted files.
PARENTS = "/run/minioci-cgroup-parents"


def _parent_entry(d):
    return os.path.join(PARENTS, d.replace("%", "%25").replace("/", "%2F"))


def register_parent(d):
    try:
        os.close(os.open(_parent_entry(d), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except FileNotFoundError:
        os.makedirs(PARENTS, 0o700, exist_ok=True)
        register_parent(d)
    except OSError:
        pass                     # a name too long to register: the parent stays


def remove_parents(d):
    """rmdir `d` and its registered ancestors, deepest first, while empty."""
    while True:
        entry = _parent_entry(d)
        try:
            os.unlink(entry)
        except OSError:
            return               # not minioci's, or being removed by another
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            register_parent(d)   # in use: keep it registered for its users,
            try:                 # and retry once in case they just left
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                return
            try:
                os.unlink(entry)
            except OSError:
                pass
        d = os.path.dirname(d)


# ---- a server's hold on the default parent ----------------------------------
#
# Without one, a parent goes with the last container in it, and the next
# container makes it again: two mkdirs and rmdirs per hierarchy, ~1 ms of a
# start here.  A server keeps it while it lives by a cgroup of its own below
# it, named so that no container id can be (':' is not allowed in one).

_HOLD = "minioci:serve:"

# The parents this process (a server, and the workers it forks) holds: a
# container leaving one does not try to remove it (five syscalls per
# hierarchy that would fail), the holder does when it lets go.
_held = set()


def hold_default_parent(layout):
    """Keep DEFAULT_PARENT in every hierarchy until release_parent(); the
    holds of servers that died without releasing theirs are removed."""
    hold = Cgroup.for_path(layout, f"{DEFAULT_PARENT}/{_HOLD}{os.getpid()}")
    hold.create()
    remove_stale_holds(layout)
    _held.update(os.path.dirname(d) for d in hold.directories())
    return hold


def remove_stale_holds(layout):
    """Remove the holds of servers that died without releasing them, and
    the default parent with them if nothing else is in it."""
    for d in Cgroup.for_path(layout, f"{DEFAULT_PARENT}/{_HOLD}0").directories():
        parent = os.path.dirname(d)
        try:
            names = os.listdir(parent)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith(_HOLD) and not os.path.exists(f"/proc/{name[len(_HOLD):]}"):
                remove([os.path.join(parent, name)])


def release_parent(hold):
    """Let go of the hold: the parent goes too once no container is in it."""
    _held.difference_update(os.path.dirname(d) for d in hold.directories())
    hold.destroy()


def grant_realtime_budget(directory, ratio):
    """cgroup v1 realtime scheduling: a cgroup's runtime/period ratio must
    fit in its parent's beside its siblings', and a new cgroup's budget is 0.
    The parents minioci made above `directory` (registered: see above) get
    what the container there needs (`ratio`, its runtime/period) beside
    their other children, from the top down; they never lose budget.
    Parents that are not minioci's are left as they are: if they lack the
    budget, the container's own write fails and says so (as with runc).
    Whether the direct parent is one of minioci's (and has the budget)."""
    import math
    chain = []                      # minioci's parents, nearest first
    d = os.path.dirname(directory)
    while os.path.exists(_parent_entry(d)):
        chain.append(d)
        d = os.path.dirname(d)
    needs, need, child = [], ratio, os.path.basename(directory)
    for parent in chain:
        need += sum(_realtime_ratio(os.path.join(parent, name)) for name in os.listdir(parent)
                    if name != child and os.path.isdir(os.path.join(parent, name)))
        needs.append((parent, need))
        child = os.path.basename(parent)
    for parent, need in reversed(needs):
        want = math.ceil(need * int(fs.read(parent, "cpu.rt_period_us"))) + 1   # +1: the kernel rounds down
        if int(fs.read(parent, "cpu.rt_runtime_us")) < want:
            try:
                fs.write(parent, "cpu.rt_runtime_us", str(want))
            except OSError as e:
                raise OSError(e.errno, e.strerror, parent) from None
    return bool(chain)


def _realtime_ratio(d):
    try:
        runtime = int(fs.read(d, "cpu.rt_runtime_us"))
        period = int(fs.read(d, "cpu.rt_period_us"))
    except (OSError, ValueError):
        return 0.0
    return runtime / period if runtime > 0 else 0.0
