"""SCMP_ACT_NOTIFY: the listener (a seccomp agent) gets the notification fd.

As with runc, the runtime connects to `listenerPath` and sends one message:
the container's process state as JSON (runtime-spec ContainerProcessState:
ociVersion, fds ["seccompFd"], pid, metadata, state) with the fd in
SCM_RIGHTS.  minioci connects here, in the runtime, before the container's
process exists (a path inside the host, resolved before pivot_root); the
child loads the filter and sends the message itself, since for `create` the
filter is loaded after `create` has returned.  The child gets the state (it
names the child's pid) through the shared page: Child.set_listener_state.
"""
from .. import OCI_VERSION, leanjson
from ..errors import MiniociError, strerror

SECCOMP_FD_NAME = "seccompFd"


def connect(path):
    """A connected socket to the listener, close-on-exec."""
    from .. import shim
    fd = shim.lib.mo_connect_unix(path.encode())
    if fd < 0:
        raise MiniociError(f"connect to seccomp listener {path}: {strerror(-fd)}")
    return fd


def message(filt, cid, pid, bundle, annotations, status="creating", init_pid=None):
    """The ContainerProcessState the listener receives with the fd: `pid` is
    the filtered process's, the state's pid the container's init's (the same
    but for `exec`)."""
    state = {"ociVersion": OCI_VERSION, "id": cid, "status": status,
             "pid": pid if init_pid is None else init_pid, "bundle": bundle,
             "annotations": annotations or {}}
    doc = {"ociVersion": OCI_VERSION, "fds": [SECCOMP_FD_NAME], "pid": pid, "state": state}
    if filt.listener_metadata:
        doc["metadata"] = filt.listener_metadata
    return leanjson.dumps(doc).encode()
