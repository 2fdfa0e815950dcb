"""minioci run by a plain user (docs/rootless.md): `spec --rootless`, and
the lifecycle with one mapping (the user's own ids, written directly) and
with subordinate ids (newuidmap/newgidmap), as a real user the session
makes (conftest.plain_user).  Each test checks from inside the container
and from the host, and that it left nothing: no state entry, process or
cgroup directory.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import MINIOCI, base_config, cgroup_dirs
import users


class Rootless:
    """minioci as the test user, on a state root in its home: direct, or
    served by the user's own server (`route`)."""

    def __init__(self, user, route):
        self.user = user
        self.dir = user.own_dir(os.path.join(user.home, f"t-{uuid.uuid4().hex[:8]}"))
        self.root = user.own_dir(os.path.join(self.dir, "state"))
        os.chmod(self.root, 0o700)
        self.ids = []
        self.cgroup = None          # the v2 cgroup its commands run in (delegated)
        self.socket = os.path.join(self.root, "serve.sock")
        self.env = user.env(MINIOCI_SERVE="always" if route == "served" else "never",
                            MINIOCI_SERVE_SOCKET=self.socket)
        self.server = None

    def serve_command(self, *flags):
        """`minioci serve` listening in the state root: with --socket where
        one server serves every root, else on the root itself."""
        if "--socket" in subprocess.run([MINIOCI, "serve", "--help"], capture_output=True, text=True).stdout:
            return [MINIOCI, "serve", "--socket", self.socket, *flags]
        return [MINIOCI, "--root", self.root, "serve", *flags]

    def serve(self):
        """The user's own server on the state root; returns once it answers."""
        self.server = subprocess.Popen(self.user.argv(self.serve_command()), cwd=self.user.home,
                                       env=self.user.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        _wait(lambda: self.server.poll() is not None or self.status() is not None)
        assert self.server.poll() is None, self.server.stderr.read()

    def status(self):
        r = self.user.run(self.serve_command("--status"))
        return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line) if r.returncode == 0 \
            else None

    def stop_server(self):
        """Stop it once its workers are done; what is wrong with what it did."""
        _wait(lambda: (self.status() or {}).get("workers") == "0")
        status = self.status()
        r = self.user.run(self.serve_command("--stop"))
        self.server.wait(30)
        wrong = [] if r.returncode == 0 and self.server.returncode == 0 else [f"serve --stop: {r.stderr}"]
        if int(status["requests"].split()[0]) == 0 or status["refused"].split()[0] != "0":
            wrong.append(f"the user's server: {status}")
        return wrong

    def new_id(self):
        cid = f"rl-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def call(self, *args, **kw):
        return self.user.run([MINIOCI, "--root", self.root, *args], cgroup=self.cgroup, env=self.env, **kw)

    def detached(self, *args):
        """A command that leaves a process running: it must not hold our
        pipes (its output goes to a file, returned with the status)."""
        out = os.path.join(self.dir, "detached.out")
        with open(out, "w+") as f:
            r = self.call(*args, stdout=f, stderr=f, capture_output=False)
            f.seek(0)
            return r.returncode, f.read()

    def bundle(self, config):
        return self.user.bundle(os.path.join(self.dir, f"b-{uuid.uuid4().hex[:6]}"), config)

    def run(self, config, *extra, cid=None):
        return self.call("run", "-b", self.bundle(config), *extra, cid or self.new_id())

    def spec(self, args, mappings=None):
        """`minioci spec --rootless`, written by the user, with `args` and
        no terminal (and other mappings, if given)."""
        b = self.user.own_dir(os.path.join(self.dir, f"spec-{uuid.uuid4().hex[:6]}"))
        r = self.user.run([MINIOCI, "spec", "--rootless"], cwd=b)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(b, "config.json")) as f:
            cfg = json.load(f)
        cfg["process"].update(terminal=False, args=list(args))
        if mappings:
            cfg["linux"]["uidMappings"], cfg["linux"]["gidMappings"] = mappings
        return cfg

    def subordinate(self):
        """Mappings of root to the user and 1..65535 to its subordinate ids."""
        u, g = self.user.subuid, self.user.subgid
        return ([{"containerID": 0, "hostID": self.user.uid, "size": 1},
                 {"containerID": 1, "hostID": u[0], "size": min(u[1], 65535)}],
                [{"containerID": 0, "hostID": self.user.gid, "size": 1},
                 {"containerID": 1, "hostID": g[0], "size": min(g[1], 65535)}])

    def leftovers(self):
        left = []
        if os.path.isdir(self.root):
            left += [f"state {e}" for e in os.listdir(self.root) if e not in ("seccomp-cache", "serve.sock")]
        for cid in self.ids:
            left += [f"cgroup {d}" for d in cgroup_dirs(cid)]
        left += [f"process {p} {_cmdline(p)}" for p in self.user.processes()]
        return left


