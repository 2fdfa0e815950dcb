"""Rootless podman 4.3 with minioci as its OCI runtime (docs/rootless.md):
the everyday scenarios of issue 16, run by a real non-root user the module
makes, checked on podman's own output and exit codes.

Rootless podman runs conmon and its runtime in a user namespace of its own,
where minioci is root but owns nothing on the host (no /run/minioci, no
cgroup).  Each scenario runs with minioci direct, with minioci served by
the user's own server, and with the reference runtimes runc and crun
(crun 1.8.1 with the unified hierarchy hidden on a hybrid host like this
one, which it refuses otherwise).  The served route: conmon passes the
runtime no MINIOCI_* variable, so what decides is where the front end
finds a server, `$XDG_RUNTIME_DIR/minioci/serve.sock`, from a server in
podman's own namespaces (`podman unshare minioci serve`; one elsewhere is
refused, and the front end takes the direct path): each served test checks
the server's count of requests went up and none was refused.

Networks: `none` and `host` only.  The default (slirp4netns) needs
/dev/net/tun, which users cannot open here, whatever the runtime.

One user, one image, and one server for the module: the user is removed
afterwards with its podman storage, its runtime directory and every
process it left (tests/plain_user.py), also when tests fail.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import IS_ROOT, MINIOCI, cgroup_layout
from minioci.bench import hides_unified
import plain_user as pu
import users

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(not (IS_ROOT and PODMAN), reason="needs root (it makes a user) and podman")

IMAGE = "localhost/bb:local"
RUNTIMES = {"minioci": MINIOCI, "minioci-served": MINIOCI, "runc": shutil.which("runc"),
            "crun": shutil.which("crun")}


class RootlessPodman:
    """Podman as the module's user, with XDG_RUNTIME_DIR a directory made
    for it (/run/user/<uid>: no login manager makes one here), and the
    runtime given by --runtime."""

    def __init__(self, user, runtime_dir):
        self.user = user
        self.runtime_dir = runtime_dir
        self.env = user.env(XDG_RUNTIME_DIR=runtime_dir)
        self.runtime = None
        self.names = []

    def __call__(self, *args, runtime=True, timeout=120, env=None, **kw):
        argv = [PODMAN] + (["--runtime", self.runtime] if runtime and self.runtime else []) + list(args)
        return self.user.run(argv, env=env or self.env, timeout=timeout, **kw)

    def run(self, *args, **kw):
        """`podman run` of IMAGE: `args` are the options, then the command."""
        *opts, command = args
        return self("run", *opts, IMAGE, *command, **kw)

    def name(self):
        n = f"mo-{uuid.uuid4().hex[:8]}"
        self.names.append(n)
        return n

    def status(self, name):
        return self("inspect", "--format", "{{.State.Status}}", name).stdout.strip()

    def tty(self, *args):
        """A podman command under `script`, which gives it a terminal."""
        cmd = " ".join([PODMAN, "--runtime", self.runtime] + [str(a) for a in args])
        return self.user.run(["script", "-qec", cmd, "/dev/null"], env=self.env)

    def unshare(self, *argv, **kw):
        """argv in podman's user and mount namespaces (where conmon runs the runtime)."""
        return self.user.run([PODMAN, "unshare", *argv], env=self.env, **kw)


class UsersServer:
    """The user's own `minioci serve`, started in podman's namespaces, on
    the user's default socket ($XDG_RUNTIME_DIR/minioci/serve.sock)."""

    def __init__(self, podman):
        self.podman = podman
        self.log = os.path.join(podman.user.home, "serve.log")
        self.proc = subprocess.Popen(podman.user.argv([PODMAN, "unshare", MINIOCI, "--debug", "--log", self.log,
                                                       "serve"]),
                                     cwd=podman.user.home, env=podman.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while self.status() is None:
            assert self.proc.poll() is None, f"the user's server ended: {self.proc.stderr.read()}"
            assert time.monotonic() < deadline, "the user's server did not answer within 60 s"
            time.sleep(0.1)

    def status(self):
        r = self.podman.unshare(MINIOCI, "serve", "--status")
        return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line) if r.returncode == 0 \
            else None

    def requests(self):
        status = self.status()
        return int(status["requests"]), int(status["refused"])

    def stop(self):
        """What is wrong with how it stops (it must, with no worker left)."""
        wrong = []
        deadline = time.monotonic() + 10
        while (self.status() or {}).get("workers") != "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        r = self.podman.unshare(MINIOCI, "serve", "--stop")
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            wrong.append("the user's server did not stop")
        if r.returncode != 0 or self.proc.returncode != 0:
            wrong.append(f"serve --stop: {r.stderr} {self.proc.stderr.read()}")
        return wrong


