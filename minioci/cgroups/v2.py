"""The container's directory in the unified (cgroup v2) hierarchy."""
import os

from . import fs


class Unified(fs.Directory):
    version = 2
    name = "unified"

    def __init__(self, directory, controllers):
        self.directory = directory
        self.controllers = frozenset(controllers)

    def create(self, before_parent=None):
        made = fs.makedirs(self.directory, before_parent)
        # What reached the new cgroup shows in its cgroup.controllers: one
        # read, and usually nothing more to do.
        if self.controllers - set(fs.read(self.directory, "cgroup.controllers").split()):
            self._enable_controllers()
        return made

    def _enable_controllers(self):
        """A controller reaches a cgroup only through every ancestor's
        cgroup.subtree_control: enable each one a level offers, from the top
        down, as runc does (parents may predate us, like /libpod_parent)."""
        levels = []
        d = os.path.dirname(self.directory)
        while os.path.exists(os.path.join(d, "cgroup.subtree_control")):
            levels.insert(0, d)
            if d == os.path.dirname(d):
                break
            d = os.path.dirname(d)
        for d in levels:
            offered = set(fs.read(d, "cgroup.controllers").split())
            missing = offered - set(fs.read(d, "cgroup.subtree_control").split())
            if missing:
                fs.write(d, "cgroup.subtree_control", " ".join("+" + c for c in sorted(missing)))
