"""pause/resume: the v1 freezer controller where the host has one, else v2's
cgroup.freeze.  Works from the list of the container's cgroup directories
kept in its state."""
import os
import time

from ..errors import MiniociError


def _v1(dirs):
    return next((d for d in dirs if os.path.exists(os.path.join(d, "freezer.state"))), None)


def _v2(dirs):
    return next((d for d in dirs if os.path.exists(os.path.join(d, "cgroup.freeze"))), None)


def available(dirs):
    return _v1(dirs) is not None or _v2(dirs) is not None


def is_frozen(dirs):
    d = _v1(dirs)
    try:
        if d:
            with open(os.path.join(d, "freezer.state")) as f:
                return f.read().strip() == "FROZEN"
        d = _v2(dirs)
        if d:
            with open(os.path.join(d, "cgroup.events")) as f:
                return "frozen 1" in f.read()
    except FileNotFoundError:
        pass
    return False


def set_frozen(dirs, frozen, timeout=5.0):
    """Freeze or thaw, and wait until the kernel says it is done."""
    d = _v1(dirs)
    if d:
        path, value = os.path.join(d, "freezer.state"), "FROZEN" if frozen else "THAWED"
    else:
        d = _v2(dirs)
        if not d:
            raise MiniociError("no freezer: the container's cgroup has neither freezer.state nor cgroup.freeze")
        path, value = os.path.join(d, "cgroup.freeze"), "1" if frozen else "0"
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "w") as f:
            f.write(value)
        if is_frozen(dirs) == frozen:
            return
        if time.monotonic() > deadline:
            raise MiniociError(f"{path}: the kernel did not {'freeze' if frozen else 'thaw'} "
                               f"the container within {timeout:g}s")
        time.sleep(0.001)
