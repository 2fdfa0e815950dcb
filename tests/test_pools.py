"""What a server makes ahead of a request (spare workers and the sandboxes
they make, resident workers) carries nothing from one request to another:
bursts of containers with different configs, each checked from inside
(fds, environment, namespaces, cgroup, capabilities, seccomp, hostname,
network), and the made-ahead part showing in the phase table."""
import json
import os
import subprocess
import time

from conftest import CAPS, base_config

# Printed by each container, one "key value..." per line.
PROBE = (
    "echo fds $(ls /proc/self/fd | sort -n | tr '\\n' ' '); "
    "echo env $(env | sort | tr '\\n' ' '); "
    "for n in net ipc uts mnt pid cgroup user; do echo ns.$n $(readlink /proc/self/ns/$n); done; "
    "echo cgroup $(grep -m1 -e memory -e '^0::' /proc/self/cgroup | cut -d: -f3); "
    "echo procs $(cat /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null | tr '\n' ' '); "
    "echo caps $(grep CapEff /proc/self/status | cut -f2); "
    "echo seccomp $(grep '^Seccomp:' /proc/self/status | cut -f2); "
    "echo hostname $(hostname); "
    "echo links $(cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '); "
    "echo lo $(cat /sys/class/net/lo/flags 2>/dev/null || echo -); "
    "echo mkdir $(mkdir /tmp/x 2>/dev/null && echo ok || echo refused); "
    "echo lodown $(ip link set lo down 2>/dev/null && echo ok || echo refused)"
)

CAP_BITS = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_AUDIT_WRITE": 29}


def config(n):
    """Four kinds of config, told apart by n % 4: each differs in what it
    gets (environment, capabilities, seccomp, hostname, namespaces)."""
    cfg = base_config(["sh", "-c", PROBE])
    cfg["root"]["readonly"] = False if n % 4 == 3 else True
    cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})
    cfg["process"]["env"] = ["PATH=/bin", f"WHO=config{n % 4}", f"N={n}"]
    cfg["hostname"] = f"config{n % 4}"
    caps = [["CAP_KILL"], ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"], CAPS + ["CAP_NET_ADMIN"], ["CAP_NET_ADMIN"]][n % 4]
    cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    if n % 4 == 0:          # seccomp: mkdir refused
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    if n % 4 == 1:          # the host's network (no sandbox's), and its cgroup seen by its name
        cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] not in ("network", "cgroup")]
    if n % 4 == 3:          # a user namespace: its namespaces must be its own
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    return cfg, caps


def parse(out):
    return {line.split(" ", 1)[0]: (line.split(" ", 1) + [""])[1].strip() for line in out.splitlines()}


def check(n, out, caps):
    """One container's view of itself, against its config alone."""
    got = parse(out)
    k = n % 4
    assert got["fds"].split() == ["0", "1", "2", "3"], got["fds"]       # 3: ls's own directory
    env = {e for e in got["env"].split() if not e.startswith(("PWD=", "SHLVL="))}     # the shell's own
    assert env == {"PATH=/bin", f"WHO=config{k}", f"N={n}", "HOME=/root"}, got["env"]
    assert got["hostname"] == f"config{k}"
    assert int(got["caps"], 16) == sum(1 << CAP_BITS[c] for c in caps)
    assert got["seccomp"] == ("2" if k == 0 else "0")
    assert got["mkdir"] == ("refused" if k == 0 else "ok")
    host_net = os.readlink("/proc/self/ns/net")
    if k == 1:
        assert got["ns.net"] == host_net                            # shares the host's, as asked
    else:
        assert got["ns.net"] != host_net
        assert got["links"].split() == ["lo"] and int(got["lo"], 16) & 1       # a fresh one, lo up
    if k == 3:                  # its network namespace is its user namespace's: root there may change it
        assert got["lodown"] == "ok"
    return got


def create_all(rt, tmp_path, ns, at_once):
    """`create` containers n in `ns`, `at_once` at a time, each one's output
    going to a file; {n: (output file, caps, id)}."""
    made = {}
    ns = list(ns)
    for i in range(0, len(ns), at_once):
        procs = []
        for n in ns[i:i + at_once]:
            cfg, caps = config(n)
            cid = rt.new_id()
            out = tmp_path / f"out-{n}"
            with open(out, "w") as f, open(tmp_path / f"err-{n}", "w") as e:
                procs.append((n, subprocess.Popen(rt.cmd("create", "-b", rt.bundle(cfg), cid), stdout=f, stderr=e)))
            made[n] = (out, caps, cid)
        for n, p in procs:
            assert p.wait(120) == 0, (n, (tmp_path / f"err-{n}").read_text())
    return made


def state(rt, cid):
    return json.loads(rt.call("state", cid).stdout)


