"""`minioci bench net`: what each network mode costs, measured.

For each mode (loopback, veth, macvlan, ipvlan L2 and L3) the benchmark
starts busybox containers with minioci itself and measures, over TCP:

- request latency (p50, p99) and the request rate of 64-byte
  request/response round trips on one connection (a ping-pong, like
  netperf's TCP_RR), and
- throughput of one bulk stream (like TCP_STREAM), timed until the
  receiver has read everything,

between two containers, and between a container and its host network
namespace; plus each mode's setup time from minioci's phase table.

Every packet stays in namespaces the benchmark makes: a private "host"
namespace holds the veth pairs that serve as ipvlan/macvlan parents, the
bridge, and the host side's addresses; the containers' links are made from
it (the host-netns annotation).  Runs are bounded in count and time.

The servers are the containers' own processes (busybox `nc -ll -e cat` to
echo, `nc -ll -e dd` as a sink).  The client is this process: it opens each
socket inside the client's network namespace (the other container's, or the
host namespace), since the busybox rootfs has no measuring client; to the
network, that is the same path.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

from ..errors import MiniociError
from ..flags import Flag, parse_flags
from ..network import netns

NET = "org.minioci.net."
ECHO_PORT, SINK_PORT = 5000, 5001
CAPS = ["CAP_KILL", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]

FLAGS = [
    Flag(("requests", "n"), "requests", "int", 20000, "round trips per latency run (at most)"),
    Flag(("seconds", "s"), "seconds", "str", "2", "time limit of each latency and throughput run"),
    Flag(("megabytes", "m"), "megabytes", "int", 4096, "bytes per throughput run (at most), in MiB"),
    Flag(("size",), "size", "int", 64, "bytes per request and per response"),
    Flag(("rounds", "r"), "rounds", "int", 3, "measure every path this many times, modes interleaved"),
    Flag(("setup-runs",), "setup_runs", "int", 5, "extra `minioci run` per mode to time its setup"),
    Flag(("rootfs",), "rootfs", "str", "bundles/busybox/rootfs", "busybox rootfs for the containers"),
    Flag(("modes",), "modes", "str", "loopback,veth,macvlan,ipvlan-l2,ipvlan-l3", "modes to measure"),
    Flag(("cpus",), "cpus", "str", "same", "same: client and servers on one CPU; split: client on the "
         "first, servers on the second; any: not pinned"),
    Flag(("json",), "json", help="print the results as JSON"),
]

# mode name → (org.minioci.net.mode, extra annotations, subnet, short name for links)
MODES = {
    "loopback": ("loopback", {}, None, "lo"),
    "veth": ("veth", {}, "10.201.0", "ve"),
    "macvlan": ("macvlan", {}, "10.202.0", "mv"),
    "ipvlan-l2": ("ipvlan", {"ipvlan-mode": "l2"}, "10.203.0", "il2"),
    "ipvlan-l3": ("ipvlan", {"ipvlan-mode": "l3"}, "10.204.0", "il3"),
}


def main(g, argv):
    """Entry point (`minioci bench net [flags]`): run, print, clean up."""
    a = parse_flags(argv, FLAGS, where="minioci bench net")
    if a.positional:
        raise MiniociError(f"minioci bench net: unexpected argument {a.positional[0]!r}", status=2)
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            raise MiniociError(f"minioci bench net: unknown mode {m!r} (one of {', '.join(MODES)})", status=2)
    limits = Limits(a.requests, float(a.seconds), a.megabytes << 20, a.size)
    placement = cpu_placement(a.cpus)
    rootfs = os.path.abspath(a.rootfs)
    if not os.path.isfile(os.path.join(rootfs, "bin", "busybox")):
        raise MiniociError(f"minioci bench net: {rootfs} is not a busybox rootfs (--rootfs; `make run` builds "
                           "bundles/busybox/rootfs)")
    bench = Bench(rootfs, modes, limits, placement)
    try:
        bench.prepare()
        results = bench.run(a.rounds, a.setup_runs)
    finally:
        bench.close()
    sys.stdout.write(json.dumps(results, indent=2) + "\n" if a.json else format_report(results))
    return 0


class Limits:
    def __init__(self, requests, seconds, max_bytes, size):
        self.requests, self.seconds, self.max_bytes, self.size = requests, seconds, max_bytes, size


class Bench:
    """The private host namespace, the containers, and their clean-up."""

    def __init__(self, rootfs, modes, limits, placement):
        self.rootfs = rootfs
        self.placement = placement          # (client CPUs, server CPUs) or None
        self.modes = modes
        self.limits = limits
        self.dir = f"/run/minioci-bench-net-{uuid.uuid4().hex[:8]}"    # in /run: root's alone
        self.root = os.path.join(self.dir, "root")
        self.host = os.path.join(self.dir, "host-netns")
        self.ids = []
        self.skipped = {}                   # mode → why it cannot run here
        self.ipr = None

    def prepare(self):
        os.makedirs(self.dir, mode=0o700)
        netns.create(self.host)
        from pyroute2 import IPRoute
        with netns.entered(self.host):
            self.ipr = IPRoute()
        self.ipr.link("set", index=self._index("lo"), state="up")

    # ---- the host namespace's parents and the host side's addresses ----

    def _index(self, name):
        found = self.ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def _parent(self, mode):
        """A veth pair p/q (both up) whose p end is this mode's parent: a
        parent serves one kind of ipvlan/macvlan link, and one ipvlan mode."""
        p, q = f"{MODES[mode][3]}-p", f"{MODES[mode][3]}-q"
        self.ipr.link("add", ifname=p, kind="veth", peer=q)
        for name in (p, q):
            self.ipr.link("set", index=self._index(name), state="up")
        return p

    def _host_side(self, mode, parent, subnet):
        """For ipvlan/macvlan: the host namespace's own link on the parent
        (the parent itself cannot talk to its ipvlan/macvlan children), at .254."""
        from pyroute2.netlink.exceptions import NetlinkError
        kind, extra, _, short = MODES[mode]
        name = f"{short}-h"
        kw = {"macvlan_mode": 4} if kind == "macvlan" else {"ipvlan_mode": 1 if extra["ipvlan-mode"] == "l3" else 0}
        try:
            self.ipr.link("add", ifname=name, kind=kind, link=self._index(parent), **kw)
        except NetlinkError as e:
            return f"this kernel cannot make {kind} links ({os.strerror(e.code)})"
        index = self._index(name)
        self.ipr.addr("add", index=index, address=f"{subnet}.254", prefixlen=24)
        self.ipr.link("set", index=index, state="up")
        return None

    # ---- containers -------------------------------------------------------

    def _config(self, mode, address, script, parent=None):
        from ..specgen import default_config
        cfg = default_config()
        cfg["process"].update(terminal=False, args=["sh", "-c", script], noNewPrivileges=True)
        cfg["process"]["capabilities"] = {k: CAPS for k in ("bounding", "effective", "permitted")}
        cfg["root"] = {"path": self.rootfs, "readonly": True}
        kind, extra, subnet, _ = MODES[mode]
        ann = {NET + "mode": kind}
        if kind != "loopback":
            ann.update({NET + "address": f"{address}/24", NET + "host-netns": self.host})
            ann.update({NET + k: v for k, v in extra.items()})
            if kind == "veth":
                ann.update({NET + "gateway": f"{subnet}.1", NET + "bridge": "mobench0"})
            else:
                ann[NET + "parent"] = parent
        cfg["annotations"] = ann
        bundle = os.path.join(self.dir, "bundles", uuid.uuid4().hex[:8])
        os.makedirs(bundle)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        return bundle

    def _minioci_cmd(self, *args):
        exe = os.path.join(os.path.dirname(sys.executable), "minioci")
        cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "minioci.cli"]
        return cmd + ["--root", self.root, *args]

    def _env(self, timing):
        return dict(os.environ, MINIOCI_TIMING=timing)

    def _start(self, mode, address, parent):
        """A detached server container; (id, netns path, timing JSON)."""
        script = (f"nc -ll -p {ECHO_PORT} -e cat & nc -ll -p {SINK_PORT} -e dd of=/dev/null bs=65536 "
                  "2>/dev/null & wait")
        bundle = self._config(mode, address, script, parent)
        cid = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
        timing = os.path.join(self.dir, f"{cid}.timing.json")
        # run -d leaves the container holding our stdio: give it only files
        err_path = os.path.join(self.dir, f"{cid}.stderr")
        with open(os.devnull, "r+") as null, open(err_path, "w") as err:
            r = subprocess.run(self._minioci_cmd("run", "-d", "-b", bundle, cid), env=self._env(timing),
                               cwd=self.dir, stdin=null, stdout=null, stderr=err, timeout=120)
        if r.returncode != 0:
            with open(err_path) as f:
                raise MiniociError(f"bench net: starting a {mode} container failed: {f.read().strip()}")
        self.ids.append(cid)
        with open(os.path.join(self.root, cid, "state.json")) as f:
            state = json.load(f)
        path = (state.get("network") or {}).get("netns") or f"/proc/{state['pid']}/ns/net"
        with open(timing) as f:
            return cid, path, json.load(f)

    def _setup_times(self, mode, parent, runs):
        """Phase tables of `minioci run` of `true` in this mode."""
        tables = []
        subnet = MODES[mode][2]
        for i in range(runs):
            bundle = self._config(mode, f"{subnet}.{100 + i}" if subnet else None, "true", parent)
            timing = os.path.join(self.dir, f"setup-{mode}-{i}.json")
            r = subprocess.run(self._minioci_cmd("run", "-b", bundle, f"bench-setup-{uuid.uuid4().hex[:8]}"),
                               env=self._env(timing), cwd=self.dir, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise MiniociError(f"bench net: a {mode} run failed: {r.stderr.strip()}")
            with open(timing) as f:
                tables.append(json.load(f))
        return tables

    # ---- the measurement ---------------------------------------------------

    def run(self, rounds, setup_runs):
        paths = []               # (mode, path name, client netns, server address)
        setups = {}
        if self.placement:
            os.sched_setaffinity(0, self.placement[1])     # the containers inherit it
        for mode in self.modes:
            kind, _, subnet, _ = MODES[mode]
            parent = None
            if kind in ("ipvlan", "macvlan"):
                parent = self._parent(mode)
                why = self._host_side(mode, parent, subnet)
                if why:
                    self.skipped[mode] = why
                    continue
            if kind == "loopback":
                _, a_ns, t_a = self._start(mode, None, None)
                paths.append((mode, "within one container (lo)", a_ns, "127.0.0.1"))
                starts = [t_a]
            else:
                _, _, t_a = self._start(mode, f"{subnet}.2", parent)
                _, b_ns, t_b = self._start(mode, f"{subnet}.3", parent)
                paths.append((mode, "container to container", b_ns, f"{subnet}.2"))
                paths.append((mode, "host namespace to container", self.host, f"{subnet}.2"))
                starts = [t_a, t_b]
            setups[mode] = starts + self._setup_times(mode, parent, setup_runs)
        for _, _, client_ns, server in paths:
            _wait_for_server(client_ns, server, ECHO_PORT)
            _wait_for_server(client_ns, server, SINK_PORT)
        if self.placement:
            os.sched_setaffinity(0, self.placement[0])
        samples = {(m, p): [] for m, p, _, _ in paths}
        for _ in range(rounds):
            for mode, name, client_ns, server in paths:
                samples[(mode, name)].append(measure(client_ns, server, self.limits))
        return {
            "machine": _machine(),
            "limits": vars(self.limits),
            "rounds": rounds,
            "cpus": self.placement and [sorted(c) for c in self.placement],
            "setup": {mode: summarize_setup(tables) for mode, tables in setups.items()},
            "paths": [dict(mode=m, path=p, **summarize(samples[(m, p)]), rounds=samples[(m, p)])
                      for m, p, _, _ in paths],
            "veth_cost": veth_cost(samples),
            "skipped": self.skipped,
        }

    def close(self):
        for cid in self.ids:
            subprocess.run(self._minioci_cmd("delete", "--force", cid), capture_output=True, timeout=60)
        if self.ipr is not None:
            self.ipr.close()
        if os.path.exists(self.host):
            netns.remove(self.host)     # with it go the parents, shims and bridge in it
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_placement(how):
    """(client CPUs, server CPUs) for --cpus, or None to leave it to the scheduler."""
    cpus = sorted(os.sched_getaffinity(0))
    if how == "any":
        return None
    if how == "same":
        return {cpus[0]}, {cpus[0]}
    if how == "split":
        if len(cpus) < 2:
            raise MiniociError("minioci bench net: --cpus split needs two CPUs")
        return {cpus[0]}, {cpus[1]}
    raise MiniociError(f"minioci bench net: --cpus {how!r}: same, split or any", status=2)


# measure → (veth's cost against another mode as a fraction, the better of two values)
COSTS = {"p50_us": (lambda veth, other: veth / other - 1, min),
         "rate_per_s": (lambda veth, other: 1 - veth / other, max),
         "mbit_per_s": (lambda veth, other: 1 - veth / other, max)}


def veth_cost(samples):
    """veth against each attach-to-parent mode, path by path: latency p50
    added, request rate and throughput lost, as fractions.  Per round (modes
    are interleaved, so drift hits both alike): median and range; and each
    mode's best round against the other's, the least disturbed by whatever
    else the machine was doing."""
    out = []
    for (mode, path), other in samples.items():
        veth = samples.get(("veth", path))
        if mode in ("veth", "loopback") or not veth:
            continue
        row = {"against": mode, "path": path, "best": {}}
        for key, (cost, better) in COSTS.items():
            values = [cost(v[key], o[key]) for v, o in zip(veth, other)]
            row[key] = {"median": median(values), "min": min(values), "max": max(values)}
            row["best"][key] = cost(better(v[key] for v in veth), better(o[key] for o in other))
        out.append(row)
    return out


def _wait_for_server(client_ns, server, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            _connect(client_ns, server, port).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise MiniociError(f"bench net: no server at {server}:{port} from {client_ns}") from None
            time.sleep(0.05)


def _connect(client_ns, server, port):
    with netns.entered(client_ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.connect((server, port))
    except OSError:
        s.close()
        raise
    return s


def measure(client_ns, server, limits):
    """One latency run and one throughput run from client_ns to server."""
    return dict(latency_run(client_ns, server, limits), **stream_run(client_ns, server, limits))


def latency_run(client_ns, server, limits):
    """Round trips of `size` bytes on one connection; every round trip timed."""
    msg = b"x" * limits.size
    times = []
    s = _connect(client_ns, server, ECHO_PORT)
    try:
        clock = time.perf_counter_ns
        start = clock()
        stop = start + int(limits.seconds * 1e9)
        for _ in range(limits.requests):
            t0 = clock()
            s.sendall(msg)
            got = 0
            while got < limits.size:
                chunk = s.recv(limits.size - got)
                if not chunk:
                    raise MiniociError("bench net: the echo server closed the connection")
                got += len(chunk)
            t1 = clock()
            times.append(t1 - t0)
            if t1 > stop:
                break
        elapsed = clock() - start
    finally:
        s.close()
    times.sort()
    return {"requests": len(times), "p50_us": percentile(times, 50) / 1e3, "p99_us": percentile(times, 99) / 1e3,
            "rate_per_s": len(times) / (elapsed / 1e9)}


def stream_run(client_ns, server, limits):
    """Send until the byte or time limit, then time until the receiver has
    read everything (its close), not only until our buffers took it."""
    block = b"\0" * 65536
    s = _connect(client_ns, server, SINK_PORT)
    sent = 0
    try:
        start = time.perf_counter_ns()
        stop = start + int(limits.seconds * 1e9)
        while sent < limits.max_bytes and time.perf_counter_ns() < stop:
            s.sendall(block)
            sent += len(block)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        while s.recv(4096):
            pass
        elapsed = time.perf_counter_ns() - start
    finally:
        s.close()
    return {"stream_bytes": sent, "mbit_per_s": sent * 8 / (elapsed / 1e9) / 1e6}


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def median(values):
    values = sorted(values)
    n = len(values)
    return (values[n // 2] + values[(n - 1) // 2]) / 2 if n else float("nan")


def summarize(samples):
    """Medians over the rounds of each measure, and the rounds' spread."""
    out = {k: median([s[k] for s in samples]) for k in ("p50_us", "p99_us", "rate_per_s", "mbit_per_s")}
    out["requests"] = sum(s["requests"] for s in samples)
    out["mbit_per_s_range"] = [min(s["mbit_per_s"] for s in samples), max(s["mbit_per_s"] for s in samples)]
    out["p50_us_range"] = [min(s["p50_us"] for s in samples), max(s["p50_us"] for s in samples)]
    return out


