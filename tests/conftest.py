"""Shared fixtures: real containers from the busybox rootfs, and a check that
each test leaves nothing behind (state, cgroups, mounts, processes).

Integration tests run the installed `minioci` console script, as root, on the
real kernel.  Unit tests (spec, plan, cli, ...) need neither.
"""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from minioci.seccomp.cache import DIR_NAME as SECCOMP_CACHE

REPO = Path(__file__).resolve().parents[1]
ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
MINIOCI = str(Path(sys.executable).parent / "minioci")
IS_ROOT = os.geteuid() == 0

needs_root = pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root")

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]    # runc spec's default set


def base_config(args=("true",), rootfs=ROOTFS):
    """`minioci spec`'s default (runc's), running `args` without a terminal on
    the shared busybox rootfs (read-only, so tests cannot change it)."""
    from minioci.specgen import default_config
    cfg = default_config()
    cfg["ociVersion"] = "1.0.2"
    cfg["process"].update(terminal=False, args=list(args))
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["hostname"] = "minioci-test"
    return cfg


def host_mounts(under=(str(REPO), "/tmp", "/run/minioci-test", "/sys/fs/cgroup")):
    """Host mount points where a container's mounts would land if they
    leaked (other work on the machine, like podman's, mounts elsewhere;
    a test narrows `under` to its own directories, since other test runs
    share /tmp and /run/minioci-test)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if any(p == u or p.startswith(u + "/") for u in under))


def cgroup_dirs(cid):
    """Every directory named after this container id in any hierarchy.
    (os.walk, not glob: other containers' directories come and go meanwhile.)"""
    return [top for top, _, _ in os.walk("/sys/fs/cgroup") if os.path.basename(top) == cid]


# Daemons the engine suites keep for the whole session (tests/engines.py):
# children of the test process that are not containers left behind.
SESSION_DAEMONS = set()


def descendants(pid=None):
    """Living processes whose parent is `pid` (default: this test process)."""
    pid = pid or os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
    return out


class Runtime:
    """minioci with a private state root, and a record of what it started."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = f"/run/minioci-test/{uuid.uuid4().hex[:12]}"
        self.ids = []

    def new_id(self):
        cid = f"t-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def bundle(self, config, name=None):
        """Write `config` (a dict, or raw text) as a bundle's config.json."""
        b = self.tmp / (name or f"bundle-{uuid.uuid4().hex[:6]}")
        b.mkdir(parents=True, exist_ok=True)
        text = config if isinstance(config, str) else json.dumps(config)
        (b / "config.json").write_text(text)
        return b

    def cmd(self, *args, **kw):
        return [MINIOCI, "--root", self.root, *map(str, args)]

    def call(self, *args, timeout=60, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.cmd(*args), timeout=timeout, **kw)

    def run(self, config, *extra, cid=None, **kw):
        """`minioci run -b BUNDLE ID` of a config; returns CompletedProcess."""
        bundle = self.bundle(config) if not isinstance(config, Path) else config
        cid = cid or self.new_id()
        return self.call("run", "-b", bundle, *extra, cid, **kw)

    def output(self, config, *extra, **kw):
        """Run and return stdout, asserting success."""
        r = self.run(config, *extra, **kw)
        assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
        return r.stdout

    def leftovers(self):
        left = []
        if os.path.isdir(self.root):
            left += [f"state {self.root}/{e}" for e in os.listdir(self.root) if e != SECCOMP_CACHE]
        for cid in self.ids:
            left += [f"cgroup {d}" for d in cgroup_dirs(cid)]
        return left

    def cleanup(self):
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                if cid != SECCOMP_CACHE:
                    subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=30)
        # the seccomp cache is meant to outlive containers: here it goes with the private root
        shutil.rmtree(os.path.join(self.root, SECCOMP_CACHE), ignore_errors=True)
        for cid in self.ids:
            for d in sorted(cgroup_dirs(cid), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        for d in (self.root, os.path.dirname(self.root)):     # the shared parent, once empty
            try:
                os.rmdir(d)
            except OSError:
                pass


# Host paths minioci itself keeps for all containers (the cgroup parents it
# made, the network setup lock); the test session leaves them as it found them.
RUNTIME_HOST_PATHS = ("/run/minioci-cgroup-parents", "/run/minioci-network.lock", "/run/minioci-test")


@pytest.fixture(scope="session", autouse=True)
def host_left_as_found():
    existed = {p: os.path.exists(p) for p in RUNTIME_HOST_PATHS}
    yield
    for p, was in existed.items():
        if was:
            continue
        try:
            os.rmdir(p) if os.path.isdir(p) else os.unlink(p)
        except OSError:
            pass                  # still in use (not empty): not ours to take away


@pytest.fixture
def rt(tmp_path):
    """A Runtime; afterwards, asserts (and repairs) that nothing is left:
    no state entry, cgroup directory, host mount or child process."""
    if not IS_ROOT:
        pytest.skip("starts real containers: needs root")
    runtime = Runtime(tmp_path)
    ours = (str(REPO), str(tmp_path), runtime.root, "/sys/fs/cgroup")
    mounts_before = host_mounts(ours)
    yield runtime
    left = runtime.leftovers()
    for pid in set(descendants()) - SESSION_DAEMONS:
        left.append(f"process {pid}")
        os.kill(pid, signal.SIGKILL)
    runtime.cleanup()
    deadline = time.monotonic() + 5
    while host_mounts(ours) != mounts_before and time.monotonic() < deadline:
        time.sleep(0.05)
    if host_mounts(ours) != mounts_before:
        left.append(f"host mounts changed: {set(host_mounts(ours)) ^ set(mounts_before)}")
    assert not left, f"left behind: {left}"


@pytest.fixture
def config():
    return copy.deepcopy(base_config())