def _cmdline(pid):
    """What process `pid` runs, to name a leftover."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip() or "(zombie)"
    except OSError:
        return "(gone)"


@pytest.fixture(params=["direct", "served"])
def rl(plain_user, request):
    """The test user's minioci; each test runs direct and served (by a
    server of the user's own), but those marked direct_only."""
    if request.param == "served" and request.node.get_closest_marker("direct_only"):
        pytest.skip("direct only: it runs minioci where the user's server is not")
    r = Rootless(plain_user, request.param)
    if request.param == "served":
        r.serve()
    yield r
    left = r.stop_server() if r.server else []
    left += r.leftovers()
    if left:
        for cid in r.ids:
            r.call("delete", "--force", cid)
        plain_user.kill_all()
    assert not left, f"left behind: {left}"


def sh(script):
    return ["sh", "-c", script]


def test_spec_rootless_runs_as_the_user_with_one_mapping(rl):
    cfg = rl.spec(sh("id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
                     "ls -ln /dev/null; touch /tmp/x 2>&1 | head -1; cat /sys/class/net/lo/operstate"))
    assert [d["destination"] for d in cfg["mounts"] if "gid=5" in d.get("options", [])] == []
    assert "resources" not in cfg["linux"]
    r = rl.run(cfg)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(rl.user.uid), "1"]
    assert lines[2].split() == ["0", str(rl.user.gid), "1"]
    assert lines[3] == "deny"                     # the kernel's rule for a gid map written unprivileged
    assert lines[4].split()[4:6] == ["1,", "3"]   # /dev/null: the host's node, bound
    assert "Read-only file system" in lines[5]    # root.readonly
    assert lines[6] in ("unknown", "up")          # sysfs of its own network namespace


def test_the_containers_processes_are_the_users_on_the_host(rl):
    cfg = rl.spec(["sleep", "60"])
    cid = rl.new_id()
    code, out = rl.detached("run", "-d", "-b", rl.bundle(cfg), cid)
    assert code == 0, out
    st = json.loads(rl.call("state", cid).stdout)
    with open(f"/proc/{st['pid']}/status") as f:
        ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
    assert ids["Uid"] == [str(rl.user.uid)] * 4 and ids["Gid"] == [str(rl.user.gid)] * 4
    assert os.readlink(f"/proc/{st['pid']}/ns/user") != os.readlink("/proc/self/ns/user")
    assert rl.call("kill", cid, "KILL").returncode == 0
    r = rl.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


