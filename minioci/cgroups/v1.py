"""One cgroup v1 hierarchy (a controller, comounted controllers, or a named
hierarchy such as name=systemd) for one container."""
import os

from . import fs


class Hierarchy(fs.Directory):
    version = 1

    def __init__(self, name, controllers, directory):
        self.name = name
        self.controllers = frozenset(controllers)
        self.directory = directory

    def create(self, before_parent=None, rootless=False):
        made = fs.mkdir_one(self.directory) if rootless else fs.makedirs(self.directory, before_parent)
        if "cpuset" in self.controllers:
            _fill_cpuset(self.directory)
        return made


def _fill_cpuset(d):
    """A new v1 cpuset starts with no CPUs and no memory nodes, and no process
    can join it until they are copied from the parent.  The parent may be new
    too (ours, or a concurrent create's not yet filled in): fill it first."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(d, name).strip():
            parent = os.path.dirname(d)
            value = fs.read(parent, name).strip()
            if not value:
                _fill_cpuset(parent)
                value = fs.read(parent, name).strip()
            fs.write(d, name, value)
