"""`minioci bench density N`: N containers (busybox `sleep`) created and
started at once, then deleted, per runtime: total and per-container time, and
the peak memory of the runtime's processes (GNU time's max RSS, so the
Debian package `time` is needed).  Checks that nothing is left.

minioci runs direct and served (`minioci-served`: a server of its own, with
its socket in its state root, for the session).  Served, the process GNU time sees is the front end; the
command's work is in the server's workers, forked from it (their memory is
mostly the server's, shared until written).

Each runtime runs in a driver process of its own (`python -m
minioci.bench.density --driver ...`), so crun can be given a private mount
namespace without /sys/fs/cgroup/unified on a hybrid host (see startup.py).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ..errors import MiniociError
from ..flags import Flag, parse_flags
from . import HIDE_UNIFIED, find_peers, hides_unified, minioci_path, rmdir_if_empty, served_socket

FLAGS = [
    Flag(("runtime",), "runtime", "list", help="a peer runtime to compare (default: crun and runc, if found)"),
    Flag(("bundles",), "bundles", "str", "bundles", "directory holding busybox/"),
    Flag(("json",), "json", help="print the results as JSON"),
]
CGROUP_PARENT = "minioci-bench-density"
DENSITY_ROOT = "/run/minioci-bench-density"


def main(g, argv):
    a = parse_flags(argv, FLAGS, where="minioci bench density")
    if len(a.positional) != 1 or not a.positional[0].isdigit() or int(a.positional[0]) < 1:
        raise MiniociError("usage: minioci bench density N [--runtime PATH]...")
    n = int(a.positional[0])
    runtimes = [("minioci", minioci_path()), ("minioci-served", minioci_path())] + find_peers(a.runtime)
    hide = hides_unified()
    rootfs = os.path.abspath(os.path.join(a.bundles, "busybox", "rootfs"))
    results = {}
    for name, path in runtimes:
        sys.stderr.write(f"density: {name}, {n} containers\n")
        cmd = [sys.executable, "-m", "minioci.bench.density", "--driver", name, path, str(n), rootfs]
        if hide and name == "crun":
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   HIDE_UNIFIED + ' && exec "$@"', "sh"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise MiniociError(f"bench density: {name}: {r.stderr.strip()}")
        results[name] = json.loads(r.stdout)
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        sys.stdout.write(markdown(n, results))
    return 0


def markdown(n, results):
    lines = [f"## Density: {n} containers at once", "",
             "| runtime | create+start, total s | per container ms | delete, total s | peak RSS of one runtime "
             "process, KiB | left behind |", "|---|---:|---:|---:|---:|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['up_s']:.2f} | {1000 * r['up_s'] / n:.1f} | {r['down_s']:.2f} | "
                     f"{r['peak_rss_kib']} | {', '.join(r['left']) or 'nothing'} |")
    return "\n".join(lines) + "\n"


def _config(rootfs, cid):
    from ..specgen import default_config
    cfg = default_config()
    cfg["process"].update(terminal=False, args=["/bin/busybox", "sleep", "600"])
    cfg["root"]["path"] = rootfs
    cfg["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{cid}"
    return cfg


def _spawn_all(argvs, work):
    """Start every command at once; wait for all.  Returns (seconds, the
    largest max RSS among them in KiB, failures).

    Each runs under GNU time, which reports its max RSS: a process forked
    from this Python would start its high-water mark at ours (~15 MiB)."""
    t0 = time.monotonic()
    procs = []
    for i, argv in enumerate(argvs):
        rss = os.path.join(work, f"rss-{i}")
        procs.append((subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss] + argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), rss))
    peak, failures = 0, []
    for p, rss in procs:
        p.wait()
        if p.returncode != 0:
            failures.append(p.stderr.read().decode(errors="replace").strip())
    elapsed = time.monotonic() - t0
    for _, rss in procs:
        with open(rss) as f:
            last = f.read().split()[-1]
        if last.isdigit():
            peak = max(peak, int(last))
    return elapsed, peak, failures


def driver(name, runtime, n, rootfs):
    work = tempfile.mkdtemp(prefix="minioci-density-")   # 0700, ours alone: plain writes are safe
    root = os.path.join(DENSITY_ROOT, name)
    ids = [f"density-{name}-{i}" for i in range(n)]
    try:
        for cid in ids:
            os.makedirs(os.path.join(work, cid))
            with open(os.path.join(work, cid, "config.json"), "w") as f:
                json.dump(_config(rootfs, cid), f)
        rt = [runtime, "--root", root]
        server = None
        if name.startswith("minioci"):
            # The front end's way: served, or the direct path.
            os.environ["MINIOCI_SERVE"] = "always" if name == "minioci-served" else "never"
        if name == "minioci-served":
            serve = [runtime, "serve", "--socket", served_socket(root)]
            os.environ["MINIOCI_SERVE_SOCKET"] = served_socket(root)
            server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while subprocess.run(serve + ["--status"], capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise MiniociError("minioci serve did not start")
                time.sleep(0.01)
        t_create, peak1, fail1 = _spawn_all([rt + ["create", "--bundle", os.path.join(work, c), c] for c in ids], work)
        t_start, peak2, fail2 = _spawn_all([rt + ["start", c] for c in ids], work)
        t_delete, peak3, fail3 = _spawn_all([rt + ["delete", "--force", c] for c in ids], work)
        if server is not None:
            subprocess.run(serve + ["--stop"], capture_output=True)
            server.wait(30)
        left = _leftovers(root, ids)
        failures = fail1 + fail2 + fail3
        return {"up_s": t_create + t_start, "create_s": t_create, "start_s": t_start, "down_s": t_delete,
                "peak_rss_kib": max(peak1, peak2, peak3), "failures": failures[:5], "left": left}
    finally:
        for cid in ids:
            subprocess.run([runtime, "--root", root, "delete", "--force", cid], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        rmdir_if_empty(DENSITY_ROOT)
        for base in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", base, CGROUP_PARENT))
            except OSError:
                pass


def _leftovers(root, ids):
    left = [f"state {c}" for c in ids if os.path.exists(os.path.join(root, c))]
    for base in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", base, CGROUP_PARENT)
        if os.path.isdir(d):
            left += [f"cgroup {base}/{CGROUP_PARENT}/{e}" for e in os.listdir(d) if e in ids]
    return left


if __name__ == "__main__":
    if sys.argv[1:2] == ["--driver"]:
        print(json.dumps(driver(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))
