"""The container's network namespace as a file: made, entered, removed.

The namespace is bind-mounted on a file in the container's state directory
(as `ip netns add` does under /run/netns), so it outlives no container and
`delete` finds it from state.json alone.  The system calls are the shim's
(mo_netns_create, mo_setns, mo_umount); they act on the calling thread only.
"""
import errno
import os

from .._shim import lib
from ..errors import SysError, strerror

CLONE_NEWNET = 0x40000000
MNT_DETACH = 2


def create(path):
    """A new network namespace, bound on `path` (which must not exist)."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    rc = lib.mo_netns_create(path.encode())
    if rc < 0:
        os.unlink(path)
        raise SysError(f"create network namespace {path}", -rc)


def remove(path):
    """Unmount and delete the namespace file; the namespace itself goes when
    nothing else holds it.  Fine if it is already gone."""
    rc = lib.mo_umount(path.encode(), MNT_DETACH)
    if rc < 0 and -rc not in (errno.EINVAL, errno.ENOENT):     # EINVAL: not mounted
        raise SysError(f"unmount network namespace {path}", -rc)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class entered:
    """`with entered(path):` runs its body in the network namespace at path
    (a netlink socket opened there stays there), then returns to our own.
    An empty path means our own: nothing to do."""

    def __init__(self, path):
        self.path = path
        self.own = None

    def __enter__(self):
        if not self.path:
            return self
        target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            rc = lib.mo_setns(target, CLONE_NEWNET)
            if rc < 0:
                os.close(self.own)
                raise SysError(f"enter network namespace {self.path}", -rc)
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        if self.own is None:
            return
        rc = lib.mo_setns(self.own, CLONE_NEWNET)
        os.close(self.own)
        self.own = None
        if rc < 0:
            # Going on here would configure the wrong namespace.
            raise SystemExit(f"minioci: cannot return to its own network namespace: {strerror(-rc)}")