SETUP_PHASES = ("network.import", "network", "ns.net")


def summarize_setup(tables):
    """Medians (ms) of the network phases and of the whole start."""
    out = {}
    for phase in SETUP_PHASES:
        out[phase] = median([sum(p["ms"] for p in t["phases"] if p["phase"] == phase) for t in tables])
    out["total"] = median([t["total_ms"] for t in tables])
    removes = [p["ms"] for t in tables for p in t.get("after_exit", []) if p["phase"] == "network.remove"]
    out["network.remove"] = median(removes) if removes else None
    out["runs"] = len(tables)
    return out


def _machine():
    return {"kernel": os.uname().release, "cpus": os.cpu_count()}


def format_report(r):
    placement = "not pinned" if not r["cpus"] else \
        f"client on CPU {r['cpus'][0]}, servers on CPU {r['cpus'][1]}"
    lines = [f"minioci bench net — kernel {r['machine']['kernel']}, {r['machine']['cpus']} CPUs, "
             f"{r['rounds']} rounds (medians), {r['limits']['size']}-byte requests, {placement}", "",
             f"{'mode':<10} {'path':<28} {'p50 us':>8} {'p99 us':>8} {'req/s':>9} {'Mbit/s':>9}"]
    for p in r["paths"]:
        lines.append(f"{p['mode']:<10} {p['path']:<28} {p['p50_us']:>8.1f} {p['p99_us']:>8.1f} "
                     f"{p['rate_per_s']:>9.0f} {p['mbit_per_s']:>9.0f}")
    lines += ["", f"{'mode':<10} {'import ms':>9} {'network ms':>10} {'ns.net ms':>9} {'remove ms':>9} "
                  f"{'start ms':>9}  (setup: medians over starts; remove: after exit of `run`)"]
    for mode, s in r["setup"].items():
        remove = f"{s['network.remove']:>9.2f}" if s["network.remove"] is not None else f"{'-':>9}"
        lines.append(f"{mode:<10} {s['network.import']:>9.2f} {s['network']:>10.2f} {s['ns.net']:>9.3f} "
                     f"{remove} {s['total']:>9.2f}  ({s['runs']} starts)")
    if r["veth_cost"]:
        lines += ["", "veth's cost, per round against the same round's other mode (median, min..max):",
                  f"{'against':<10} {'path':<28} {'latency p50 +':>22} {'req/s -':>22} {'Mbit/s -':>22}"]
        for c in r["veth_cost"]:
            cells = [f"{100 * c[k]['median']:+.0f}% ({100 * c[k]['min']:+.0f}..{100 * c[k]['max']:+.0f})"
                     for k in ("p50_us", "rate_per_s", "mbit_per_s")]
            lines.append(f"{c['against']:<10} {c['path']:<28} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22}")
            best = [f"{100 * c['best'][k]:+.0f}%" for k in ("p50_us", "rate_per_s", "mbit_per_s")]
            lines.append(f"{'':<10} {'  best round against best':<28} {best[0]:>22} {best[1]:>22} {best[2]:>22}")
    for mode, why in r["skipped"].items():
        lines.append(f"{mode}: not measured: {why}")
    return "\n".join(lines) + "\n"