def test_nothing_made_ahead_carries_over_between_requests(rt, tmp_path):
    """A burst of creates (fresh forks and spares serving them), then more
    one at a time (spares with their sandboxes), all alive at once: no two
    share a namespace they asked to be new; started and deleted by resident
    workers, each shows what its config says and nothing of another's."""
    from conftest import Server
    rt.server = Server(rt.socket).start()
    os.environ["MINIOCI_SERVE"] = "always"          # the rt fixture restores it
    made = create_all(rt, tmp_path, range(12), at_once=12)
    made.update(create_all(rt, tmp_path, range(12, 20), at_once=1))
    seen = {name: {} for name in ("net", "ipc", "uts", "mnt", "pid", "cgroup")}
    host = {name: os.readlink(f"/proc/self/ns/{name}") for name in seen}
    for n, (_, _, cid) in made.items():
        pid = state(rt, cid)["pid"]
        for name, owners in seen.items():
            inode = os.readlink(f"/proc/{pid}/ns/{name}")
            if name in ("net", "cgroup") and n % 4 == 1:
                assert inode == host[name]
                continue
            assert inode not in owners and inode != host[name], (name, n, owners.get(inode))
            owners[inode] = n
    for n, (_, _, cid) in made.items():
        assert rt.call("start", cid).returncode == 0
    for n, (out, caps, cid) in made.items():
        deadline = time.monotonic() + 60
        while state(rt, cid)["status"] != "stopped":
            assert time.monotonic() < deadline, f"container {n} still runs"
            time.sleep(0.02)
        got = check(n, out.read_text(), caps)
        # its own cgroup: by name, or (a cgroup namespace) rooted there, holding only its own processes
        assert got["cgroup"] == (f"/minioci/{cid}" if n % 4 == 1 else "/"), got["cgroup"]
        assert got["procs"] and "0" not in got["procs"].split()
        assert rt.call("delete", cid).returncode == 0
    status = rt.server.status()
    assert int(status["requests"]) >= 3 * 20 and int(status["resident-requests"]) >= 2 * 20


def test_the_phase_table_shows_the_sandbox_made_ahead(rt):
    """A served run that got a sandbox from the server's pool: `ns.net` is
    the join, and what making it cost shows apart, as made ahead (not in
    the total)."""
    from conftest import Server
    rt.server = Server(rt.socket).start()
    os.environ["MINIOCI_SERVE"] = "always"
    bundle = rt.bundle(base_config())
    tables = []
    for _ in range(4):                  # the first may come before the spare has made any
        r = rt.call("run", "--timing=json", "-b", bundle, rt.new_id())
        assert r.returncode == 0, r.stderr
        tables.append(json.loads(r.stderr.strip().splitlines()[-1]))
    ahead = [t for t in tables if t.get("ahead")]
    assert ahead, [t["phases"] for t in tables]
    for t in ahead:
        assert [a["phase"] for a in t["ahead"]] == ["sandbox"] and t["ahead"][0]["ms"] > 0
        phases = {p["phase"]: p["ms"] for p in t["phases"]}
        assert "ns.net" in phases and abs(t["total_ms"] - sum(phases.values())) < 1e-6    # not counted in
    r = rt.call("run", "--timing", "-b", bundle, rt.new_id())
    assert "\nmade ahead: sandbox " in r.stderr


def _namespace_fds(pids):
    """{'net:[inode]', ...}: namespaces these processes hold open as fds."""
    held = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith(("net:[", "ipc:[", "uts:[")):
                    held.add(link)
        except OSError:
            pass
    return held


def _anyone_holds(namespaces):
    """Those of `namespaces` some process still has, as an fd or as its own."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        found |= _namespace_fds([pid]) & namespaces
        for kind in ("net", "ipc", "uts"):
            try:
                found |= {os.readlink(f"/proc/{pid}/ns/{kind}")} & namespaces
            except OSError:
                pass
    return found


def test_the_sandboxes_a_server_made_go_with_it(rt):
    """Sandboxes are held by fds only (the server's, its spare's): killed,
    the server and its workers take them along; nothing is left to clean."""
    from conftest import Server, alive
    rt.server = Server(rt.socket).start()
    os.environ["MINIOCI_SERVE"] = "always"
    server = rt.server
    deadline = time.monotonic() + 30
    while server.status()["sandboxes"] == "0":
        assert time.monotonic() < deadline, "no sandbox made"
        time.sleep(0.02)
    status = server.status()
    workers = [int(p) for key in ("spares", "residents") for p in status[key].split() if p.isdigit()]
    made = _namespace_fds([server.proc.pid] + workers)
    assert len(made) >= 3                          # a network, IPC and UTS namespace at least
    server.proc.kill()
    server.proc.wait()
    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers):
        assert time.monotonic() < deadline, "the workers outlived their server"
        time.sleep(0.02)
    assert _anyone_holds(made) == set()
    server.start()                                 # the next one takes the dead one's socket and hold


def test_one_bundle_again_and_again_gets_the_same_each_time(rt):
    """A resident worker serves one request after another: a config used
    again is read again, and what a start changed in the last one's Spec
    (here the capabilities it could not grant, left out with a warning)
    does not carry into the next (it did when configs were kept)."""
    from conftest import Server
    rt.server = Server(rt.socket).start()
    os.environ["MINIOCI_SERVE"] = "always"
    with open("/proc/self/status") as f:
        have = int(next(line.split()[1] for line in f if line.startswith("CapBnd:")), 16)
    asked = ["CAP_KILL", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]
    cfg = base_config(["sh", "-c", "grep CapBnd /proc/self/status"])
    cfg["process"]["capabilities"] = {k: asked for k in ("bounding", "effective", "permitted")}
    bundle = rt.bundle(cfg)
    bits = {"CAP_KILL": 5, "CAP_SYS_RESOURCE": 24, "CAP_NET_ADMIN": 12}
    runs = [rt.call("run", "-b", bundle, rt.new_id()) for _ in range(3)]
    for r in runs:
        assert r.returncode == 0, r.stderr
        assert int(r.stdout.split()[1], 16) == sum(1 << b for b in bits.values()) & have
        assert ("not granted" in r.stderr) == (not have >> bits["CAP_SYS_RESOURCE"] & 1)
    assert rt.server.status()["residents"] != "-"
