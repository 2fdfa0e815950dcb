"""The container's directory in the unified (cgroup v2) hierarchy."""
import os

from . import fs


class Unified(fs.Directory):
    version = 2
    name = "unified"

    def __init__(self, directory, controllers):
        self.directory = directory
        self.controllers = frozenset(controllers)

    def create(self, before_parent=None, rootless=False):
        made = fs.mkdir_one(self.directory) if rootless else fs.makedirs(self.directory, before_parent)
        # What reached the new cgroup shows in its cgroup.controllers: one
        # read, and usually nothing more to do.
        if self.controllers - set(fs.read(self.directory, "cgroup.controllers").split()):
            self._enable_controllers(rootless)
        return made

    def _enable_controllers(self, rootless=False):
        """A controller reaches a cgroup only through every ancestor's
        cgroup.subtree_control: enable each one a level offers, from the top
        down, as runc does (parents may predate us, like /libpod_parent).
        Rootless, only the levels this user owns can be written: what their
        owner passed down is what the container gets (resources that need
        more are refused when they are routed)."""
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
                try:
                    fs.write(d, "cgroup.subtree_control", " ".join("+" + c for c in sorted(missing)))
                except OSError:
                    if not rootless:
                        raise
        if rootless:
            self.controllers = frozenset(fs.read(self.directory, "cgroup.controllers").split())
