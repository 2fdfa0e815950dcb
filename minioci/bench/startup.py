"""`minioci bench`: container startup, side by side with crun and runc.

minioci runs three ways: `minioci` (the direct path: the front end runs
Python), `minioci-served` (a server on its own state root, `minioci serve`,
started for each round in the session's namespaces), and `minioci-sh` (the
direct path as the shell launcher before the front end started it, for the
"no slower than before" comparison).

One session per round; each is one hyperfine invocation over every command,
and the rounds interleave them, so a drift of the machine hits all runtimes
alike.  Cases:

- `run` of bundles/busybox (no seccomp) and of bundles/podman-default
  (podman's seccomp profile), with minioci's seccomp cache warm and cold
  (crun 1.8.1 and runc compile the profile on every start anyway);
- a `create → start → delete` cycle of bundles/busybox.

Every bundle runs `/bin/busybox true`, so what is measured is the runtime.
minioci writes its phase timings for each run (MINIOCI_TIMING=<dir>/), and
the report gives each phase's median next to the whole-process medians.
Results go to bench-results/<timestamp>.{json,md} and, with matplotlib
(`pip install minioci[bench]`), a chart.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from ..errors import MiniociError
from ..flags import Flag, parse_flags
from . import (HIDE_UNIFIED, WAYS, find_peers, hides_unified, minioci_path, phases, rmdir_if_empty, served_socket,
               write_report)

DEFAULT_CASES = "run:busybox,run:podman-default,cold:podman-default,cycle:busybox"
FLAGS = [
    Flag(("runtime",), "runtime", "list", help="a peer runtime to compare (default: crun and runc, if found)"),
    Flag(("runs", "r"), "runs", "int", 30, "timed runs of each command (over all rounds)"),
    Flag(("warmup", "w"), "warmup", "int", 5, "untimed runs of each command first, in each round"),
    Flag(("rounds",), "rounds", "int", 3, "hyperfine sessions, the commands interleaved between them"),
    Flag(("bundles",), "bundles", "str", "bundles", "directory holding busybox/ and podman-default/"),
    Flag(("out", "o"), "out", "str", "bench-results", "where the JSON, markdown and chart go"),
    Flag(("no-chart",), "no_chart", help="skip the chart"),
    Flag(("cases",), "cases", "str", DEFAULT_CASES, "which cases to run"),
    Flag(("ways",), "ways", "str", "minioci,minioci-served,minioci-sh", "which ways to run minioci"),
    Flag(("user",), "user", "str", help="rootless: every runtime runs as this plain user, each bundle "
                                         "in a user namespace mapping its ids (docs/rootless.md)"),
]

# The issues' targets: (case, minioci's way, peer, ratio way/peer must stay at or under).
TARGETS = [
    ("run:busybox", "minioci-served", "crun", 0.8),
    ("cycle:busybox", "minioci-served", "crun", 0.8),
    ("run:podman-default", "minioci-served", "crun", 0.4),
    ("run:busybox", "minioci", "minioci-sh", 1.0),          # the direct path no slower than before
    ("run:podman-default", "minioci", "crun", 0.75), ("run:podman-default", "minioci", "runc", 0.45),
    ("run:busybox", "minioci", "runc", 0.7), ("run:busybox", "minioci", "crun", 1.8),
    ("cycle:busybox", "minioci", "runc", 0.5),
]

# The shell launcher the front end replaced (bin/minioci until then): the
# direct path's "before", timed side by side.
SHELL_LAUNCHER = """#!/bin/sh
exec "$PYTHON" -I -S -c 'import sys
sys.path.insert(0, sys.argv.pop(1))
from minioci.cli import run
run()' "$SITE" "$@"
"""

# Each round: hide the unified hierarchy if crun needs it, start the servers
# the served way needs (in this namespace, as their clients: $AS_USER for a
# rootless session; each on a socket of its own in its way's state root,
# which its commands name in MINIOCI_SERVE_SOCKET), run hyperfine.
ROUND = """#!/bin/sh
[ "$HIDE" = 1 ] && { eval "$HIDE_UNIFIED" || exit 1; }
for sock in $SERVED; do
    $AS_USER "$MINIOCI" serve --socket "$sock" >/dev/null 2>&1 &
done
for sock in $SERVED; do
    n=0
    until $AS_USER "$MINIOCI" serve --socket "$sock" --status >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -gt 3000 ] && echo "bench: minioci serve did not start" >&2 && exit 1
        sleep 0.01
    done
