"""Small file helpers shared by the v1 and v2 cgroup code."""
import os


def makedirs(directory, before_parent=None, attempts=10):
    """mkdir -p; return the directories this call created, top first.
    `before_parent(d)` is called before each missing parent is made.

    Another container's teardown may remove an empty shared parent (such as
    /minioci) between our check and our mkdir; then start over."""
    made = []
    for _ in range(attempts):
        missing = []
        d = directory
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        try:
            for d in reversed(missing):
                if before_parent is not None and d != directory:
                    before_parent(d)
                try:
                    os.mkdir(d, 0o755)
                except FileExistsError:
                    continue      # a concurrent create made it: not ours to remove
                made.append(d)
            return made
        except FileNotFoundError:
            continue
    os.mkdir(directory)           # raises the error for the caller to report
    return made


def mkdir_one(directory):
    """mkdir of `directory` alone (its parent must exist); [it] if this call
    made it, [] if it was there."""
    try:
        os.mkdir(directory, 0o755)
    except FileExistsError:
        return []
    return [directory]


def remove_tree(directory):
    """rmdir a cgroup and the cgroups below it (a cgroup goes only once its
    children have).  Tries the plain rmdir first: a container's cgroup rarely
    has children, and listing a cgroup directory is not free."""
    try:
        os.rmdir(directory)
        return
    except FileNotFoundError:
        raise
    except OSError:
        children = [e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
        if not children:
            raise                       # processes still inside
    for child in children:
        remove_tree(child)
    os.rmdir(directory)


def write(directory, name, value):
    """One write(2) of `value` (cgroup files take a value per write); an
    error names the file."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode() if isinstance(value, str) else value)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    finally:
        os.close(fd)


def read(directory, name):
    """The file's text, in one read(2): cgroup files are small, and the os
    calls cost less than a buffered text file."""
    fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def read_pids(directory, recursive=False):
    """The pids in cgroup.procs (and in every cgroup below, if recursive), or
    None if the directory is gone."""
    try:
        out = [int(p) for p in read(directory, "cgroup.procs").split()]
    except FileNotFoundError:
        return None
    if recursive:
        try:
            for entry in os.scandir(directory):
                if entry.is_dir(follow_symlinks=False):
                    out += read_pids(entry.path, True) or []
        except FileNotFoundError:
            pass
    return out


def read_keyed(directory, name):
    """A flat-keyed file ("key value" per line) as {key: int}."""
    out = {}
    for line in read(directory, name).splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            pass
    return out


class Directory:
    """A container's directory in one hierarchy; v1.Hierarchy and
    v2.Unified add what differs."""

    directory = None

    def join(self, pid):
        write(self.directory, "cgroup.procs", str(pid))

    def write(self, name, value):
        write(self.directory, name, value)

    def read(self, name):
        return read(self.directory, name)

    def has(self, name):
        return os.path.exists(os.path.join(self.directory, name))
