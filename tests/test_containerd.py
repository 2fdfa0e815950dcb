"""minioci under containerd: `ctr run --runc-binary minioci`, end to end.

One containerd for the session, on its own socket, root, state and plugin
("opt", else /opt/containerd) directories under a temporary directory, with
its CRI plugin off (minioci/bench/engines.py starts it); the image is an OCI
layout tarball made from the host's static busybox,
imported with `ctr image import`.  containerd's io.containerd.runc.v2 shim
drives minioci as it drives runc, the same path a kubelet's pods take through
the CRI plugin (../shared/ENGINES.md).  Containers live in a namespace of
their own, so their cgroups are /sys/fs/cgroup/*/<namespace>/<id>;
everything is removed afterwards.
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

import engines
from conftest import IS_ROOT, MINIOCI

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
IMAGE = engines.Containerd.IMAGE

pytestmark = [
    pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root"),
    pytest.mark.skipif(not (CONTAINERD and CTR),
                       reason="needs containerd and ctr (Debian package containerd; scripts/setup installs it)"),
]


class Containerd(engines.Containerd):
    """The suite's containerd (minioci/bench/engines.py starts it); minioci is
    given to each container as its runc binary."""

    def __init__(self, tmp):
        from conftest import SESSION_DAEMONS
        self.tmp = tmp
        super().__init__(tmp, {"minioci": MINIOCI}, track=SESSION_DAEMONS)

    def run(self, *args, cid, **kw):
        """`ctr run --runc-binary minioci [args] IMAGE cid CMD...`: the last
        element of args is the command."""
        *flags, command = args
        return self("run", "--runc-binary", MINIOCI, "--runc-root", self.runc_root, *flags,
                    IMAGE, cid, *command, **kw)

    def tty(self, *args):
        """A ctr command under `script`, which gives it a terminal."""
        cmd = " ".join([CTR, "-a", self.socket, "-n", self.namespace] + [str(a) for a in args])
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module", params=["direct", "served"])
def containerd(tmp_path_factory, request):
    """The suite's containerd: the suite runs once with minioci on its
    direct path, once with `minioci serve` running as a user starts it,
    which serves the root the shim passes (--runc-root, then the namespace)
    as it serves any other."""
    tmp = tmp_path_factory.mktemp("containerd")
    with engines.host_dirs_left_as_found():
        c = Containerd(tmp)
        try:
            with engines.minioci_served(request.param):
                c.import_image()
                yield c
        finally:
            left = c.shutdown()
    assert not left, f"containerd left behind: {left}"


@pytest.fixture
def ctr(containerd):
    """The session's containerd; each test's containers are gone afterwards."""
    before = set(containerd.containers())
    ids = []

    def new_id():
        cid = f"mo-{uuid.uuid4().hex[:10]}"
        ids.append(cid)
        return cid

    containerd.new_id = new_id
    yield containerd
    left = [cid for cid in containerd.containers() if cid not in before]
    for cid in left:
        containerd.remove(cid)
    assert not left, f"containers left behind: {left}"
    for cid in ids:
        assert not engines.cgroups_named([cid], containerd.namespace), f"cgroup of {cid} left behind"


def test_run_output_and_exit_codes(ctr):
    r = ctr.run("--rm", ["/bin/busybox", "echo", "hi"], cid=ctr.new_id())
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = ctr.run("--rm", ["/bin/sh", "-c", "exit 42"], cid=ctr.new_id())
    assert r.returncode == 42, r.stderr


def test_a_missing_command_is_reported_in_the_words_engines_parse(ctr):
    r = ctr.run("--rm", ["/no/such/binary"], cid=ctr.new_id())
    assert r.returncode != 0
    assert "/no/such/binary" in r.stderr and "no such file or directory" in r.stderr, r.stderr


def test_run_tty(ctr):
    cid = ctr.new_id()
    r = ctr.tty("run", "--rm", "-t", "--runc-binary", MINIOCI, "--runc-root", ctr.runc_root, IMAGE, cid,
                "/bin/busybox", "tty")
    assert r.returncode == 0 and "/dev/pts/0" in r.stdout, r.stdout


def test_task_exec_ps_pause_resume_metrics_kill_delete(ctr):
    cid = ctr.new_id()
    r = ctr.run("-d", ["/bin/sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"], cid=cid)
    assert r.returncode == 0, r.stderr
    assert ctr.task_status(cid) == "RUNNING"
    r = ctr("task", "exec", "--exec-id", "e1", cid, "/bin/busybox", "echo", "from exec")
    assert (r.returncode, r.stdout) == (0, "from exec\n"), r.stderr
    assert ctr("task", "exec", "--exec-id", "e2", cid, "/bin/sh", "-c", "exit 3").returncode == 3
    r = ctr.tty("task", "exec", "-t", "--exec-id", "e3", cid, "/bin/busybox", "tty")
    assert r.returncode == 0 and "/dev/pts/" in r.stdout, r.stdout
    r = ctr("task", "ps", cid)                          # the runtime's `ps --format json`
    assert r.returncode == 0, r.stderr
    pids = [int(line.split()[0]) for line in r.stdout.splitlines()[1:]]
    init = int(ctr("task", "list").stdout.split(cid)[1].split()[0])
    assert init in pids
    assert ctr("task", "pause", cid).returncode == 0 and ctr.task_status(cid) == "PAUSED"
    assert ctr("task", "resume", cid).returncode == 0 and ctr.task_status(cid) == "RUNNING"
    r = ctr("task", "metrics", "--format", "json", cid)
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert metrics["pids"]["current"] >= 1 and metrics["memory"]["usage"]["usage"] > 0
    assert ctr("task", "kill", "-s", "SIGTERM", cid).returncode == 0
    assert engines.wait_until(lambda: ctr.task_status(cid) == "STOPPED")
    r = ctr("task", "delete", cid)
    assert r.returncode == 0, r.stderr
    assert "exit code 7" in r.stderr, r.stderr
    assert ctr("containers", "delete", cid).returncode == 0


def test_resource_limits_reach_the_cgroup(ctr):
    cid = ctr.new_id()
    r = ctr.run("-d", "--memory-limit", str(64 << 20), ["sleep", "1000"], cid=cid)
    assert r.returncode == 0, r.stderr
    memory = [d for d in engines.cgroups_named([cid], ctr.namespace) if "/memory/" in d]
    assert memory and open(f"{memory[0]}/memory.limit_in_bytes").read().strip() == str(64 << 20)
    ctr.remove(cid)


def test_kill_all_reaches_what_is_left_without_a_pid_namespace(ctr):
    """Without a PID namespace of its own, the shim asks the runtime to
    `kill --all ID 9` once the init has exited: a stopped container whose
    cgroup still holds a process it started.  runc kills it and exits 0."""
    cid = ctr.new_id()
    r = ctr.run("--rm", "--with-ns", f"pid:/proc/{os.getpid()}/ns/pid",
                ["/bin/sh", "-c", "sleep 1000 & echo started"], cid=cid)
    assert (r.returncode, r.stdout) == (0, "started\n"), r.stderr
    log = ctr.daemon.log_text()
    complaints = [line for line in log.splitlines() if cid in line and "kill" in line and "error" in line]
    assert not complaints


def test_ten_at_once(ctr):
    ids = [ctr.new_id() for _ in range(10)]
    procs = [subprocess.Popen([CTR, "-a", ctr.socket, "-n", ctr.namespace, "run", "-d", "--runc-binary",
                               MINIOCI, "--runc-root", ctr.runc_root, IMAGE, cid, "sleep", str(1000 + i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for i, cid in enumerate(ids)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert [ctr.task_status(cid) for cid in ids] == ["RUNNING"] * 10
    for i, cid in enumerate(ids):       # each exec lands in its own container
        r = ctr("task", "exec", "--exec-id", "x", cid, "cat", "/proc/1/cmdline")
        assert (r.returncode, r.stdout) == (0, f"sleep\0{1000 + i}\0"), r.stderr
    for cid in ids:
        ctr.remove(cid)
