"""minioci under docker: `dockerd --add-runtime minioci=PATH`, end to end.

One dockerd for the session (it starts its own containerd), on its own
socket, data root, exec root and pid file under a temporary directory, with
its own daemon.json (which keeps its trust key out of /etc/docker), its own
cgroup parent, no bridge and no iptables rules: the scenarios need no
network, and the host's firewall and links stay as they are.  The
image is imported from a tarball made from the host's static busybox
(minioci/bench/engines.py, which starts dockerd).  The docker CLI is /usr/bin/docker (Debian's docker.io), not
whatever else is called docker on PATH.  Everything dockerd made is removed
afterwards: containers, its shims, mounts, cgroups.
"""
import json
import os
import subprocess
import uuid

import pytest

import engines
from conftest import IS_ROOT, MINIOCI, cgroup_file_inside, cpu_quota_inside

DOCKERD, DOCKER = engines.DOCKERD, engines.DOCKER
IMAGE = engines.Dockerd.IMAGE

pytestmark = [
    pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root"),
    pytest.mark.skipif(not (os.access(DOCKERD, os.X_OK) and os.access(DOCKER, os.X_OK)),
                       reason="needs dockerd and the docker CLI (Debian package docker.io; scripts/setup installs it)"),
]


class Docker(engines.Dockerd):
    """The suite's dockerd (minioci/bench/engines.py starts it), with minioci
    as its runtime `minioci`."""

    def __init__(self, tmp):
        from conftest import SESSION_DAEMONS
        self.tmp = tmp
        super().__init__(tmp, {"minioci": MINIOCI}, track=SESSION_DAEMONS)

    def run(self, *args, runtime="minioci", **kw):
        """`docker run --runtime minioci [args] IMAGE CMD...`: the last element
        of args is the command."""
        *flags, command = args
        return self("run", "--runtime", runtime, *flags, IMAGE, *command, **kw)

    def tty(self, *args):
        """A docker command under `script`, which gives it a terminal."""
        cmd = " ".join([DOCKER, "-H", f"unix://{self.socket}"] + [str(a) for a in args])
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    def status(self, name):
        return self("inspect", "--format", "{{.State.Status}}", name).stdout.strip()

    def full_id(self, name):
        """The container's full id: its cgroup's name."""
        return self("inspect", "--format", "{{.Id}}", name).stdout.strip()


@pytest.fixture(scope="module", params=["direct", "served"])
def dockerd(tmp_path_factory, request):
    """The suite's dockerd: the suite runs once with minioci on its direct
    path, once with `minioci serve` running as a user starts it, which
    serves the root dockerd's shim passes (<exec-root>/runtime-runc/moby) as
    it serves any other."""
    tmp = tmp_path_factory.mktemp("docker")
    before = host_entries()
    with engines.host_dirs_left_as_found(engines.DOCKER_HOST_DIRS):
        d = Docker(tmp)
        try:
            with engines.minioci_served(request.param):
                d.import_image()
                yield d
        finally:
            left = d.shutdown()
    left += [f"host directory {p}" for p in sorted(host_entries() - before)]
    assert not left, f"dockerd left behind: {left}"


def host_entries():
    """What the host has in the directories dockerd and its containerd make
    their defaults in, whatever they are told (/opt/containerd was one)."""
    return {os.path.join(d, e) for d in ("/opt", "/var/lib", "/run/docker", "/run/containerd")
            if os.path.isdir(d) for e in os.listdir(d)}


@pytest.fixture
def docker(dockerd):
    """The session's dockerd; each test's containers are gone afterwards."""
    before = set(dockerd.containers())
    yield dockerd
    left = [c for c in dockerd.containers() if c not in before]
    if left:
        dockerd("rm", "-f", *left)
    assert not left, f"containers left behind: {left}"


def _name():
    return f"mo-{uuid.uuid4().hex[:10]}"


def _rm(docker, *names):
    """rm -f, and check that each container's cgroups went with it."""
    ids = [docker.full_id(n) for n in names]
    r = docker("rm", "-f", *names)
    assert r.returncode == 0, r.stderr
    assert not engines.cgroups_named(ids, docker.cgroup_parent)


def test_run_output_and_exit_codes(docker):
    r = docker.run("--rm", ["/bin/busybox", "echo", "hi"])
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert docker.run("--rm", ["sh", "-c", "exit 42"]).returncode == 42