done
"$@"
rc=$?
for sock in $SERVED; do $AS_USER "$MINIOCI" serve --socket "$sock" --stop >/dev/null 2>&1; done
exit $rc
"""

BENCH_ROOT = "/run/minioci-bench"     # each runtime's state root goes under it, and all of it after

CYCLE = """#!/bin/sh
# create -> start -> delete of one container, as podman drives a runtime
rt=$1; shift
"$rt" "$@" create --bundle "$BUNDLE" "$ID" && "$rt" "$@" start "$ID" && "$rt" "$@" delete --force "$ID"
"""


def main(g, argv):
    a = parse_flags(argv, FLAGS, where="minioci bench")
    me = minioci_path()
    peers = find_peers(a.runtime)
    # 0700 and ours alone: the bundles and scripts written in it need no
    # care against planted files (the results in --out do: write_results).
    work = tempfile.mkdtemp(prefix="minioci-bench-")
    if a.user:
        os.chmod(work, 0o755)        # the user reads the bundles and scripts; only we write there
    try:
        result = run_bench(a, me, peers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    paths = write_results(result, a.out, chart=not a.no_chart)
    sys.stdout.write(markdown(result))
    sys.stdout.write("\nwrote " + ", ".join(paths) + "\n")
    return 0


def bench_bundle(src, work, name, user=None):
    """A copy of bundle `src`'s config that runs `/bin/busybox true` on the
    same rootfs, with nothing host-specific (no namespace paths); for a
    rootless session (`user`: name, uid, gid) a config that user can run."""
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["/bin/busybox", "true"]
    cfg["process"]["terminal"] = False
    cfg["root"]["path"] = os.path.abspath(os.path.join(src, cfg["root"]["path"]))
    for ns in cfg.get("linux", {}).get("namespaces", []):
        ns.pop("path", None)
    cfg.get("linux", {}).pop("cgroupsPath", None)
    # A mount source that only existed on the machine the config came from
    cfg["mounts"] = [m for m in cfg.get("mounts", [])
                     if m.get("type") != "bind" or os.path.exists(m.get("source", ""))]
    if user:
        from ..specgen import make_rootless
        make_rootless(cfg, user[1], user[2])
    out = os.path.join(work, name)
    os.makedirs(out)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
    return out


def run_bench(a, me, peers, work):
    ways = [w for w in a.ways.split(",") if w]
    for w in ways:
        if w not in WAYS:
            raise MiniociError(f"bench: --ways {w!r}: use {', '.join(WAYS)}")
    user = _user(a.user) if a.user else None
    as_user = ["setpriv", f"--reuid={user[1]}", f"--regid={user[2]}", "--init-groups", "--"] if user else []
    # A rootless session's state roots are the user's, in the work directory.
    roots = {name: os.path.join(os.path.join(work, "state") if user else BENCH_ROOT, name)
             for name in ways + [n for n, _ in peers]}
    for root in roots.values() if user else ():
        os.makedirs(root, 0o700)
        os.chown(root, user[1], user[2])
        os.chown(os.path.dirname(root), user[1], user[2])
    launcher = os.path.join(work, "minioci-sh")
    with open(launcher, "w") as f:
        f.write(SHELL_LAUNCHER)
    os.chmod(launcher, 0o755)
    round_script = os.path.join(work, "round.sh")
    with open(round_script, "w") as f:
        f.write(ROUND)
    bundles = {}
    for src in ("busybox", "podman-default"):
        path = os.path.join(a.bundles, src)
        if os.path.isfile(os.path.join(path, "config.json")):
            bundles[src] = bench_bundle(path, work, src, user)
    cycle = os.path.join(work, "cycle.sh")
    with open(cycle, "w") as f:
        f.write(CYCLE)

    commands = []        # (case, runtime, argv, prepare, timing dir or None)
    # rootless: no podman-default (its resources need a cgroup a user may lack)
    cases = a.cases if not user or a.cases != DEFAULT_CASES else "run:busybox,cycle:busybox"
    for case in cases.split(","):
        kind, _, bundle_name = case.partition(":")
        bundle = bundles.get(bundle_name)
        if bundle is None:
            continue
        runtimes = [(w, launcher if w == "minioci-sh" else me) for w in ways] + ([] if kind == "cold" else peers)
        for name, path in runtimes:
            root = ["--root", roots[name]]
            timing = os.path.join(work, "timing", case, name) if name in WAYS else None
            if kind in ("run", "cold"):
                argv = as_user + [path, *root, "run", "--bundle", bundle, f"bench-{name}"]
            else:
                argv = as_user + ["/bin/sh", cycle, path, *root]
            prepare = "true"
            if kind == "cold":
                # the seccomp cache emptied before each run: every start compiles
                prepare = " ".join(as_user + [me, "--root", roots[name], "seccomp", "cache", "clear"])
            commands.append(("rootless " + case if user else case, name, argv, prepare, timing, bundle))
    if not commands:
        raise MiniociError("bench: nothing to run (no bundles found under --bundles?)")
    # The floor a Python runtime stands on: the interpreter's bare start,
    # as minioci's launcher starts it (see summarize()).
    commands.append(("floor", "python", [sys.executable, "-I", "-S", "-c", "pass"], "true", None, work))

    hide = hides_unified() and any(n == "crun" for n, _ in peers)
    import site
    round_env = {**os.environ, "HIDE": "1" if hide else "0", "HIDE_UNIFIED": HIDE_UNIFIED, "MINIOCI": me,
                 "PYTHON": sys.executable,
                 "SITE": next(p for p in site.getsitepackages() + sys.path if p.endswith("site-packages")),
                 "SERVED": " ".join(served_socket(roots[w]) for w in ways if WAYS[w] == "always"),
                 "AS_USER": " ".join(as_user)}
    times = {(c[0], c[1]): [] for c in commands}
    per_round = max(1, -(-a.runs // a.rounds))
    for rnd in range(a.rounds):
        sys.stderr.write(f"round {rnd + 1}/{a.rounds}: {len(commands)} commands x {per_round} runs\n")
        export = os.path.join(work, f"round{rnd}.json")
        # hyperfine's own progress bar shows on a terminal; its summary goes
        # to our stderr too, our report to stdout.
        argv = ["hyperfine", "-N", "--warmup", str(a.warmup),
                "--runs", str(per_round), "--export-json", export]
        env_wrapped = []
        for case, name, cmd, prepare, timing, bundle in commands:
            # hyperfine -N runs argv as is: pass env through /usr/bin/env
            env = [f"BUNDLE={bundle}", f"ID=bench-{name}-cycle"]
            if WAYS.get(name):
                env.append(f"MINIOCI_SERVE={WAYS[name]}")
            if WAYS.get(name) == "always":
                env.append(f"MINIOCI_SERVE_SOCKET={served_socket(roots[name])}")
            if timing:
                os.makedirs(timing, exist_ok=True)
                if user:
                    os.chown(timing, user[1], user[2])
                env.append(f"MINIOCI_TIMING={timing}/")
            env_wrapped.append(" ".join(["/usr/bin/env"] + env + [_q(x) for x in cmd]))
            argv += ["--prepare", prepare]
        for (case, name, *_), cmd in zip(commands, env_wrapped):
            argv += ["--command-name", f"{case} {name}", cmd]
        argv = ["/bin/sh", round_script] + argv
        if hide:
            argv = ["unshare", "--mount", "--propagation", "private"] + argv
        r = subprocess.run(argv, stdout=sys.stderr, env=round_env)
        if r.returncode != 0:
            raise MiniociError(f"bench: hyperfine failed (exit {r.returncode}); a runtime may have failed "
                               f"to start a container: try one of the commands by hand")
        with open(export) as f:
            for (case, name, *_), res in zip(commands, json.load(f)["results"]):
                times[(case, name)] += [t * 1000 for t in res["times"]]
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)
    rmdir_if_empty(BENCH_ROOT)
    return summarize(commands, times, peers, hide, user and user[0])


def _user(name):
    """(name, uid, gid) of the plain user a rootless session runs as."""
    import pwd
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise MiniociError(f"bench: --user {name!r}: no such user") from None
    if pw.pw_uid == 0:
        raise MiniociError(f"bench: --user {name!r} is root: a rootless session needs a plain user")
    return name, pw.pw_uid, pw.pw_gid


def _q(s):
    return s if all(c.isalnum() or c in "/._-=:," for c in s) else "'" + s.replace("'", "'\\''") + "'"


def _phase_medians(timing_dir):
    """Each phase's median over the runs' timing files: the `run`s, or the
    cycle's `create`s (where the start is; its start and delete write
    theirs too)."""
    if not os.path.isdir(timing_dir):
        return None
    return phases.medians([r for r in phases.load(timing_dir) if r.get("command") in ("run", "create")])


def summarize(commands, times, peers, hide, user=None):
    cases = {}
    for case, name, argv, prepare, timing, bundle in commands:
        t = times[(case, name)]
        entry = {"median_ms": statistics.median(t), "min_ms": min(t), "max_ms": max(t), "runs": len(t)}
        if timing:
            entry["phases"] = _phase_medians(timing)
        cases.setdefault(case, {})[name] = entry
    for case, by_rt in cases.items():
        # {way: {other runtime: way's median ÷ its}}; a cold start is held
        # against the peers' run of the same bundle (they have no cache)
        others = cases.get("run:podman-default", by_rt) if case == "cold:podman-default" else by_rt
        ratios = {}
        for way, me in by_rt.items():
            if way not in WAYS:
                continue
            ratios[way] = {name: me["median_ms"] / e["median_ms"] for name, e in others.items()
                           if name != way and name != "ratios"}
            if me.get("phases"):
                me["unaccounted_ms"] = me["median_ms"] - me["phases"]["total_ms"]
        by_rt["ratios"] = ratios
    floor = cases.pop("floor", {}).get("python", {}).get("median_ms")
    above_floor = None
    busybox = cases.get("run:busybox", {})
    if floor is not None and "crun" in busybox and "minioci" in busybox:
        # minioci's own cost: its run minus (Python's bare start + crun's whole
        # run, i.e. the same kernel work done by a C runtime)
        above_floor = busybox["minioci"]["median_ms"] - (floor + busybox["crun"]["median_ms"])
    targets = []
    for case, way, peer, limit in TARGETS:
        ratio = cases.get(case, {}).get("ratios", {}).get(way, {}).get(peer)
        if ratio is not None:
            targets.append({"case": case, "way": way, "peer": peer, "target": limit, "ratio": ratio,
                            "met": ratio <= limit, "ms_over": cases[case][way]["median_ms"]
                            - limit * cases[case][peer]["median_ms"]})
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "peers": {name: _version(path) for name, path in peers},
        "unified_hidden": hide,
        "rootless_user": user,
        "cases": cases,
        "python_floor_ms": floor,
        "above_floor_ms": above_floor,
        "targets": targets,
    }


def _version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0] if out else path
    except OSError:
        return path


def _machine():
    with open("/proc/sys/kernel/osrelease") as f:
        kernel = f.read().strip()
    return {"kernel": kernel, "cpus": os.cpu_count(), "python": sys.version.split()[0]}


def markdown(result):
    lines = [f"## Container startup ({result['when']})", "",
             f"Kernel {result['machine']['kernel']}, {result['machine']['cpus']} CPUs; peers: " +
             ", ".join(f"{n} ({v})" for n, v in result["peers"].items()) + ".  minioci: the direct path "
             "(`minioci`), served (`minioci-served`), and the shell launcher before the front end (`minioci-sh`).",
             ""]
    if result.get("rootless_user"):
        lines += [f"Rootless: every runtime ran as the plain user {result['rootless_user']}, each bundle in a "
                  "user namespace mapping that user's uid and gid to root, without a cgroup "
                  "(docs/rootless.md).", ""]
    if result["unified_hidden"]:
        lines += ["This host is hybrid with a controller on the v2 side, which crun 1.8.1 refuses: the whole "
                  "session ran in a private mount namespace without /sys/fs/cgroup/unified, for every "
                  "runtime alike.", ""]
    peers = list(result["peers"])
    lines += ["| case | runtime | median ms | min–max ms | " + " | ".join(f"÷ {p}" for p in peers) + " |",
              "|---|---|---:|---:|" + "---:|" * len(peers)]
    for case, by_rt in result["cases"].items():
        for name, e in by_rt.items():
            if name == "ratios":
                continue
            ratios = by_rt["ratios"].get(name, {})
            cells = ["" if p not in ratios else f"{ratios[p]:.2f}" for p in peers]
            lines.append(f"| {case} | {name} | {e['median_ms']:.1f} | {e['min_ms']:.1f}–{e['max_ms']:.1f} | "
                         + " | ".join(cells) + " |")
    if result["targets"]:
        lines += ["", "| target | ratio | met |", "|---|---:|---|"]
        for t in result["targets"]:
            miss = "" if t["met"] else f" (by {t['ms_over']:.1f} ms)"
            lines.append(f"| {t['case']}: {t['way']} ≤ {t['target']}× {t['peer']} | {t['ratio']:.2f} | "
                         f"{'yes' if t['met'] else '**no**' + miss} |")
    if result.get("above_floor_ms") is not None:
        lines += ["", f"The floor: `python -I -S -c pass` takes {result['python_floor_ms']:.1f} ms and crun's "
                  f"whole run of the busybox bundle {result['cases']['run:busybox']['crun']['median_ms']:.1f} ms; "
                  f"minioci's direct run is **{result['above_floor_ms']:.1f} ms above** their sum (target: ≤ 3 ms)."]
    for case, by_rt in result["cases"].items():
        for way in WAYS:
            ph = by_rt.get(way, {}).get("phases")
            if not ph:
                continue
            lines += ["", f"{way}'s phases, {case} (medians of {ph['runs']} runs):", "",
                      "| phase | ms |", "|---|---:|"]
            lines += [f"| {p['phase']} | {p['ms']:.3f} |" for p in ph["phases"]]
            lines.append(f"| **total, start to exec** | **{ph['total_ms']:.2f}** |")
            lines.append(f"| whole process (hyperfine) | {by_rt[way]['median_ms']:.2f} |")
            lines.append(f"| unaccounted (teardown after exit, process exit) | "
                         f"{by_rt[way]['unaccounted_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def write_results(result, out, chart=True):
    """The JSON, markdown and chart in `out`."""
    draw = None
    if chart:
        from .chart import draw
    return write_report(result, out, "", markdown, draw)
