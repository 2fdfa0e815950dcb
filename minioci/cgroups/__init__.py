"""A container's cgroup, on cgroup v2, v1 and hybrid hosts.

`detect()` reads the host's layout from /proc/self/mountinfo.  A `Cgroup` is
the container's directory in every hierarchy the layout has: on v2 one
directory; on v1 one per hierarchy; on a hybrid host both (each controller
where it actually lives, as runc does).  The per-version work is in v1.py and
v2.py; this module only composes them.
"""
import os

from ..errors import MiniociError
from . import fs

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"


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

    def v1_controllers(self):
        return {c for _, _, ctrls in self.v1.values() for c in ctrls}

    def v2_controllers(self):
        if not self.v2:
            return set()
        try:
            with open(os.path.join(self.v2[0], "cgroup.controllers")) as f:
                return set(f.read().split())
        except OSError:
            return set()


def detect(mountinfo=MOUNTINFO):
    """Read the layout from mountinfo: cgroup (v1) and cgroup2 mounts."""
    v1, v2 = {}, None
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3:
                continue
            fstype, mount_root, mountpoint = rfields[0], fields[3], _unescape(fields[4])
            if fstype == "cgroup2":
                v2 = v2 or (mountpoint, mount_root)
            elif fstype == "cgroup":
                ctrls = [o for o in rfields[2].split(",") if o in _V1_NAMES or o.startswith("name=")]
                if ctrls:
                    v1.setdefault(",".join(ctrls), (mountpoint, mount_root, ctrls))
    if not v1 and not v2:
        raise MiniociError("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")
    return Layout(v1, v2)


# Known v1 controllers; mount options that are not one of them are flags.
_V1_NAMES = frozenset(["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                       "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"])


def _unescape(path):
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def own_cgroups(proc_cgroup=PROC_CGROUP):
    """{frozenset of controller names: cgroup path} of this process; the v2
    hierarchy's key is frozenset({""})."""
    out = {}
    with open(proc_cgroup) as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            out[frozenset(names.split(","))] = path
    return out


def resolve_path(cgroups_path, container_id):
    """The container's cgroup path: linux.cgroupsPath, or /minioci/<id>.

    The systemd form `slice:prefix:name` needs systemd, which minioci does not
    drive; it is refused with a clear error.
    """
    if not cgroups_path:
        return f"/minioci/{container_id}"
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise MiniociError(f"linux.cgroupsPath: {cgroups_path!r} is systemd's slice:prefix:name form; "
                           "minioci manages cgroupfs directly and cannot use it")
    if ".." in cgroups_path.split("/"):
        raise MiniociError(f"linux.cgroupsPath: {cgroups_path!r} must not contain '..'")
    return cgroups_path


class Cgroup:
    """The container's cgroup in every hierarchy of `layout`.

    `path` is absolute, or relative to this process's own cgroup in each
    hierarchy (runc's rule).  Nothing touches the filesystem until create().
    """

    def __init__(self, layout, path, own=None):
        from . import v1, v2
        self.layout = layout
        self.path = path
        own = own if own is not None or path.startswith("/") else own_cgroups()
        self.parts = []           # one v1.Hierarchy or v2.Unified per hierarchy
        for name, (mountpoint, root, ctrls) in layout.v1.items():
            self.parts.append(v1.Hierarchy(name, ctrls,
                                           _directory(mountpoint, root, path, own, frozenset(ctrls))))
        if layout.v2:
            mountpoint, root = layout.v2
            self.parts.append(v2.Unified(_directory(mountpoint, root, path, own, frozenset([""])),
                                         layout.v2_controllers()))

    def directories(self):
        return [p.directory for p in self.parts]

    def create(self):
        """Make the directories (and missing parents).  On failure, remove
        whatever this call made."""
        made = []
        try:
            for part in self.parts:
                made += part.create()
        except OSError as e:
            fs.remove_empty(made)
            raise MiniociError(f"create cgroup {e.filename}: {e.strerror}") from None
        return made

    def apply(self, writes):
        """Write linux.resources as resources.plan_writes() planned them; each
        part takes the fields it owns."""
        from .resources import apply
        apply(self, writes)

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
        v2 = next((p for p in self.parts if p.version == 2), None)
        return None if v2 is None else os.open(v2.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def pids(self):
        """Every process in the container's cgroup."""
        return pids(self.directories())

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

        v2 = next((p for p in self.parts if p.version == 2), None)
        if self.layout.kind == "v2":
            if cgroupns:
                return [mount(dest, "cgroup2", "cgroup2")]
            return [mount(dest, None, v2.directory, bind=True)]
        steps = [dict(mount(dest, "tmpfs", "tmpfs", "mode=755"), flags=flags & ~MS_RDONLY)]
        for part in self.parts:
            if part.version == 2:
                continue
            mountpoint = self.layout.v1[part.name][0]
            target = f"{dest}/{os.path.basename(mountpoint)}"
            if cgroupns and not userns:
                steps.append(mount(target, "cgroup", "cgroup", ",".join(sorted(part.controllers))))
            else:
                steps.append(mount(target, None, part.directory, bind=True))
            for ctrl in part.controllers:           # cpu -> cpu,cpuacct for comounts
                if ctrl != os.path.basename(mountpoint) and "," in os.path.basename(mountpoint):
                    steps.append(dict(op="symlink", phase="mount cgroup",
                                      target=os.path.basename(mountpoint), destination=f"{dest}/{ctrl}"))
        if v2 is not None:
            target = f"{dest}/{os.path.basename(self.layout.v2[0])}"
            steps.append(mount(target, "cgroup2", "cgroup2") if cgroupns
                         else mount(target, None, v2.directory, bind=True))
        if flags & MS_RDONLY:
            steps.append(dict(mount(dest, None, None), flags=flags | MS_REMOUNT))
        return steps

    def destroy(self, made=()):
        remove(self.directories(), made)


def pids(directories):
    """The processes in a container's cgroup (its first readable directory)."""
    for d in directories:
        procs = fs.read_pids(d)
        if procs is not None:
            return procs
    return []


def remove(directories, made=(), timeout=5.0):
    """Remove a container's cgroup directories, killing whatever is still
    inside and waiting for it to go; then the parents its create() made
    (`made`), where no other container uses them."""
    import time
    deadline = time.monotonic() + timeout
    for d in directories:
        while os.path.isdir(d):
            try:
                fs.remove_tree(d)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise MiniociError(f"remove cgroup {d}: {e.strerror}") from None
                for pid in fs.read_pids(d) or []:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                time.sleep(0.002)
    fs.remove_empty(made)


def _directory(mountpoint, mount_root, path, own, key):
    if not path.startswith("/"):
        path = os.path.join(own.get(key, "/"), path)
    # A mount whose root is not "/" (a cgroup namespace, a bind) shows the
    # hierarchy from that root on.
    if mount_root != "/" and (path + "/").startswith(mount_root.rstrip("/") + "/"):
        path = path[len(mount_root.rstrip("/")):]
    return os.path.normpath(mountpoint + "/" + path.lstrip("/"))
