"""Network modes with real containers: veth, ipvlan, macvlan, loopback.

All traffic stays in network namespaces these tests make: each test gets a
private "host" namespace (`hostns`) holding a veth pair p0/p1 as the parent
for ipvlan and macvlan (this kernel may lack the dummy driver), and the
containers' links are made from it (the host-netns annotation, or minioci
run under `nsenter --net`).  The host's own interfaces are never touched.
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import MINIOCI, base_config, needs_root

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

NET = "org.minioci.net."


class HostNS:
    """A private network namespace standing in for the host."""

    def __init__(self):
        self.name = f"mo-t-{uuid.uuid4().hex[:8]}"
        self.path = f"/run/netns/{self.name}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for cmd in ("link set lo up", "link add p0 type veth peer name p1", "link set p0 up",
                    "link set p1 up"):
            self.ip(*cmd.split())

    def ip(self, *args, check=True):
        return subprocess.run(["ip", "-n", self.name, *args], check=check, capture_output=True,
                              text=True).stdout

    def links(self):
        """{name: kind} of every link in it."""
        out = {}
        for link in json.loads(self.ip("-d", "-j", "link", "show")):
            out[link["ifname"]] = (link.get("linkinfo") or {}).get("info_kind")
        return out

    def supports(self, kind):
        """Whether the kernel can make a `kind` link on p0 (ipvlan is often not built)."""
        r = subprocess.run(["ip", "-n", self.name, "link", "add", "probe0", "link", "p0", "type", kind],
                           capture_output=True)
        if r.returncode == 0:
            self.ip("link", "del", "probe0")
        return r.returncode == 0

    def remove(self):
        subprocess.run(["ip", "netns", "del", self.name], check=True)


@pytest.fixture
def hostns():
    if os.geteuid() != 0:
        pytest.skip("makes network namespaces: needs root")
    ns = HostNS()
    yield ns
    ns.remove()


def net_config(script, mode, address=None, hostns=None, caps=("CAP_NET_RAW",), **extra):
    """A busybox config running `script`, attached with these annotations
    (keyword names with _ for -: host_ifname → host-ifname)."""
    cfg = base_config(["sh", "-c", script])
    ann = {NET + "mode": mode}
    if address:
        ann[NET + "address"] = address
    if hostns is not None:
        ann[NET + "host-netns"] = hostns.path
    for k, v in extra.items():
        ann[NET + k.replace("_", "-")] = v
    cfg["annotations"] = ann
    keep = ["CAP_KILL", *caps]
    cfg["process"]["capabilities"] = {k: keep for k in ("bounding", "effective", "permitted")}
    return cfg


def detach(rt, cfg):
    """`run -d`; the container keeps our stdio, so give it none to hold open."""
    cid = rt.new_id()
    err = rt.tmp / f"{cid}.stderr"
    with open(err, "w") as f:
        r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, capture_output=False,
                    stdout=subprocess.DEVNULL, stderr=f)
    assert r.returncode == 0, err.read_text()
    return cid


def netns_mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].endswith("/netns")
                and "/run/minioci-test/" in line.split()[4]]


# ---- two containers reach each other in each mode -----------------------------

MODES = [
    # (id, mode, extra annotations, subnet prefix, gateway on the host side?)
    ("veth", "veth", {}, "10.231.0.", True),
    ("veth-ipv6", "veth", {}, "fd00:231::", True),
    ("macvlan", "macvlan", {"parent": "p0"}, "10.232.0.", False),
    ("ipvlan-l2", "ipvlan", {"parent": "p0", "ipvlan_mode": "l2"}, "10.233.0.", False),
    ("ipvlan-l3", "ipvlan", {"parent": "p0", "ipvlan_mode": "l3"}, "10.234.0.", False),
]


def addr(prefix, n):
    return f"{prefix}{n}/64" if ":" in prefix else f"{prefix}{n}/24"


@needs_root
@pytest.mark.parametrize("name,mode,extra,prefix,host_gateway", MODES, ids=[m[0] for m in MODES])
def test_two_containers_reach_each_other(rt, hostns, name, mode, extra, prefix, host_gateway):
    if mode in ("ipvlan", "macvlan") and not hostns.supports(mode):
        pytest.skip(f"this kernel has no {mode} (CONFIG_{mode.upper()}); test_a_mode_the_kernel_lacks covers it")
    before = hostns.links()
    a_ip, b_ip, gw = f"{prefix}2", f"{prefix}3", f"{prefix}1"
    extra = dict(extra)
    if host_gateway:
        extra.update(gateway=gw, bridge=f"mb{uuid.uuid4().hex[:8]}")
    # A serves one TCP connection; B pings A, then connects until A listens.
    server = net_config("nc -l -p 7000 -e echo pong", mode, addr(prefix, 2), hostns, **extra)
    a = detach(rt, server)
    ping = "ping6" if ":" in prefix else "ping"
    client = net_config(
        f"ip -o addr show eth0; {ping} -c 1 -W 2 {a_ip} >/dev/null && echo ping-ok; "
        + (f"{ping} -c 1 -W 2 {gw} >/dev/null && echo gateway-ok; " if host_gateway else "")
        + f"for i in $(seq 50); do out=$(nc -w 1 {a_ip} 7000 </dev/null) && [ -n \"$out\" ] && break; "
          "sleep 0.1; done; echo tcp-$out",
        mode, addr(prefix, 3), hostns, **extra)
    out = rt.output(client)
    assert f"eth0    inet{'6' if ':' in prefix else ''} {b_ip}/" in out, out
    assert "ping-ok" in out and "tcp-pong" in out, out
    if host_gateway:
        assert "gateway-ok" in out, out
        assert extra["bridge"] in hostns.links()
    # the host side holds only A's links now; after delete, nothing of either
    assert rt.call("delete", "--force", a).returncode == 0
    assert hostns.links() == before
    assert netns_mounts() == []


@needs_root
def test_the_host_side_reaches_a_veth_container_through_the_bridge(rt, hostns):
    bridge = f"mb{uuid.uuid4().hex[:8]}"
    cfg = net_config("nc -l -p 7001 -e echo from-container", "veth", "10.235.0.2/24", hostns,
                     gateway="10.235.0.1", bridge=bridge, host_ifname="mo-test-host")
    cid = detach(rt, cfg)
    links = hostns.links()
    assert links[bridge] == "bridge" and links["mo-test-host"] == "veth"
    assert json.loads(hostns.ip("-j", "link", "show", "mo-test-host"))[0]["master"] == bridge
    assert "10.235.0.1/24" in hostns.ip("-o", "addr", "show", bridge)
    busybox = str(base_config()["root"]["path"]) + "/bin/busybox"
    for _ in range(50):
        got = subprocess.run(["ip", "netns", "exec", hostns.name, busybox, "nc", "-w", "1", "10.235.0.2", "7001"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True).stdout
        if got:
            break
        time.sleep(0.1)
    assert got == "from-container\n"
    assert rt.call("delete", "--force", cid).returncode == 0
    assert set(hostns.links()) == {"lo", "p0", "p1"}


@needs_root
@pytest.mark.direct_only
def test_links_are_made_from_minioci_own_namespace_by_default(rt, hostns):
    # minioci runs inside the private namespace (nsenter --net), with no
    # host-netns annotation: that namespace is "the host" it changes.
    bridge = f"mb{uuid.uuid4().hex[:8]}"
    cfg = net_config("ping -c 1 -W 2 10.236.0.1 >/dev/null && echo reached-the-bridge", "veth", "10.236.0.2/24",
                     gateway="10.236.0.1", bridge=bridge)
    cmd = ["nsenter", f"--net={hostns.path}", *rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id())]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "reached-the-bridge\n"), r.stderr
    assert set(hostns.links()) == {"lo", "p0", "p1"}
    assert bridge not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


@needs_root
def test_a_bridge_minioci_made_stays_while_a_container_uses_it(rt, hostns):
    bridge = f"mb{uuid.uuid4().hex[:8]}"
    ids = []
    for n in (2, 3):
        cfg = net_config("sleep 30", "veth", f"10.237.0.{n}/24", hostns, gateway="10.237.0.1", bridge=bridge)
        ids.append(detach(rt, cfg))
    assert rt.call("delete", "--force", ids[0]).returncode == 0
    assert bridge in hostns.links()                    # the second container's port is on it
    assert rt.call("delete", "--force", ids[1]).returncode == 0
    assert bridge not in hostns.links()
    assert rt.call("delete", "--force", ids[1]).returncode == 0     # again: nothing to do


@needs_root
def test_a_bridge_minioci_did_not_make_is_left_alone(rt, hostns):
    hostns.ip("link", "add", "theirs0", "type", "bridge")
    cfg = net_config("true", "veth", "10.238.0.2/24", hostns, gateway="10.238.0.1", bridge="theirs0")
    rt.output(cfg)
    assert hostns.links()["theirs0"] == "bridge"
    assert "10.238.0.1" not in hostns.ip("-o", "addr", "show", "theirs0")    # not given our gateway


# ---- bad input and failures: a clear error, nothing left ----------------------

def _one_error_line(r, bundle, key):
    assert r.returncode != 0
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"minioci: {bundle}/config.json: annotations.{NET}{key}: "), r.stderr
    return lines[0]


BAD_LIVE = [
    # (id, annotations beyond mode/address/host-netns, annotation key, message part)
    ("parent missing", "macvlan", {"parent": "nope0"}, "parent", "interface 'nope0' does not exist in network namespace"),
    ("host end name clash", "veth", {"host_ifname": "p1"}, "host-ifname", "interface 'p1' already exists"),
    ("bridge name clash", "veth", {"bridge": "p1"}, "bridge", "'p1' exists in network namespace"),
]


@needs_root
@pytest.mark.parametrize("name,mode,extra,key,message", BAD_LIVE, ids=[b[0] for b in BAD_LIVE])
def test_problems_found_on_the_live_system(rt, hostns, name, mode, extra, key, message):
    before = hostns.links()
    bundle = rt.bundle(net_config("true", mode, "10.239.0.2/24", hostns, **extra))
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert message in _one_error_line(r, bundle, key)
    assert hostns.links() == before
    assert netns_mounts() == []


BAD_CONFIG = [
    ("unknown mode", {"mode": "foo"}, "mode", "unknown mode 'foo'"),
    ("malformed address", {"mode": "veth", "address": "10.0.0.999/24"}, "address", "malformed address"),
    ("address without prefix", {"mode": "macvlan", "address": "10.0.0.2", "parent": "p0"}, "address",
     "needs a prefix length"),
    ("unknown annotation", {"mode": "veth", "address": "10.0.0.2/24", "brigde": "x"}, "brigde",
     "unknown network annotation"),
]


@needs_root
@pytest.mark.parametrize("name,annotations,key,message", BAD_CONFIG, ids=[b[0] for b in BAD_CONFIG])
def test_bad_annotations_are_refused_before_anything_is_made(rt, hostns, name, annotations, key, message):
    before = hostns.links()
    cfg = base_config()
    cfg["annotations"] = {NET + k: v for k, v in dict(annotations, **{"host-netns": hostns.path}).items()}
    bundle = rt.bundle(cfg)
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert message in _one_error_line(r, bundle, key)
    assert hostns.links() == before


@needs_root
@pytest.mark.parametrize("mode", ["ipvlan", "macvlan"])
def test_a_mode_the_kernel_lacks(rt, hostns, mode):
    """ipvlan (often not built) or macvlan, on a kernel without it: one
    clear error, nothing made."""
    if hostns.supports(mode):
        pytest.skip(f"this kernel has {mode}; test_two_containers_reach_each_other covers it")
    before = hostns.links()
    bundle = rt.bundle(net_config("true", mode, "10.240.0.2/24", hostns, parent="p0"))
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert f"this kernel has no {mode} support (CONFIG_{mode.upper()})" in _one_error_line(r, bundle, "mode")
    assert hostns.links() == before and netns_mounts() == []


@needs_root
def test_a_failure_after_the_network_is_made_removes_it(rt, hostns):
    bridge = f"mb{uuid.uuid4().hex[:8]}"
    cfg = net_config("true", "veth", "10.241.0.2/24", hostns, gateway="10.241.0.1", bridge=bridge)
    cfg["process"]["args"] = ["no-such-command"]
    r = rt.run(cfg)
    assert r.returncode != 0 and 'exec: "no-such-command": executable file not found' in r.stderr
    assert set(hostns.links()) == {"lo", "p0", "p1"} and netns_mounts() == []


@needs_root
def test_delete_force_after_a_create_killed_half_way(rt, hostns, tmp_path):
    # A createRuntime hook holds `create` after the network is made; then
    # the create is killed, as a crash would, and delete --force cleans up.
    pid_file = tmp_path / "hook.pid"
    bridge = f"mb{uuid.uuid4().hex[:8]}"
    cfg = net_config("true", "veth", "10.242.0.2/24", hostns, gateway="10.242.0.1", bridge=bridge,
                     host_ifname="mo-crash")
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"]}]}
    cid = rt.new_id()
    create = subprocess.Popen(rt.cmd("create", "-b", rt.bundle(cfg), cid), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline and create.poll() is None
        time.sleep(0.05)
    assert {"mo-crash", bridge} <= set(hostns.links()) and len(netns_mounts()) == 1
    create.kill()
    create.wait()
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    r = rt.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert set(hostns.links()) == {"lo", "p0", "p1"} and netns_mounts() == []


@needs_root
def test_a_namespace_joined_by_path_is_left_untouched(rt, hostns):
    cfg = base_config(["sh", "-c", "ls /sys/class/net | sort | tr '\\n' ' '"])
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = hostns.path
    before = hostns.links()
    assert rt.output(cfg) == "lo p0 p1 "
    assert os.path.exists(hostns.path) and hostns.links() == before


@needs_root
def test_loopback_mode_is_the_default_new_namespace(rt):
    script = "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; ls /sys/class/net"
    default = rt.output(base_config(["sh", "-c", script]))
    cfg = base_config(["sh", "-c", script])
    cfg["annotations"] = {NET + "mode": "loopback"}
    assert rt.output(cfg) == default == "unknown\n0x9\nlo\n"


# ---- the hot path stays light -------------------------------------------------

def _imported_modules(rt, cfg):
    """Modules `minioci run` imported (python -X importtime), with its result."""
    cmd = [sys.executable, "-X", "importtime", "-m", "minioci.cli", "--root", rt.root, "run", "-b",
           rt.bundle(cfg), rt.new_id()]
    # cwd: not the checkout, so that -m finds the installed package
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=rt.tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}


@needs_root
def test_a_plain_run_imports_no_pyroute2(rt, hostns):
    plain = _imported_modules(rt, base_config())
    assert "minioci.container" in plain                                 # the probe saw the run path
    assert not {m for m in plain if m.startswith(("pyroute2", "minioci.network", "ipaddress", "asyncio"))}
    veth = _imported_modules(rt, net_config("true", "veth", "10.243.0.2/24", hostns,
                                            bridge=f"mb{uuid.uuid4().hex[:8]}"))
    assert "pyroute2" in veth and "minioci.network.links" in veth      # so the check above can fail


# ---- the benchmark runs, and cleans up (its numbers are not checked) ----------

@needs_root
def test_bench_net_runs_briefly_and_leaves_nothing(tmp_path):
    from conftest import ROOTFS, host_mounts

    def bench_leftovers():
        return ([d for d in os.listdir("/run") if d.startswith("minioci-bench-net-")]
                + [m for m in host_mounts(under=("/run",)) if "minioci-bench-net-" in m])
    assert bench_leftovers() == []
    r = subprocess.run([MINIOCI, "bench", "net", "--rounds", "1", "--seconds", "0.1", "--requests", "50",
                        "--megabytes", "1", "--setup-runs", "1", "--modes", "loopback,veth,macvlan,ipvlan-l3",
                        "--rootfs", str(ROOTFS), "--json"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    paths = {(p["mode"], p["path"]) for p in result["paths"]}
    assert ("loopback", "within one container (lo)") in paths
    for mode in ("veth", "macvlan"):
        assert {(mode, "container to container"), (mode, "host namespace to container")} <= paths
    for p in result["paths"]:
        assert p["requests"] > 0 and p["p50_us"] > 0 and p["mbit_per_s"] > 0, p
    assert result["setup"]["veth"]["network"] > 0 and result["setup"]["veth"]["runs"] == 3
    assert {c["against"] for c in result["veth_cost"]} >= {"macvlan"}
    assert "ipvlan-l3" in result["skipped"] or ("ipvlan-l3", "container to container") in paths
    assert bench_leftovers() == []
