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

    def create(self):
        made = fs.makedirs(self.directory)
        if "cpuset" in self.controllers:
            # A new v1 cpuset starts with no CPUs and no memory nodes, and a
            # process cannot join it until they are filled in from the parent.
            for d in made:
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if not fs.read(d, name).strip():
                        fs.write(d, name, fs.read(os.path.dirname(d), name).strip())
        return made