def test_lifecycle_with_subordinate_ids(rl):
    cfg = rl.spec(["sleep", "60"], rl.subordinate())
    cfg["process"]["user"]["additionalGids"] = [5]      # setgroups is allowed with newgidmap's map
    cid = rl.new_id()
    code, out = rl.detached("create", "-b", rl.bundle(cfg), cid)
    assert code == 0, out
    assert json.loads(rl.call("state", cid).stdout)["status"] == "created"
    assert rl.call("start", cid).returncode == 0
    r = rl.call("exec", "--user", "1000:1000", cid, "sh", "-c",
                "id -u; cat /proc/self/uid_map; cat /proc/1/status | grep Groups")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "1000"
    assert [line.split() for line in out[1:3]] == [["0", str(rl.user.uid), "1"],
                                                   ["1", str(rl.user.subuid[0]), str(min(rl.user.subuid[1], 65535))]]
    assert out[3].split()[1:] == ["5"]
    pid = json.loads(rl.call("state", cid).stdout)["pid"]
    code, out = rl.detached("exec", "-d", "--user", "1000:1000", cid, "sleep", "60")
    assert code == 0, out
    # the exec'ed process is subordinate uid 1000 on the host
    assert any(_host_uid(p) == rl.user.subuid[0] + 999 for p in rl.user.processes())
    r = rl.call("ps", "--format", "json", cid)
    assert pid in json.loads(r.stdout) and len(json.loads(r.stdout)) == 2
    assert rl.call("kill", cid, "KILL").returncode == 0      # pid 1 of its namespace: TERM would be ignored
    _wait(lambda: json.loads(rl.call("state", cid).stdout)["status"] == "stopped")
    r = rl.call("delete", cid)
    assert r.returncode == 0, r.stderr


def _host_uid(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(line for line in f if line.startswith("Uid:")).split()[1])
    except OSError:
        return None


def _wait(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within 30 s"
        time.sleep(0.05)


def test_without_a_cgroup_what_cannot_be_honoured_is_refused(rl):
    """No cgroup was delegated to the user here: the container runs without
    one; a limit it asks for, pause, and statistics are refused clearly."""
    cfg = rl.spec(["sleep", "60"])
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    cid = rl.new_id()
    r = rl.run(cfg, cid=cid)
    if r.returncode == 0:
        pytest.skip("this user could make its memory cgroup (a delegated v2 subtree)")
    assert r.stderr.count("\n") == 1
    assert "config.json: linux.resources.memory.limit: cannot be honoured rootless" in r.stderr
    assert not os.path.exists(os.path.join(rl.root, cid))
    del cfg["linux"]["resources"]
    code, out = rl.detached("run", "-d", "-b", rl.bundle(cfg), cid)
    assert code == 0, out
    for command, words in ((["pause"], "cannot pause container"), (["events", "--stats"], "no cgroup"),
                           (["update", "--pids-limit", "10"], "cannot be honoured rootless")):
        r = rl.call(*command, cid)
        assert r.returncode != 0 and words in r.stderr and r.stderr.count("\n") == 1, (command, r.stderr)
    assert json.loads(rl.call("state", cid).stdout)["status"] == "running"
    r = rl.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name, change, where", [
    ("no user namespace", lambda c, u: [c["linux"]["namespaces"].remove({"type": "user"}),
                                        c["linux"].pop("uidMappings"), c["linux"].pop("gidMappings")],
     "linux.namespaces: has no 'user'"),
    ("someone else's ids", lambda c, u: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}]),
     "linux.uidMappings: newuidmap refused"),
    ("devpts gid=5 unmapped", lambda c, u: c["mounts"][2]["options"].append("gid=5"),
     "mounts[2].options: gid=5: gid 5 is not mapped"),
    ("idmap", lambda c, u: c["mounts"].append({"destination": "/mnt", "type": "bind", "source": u.home,
                                               "options": ["rbind", "idmap"]}), ".options: idmap needs root"),
    ("groups without setgroups", lambda c, u: c["process"]["user"].update(additionalGids=[5]),
     "process.user.additionalGids: cannot be set"),
])
def test_what_a_plain_user_cannot_have_gets_one_clear_line(rl, name, change, where):
    cfg = rl.spec(["true"])
    change(cfg, rl.user)
    cid = rl.new_id()
    r = rl.run(cfg, cid=cid)
    assert r.returncode != 0
    assert r.stderr.startswith("minioci: ") and r.stderr.count("\n") == 1, r.stderr
    assert where in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(rl.root, cid))


