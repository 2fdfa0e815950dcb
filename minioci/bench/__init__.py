"""Benchmarks (`minioci bench ...`): each is a module with one entry point;
this package holds what they share."""
import os
import shutil
import sys

from ..errors import MiniociError

# The ways minioci runs in the startup benchmark: the direct path, served,
# and the shell launcher before the front end; each with the MINIOCI_SERVE
# it runs under (the launcher has no front end to read it).
WAYS = {"minioci": "never", "minioci-served": "always", "minioci-sh": None}


def minioci_path():
    """The installed launcher next to this interpreter (what users run)."""
    path = os.path.join(os.path.dirname(sys.executable), "minioci")
    if not os.access(path, os.X_OK):
        raise MiniociError(f"bench: no minioci launcher at {path}")
    return path


def find_peers(given):
    """(name, path) of each peer runtime: those given, or crun and runc if found."""
    if given:
        for p in given:
            if not shutil.which(p):
                raise MiniociError(f"bench: runtime {p!r} not found")
        return [(os.path.basename(p), shutil.which(p)) for p in given]
    return [(name, shutil.which(name)) for name in ("crun", "runc") if shutil.which(name)]


def hides_unified():
    """crun 1.8.1 refuses a hybrid host that holds a controller on the v2 side
    ("cgroups in hybrid mode not supported"): the session then runs in a
    private mount namespace without /sys/fs/cgroup/unified, for every runtime
    alike, and the report says so."""
    from ..cgroups import detect
    layout = detect()
    return layout.kind == "hybrid" and bool(layout.v2_controllers())


def rmdir_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass
