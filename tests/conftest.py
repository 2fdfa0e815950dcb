"""Shared fixtures: real containers from the busybox rootfs, and a check that
each test leaves nothing behind (state, cgroups, mounts, processes).

Integration tests run the installed `minioci` command, as root, on the real
kernel.  Unit tests (spec, plan, cli, ...) need neither.

A module that sets `BOTH_PATHS = True` runs each test that uses `rt` twice:
on the direct path, and served (a `minioci serve` of the test's own, with
its socket in the test's state root: MINIOCI_SERVE_SOCKET tells the front
ends, and MINIOCI_SERVE=always makes sure nothing silently falls back).
"""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from minioci.cli import HOST_CONFIG
from minioci.seccomp.cache import DIR_NAME as SECCOMP_CACHE

REPO = Path(__file__).resolve().parents[1]
ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
MINIOCI = str(Path(sys.executable).parent / "minioci")
IS_ROOT = os.geteuid() == 0

needs_root = pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root")

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]    # runc spec's default set


def small_rootfs(path, applets=("sh",)):
    """A rootfs of the test's own at `path`, which it may change: the host's
    static busybox and a link for each of `applets`."""
    (path / "bin").mkdir(parents=True)
    shutil.copy(ROOTFS / "bin" / "busybox", path / "bin" / "busybox")
    for name in applets:
        os.symlink("busybox", path / "bin" / name)
    return path


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


def cgroup_layout():
    """This host's cgroup layout (v1, v2 or hybrid): tests check what it
    offers, never assume one."""
    from minioci import cgroups
    return cgroups.detect()


def cgroup_dir_inside(controller):
    """Where a container with its own cgroup namespace and a "cgroup" mount
    on /sys/fs/cgroup finds its own cgroup for `controller` (as v1 names
    it): in that controller's v1 hierarchy, or in the v2 one (/sys/fs/cgroup
    on a pure v2 host, /sys/fs/cgroup/unified beside v1 ones), wherever this
    host keeps it.  A name that is no controller ("cgroup") means v2's."""
    layout = cgroup_layout()
    if layout.where(controller) == "v1":
        mountpoint = next(m for m, _, ctrls in layout.v1.values() if controller in ctrls)
        return f"/sys/fs/cgroup/{os.path.basename(mountpoint)}"
    return "/sys/fs/cgroup" if layout.kind == "v2" else f"/sys/fs/cgroup/{os.path.basename(layout.v2[0])}"


def cgroup_file_inside(v1_name, v2_name=None):
    """The file `v1_name` (its controller's first word), or `v2_name` where
    this host keeps that controller on v2, as the container sees it (see
    cgroup_dir_inside)."""
    controller = v1_name.split(".")[0]
    v1 = cgroup_layout().where(controller) == "v1"
    return f"{cgroup_dir_inside(controller)}/{v1_name if v1 else v2_name or v1_name}"


def swap_accounted():
    """Whether this host's memory controller accounts swap, which a
    memory+swap limit needs (a kernel booted with swapaccount=0 or
    cgroup.memory=noswap does not: memory.memsw.* on v1, memory.swap.* on
    v2 are missing, and minioci refuses memory.swap naming the file).  v2
    keeps no swap file at its root: a child with memory.max tells."""
    layout = cgroup_layout()
    if layout.where("memory") == "v1":
        root = next(m for m, _, ctrls in layout.v1.values() if "memory" in ctrls)
        return os.path.exists(os.path.join(root, "memory.memsw.limit_in_bytes"))
    if layout.where("memory") == "v2":
        top = layout.v2[0]
        children = [os.path.join(top, d) for d in os.listdir(top)]
        return any(os.path.exists(os.path.join(d, "memory.swap.max")) for d in children
                   if os.path.exists(os.path.join(d, "memory.max")))
    return False


def cpu_quota_inside(quota, period):
    """(the files holding a container's CFS quota and period as it sees
    them, the words they read): cpu.max on v2, two files on v1."""
    if cgroup_layout().where("cpu") == "v1":
        return [cgroup_file_inside("cpu.cfs_quota_us"), cgroup_file_inside("cpu.cfs_period_us")], [quota, period]
    return [cgroup_file_inside("cpu.max")], [quota, period]


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


SERVE_SOCKET = "serve.sock"     # minioci/wire.py: in the default state root
DEFAULT_ROOT = "/run/minioci"                         # root's state root, without --root
DEFAULT_SOCKET = f"{DEFAULT_ROOT}/{SERVE_SOCKET}"     # root's server, as a user starts it
NOT_CONTAINERS = (SECCOMP_CACHE, SERVE_SOCKET)


def alive(pid):
    """Whether process `pid` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_for(check, what, timeout=20):
    """check()'s first true value, polled: an assertion naming `what` if
    none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


SERVER_LOGS = []        # the test servers' --debug logs, removed when the session ends


class Server:
    """`minioci serve`, started and stopped by a test: on a socket of the
    test's own (`serve --socket`), or without one on the default socket, as a
    user starts it (root's serves every state root)."""

    def __init__(self, socket=None):
        self.socket = socket or DEFAULT_SOCKET
        self.flags = ["--socket", socket] if socket else []
        self.proc = None
        self.log = None

    def command(self, *flags):
        """`minioci serve` on this server's socket, with `flags`."""
        return [MINIOCI, "serve", *self.flags, *flags]

    def refusals(self):
        """Why it refused what it refused (its --debug log says; after
        stop(), `refused`), leaving out front ends of another build: other
        installs of minioci on this machine find the same default socket,
        and are never the ones a test or an engine runs (MINIOCI)."""
        try:
            with open(self.log) as f:
                return [line.strip() for line in f
                        if "serve: refused: " in line and "serve: refused: the front end is build " not in line]
        except (OSError, TypeError):
            return []

    def status(self):
        r = subprocess.run(self.command("--status"), capture_output=True, text=True, timeout=30, env=self.env())
        return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line) if r.returncode == 0 \
            else None

    @staticmethod
    def env():
        """The environment without a test's socket in it (--socket says it)."""
        return {k: v for k, v in os.environ.items() if k != "MINIOCI_SERVE_SOCKET"}

    def start(self):
        """Start it; return once it answers."""
        fd, self.log = tempfile.mkstemp(prefix="minioci-serve-", suffix=".log")
        os.close(fd)
        SERVER_LOGS.append(self.log)
        self.proc = subprocess.Popen([MINIOCI, "--debug", "--log", self.log, *self.command()[1:]],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env())
        deadline = time.monotonic() + 30
        while self.status() is None:
            assert self.proc.poll() is None, f"minioci serve ended: {self.proc.stderr.read()}"
            assert time.monotonic() < deadline, "minioci serve did not answer within 30 s"
            time.sleep(0.02)
        return self

    def stop(self):
        """`serve --stop`: it must have no worker left, end, and take its
        socket with it.  Returns what is wrong."""
        left = []
        residents = [int(p) for p in (self.status() or {}).get("residents", "-").split() if p.isdigit()]
        deadline = time.monotonic() + 10
        while (self.status() or {}).get("workers") != "0":
            if time.monotonic() > deadline:
                left.append(f"workers still running: {self.status()}")
                break
            time.sleep(0.02)
        r = subprocess.run(self.command("--stop"), capture_output=True, text=True, timeout=30, env=self.env())
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            left.append("a server that did not stop")
        if r.returncode != 0 or self.proc.returncode != 0:
            left.append(f"serve --stop: {r.returncode} {r.stderr}; server: {self.proc.returncode} "
                        f"{self.proc.stderr.read().decode()}")
        if os.path.exists(self.socket):
            left.append("the server's socket")
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in residents):
            if time.monotonic() > deadline:
                left.append(f"resident workers still running: {residents}")
                break
            time.sleep(0.02)
        self.refused = self.refusals()
        return left


