"""Sandboxes made ahead: a new network namespace (lo up), IPC and UTS
namespace, made before the request whose container uses them, off its
critical path.  A server keeps a few (SANDBOXES); its spare worker makes
them while it waits for a request and sends them to the server (wire.SANDBOX),
which gives one to each worker that may start a container (with the fork,
or with the spare's JOB).  The container joins them (setns, ~15 us) instead
of making its own (unshare: ~0.6 ms here, most of it the network
namespace).

Nothing carries over: a sandbox is fresh (made, never joined by anyone
before) and used once.  The container joins the namespaces its config asks
to be new, the worker closes the others, and a container with a user
namespace joins none (namespaces made outside it would not be its root's).
A sandbox is held only by fds: it is gone when whoever holds it is (the
server stopped or killed, a worker done).
"""
import os
import time

KINDS = ("network", "ipc", "uts")       # mo_sandbox's order
SANDBOXES = 4                           # a server keeps this many ready

_given = None       # this worker's: {type: fd}, not yet used
_made_ns = 0        # how long making it took


def make():
    """A new sandbox: ([fd of each of KINDS], ns it took), or None."""
    from . import log, shim
    from .errors import strerror
    fds = shim.ffi.new("int[3]")
    t = time.monotonic_ns()
    rc = shim.lib.mo_sandbox(fds)
    if rc < 0:
        log.debug(f"serve: no sandbox made ahead: {strerror(-rc)}")
        return None
    return list(fds), time.monotonic_ns() - t


def give(fds, made_ns, floor):
    """This worker's sandbox: `fds` (in KINDS order) moved to numbers at or
    above `floor` (out of the way of a client's fds)."""
    global _given, _made_ns
    import fcntl
    _given, _made_ns = {}, made_ns
    for kind, fd in zip(KINDS, fds):
        _given[kind] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
        os.close(fd)


def forget():
    """Let go of an unused sandbox (a resident worker, between requests:
    its fds are closed with the others)."""
    global _given
    _given = None


def held():
    """The fds of this worker's sandbox, not yet used."""
    return list(_given.values()) if _given else []


def take(spec, tl):
    """{type: fd} of the namespaces made ahead that `spec` asks to be new
    (none with a user namespace); the others are closed, and nothing is
    given twice.  The time it took to make them shows as `made ahead:
    sandbox` in the phase table."""
    global _given
    given, _given = _given, None
    if not given:
        return {}
    new = {t for t, path in spec.namespaces.items() if not path}
    usable = {} if "user" in spec.namespaces else {t: fd for t, fd in given.items() if t in new}
    for t, fd in given.items():
        if t not in usable:
            os.close(fd)
    if usable:
        tl.mark_ahead("sandbox", _made_ns)
    return usable
