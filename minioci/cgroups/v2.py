"""The container's directory in the unified (cgroup v2) hierarchy."""
import os

from . import fs


class Unified(fs.Directory):
    version = 2
    name = "unified"

    def __init__(self, directory, controllers):
        self.directory = directory
        self.controllers = frozenset(controllers)

    def create(self):
        made = fs.makedirs(self.directory)
        # Controllers reach a cgroup only through its parents' subtree_control;
        # enable every one the hierarchy offers along the new path, as runc does.
        if self.controllers:
            for d in made:
                parent = os.path.dirname(d)
                wanted = set(fs.read(parent, "cgroup.controllers").split())
                missing = wanted - set(fs.read(parent, "cgroup.subtree_control").split())
                if missing:
                    fs.write(parent, "cgroup.subtree_control", " ".join("+" + c for c in sorted(missing)))
        return made