def test_host_sysfs_is_bound_read_only_without_a_network_namespace(rl):
    """sysfs needs the network namespace's owner: sharing the host's, the
    host's /sys is bound read-only instead (crun's fallback)."""
    cfg = rl.spec(sh("grep ' /sys ' /proc/self/mountinfo | head -1; ls /sys/class/net | grep -c ."))
    cfg["linux"]["namespaces"].remove({"type": "network"})
    r = rl.run(cfg)
    assert r.returncode == 0, r.stderr
    mountinfo, links = r.stdout.splitlines()
    assert mountinfo.split()[5].split(",")[0] == "ro" and " - sysfs " in mountinfo
    assert int(links) == len(os.listdir("/sys/class/net"))       # the host's, not a fresh namespace's


def test_rlimits_above_the_hard_limit_and_a_lower_oom_score_name_the_field(rl):
    hard = int(open("/proc/self/limits").read().split("Max open files")[1].split()[1])
    cfg = rl.spec(["true"])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard + 1}]
    r = rl.run(cfg)
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    assert "config.json: process.rlimits[0]: setrlimit RLIMIT_NOFILE: operation not permitted" in r.stderr
    cfg = rl.spec(["true"])
    cfg["process"]["oomScoreAdj"] = -500
    r = rl.run(cfg)
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    assert "config.json: process.oomScoreAdj: " in r.stderr and "permission denied" in r.stderr


def test_host_sysctls_are_refused_and_its_own_namespaces_are_written(rl):
    cfg = rl.spec(sh("cat /proc/sys/net/ipv4/ping_group_range"))
    cfg["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
    r = rl.run(cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0"]
    cfg["linux"]["namespaces"].remove({"type": "network"})
    r = rl.run(cfg)
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    assert "linux.sysctl.net.ipv4.ping_group_range: needs a network namespace" in r.stderr


def test_hooks_run_as_the_user(rl):
    cfg = rl.spec(["true"])
    out = os.path.join(rl.dir, "hook.out")
    cfg["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"id -u > {out}"]}],
                    "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo stopped >> {out}"]}]}
    r = rl.run(cfg)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        assert f.read().split() == [str(rl.user.uid), "stopped"]


@pytest.fixture
def delegated(plain_user):
    """A v2 cgroup delegated to the user: (top, the leaf its commands run in)."""
    with users.delegated_cgroup(plain_user, "mo-rl") as cg:
        if cg is None:
            pytest.skip("no cgroup v2 on this host")
        yield cg


def test_a_delegated_v2_cgroup_is_used_with_pause_and_resources(rl, delegated):
    top, leaf = delegated
    rl.cgroup = leaf
    from minioci import cgroups
    mountpoint = cgroups.detect().v2[0]
    cfg = rl.spec(["sleep", "60"])
    cid = rl.new_id()
    # beside the leaf the user's commands are in: no process sits where controllers are enabled
    cfg["linux"]["cgroupsPath"] = "/" + os.path.relpath(os.path.join(top, cid), mountpoint)
    offered = set(open(os.path.join(top, "cgroup.controllers")).read().split())
    if "pids" in offered:
        cfg["linux"]["resources"] = {"pids": {"limit": 42}}
    elif cgroups.detect().where("pids") == "v1":
        # the limit would be v1's, which is never delegated: refused as such
        other = rl.new_id()
        refused = dict(cfg, linux=dict(cfg["linux"], cgroupsPath=cfg["linux"]["cgroupsPath"].replace(cid, other),
                                       resources={"pids": {"limit": 42}}))
        r = rl.run(refused, cid=other)
        assert r.returncode != 0 and "linux.resources.pids.limit: cannot be honoured rootless" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(top, other))
    code, out = rl.detached("run", "-d", "-b", rl.bundle(cfg), cid)
    assert code == 0, out
    pid = json.loads(rl.call("state", cid).stdout)["pid"]
    own = os.path.join(top, cid)
    assert open(os.path.join(own, "cgroup.procs")).read().split() == [str(pid)]
    if "pids" in offered:
        assert open(os.path.join(own, "pids.max")).read().strip() == "42"
    assert rl.call("pause", cid).returncode == 0
    assert "frozen 1" in open(os.path.join(own, "cgroup.events")).read()
    assert json.loads(rl.call("state", cid).stdout)["status"] == "paused"
    assert rl.call("resume", cid).returncode == 0
    assert json.loads(rl.call("state", cid).stdout)["status"] == "running"
    r = rl.call("events", "--stats", cid)
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "stats", r.stderr
    assert json.loads(rl.call("ps", "--format", "json", cid).stdout) == [pid]
    assert rl.call("kill", "--all", cid, "KILL").returncode == 0
    r = rl.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(own)


