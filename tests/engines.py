"""The engine suites' side of minioci/bench/engines.py, where engines are
started offline (their own sockets and directories, stopped by their pid),
their images made from the host's busybox and their leftovers removed, for
the suites and `minioci bench engine` alike: everything there, re-exported,
and the suites' own `minioci serve` for an engine's session.
"""
import os
from contextlib import contextmanager

import pytest

from minioci.bench import engines as _engines
from minioci.bench.engines import (CONTAINERD_HOST_DIRS, DOCKER, DOCKER_HOST_DIRS, DOCKERD,  # noqa: F401
                                   Containerd, Dockerd, Podman, cgroup_parents, cgroups_named,
                                   host_dirs_left_as_found, kill_processes_mentioning, mounts_under,
                                   processes_mentioning, remove_cgroups, remove_empty, rootfs_tar,
                                   unmount_under, wait_until, write_oci_archive, write_rootfs_tar)


class Daemon(_engines.Daemon):
    """A daemon a suite keeps for its session: the `rt` fixture counts a
    test's children as containers left behind, and is told this one is not
    (conftest.SESSION_DAEMONS)."""

    def __init__(self, *args, **kw):
        from conftest import SESSION_DAEMONS
        kw.setdefault("track", SESSION_DAEMONS)
        super().__init__(*args, **kw)


@contextmanager
def minioci_served(route):
    """route "served": `minioci serve` started as a user starts it (no flags:
    root's server on /run/minioci/serve.sock), for the engine's session.  It
    serves every state root, so the engine's calls go through it whatever
    --root its shim passes; afterwards it must have served them and refused
    none (a refused call falls back to the direct path, which would pass
    unseen; Server.refusals leaves out other installs' front ends)."""
    if route != "served":
        yield None
        return
    from conftest import DEFAULT_SOCKET, SESSION_DAEMONS, Server
    server = Server()
    if server.status() is not None:
        pytest.skip(f"another server listens on {DEFAULT_SOCKET}")
    directory = os.path.dirname(DEFAULT_SOCKET)
    made = not os.path.exists(directory)
    server.start()
    SESSION_DAEMONS.add(server.proc.pid)       # it outlives the tests that run meanwhile
    try:
        yield server
    finally:
        status = server.status() or {}
        left = server.stop()
        SESSION_DAEMONS.discard(server.proc.pid)
        if made:
            try:
                os.rmdir(directory)             # as found (unless something else keeps things there now)
            except OSError:
                pass
    assert not left, f"the engine's minioci server: {left}"
    assert int(status.get("requests", "0").split()[0]) > 0, f"nothing was served: {status}"
    assert not server.refused, f"requests were refused: {server.refused}"