@pytest.fixture(scope="module")
def podman_user():
    """The module's user, its runtime directory, and IMAGE imported from the
    host's static busybox (`podman import`, offline).  Everything goes
    afterwards: its containers, processes (podman's pause process, conmon),
    storage, runtime directory, and /run/user if this made it."""
    import engines
    why = pu.why_not()
    if why:
        pytest.skip(why)
    made_run_user = not os.path.isdir("/run/user")
    with pu.made_user() as (user, why):
        if why:
            pytest.skip(why)
        runtime_dir = f"/run/user/{user.uid}"
        os.makedirs("/run/user", mode=0o755, exist_ok=True)
        shutil.rmtree(runtime_dir, ignore_errors=True)        # a former user's of this uid
        os.mkdir(runtime_dir, 0o700)
        os.chown(runtime_dir, user.uid, user.gid)
        try:
            podman = RootlessPodman(user, runtime_dir)
            tar = os.path.join(user.home, "bb.tar")
            engines.write_rootfs_tar(tar)
            os.chown(tar, user.uid, user.gid)
            r = podman("import", tar, IMAGE, runtime=False)
            if r.returncode != 0:
                pytest.skip(f"rootless podman cannot import an image here: {r.stderr.strip()}")
            yield podman
        finally:
            r = user.run([PODMAN, "rm", "--all", "--force", "--time", "0"], env=user.env(XDG_RUNTIME_DIR=runtime_dir))
            user.kill_all()
            shutil.rmtree(runtime_dir, ignore_errors=True)
            if made_run_user:
                try:
                    os.rmdir("/run/user")
                except OSError:
                    pass                    # another made a directory there meanwhile


class Runtime:
    """Which runtime the module's podman runs (`name`), and the user's
    server when it is minioci served."""

    def __init__(self, name, server=None):
        self.name, self.server = name, server

    @property
    def minioci(self):
        return self.name.startswith("minioci")