def test_errors_map_to_dockers_exit_codes(docker):
    """The docker CLI reads the runtime's message: `no such file or
    directory` gives 127, `permission denied` 126 (runc's lower-case words)."""
    r = docker.run("--rm", ["/no/such/binary"])
    assert r.returncode == 127, r.stderr
    r = docker.run("--rm", ["/etc/passwd"])
    assert r.returncode == 126, r.stderr


def test_detached_exec_and_exec_tty(docker):
    name = _name()
    r = docker.run("-d", "--name", name, ["sleep", "1000"])
    assert r.returncode == 0, r.stderr
    assert docker.status(name) == "running"
    r = docker("exec", name, "echo", "x")
    assert (r.returncode, r.stdout) == (0, "x\n"), r.stderr
    assert docker("exec", name, "sh", "-c", "exit 3").returncode == 3
    r = docker.tty("exec", "-t", name, "tty")
    assert r.returncode == 0 and "/dev/pts/" in r.stdout, r.stdout
    r = docker("exec", "-u", "1000", name, "id", "-u")
    assert (r.returncode, r.stdout) == (0, "1000\n"), r.stderr
    assert docker("exec", "-d", name, "sleep", "100").returncode == 0
    r = docker("top", name)
    assert r.returncode == 0 and "sleep 1000" in r.stdout, r.stderr
    _rm(docker, name)


def test_run_tty(docker):
    r = docker.tty("run", "--rm", "-t", "--runtime", "minioci", IMAGE, "tty")
    assert r.returncode == 0 and "/dev/pts/0" in r.stdout, r.stdout


def test_stop_start_restart_kill(docker):
    name = _name()
    script = "trap 'exit 0' TERM; while true; do sleep 0.1; done"
    assert docker.run("-d", "--name", name, ["sh", "-c", script]).returncode == 0
    assert docker("stop", "-t", "10", name).returncode == 0
    assert docker.status(name) == "exited"
    assert docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    assert docker("start", name).returncode == 0 and docker.status(name) == "running"
    r = docker("restart", "-t", "10", name)
    assert r.returncode == 0, r.stderr
    assert docker.status(name) == "running"
    assert docker("kill", name).returncode == 0
    assert engines.wait_until(lambda: docker.status(name) == "exited")
    assert docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "137"
    _rm(docker, name)


def test_rm_force_of_running_and_paused(docker):
    running, paused = _name(), _name()
    for name in (running, paused):
        assert docker.run("-d", "--name", name, ["sleep", "1000"]).returncode == 0
    assert docker("pause", paused).returncode == 0 and docker.status(paused) == "paused"
    _rm(docker, running, paused)
    assert docker("container", "inspect", running).returncode != 0
    assert docker("container", "inspect", paused).returncode != 0


def test_pause_unpause(docker):
    name = _name()
    assert docker.run("-d", "--name", name, ["sleep", "1000"]).returncode == 0
    assert docker("pause", name).returncode == 0
    assert docker.status(name) == "paused"
    assert docker("exec", name, "true").returncode != 0            # docker refuses: it is paused
    assert docker("unpause", name).returncode == 0
    assert docker.status(name) == "running"
    assert docker("exec", name, "true").returncode == 0
    _rm(docker, name)


def test_update_and_stats(docker):
    name = _name()
    assert docker.run("-d", "--name", name, "--memory", "64m", ["sleep", "1000"]).returncode == 0
    r = docker("update", "--memory", "128m", "--memory-swap", "256m", "--cpus", "0.5", name)
    assert r.returncode == 0, r.stderr
    cpu_files, cpu_words = cpu_quota_inside("50000", "100000")
    r = docker("exec", name, "cat", cgroup_file_inside("memory.limit_in_bytes", "memory.max"), *cpu_files)
    assert r.stdout.split() == [str(128 << 20)] + cpu_words, r.stderr
    r = docker("stats", "--no-stream", "--format", "{{json .}}", name)
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["MemUsage"].endswith("/ 128MiB") and stats["PIDs"] == "1", stats
    _rm(docker, name)