@pytest.mark.direct_only
def test_root_of_someone_elses_user_namespace_is_rootless(rl):
    """The other form (rootless podman's): minioci as root of a user
    namespace it did not make (`unshare -r`, mapping root to the user), the
    config without one of its own.  The refused cgroup makes it rootless;
    mknod is refused too, so the host's nodes are bound (runc's fallback).
    `--rootless false` keeps the cgroup error."""
    cfg = rl.spec(sh("id -u; cat /proc/self/uid_map; ls -ln /dev/null /dev/zero"))
    cfg["linux"]["namespaces"].remove({"type": "user"})
    del cfg["linux"]["uidMappings"], cfg["linux"]["gidMappings"]
    bundle = rl.bundle(cfg)
    as_root = ["unshare", "--user", "--map-root-user", MINIOCI, "--root", rl.root]
    r = rl.user.run(as_root + ["run", "-b", bundle, rl.new_id()])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0" and lines[1].split() == ["0", str(rl.user.uid), "1"]
    assert [line.split()[4:6] for line in lines[2:]] == [["1,", "3"], ["1,", "5"]]
    cid = rl.new_id()
    r = rl.user.run(as_root[:3] + [MINIOCI, "--rootless", "false", "--root", rl.root, "run", "-b", bundle, cid])
    assert r.returncode != 0 and "create cgroup" in r.stderr and "permission denied" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(rl.root, cid))


def test_the_rootless_flag_takes_runcs_values(tmp_path):
    import subprocess
    r = subprocess.run([MINIOCI, "--rootless", "maybe", "--root", str(tmp_path), "list"], capture_output=True,
                       text=True)
    assert r.returncode != 0 and r.stderr == "minioci: invalid --rootless 'maybe': use true, false or auto\n"


@pytest.mark.parametrize("who", ["root", "a plain user", "root of the user's own namespace"])
@pytest.mark.parametrize("xdg", [None, "/tmp/mo-rl-xdg"])
def test_the_default_state_root_python_and_the_front_end_agree(plain_user, who, xdg):
    """Without --root: root's /run/minioci; a rootless caller's (a plain
    user, or root of a user namespace it did not make, as rootless podman
    runs its runtime) $XDG_RUNTIME_DIR/minioci, else /run/user/<its uid on
    the host>/minioci.  `serve --status` (Python) and the C front end
    (MINIOCI_SERVE=always, no server there) each say where they looked."""
    env = plain_user.env(**({"XDG_RUNTIME_DIR": xdg} if xdg else {}))
    if who == "root":
        env = {k: v for k, v in env.items() if k != "HOME"}

        def run(argv, **kw):
            return subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, **kw)
        expected = "/run/minioci"
    else:
        prefix = ["unshare", "--user", "--map-root-user"] if who.startswith("root of") else []

        def run(argv, **kw):
            return plain_user.run(prefix + argv, env=env, **kw)
        expected = f"{xdg}/minioci" if xdg else f"/run/user/{plain_user.uid}/minioci"
    status = run([MINIOCI, "serve", "--status"])
    if status.returncode == 0:                  # root's server, which another test run started
        assert who == "root" and f"socket {expected}/serve.sock\n" in status.stdout, status.stdout
        return
    assert status.returncode == 3 and status.stdout == f"not running (no server on {expected}/serve.sock)\n", \
        status.stdout + status.stderr
    front = run(["env", "MINIOCI_SERVE=always", MINIOCI, "list"])
    assert front.returncode == 1 and f"no server on {expected}/serve.sock (" in front.stderr, front.stderr