class Runtime:
    """minioci with a private state root, and a record of what it started."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = f"/run/minioci-test/{uuid.uuid4().hex[:12]}"
        self.socket = f"{self.root}/{SERVE_SOCKET}"          # where a server of the test's own listens
        self.ids = []
        self.server = None

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
            left += [f"state {self.root}/{e}" for e in os.listdir(self.root) if e not in NOT_CONTAINERS]
        for cid in self.ids:
            left += [f"cgroup {d}" for d in cgroup_dirs(cid)]
        return left

    def cleanup(self):
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                if cid not in NOT_CONTAINERS:
                    subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=30)
        # the seccomp cache is meant to outlive containers: here it goes with the private root
        shutil.rmtree(os.path.join(self.root, SECCOMP_CACHE), ignore_errors=True)
        for cid in self.ids:
            for d in sorted(cgroup_dirs(cid), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        self.remove_root()

    def remove_root(self):
        # Only our own: the shared parent goes at the end of the session
        # (host_left_as_found), since a concurrent run making its root below
        # it would fail if it vanished between its makedirs steps.
        try:
            os.rmdir(self.root)
        except OSError:
            pass


# Host paths minioci itself keeps for all containers (the cgroup parents it
# made, the network setup lock); the test session leaves them as it found them.
RUNTIME_HOST_PATHS = ("/run/minioci-cgroup-parents", "/run/minioci-network.lock", "/run/minioci-test", DEFAULT_ROOT)


@pytest.fixture(scope="session", autouse=True)
def host_left_as_found():
    existed = {p: os.path.exists(p) for p in RUNTIME_HOST_PATHS}
    yield
    for log in SERVER_LOGS:
        os.unlink(log)
    for p, was in existed.items():
        if was:
            continue
        if p == DEFAULT_ROOT and os.path.isdir(p) and os.listdir(p) == ["seccomp-cache"]:
            shutil.rmtree(os.path.join(p, "seccomp-cache"))  # the session's only (podman passes no --root)
        try:
            os.rmdir(p) if os.path.isdir(p) else os.unlink(p)
        except OSError:
            pass                  # still in use (not empty): not ours to take away


def pytest_generate_tests(metafunc):
    # direct_only: a test that drives minioci on a state root of its own, or
    # from namespaces other than the server's (which it rightly refuses).
    if (getattr(metafunc.module, "BOTH_PATHS", False) and "route" in metafunc.fixturenames
            and not metafunc.definition.get_closest_marker("direct_only")):
        metafunc.parametrize("route", ["direct", "served"], indirect=True)


@pytest.fixture
def route(request):
    """How the tests reach minioci: "direct" (Python from the front end) or
    "served" (through a server on the test's root)."""
    return getattr(request, "param", "direct")


@pytest.fixture
def rt(tmp_path, route, monkeypatch):
    """A Runtime (served by its own server when `route` is "served");
    afterwards, asserts (and repairs) that nothing is left: no state entry,
    cgroup directory, host mount or child process, and a server that stops
    when told."""
    if not IS_ROOT:
        pytest.skip("starts real containers: needs root")
    runtime = Runtime(tmp_path)
    ours = (str(REPO), str(tmp_path), runtime.root, "/sys/fs/cgroup")
    mounts_before = host_mounts(ours)
    monkeypatch.setenv("MINIOCI_SERVE_SOCKET", runtime.socket)
    if route == "served":
        runtime.server = Server(runtime.socket).start()
        monkeypatch.setenv("MINIOCI_SERVE", "always")
    else:
        monkeypatch.setenv("MINIOCI_SERVE", "never")
    yield runtime
    left = runtime.leftovers()
    server = {runtime.server.proc.pid} if runtime.server else set()
    for pid in set(descendants()) - SESSION_DAEMONS - server:
        left.append(f"process {pid}")
        os.kill(pid, signal.SIGKILL)
    runtime.cleanup()
    if runtime.server:
        left += runtime.server.stop()
        runtime.remove_root()               # its socket kept it until now
        # A server a test killed could not release its hold on /minioci.
        from minioci import cgroups
        cgroups.remove_stale_holds(cgroups.detect())
    deadline = time.monotonic() + 5
    while host_mounts(ours) != mounts_before and time.monotonic() < deadline:
        time.sleep(0.05)
    if host_mounts(ours) != mounts_before:
        left.append(f"host mounts changed: {set(host_mounts(ours)) ^ set(mounts_before)}")
    assert not left, f"left behind: {left}"


@pytest.fixture
def config():
    return copy.deepcopy(base_config())


@pytest.fixture(scope="session")
def plain_user():
    """A real non-root user (tests/plain_user.py) for the session, with
    subordinate ids; removed, with all it left, at the end.  Skips (saying
    why) where the host cannot give one what rootless needs."""
    import plain_user as pu
    why = pu.why_not()
    if why:
        pytest.skip(why)
    with pu.made_user() as (user, why):
        if why:
            pytest.skip(why)
        yield user


# The host's config file (minioci/hostconfig.py), which tests under engines write.
HOST_CONFIG_DIR = os.path.dirname(HOST_CONFIG)


@pytest.fixture
def host_config_file(tmp_path):
    """Writes the host's config file at its real path (conmon passes minioci
    no environment, so MINIOCI_CONFIG cannot reach it under podman), and
    removes it, and its directory if it made it, afterwards.  A host that
    has one already keeps it: the test is skipped."""
    if os.path.lexists(HOST_CONFIG):
        pytest.skip(f"this host has {HOST_CONFIG}: not ours to replace")
    made_dir = not os.path.isdir(HOST_CONFIG_DIR)
    os.makedirs(HOST_CONFIG_DIR, mode=0o755, exist_ok=True)

    def write(text):
        with open(HOST_CONFIG, "x") as f:
            f.write(text)
    try:
        yield write
    finally:
        try:
            os.unlink(HOST_CONFIG)
        except FileNotFoundError:
            pass
        if made_dir:
            os.rmdir(HOST_CONFIG_DIR)