def test_users(docker):
    r = docker.run("--rm", "-u", "1000:1000", ["id"])
    assert (r.returncode, r.stdout) == (0, "uid=1000(user) gid=1000(user) groups=1000(user)\n"), r.stderr
    r = docker.run("--rm", "-u", "user", ["id", "-u"])          # a name docker resolves
    assert (r.returncode, r.stdout) == (0, "1000\n"), r.stderr
    r = docker.run("--rm", "-u", "1000", "--group-add", "0", ["id", "-G"])
    assert r.returncode == 0 and sorted(r.stdout.split()) == ["0", "1000"], r.stderr
    # HOME from the image's /etc/passwd, as runc sets it (docker leaves it to the runtime)
    r = docker.run("--rm", "-u", "user", ["sh", "-c", 'echo "$HOME"'])
    assert (r.returncode, r.stdout) == (0, "/home/user\n"), r.stderr
    name = _name()
    assert docker.run("-d", "--name", name, ["sleep", "1000"]).returncode == 0
    r = docker("exec", "-u", "1000", name, "sh", "-c", 'echo "$HOME"')
    assert (r.returncode, r.stdout) == (0, "/home/user\n"), r.stderr
    _rm(docker, name)


def _cap_eff(text):
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("CapEff:")), 16)


def test_cap_add_and_drop(docker):
    r = docker.run("--rm", ["cat", "/proc/self/status"])
    default = _cap_eff(r.stdout)
    r = docker.run("--rm", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", ["cat", "/proc/self/status"])
    assert r.returncode == 0, r.stderr
    CAP_CHOWN, CAP_NET_ADMIN = 0, 12
    assert default & (1 << CAP_CHOWN) and not default & (1 << CAP_NET_ADMIN)
    assert _cap_eff(r.stdout) == (default | 1 << CAP_NET_ADMIN) & ~(1 << CAP_CHOWN)
    r = docker.run("--rm", "--cap-drop", "CHOWN", ["chown", "1000", "/tmp"])
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_bind_volumes(docker, tmp_path):
    (tmp_path / "f").write_text("from the host\n")
    r = docker.run("--rm", "-v", f"{tmp_path}:/v", ["sh", "-c", "cat /v/f && echo back > /v/g"])
    assert (r.returncode, r.stdout) == (0, "from the host\n"), r.stderr
    assert (tmp_path / "g").read_text() == "back\n"
    r = docker.run("--rm", "-v", f"{tmp_path}:/v:ro", ["sh", "-c", "echo x > /v/h"])
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert not (tmp_path / "h").exists()


def test_read_only_and_tmpfs(docker):
    r = docker.run("--rm", "--read-only", ["touch", "/x"])
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = docker.run("--rm", "--read-only", "--tmpfs", "/scratch", ["sh", "-c", "touch /scratch/y && "
                                                                   "grep ' /scratch ' /proc/mounts"])
    assert r.returncode == 0 and "tmpfs" in r.stdout, r.stderr


def test_ipc_host(docker):
    r = docker.run("--rm", "--ipc", "host", ["sh", "-c", "readlink /proc/self/ns/ipc; "
                                                          "grep ' /dev/mqueue ' /proc/mounts"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == os.readlink("/proc/self/ns/ipc") and "mqueue" in r.stdout


def test_device(docker):
    r = docker.run("--rm", "--device", "/dev/null:/dev/mynull", ["sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("crw") and " 1,   3 " in r.stdout
    r = docker.run("--rm", ["test", "-e", "/dev/mynull"])
    assert r.returncode == 1, r.stderr


def _bounding_set():
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("CapBnd:")), 16)


def test_privileged(docker):
    """--privileged: every host device, no masked paths, every capability
    docker knows.  One this host's bounding set lacks (this sandbox has no
    CAP_SYS_RESOURCE) cannot be granted: the runtime-spec wants it left out
    with a warning, not a failure (runc 1.1 fails at capset here)."""
    r = docker.run("--rm", "--privileged", ["sh", "-c", "test -c /dev/loop-control && "
                                                        "grep -c ' /proc/kcore ' /proc/self/mountinfo; "
                                                        "grep CapEff /proc/self/status"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "0"                                         # nothing masked
    CAP_AUDIT_READ = 37                                            # the last one docker 20.10 knows
    assert int(lines[1].split()[1], 16) == ((1 << CAP_AUDIT_READ + 1) - 1) & _bounding_set()


def test_ten_at_once(docker):
    names = [_name() for _ in range(10)]
    procs = [subprocess.Popen([DOCKER, "-H", f"unix://{docker.socket}", "run", "-d", "--runtime", "minioci",
                               "--name", n, IMAGE, "sleep", str(1000 + i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for i, n in enumerate(names)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert [docker.status(n) for n in names] == ["running"] * 10
    for i, n in enumerate(names):
        r = docker("exec", n, "cat", "/proc/1/cmdline")
        assert (r.returncode, r.stdout) == (0, f"sleep\0{1000 + i}\0"), r.stderr
    _rm(docker, *names)
