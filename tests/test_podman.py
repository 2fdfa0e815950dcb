"""minioci as podman's OCI runtime: the scenarios of ../shared/PODMAN.md,
end to end, checked on podman's own output and exit codes.

Podman runs offline with `--rootfs` (no registry here) and the ulimit
workaround PODMAN.md records: this sandbox cannot raise RLIMIT_NOFILE's hard
limit, and podman's defaults would ask for it.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import (IS_ROOT, MINIOCI, ROOTFS, Server, cgroup_file_inside, cgroup_layout, cpu_quota_inside,
                      swap_accounted)

BOTH_PATHS = True        # each test runs with minioci direct, and served (conftest.py)

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(not (IS_ROOT and PODMAN), reason="needs root and podman")

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


DEFAULT_ROOT = "/run/minioci"       # podman never passes --root


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    """A private copy of the busybox rootfs (podman writes mount points into it).
    Afterwards, minioci's default state root is left as it was found (the
    seccomp cache podman's profile filled goes, unless it was there)."""
    path = tmp_path_factory.mktemp("podman") / "rootfs"
    shutil.copytree(ROOTFS, path, symlinks=True)
    existed = {p: os.path.exists(p) for p in (DEFAULT_ROOT, f"{DEFAULT_ROOT}/seccomp-cache")}
    podman_cgroups = _libpod_cgroups()
    yield str(path)
    for p in sorted(existed, key=len, reverse=True):
        if not existed[p]:
            shutil.rmtree(p, ignore_errors=True)
    # podman's own cgroupfs parent (and conmon's cgroup in it), if we made podman make it
    for d in sorted(_libpod_cgroups() - podman_cgroups, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _libpod_cgroups():
    out = set()
    for base in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", base, "libpod_parent")
        for d, subdirs, _ in os.walk(top):
            out.add(d)
    return out


class Podman:
    def __init__(self, rootfs, tmp_path):
        self.rootfs = rootfs
        self.tmp = tmp_path
        self.names = []

    def name(self):
        n = f"mo-{uuid.uuid4().hex[:8]}"
        self.names.append(n)
        return n

    def __call__(self, *args, timeout=120, env=None, runtime=True):
        cmd = [PODMAN] + (["--runtime", MINIOCI] if runtime else []) + [str(a) for a in args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)

    def run(self, *args, **kw):
        return self("run", *ULIMITS, *args[:-1], "--rootfs", self.rootfs, *args[-1], **kw)

    def tty(self, *args):
        """A podman command under `script`, which gives it a terminal."""
        cmd = " ".join([PODMAN, "--runtime", MINIOCI] + [str(a) for a in args])
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    def status(self, name):
        r = self("inspect", "--format", "{{.State.Status}}", name)
        return r.stdout.strip()

    def cleanup(self):
        for n in self.names:
            self("rm", "-f", "-t", "0", n)


@pytest.fixture
def podman(rootfs, tmp_path, route):
    """Podman with minioci as its runtime; served: by a server on minioci's
    default root, where podman's calls go (conmon passes minioci no
    environment, so the test checks the server's count of requests)."""
    server = None
    if route == "served":
        if Server().status() is not None:
            pytest.skip(f"another server listens on {DEFAULT_ROOT}")
        server = Server().start()
    p = Podman(rootfs, tmp_path)
    yield p
    p.cleanup()
    leftovers = [n for n in p.names if p("container", "exists", n).returncode == 0]
    if server:
        status = server.status()
        leftovers += server.stop()
        assert int(status["requests"]) >= 1 and not server.refused, (status, server.refused)
    assert not leftovers


def test_run_rm_echo(podman):
    r = podman.run("--rm", ["/bin/busybox", "echo", "hi"])
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr


def test_exit_codes_come_through(podman):
    assert podman.run("--rm", ["/bin/busybox", "sh", "-c", "exit 42"]).returncode == 42


def test_errors_map_to_podmans_exit_codes(podman):
    r = podman.run("--rm", ["/no/such/binary"])
    assert r.returncode == 127 and "no such file or directory" in r.stderr.lower()
    r = podman.run("--rm", ["/etc/passwd"])
    assert r.returncode == 126 and "permission denied" in r.stderr.lower()


def test_detached_exec_and_exec_tty(podman):
    name = podman.name()
    r = podman.run("-d", "--name", name, ["/bin/busybox", "sleep", "1000"])
    assert r.returncode == 0, r.stderr
    assert podman.status(name) == "running"
    r = podman("exec", name, "/bin/busybox", "echo", "x")
    assert (r.returncode, r.stdout) == (0, "x\n"), r.stderr
    assert podman("exec", name, "/bin/busybox", "sh", "-c", "exit 3").returncode == 3
    r = podman.tty("exec", "-t", name, "/bin/busybox", "tty")
    assert r.returncode == 0 and "/dev/pts/" in r.stdout, r.stdout
    r = podman("exec", "-d", name, "/bin/busybox", "sleep", "100")
    assert r.returncode == 0, r.stderr
    r = podman("top", name)
    assert r.returncode == 0 and "sleep 1000" in r.stdout, r.stderr


def test_run_tty(podman):
    r = podman.tty("run", "--rm", "-t", *ULIMITS, "--rootfs", podman.rootfs, "/bin/busybox", "tty")
    assert r.returncode == 0 and "/dev/pts/0" in r.stdout, r.stdout


def test_stop_start_kill_restart_rm(podman):
    name = podman.name()
    script = "trap 'exit 0' TERM; while true; do sleep 0.1; done"
    assert podman.run("-d", "--name", name, ["/bin/busybox", "sh", "-c", script]).returncode == 0
    r = podman("stop", "-t", "5", name)
    assert r.returncode == 0 and "resorting to SIGKILL" not in r.stderr, r.stderr
    assert podman.status(name) == "exited"
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    assert podman("start", name).returncode == 0
    assert podman.status(name) == "running"
    r = podman("restart", name)
    assert r.returncode == 0, r.stderr
    assert podman.status(name) == "running"
    assert podman("kill", name).returncode == 0
    deadline = time.monotonic() + 10
    while podman.status(name) != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "137"
    assert podman("rm", "-f", name).returncode == 0


def test_rm_force_of_a_running_container(podman):
    name = podman.name()
    assert podman.run("-d", "--name", name, ["/bin/busybox", "sleep", "1000"]).returncode == 0
    r = podman("rm", "-f", "-t", "1", name)
    assert r.returncode == 0, r.stderr
    assert podman("container", "exists", name).returncode != 0


def test_network_none_has_only_loopback(podman):
    r = podman.run("--rm", "--network", "none", ["/bin/busybox", "ip", "-o", "link"])
    assert r.returncode == 0, r.stderr
    links = [line.split(":")[1].strip() for line in r.stdout.splitlines()]
    assert links == ["lo"] and "UP" in r.stdout


def test_default_network_joins_netavarks_namespace(podman):
    r = podman.run("--rm", ["/bin/busybox", "sh", "-c", "ip -o -4 addr show eth0"])
    assert r.returncode == 0, r.stderr
    assert "inet 10.88." in r.stdout


def test_resource_limits_are_visible_inside(podman):
    cpu_files, cpu_words = cpu_quota_inside("50000", "100000")
    # podman gives memory+swap twice the memory where the host accounts swap
    swap_files, swap_words = [], []
    if swap_accounted():
        swap_files = [cgroup_file_inside("memory.memsw.limit_in_bytes", "memory.swap.max")]
        swap_words = ["134217728" if cgroup_layout().where("memory") == "v1" else "67108864"]   # v2: swap alone
    r = podman.run("--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50",
                   ["/bin/busybox", "cat", cgroup_file_inside("pids.max"),
                    cgroup_file_inside("memory.limit_in_bytes", "memory.max")] + swap_files + cpu_files)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["50", "67108864"] + swap_words + cpu_words


def test_info_shows_the_runtime(podman):
    r = podman("info", "--format", "{{json .Host.OCIRuntime}}")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["path"] == MINIOCI and "minioci version" in info["version"]


def test_registered_runtime_with_json_log(podman, tmp_path):
    """Registered in containers.conf with runtime_supports_json, minioci gets
    --log-format=json --log F from conmon; an error reaches the user intact."""
    conf = tmp_path / "containers.conf"
    conf.write_text(f"""[engine]
runtime = "minioci"
runtime_supports_json = ["crun", "runc", "minioci"]

[engine.runtimes]
minioci = ["{MINIOCI}"]

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
""")
    env = {"CONTAINERS_CONF": str(conf)}
    r = podman("run", "--rm", "--rootfs", podman.rootfs, "/bin/busybox", "echo", "registered",
               env=env, runtime=False)
    assert (r.returncode, r.stdout) == (0, "registered\n"), r.stderr
    r = podman("run", "--rm", "--rootfs", podman.rootfs, "/no/such/binary", env=env, runtime=False)
    assert r.returncode == 127
    assert "/no/such/binary" in r.stderr and "no such file or directory" in r.stderr


def test_update_pause_unpause(podman):
    name = podman.name()
    r = podman.run("-d", "--name", name, "--memory", "64m", ["/bin/busybox", "sleep", "1000"])
    assert r.returncode == 0, r.stderr
    r = podman("update", "--memory", "128m", "--cpus", "0.25", name)     # update --resources=FILE
    assert r.returncode == 0, r.stderr
    cpu_files, cpu_words = cpu_quota_inside("25000", "100000")
    r = podman("exec", name, "/bin/busybox", "cat", cgroup_file_inside("memory.limit_in_bytes", "memory.max"),
               *cpu_files)
    assert r.stdout.split() == [str(128 << 20)] + cpu_words, r.stderr
    assert podman("pause", name).returncode == 0 and podman.status(name) == "paused"
    assert podman("unpause", name).returncode == 0 and podman.status(name) == "running"
    # rm -f of a paused container: podman resumes, kills and deletes it
    assert podman("pause", name).returncode == 0
    r = podman("rm", "-f", name)
    assert r.returncode == 0, r.stderr
    assert podman("container", "exists", name).returncode != 0


def test_device_privileged_ipc_host_personality(podman):
    """--device sends fileMode with the file-type bits (0o20666); --privileged
    every host device (as /dev/loop-control); --ipc host an mqueue mount
    without an IPC namespace; --personality linux.personality."""
    r = podman.run("--rm", "--device", "/dev/null:/dev/mynull", ["/bin/busybox", "stat", "-c", "%F %t:%T",
                                                                  "/dev/mynull"])
    assert (r.returncode, r.stdout) == (0, "character special file 1:3\n"), r.stderr
    r = podman.run("--rm", "--privileged", ["/bin/busybox", "test", "-c", "/dev/loop-control"])
    assert r.returncode == 0, r.stderr
    r = podman.run("--rm", "--ipc", "host", ["/bin/busybox", "sh", "-c", "readlink /proc/self/ns/ipc; "
                                              "grep -c ' /dev/mqueue .* mqueue ' /proc/self/mountinfo"])
    assert (r.returncode, r.stdout.split()) == (0, [os.readlink("/proc/self/ns/ipc"), "1"]), r.stderr
    r = podman.run("--rm", "--personality", "LINUX32", ["/bin/busybox", "uname", "-m"])
    assert (r.returncode, r.stdout) == (0, "i686\n"), r.stderr


def test_read_only_and_tmpfs(podman):
    """podman's tmpfs mounts carry tmpcopyup (copy what the directory held)."""
    r = podman.run("--rm", "--read-only", ["/bin/busybox", "sh", "-c", "touch /x 2>&1; touch /tmp/y && echo tmp-ok"])
    assert r.returncode == 0 and "Read-only file system" in r.stdout and "tmp-ok" in r.stdout, r.stderr
    r = podman.run("--rm", "--tmpfs", "/scratch", ["/bin/busybox", "sh", "-c", "touch /scratch/y && echo ok"])
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def test_phase_timings_from_the_hosts_config_file(podman, route, host_config_file, tmp_path):
    """timing_dir: podman's create, start and delete each leave minioci's
    phase timeline there (other minioci commands on this host meanwhile may
    leave theirs: only this container's are looked at)."""
    timing = tmp_path / "timing"
    host_config_file(f'timing_dir = "{timing}"\n')
    name = podman.name()
    r = podman.run("--name", name, ["/bin/busybox", "true"])
    assert r.returncode == 0, r.stderr
    cid = podman("inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert podman("rm", name).returncode == 0

    def commands():
        return sorted(json.loads(f.read_text())["command"] for f in timing.glob(f"{cid}.*.json"))
    deadline = time.monotonic() + 30
    while commands() != ["create", "delete", "start"]:          # the delete may come from podman's cleanup
        assert time.monotonic() < deadline, commands()
        time.sleep(0.1)
    for f in timing.glob(f"{cid}.*.json"):
        phases = [p["phase"] for p in json.loads(f.read_text())["phases"]]
        assert ("server" in phases) == (route == "served") and ("interpreter" in phases) == (route == "direct")