@pytest.fixture(scope="module", params=list(RUNTIMES))
def runtime(request, podman_user):
    """minioci direct (no server listens on the user's socket), minioci
    served (the user's server listens there), runc, or crun, each where this
    host has it and lets it run rootless."""
    name = request.param
    path = RUNTIMES[name]
    if not path:
        pytest.skip(f"{name} is not installed")
    podman_user.runtime = path
    rt = Runtime(name)
    if name == "minioci-served":
        rt.server = UsersServer(podman_user)
    elif rt.minioci:
        r = podman_user.unshare(MINIOCI, "serve", "--status")
        assert r.returncode == 3, f"a server listens on the user's socket: {r.stdout}"
    hidden = False
    if name == "crun" and hides_unified():
        # crun 1.8.1 refuses a hybrid host with a controller on the v2 side ("cgroups in hybrid mode
        # not supported"): hide the unified hierarchy in podman's mount namespace (a tmpfs over it,
        # as `minioci bench` does in its own), for crun's tests alone
        r = podman_user.unshare("mount", "-t", "tmpfs", "-o", "ro,size=4k", "mo-hide", "/sys/fs/cgroup/unified")
        assert r.returncode == 0, r.stderr
        hidden = True
    try:
        r = podman_user.run("--rm", "--network", "none", ["true"])
        if r.returncode != 0 and not rt.minioci:
            pytest.skip(f"{name} does not run rootless here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        yield rt
    finally:
        podman_user.runtime = None
        wrong = rt.server.stop() if rt.server else []
        if hidden:
            r = podman_user.unshare("umount", "/sys/fs/cgroup/unified")
            wrong += [f"umount the tmpfs over /sys/fs/cgroup/unified: {r.stderr}"] if r.returncode else []
    assert not wrong, wrong


@pytest.fixture
def podman(podman_user, runtime):
    """Podman with `runtime`; afterwards its containers are removed and,
    served, the user's server must have served this test's calls (its count
    of requests went up) and refused none."""
    before = runtime.server.requests() if runtime.server else None
    podman_user.names = []
    yield podman_user
    leftovers = []
    for n in podman_user.names:
        if podman_user("container", "exists", n).returncode == 0:
            leftovers.append(n)
            podman_user("rm", "--force", "--time", "0", n)
    if runtime.server:
        requests, refused = runtime.server.requests()
        assert requests > before[0] and refused == before[1], (before, requests, refused)
    assert not leftovers, f"containers left: {leftovers}"


def test_run_shows_root(podman):
    r = podman.run("--rm", "--network", "none", ["id"])
    assert (r.returncode, r.stdout) == (0, "uid=0(root) gid=0(root)\n"), r.stderr


def test_exit_codes_come_through(podman):
    assert podman.run("--rm", "--network", "none", ["sh", "-c", "exit 42"]).returncode == 42
    r = podman.run("--rm", "--network", "none", ["/no/such/binary"])
    assert r.returncode == 127 and "no such file or directory" in r.stderr.lower(), r.stderr
    r = podman.run("--rm", "--network", "none", ["/etc/passwd"])
    assert r.returncode == 126 and "permission denied" in r.stderr.lower(), r.stderr


def test_detached_logs_exec_stop_rm(podman, runtime):
    name = podman.name()
    script = "echo started; trap 'echo stopping; exit 0' TERM; while true; do sleep 0.1; done"
    r = podman.run("-d", "--name", name, "--network", "none", ["sh", "-c", script])
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert podman.status(name) == "running"
    if runtime.minioci:
        # its state is in the user's runtime directory, which the namespace shows as its root's
        assert os.path.isdir(os.path.join(podman.runtime_dir, "minioci", cid))
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
    with open(f"/proc/{pid}/status") as f:
        assert next(line for line in f if line.startswith("Uid:")).split()[1:] == [str(podman.user.uid)] * 4
    r = podman("exec", name, "sh", "-c", "echo x; id -u")
    assert (r.returncode, r.stdout) == (0, "x\n0\n"), r.stderr
    assert podman("exec", name, "sh", "-c", "exit 3").returncode == 3
    r = podman("exec", "--user", "1000:1000", name, "id")
    assert (r.returncode, r.stdout) == (0, "uid=1000(user) gid=1000(user)\n"), r.stderr     # exec: no groups
    r = podman("exec", name, "/no/such/binary")
    assert r.returncode == 127, r.stderr
    r = podman("stop", "--time", "10", name)
    assert r.returncode == 0 and "resorting to SIGKILL" not in r.stderr, r.stderr
    assert podman.status(name) == "exited"
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    assert podman("logs", name).stdout == "started\nstopping\n"
    assert podman("rm", name).returncode == 0
    if runtime.minioci:
        assert not os.path.exists(os.path.join(podman.runtime_dir, "minioci", cid))


def test_kill_and_rm_force(podman):
    name = podman.name()
    assert podman.run("-d", "--name", name, "--network", "none", ["sleep", "1000"]).returncode == 0
    assert podman("kill", name).returncode == 0
    deadline = time.monotonic() + 30
    while podman.status(name) != "exited":
        assert time.monotonic() < deadline, podman.status(name)
        time.sleep(0.1)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "137"
    assert podman("start", name).returncode == 0 and podman.status(name) == "running"
    r = podman("rm", "--force", "--time", "1", name)
    assert r.returncode == 0, r.stderr
    assert podman("container", "exists", name).returncode != 0


def test_user(podman):
    r = podman.run("--rm", "--network", "none", "--user", "1000:1000", ["sh", "-c", "id; cat /proc/self/uid_map"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "uid=1000(user) gid=1000(user) groups=1000(user)"
    # podman's namespace: root is the user, the rest its subordinate ids
    assert [line.split() for line in lines[1:]] == [["0", str(podman.user.uid), "1"],
                                                    ["1", str(podman.user.subuid[0]), str(podman.user.subuid[1])]]


def test_userns_keep_id(podman):
    """--userns keep-id: a user namespace in the config, nested in podman's,
    where the user's uid is itself (podman's root, the user on the host)."""
    uid = str(podman.user.uid)
    name = podman.name()
    r = podman.run("-d", "--name", name, "--network", "none", "--userns", "keep-id", ["sleep", "1000"])
    assert r.returncode == 0, r.stderr
    r = podman("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == uid and [uid, "0", "1"] in [line.split() for line in lines[1:]], r.stdout
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
    with open(f"/proc/{pid}/status") as f:
        assert next(line for line in f if line.startswith("Uid:")).split()[1:] == [uid] * 4
    assert podman("restart", "--time", "0", name).returncode == 0 and podman.status(name) == "running"
    assert podman("rm", "--force", "--time", "0", name).returncode == 0


def test_read_only_and_tmpfs(podman):
    r = podman.run("--rm", "--network", "none", "--read-only",
                   ["sh", "-c", "touch /x 2>&1; touch /tmp/y && echo tmp-ok"])
    assert r.returncode == 0 and "Read-only file system" in r.stdout and "tmp-ok" in r.stdout, r.stdout + r.stderr
    r = podman.run("--rm", "--network", "none", "--tmpfs", "/scratch:size=1m",
                   ["sh", "-c", "touch /scratch/y && grep ' /scratch ' /proc/mounts"])
    assert r.returncode == 0 and r.stdout.startswith("tmpfs /scratch tmpfs rw,"), r.stdout + r.stderr


def test_bind_volume(podman):
    """-v: the user's directory, read and written as the user."""
    vol = podman.user.own_dir(os.path.join(podman.user.home, f"vol-{uuid.uuid4().hex[:6]}"))
    try:
        with open(os.path.join(vol, "in"), "w") as f:
            f.write("hello\n")
        r = podman.run("--rm", "--network", "none", "-v", f"{vol}:/vol", ["sh", "-c", "cat /vol/in; echo w > /vol/out"])
        assert (r.returncode, r.stdout) == (0, "hello\n"), r.stderr
        st = os.stat(os.path.join(vol, "out"))
        assert (st.st_uid, st.st_gid) == (podman.user.uid, podman.user.gid)
        r = podman.run("--rm", "--network", "none", "-v", f"{vol}:/vol:ro", ["sh", "-c", "echo w > /vol/out"])
        assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    finally:
        shutil.rmtree(vol)


def test_devices_are_usable(podman):
    """No mknod in a user namespace: the default nodes are the host's, bound."""
    r = podman.run("--rm", "--network", "none",
                   ["sh", "-c", "stat -c '%n %t:%T' /dev/null /dev/zero /dev/urandom /dev/tty; "
                                "echo x > /dev/null && head -c 4 /dev/zero | wc -c"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n") == ["/dev/null 1:3", "/dev/zero 1:5", "/dev/urandom 1:9", "/dev/tty 5:0", "4", ""]


def test_network_none_and_host(podman):
    r = podman.run("--rm", "--network", "none", ["ip", "-o", "link"])
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[1].strip() for line in r.stdout.splitlines()] == ["lo"] and "UP" in r.stdout
    # the host's network namespace, which podman's user namespace does not own: sysfs cannot be
    # mounted there, the host's /sys is bound read-only instead
    r = podman.run("--rm", "--network", "host",
                   ["sh", "-c", "ls /sys/class/net | wc -l; grep ' /sys ' /proc/self/mountinfo | head -1; "
                                "readlink /proc/self/ns/net"])
    assert r.returncode == 0, r.stderr
    links, sys_mount, netns = r.stdout.splitlines()
    assert int(links) == len(os.listdir("/sys/class/net")) and netns == os.readlink("/proc/self/ns/net")
    assert sys_mount.split()[5].split(",")[0] == "ro" and " - sysfs " in sys_mount


def test_run_tty(podman):
    r = podman.tty("run", "--rm", "-t", "--network", "none", IMAGE, "tty")
    assert r.returncode == 0 and "/dev/pts/0" in r.stdout, r.stdout + r.stderr


def test_pause_or_its_error(podman, runtime):
    """Podman 4.3 refuses pause itself on a v1 or hybrid host (it takes
    hybrid as v1) before it asks the runtime; on v2 the runtime pauses the
    container if the user was given a cgroup, else says it cannot, as
    minioci says here when asked directly."""
    name = podman.name()
    assert podman.run("-d", "--name", name, "--network", "none", ["sleep", "1000"]).returncode == 0
    r = podman("pause", name)
    if cgroup_layout().kind != "v2":
        assert r.returncode == 125, r.stderr
        assert "can not pause containers on rootless containers with cgroup V1" in r.stderr, r.stderr
    elif r.returncode == 0:
        assert podman.status(name) == "paused"
        assert podman("unpause", name).returncode == 0
    else:
        assert "cannot pause" in r.stderr, r.stderr
    assert podman.status(name) == "running"
    if runtime.minioci:
        # asked directly in podman's namespaces (where podman would ask it on v2): without a cgroup of
        # its own the container cannot be frozen, and minioci says so in one line
        cid = podman("inspect", "--format", "{{.Id}}", name).stdout.strip()
        r = podman.unshare(MINIOCI, "pause", cid)
        if r.returncode == 0:
            assert podman.unshare(MINIOCI, "resume", cid).returncode == 0
        else:
            assert r.stderr == f"minioci: cannot pause container '{cid}': it is rootless and has no cgroup with a " \
                               "freezer (this user was given no cgroup to freeze it in: see docs/rootless.md)\n"
        assert podman.status(name) == "running"
    assert podman("rm", "--force", "--time", "0", name).returncode == 0


def test_limits_on_this_host(podman):
    """Podman drops resource limits rootless on a v1 or hybrid host (with a
    warning), and the container runs; on v2 they reach the runtime, which
    honours them in a cgroup the user owns or refuses them naming the field."""
    r = podman.run("--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", ["true"])
    if cgroup_layout().kind != "v2":
        assert r.returncode == 0, r.stderr
        assert "Resource limits are not supported and ignored on cgroups V1 rootless systems" in r.stderr
    else:
        assert r.returncode == 0 or "cannot be honoured rootless" in r.stderr, r.stderr


@pytest.fixture
def recording(podman_user, runtime):
    """A runtime that records its argv, environment, user namespace and the
    bundle's config.json (into the user's home), then runs minioci: what
    rootless podman sends its runtime here."""
    if runtime.name != "minioci":
        pytest.skip("recorded once, with minioci direct")
    home = podman_user.user.home
    record = os.path.join(home, f"record-{uuid.uuid4().hex[:6]}")
    wrapper = os.path.join(home, "minioci")
    with open(wrapper, "w") as f:
        f.write(f"""#!/bin/sh
n=$(ls {record} | grep -c '[.]call$')
{{ printf '%s\\n' "$@"; echo ---; env; echo ---; cat /proc/self/uid_map; }} > {record}/$n.call
prev=
for a in "$@"; do [ "$prev" = --bundle ] && cp "$a/config.json" {record}/$n.config.json; prev=$a; done
exec {MINIOCI} "$@"
""")
    os.chmod(wrapper, 0o755)
    podman_user.user.own_dir(record)
    os.chown(wrapper, podman_user.user.uid, podman_user.user.gid)
    podman_user.runtime = wrapper
    yield record
    podman_user.runtime = MINIOCI
    shutil.rmtree(record)
    os.unlink(wrapper)


def test_podmans_config_on_this_host(recording, podman):
    """What rootless podman 4.3 sends its runtime here (docs/rootless.md)."""
    # the environment does not reach the runtime: MINIOCI_SERVE cannot choose the route under podman
    r = podman.run("--rm", "--network", "none", "--memory", "64m", ["true"],
                   env=dict(podman.env, MINIOCI_SERVE="never"))
    assert r.returncode == 0, r.stderr
    calls = []
    for n in range(len([f for f in os.listdir(recording) if f.endswith(".call")])):
        with open(os.path.join(recording, f"{n}.call")) as f:
            argv, env, uid_map = f.read().split("---\n")
        calls.append((argv.split("\n")[:-1], dict(line.split("=", 1) for line in env.splitlines() if "=" in line),
                      [line.split() for line in uid_map.splitlines()]))
    assert [argv[0] for argv, _, _ in calls] == ["create", "start", "delete"], calls
    for argv, env, uid_map in calls:
        assert "--root" not in argv                     # the runtime's default state root
        assert env["XDG_RUNTIME_DIR"] == podman.runtime_dir
        assert "MINIOCI_SERVE" not in env
        assert uid_map == [["0", str(podman.user.uid), "1"],
                           ["1", str(podman.user.subuid[0]), str(podman.user.subuid[1])]]
    assert calls[0][1]["_CONTAINERS_ROOTLESS_UID"] == str(podman.user.uid)
    with open(os.path.join(recording, "0.config.json")) as f:
        config = json.load(f)
    linux = config["linux"]
    assert "user" not in [ns["type"] for ns in linux["namespaces"]]     # the runtime is in podman's
    assert "cgroupsPath" not in linux and "devices" not in linux
    assert "uidMappings" not in linux
    mounts = {m["destination"]: m for m in config["mounts"]}
    assert "ro" in mounts["/sys"]["options"] and "gid=5" in mounts["/dev/pts"]["options"]
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup"
    if cgroup_layout().kind != "v2":
        assert not linux.get("resources"), linux.get("resources")        # --memory dropped


@pytest.fixture
def delegated_leaf(podman_user):
    """A v2 cgroup delegated to the user, podman run in a leaf below it."""
    with users.delegated_cgroup(podman_user.user, "mo-rlp") as cg:
        if cg is None:
            pytest.skip("no cgroup v2 on this host")
        yield cg[1]


def test_a_delegated_v2_cgroup_is_used(podman, runtime, delegated_leaf):
    """Run from a v2 cgroup the user owns, the container gets a cgroup of its
    own below conmon's (podman sends no cgroupsPath rootless), removed with
    it."""
    if not runtime.minioci:
        pytest.skip("minioci's use of a delegated cgroup")
    from minioci import cgroups
    mountpoint = cgroups.detect().v2[0]
    r = podman.user.run([PODMAN, "--runtime", podman.runtime, "run", "--rm", "--network", "none", IMAGE,
                         "sh", "-c", "grep '^0::' /proc/self/cgroup"], env=podman.env, cgroup=delegated_leaf)
    assert r.returncode == 0, r.stderr
    own = r.stdout.strip()[len("0::"):]
    assert os.path.dirname(own) == "/" + os.path.relpath(delegated_leaf, mountpoint), own
    deadline = time.monotonic() + 30               # the delete may come from podman's cleanup process
    while os.path.exists(os.path.join(mountpoint, own.lstrip("/"))):
        assert time.monotonic() < deadline, f"{own} is still there"
        time.sleep(0.05)


def test_phase_timings_from_the_hosts_config_file(runtime, host_config_file, podman):
    """The host's config file (root's, which podman's namespace shows as the
    overflow uid's) is read, and its timing_dir gets the phase timelines of
    podman's create, start and delete: they say which route each took."""
    if not runtime.minioci:
        pytest.skip("minioci's timings")
    timing = podman.user.own_dir(os.path.join(podman.user.home, f"timing-{uuid.uuid4().hex[:6]}"))
    host_config_file(f'timing_dir = "{timing}"\n')
    name = podman.name()
    r = podman.run("--name", name, "--network", "none", ["true"])
    assert r.returncode == 0, r.stderr
    cid = podman("inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert podman("rm", name).returncode == 0

    def commands():
        return sorted(f.split(".")[1] for f in os.listdir(timing) if f.startswith(cid + "."))
    deadline = time.monotonic() + 30
    while commands() != ["create", "delete", "start"]:          # the delete may come from podman's cleanup
        assert time.monotonic() < deadline, commands()
        time.sleep(0.1)
    for f in os.listdir(timing):
        if f.startswith(cid + "."):
            with open(os.path.join(timing, f)) as fh:
                phases = [p["phase"] for p in json.load(fh)["phases"]]
            served = runtime.server is not None
            assert ("server" in phases) == served and ("interpreter" in phases) == (not served), (f, phases)
    shutil.rmtree(timing)