def test_root_of_the_users_namespace_reads_roots_config_file(plain_user):
    """The host's config file is root's, which a user namespace shows as the
    overflow uid's (rootless podman's runtime sees it so): read, not refused
    (as any host user the namespace does not map shows: they cannot be told
    apart there, as trust.may_own says)."""
    import tempfile
    conf_dir = tempfile.mkdtemp(prefix="mo-rl-conf-")
    try:
        os.chmod(conf_dir, 0o755)
        conf = os.path.join(conf_dir, "minioci.conf")
        timing = plain_user.own_dir(os.path.join(plain_user.home, f"timing-{uuid.uuid4().hex[:6]}"))
        with open(conf, "w") as f:
            f.write(f'timing_dir = "{timing}"\n')
        state = plain_user.own_dir(os.path.join(plain_user.home, f"state-{uuid.uuid4().hex[:6]}"))
        os.chmod(state, 0o700)
        r = plain_user.run(["unshare", "--user", "--map-root-user", MINIOCI, "--root", state, "delete", "--force",
                            "no-such-container"], env=plain_user.env(MINIOCI_CONFIG=conf))
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
        assert [f.split(".")[:2] for f in os.listdir(timing)] == [["no-such-container", "delete"]]
        os.chmod(conf, 0o666)                    # still refused when others may write it
        r = plain_user.run(["unshare", "--user", "--map-root-user", MINIOCI, "--root", state, "delete", "--force",
                            "no-such-container"], env=plain_user.env(MINIOCI_CONFIG=conf))
        assert r.returncode == 1 and f"{conf} is writable by group or others" in r.stderr, r.stderr
    finally:
        shutil.rmtree(conf_dir)


def test_a_timing_dir_a_rootless_caller_may_not_write_is_skipped_quietly(plain_user):
    """The host's timing_dir is root's setting: a rootless caller that may
    not write there (a plain user, or root of the user's namespace as under
    rootless podman, whose create stderr reaches the container's output)
    writes no file and says nothing; root is still told."""
    import tempfile
    from pathlib import Path
    conf_dir = Path(tempfile.mkdtemp(prefix="mo-rl-conf-"))     # under /tmp: the user may look in it
    try:
        os.chmod(conf_dir, 0o755)
        timing = conf_dir / "timing"
        timing.mkdir(mode=0o755)                 # root's: the user may not write in it
        conf = conf_dir / "minioci.conf"
        conf.write_text(f'timing_dir = "{timing}"\n')
        state = plain_user.own_dir(os.path.join(plain_user.home, f"state-{uuid.uuid4().hex[:6]}"))
        os.chmod(state, 0o700)
        for prefix in ([], ["unshare", "--user", "--map-root-user"]):
            r = plain_user.run([*prefix, MINIOCI, "--root", state, "delete", "--force", "no-such-container"],
                               env=plain_user.env(MINIOCI_CONFIG=conf))
            assert (r.returncode, r.stderr) == (0, ""), (prefix, r.stderr)
        assert os.listdir(timing) == []
        timing.rmdir()
        timing.write_text("")                    # root cannot write there either: it is told, and the command runs
        r = subprocess.run([MINIOCI, "--root", conf_dir / "root", "delete", "--force", "no-such-container"],
                           capture_output=True, text=True, env={**os.environ, "MINIOCI_CONFIG": str(conf)})
        assert r.returncode == 0 and r.stderr.count("\n") == 1 and f"timing_dir {timing}/" in r.stderr, r.stderr
    finally:
        shutil.rmtree(conf_dir)
