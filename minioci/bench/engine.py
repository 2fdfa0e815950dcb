"""`minioci bench engine podman|docker|containerd`: where an engine's time
goes.

The engine is started offline on sockets and directories of its own
(minioci/bench/engines.py, as the engine suites start it), a busybox image
made from the host's static busybox is imported, and `run --rm IMAGE true`
runs `--runs` times per runtime, the runtimes interleaved (each round in a
rotated order, so a drift of the machine hits all alike): runc, crun,
minioci on its direct path, and minioci served (a `minioci serve` started
for the benchmark, as a user starts it).

Every call the engine makes to a runtime goes through the same thin
wrapper, minioci-timewrap (native/timewrap.c), given to the engine as the
runtime's path: it records each call's argv, start and end
(CLOCK_MONOTONIC) and exit status, and its own overhead is measured against
/bin/true and reported.  minioci writes its phase timeline for each call to
a timing_dir named by a config file the benchmark writes (MINIOCI_CONFIG in
the environment the wrapper gives every runtime: the engines pass none of
the caller's), and the phases are matched to the calls by pid.

Everything runs in a driver process (`python -m minioci.bench.engine
--driver SPEC`) in a PID and mount namespace of its own (unshare), where
/run and /dev/shm are tmpfs mounts of its own: the default paths engines
and runtimes use whatever they are told (/run/containerd, /run/docker;
/run/runc, /run/crun and /run/minioci, where podman's runtimes keep their
state, podman passing none) are the benchmark's, and so are the host
directories in ISOLATE.  On a hybrid host whose v2 side holds a controller,
which crun 1.8.1 refuses, /sys/fs/cgroup/unified is an empty tmpfs there,
for every runtime alike.  When the driver ends, the kernel ends every
process left in its namespace; this process then removes the work
directory and the cgroups, and checks that nothing is left.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from ..errors import MiniociError
from ..flags import Flag, parse_flags
from . import hides_unified, minioci_path, write_report

ENGINE_NAMES = ("podman", "docker", "containerd")
RUNTIMES = ("runc", "crun", "minioci", "minioci-served")
FLAGS = [
    Flag(("runs", "r"), "runs", "int", 10, "timed `run --rm` of each runtime (default 10)"),
    Flag(("warmup", "w"), "warmup", "int", 1, "untimed runs of each runtime first (default 1)"),
    Flag(("runtimes",), "runtimes", "str", ",".join(RUNTIMES),
         "which runtimes, comma-separated (runc and crun are found on PATH; without them, left out)"),
    Flag(("out", "o"), "out", "str", "bench-results", "where the JSON, markdown and chart go (default bench-results)"),
    Flag(("no-chart",), "no_chart", help="skip the chart"),
    Flag(("no-phases",), "no_phases", help="no config file, so minioci writes no phase files (≈0.8 ms a call "
                                            "on its direct path here)"),
]
COMMAND = ["true"]
CALL_ORDER = ("--version", "create", "start", "state", "kill", "delete")
# runc's global flags that take a value: the subcommand comes after them
VALUE_FLAGS = {"--root", "--log", "--log-format", "--criu", "--rootless"}
TIMEWRAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "minioci-timewrap")
# Host directories an engine writes whatever it is told (podman's c/image:
# its blob cache; dockerd's containerd, whose config dockerd writes: its opt
# plugin's bin/ and lib/): each is a tmpfs of the driver's own there, over
# the host's (made for the purpose if missing, and removed after)
ISOLATE = {"podman": ["/var/lib/containers"], "docker": ["/opt/containerd"]}
OVERHEAD_RUNS = 200


def main(g, argv):
    a = parse_flags(argv, FLAGS, where="minioci bench engine")
    if len(a.positional) != 1 or a.positional[0] not in ENGINE_NAMES:
        raise MiniociError(f"usage: minioci bench engine {'|'.join(ENGINE_NAMES)} [--runs N] (see --help)")
    if a.runs < 1 or a.warmup < 0:
        raise MiniociError("bench engine: --runs must be at least 1 and --warmup at least 0")
    runtimes = _runtimes(a.runtimes)
    if os.geteuid() != 0:
        raise MiniociError("bench engine: needs root (it starts the engine, on directories of its own)")
    from .engines import ENGINES
    name = a.positional[0]
    missing = [b for b in ENGINES[name].BINARIES if not os.access(b, os.X_OK)]
    if missing:
        raise MiniociError(f"bench engine: {name} needs {', '.join(missing)} (scripts/setup installs them)")
    for tool in ("unshare", "mount", "umount"):
        if not shutil.which(tool):
            raise MiniociError(f"bench engine: {tool} not found (util-linux)")
    if not os.access(TIMEWRAP, os.X_OK):
        raise MiniociError(f"bench engine: no {TIMEWRAP} (built with minioci: reinstall, `make setup`)")
    tag = uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix="minioci-bench-engine-")        # 0700: ours alone
    spec = {"engine": name, "runs": a.runs, "warmup": a.warmup, "runtimes": runtimes, "tag": tag,
            "work": work, "timewrap": TIMEWRAP, "hide_unified": hides_unified(), "phases": not a.no_phases,
            "isolate": ISOLATE.get(name, [])}
    made = [d for d in spec["isolate"] if not os.path.exists(d)]
    for d in made:
        os.makedirs(d, 0o700)          # a mount point for the driver's own; removed after
    try:
        result = _drive(spec)
    finally:
        removed, left = _clean_up(spec, made)
    result["removed"] = result.get("removed", []) + removed
    result["left"] = left
    if result.get("error"):
        raise MiniociError(f"bench engine: {result['error']}" + (f" (left behind: {', '.join(left)})" if left else ""),
                           status=result.get("status", 1))
    summary = summarize(result)
    paths = write_results(summary, a.out, chart=not a.no_chart)
    sys.stdout.write(markdown(summary))
    sys.stdout.write("\nwrote " + ", ".join(paths) + "\n")
    if summary["left"]:
        from .. import log
        log.error(f"bench engine: left behind: {', '.join(summary['left'])}")
        return 1
    return 0


def _runtimes(given):
    """[(name, path)] of the runtimes asked for; runc and crun from PATH
    (left out when missing, unless asked for by name)."""
    names = [n for n in given.split(",") if n]
    for n in names:
        if n not in RUNTIMES:
            raise MiniociError(f"bench engine: --runtimes {n!r}: use {', '.join(RUNTIMES)}")
    out = []
    for n in names:
        if n.startswith("minioci"):
            out.append((n, minioci_path()))
        elif shutil.which(n):
            out.append((n, shutil.which(n)))
        elif given != FLAGS[2].default:
            raise MiniociError(f"bench engine: runtime {n} not found on PATH")
        else:
            sys.stderr.write(f"bench engine: {n} not found on PATH: left out\n")
    if not out:
        raise MiniociError("bench engine: no runtime to run")
    return out


def _drive(spec):
    """Run the driver in its own PID and mount namespace; its result.  A
    SIGINT or SIGTERM is passed on to it (as SIGTERM: a terminal's ^C
    reaches it too, and it acts on the first), and waited for: it stops the
    engine and exits."""
    spec_path = os.path.join(spec["work"], "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc",
            sys.executable, "-I", "-m", "minioci.bench.engine", "--driver", spec_path]
    stopped = []
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def stop(signum, frame):
        stopped.append(signum)
        for pid in _children(proc.pid):
            _kill(pid, signal.SIGTERM)
    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    try:
        with open(os.path.join(spec["work"], "result.json")) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = {"error": f"the driver ended (status {proc.returncode}) without a result"}
    if stopped:
        result["error"] = "interrupted"
        result["status"] = 128 + stopped[0]
    return result


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _clean_up(spec, made):
    """After the driver (whose namespace took its processes and mounts with
    it): what the run left, removed (named in `removed`), then what is
    still there (`left`: nothing, or something went wrong)."""
    from . import engines
    work = spec["work"]
    removed = [f"process {p}" for p in engines.kill_processes_mentioning(work)]
    removed += [f"mount {m}" for m in engines.unmount_under(work)]
    parent = _cgroup_parent(spec)
    removed += engines.remove_cgroups_under(parent)
    shutil.rmtree(work, ignore_errors=True)
    engines.remove_empty(made)
    left = [f"process {p}" for p in engines.processes_mentioning(work)]
    left += [f"cgroup {d}" for d in engines.cgroup_parents(parent)]
    left += [f"directory {d}" for d in [work] + made if os.path.exists(d)]
    return removed, left


def _cgroup_parent(spec):
    from .engines import ENGINES
    return ENGINES[spec["engine"]].cgroup_parent_of(spec["tag"])


# ---------------------------------------------------------------- the driver

def driver(spec_path):
    """PID 1 of the benchmark's namespace: it reaps every orphan (conmon and
    the shims daemonize) while a child of its own runs the benchmark, and
    exits with it (which ends whatever else is left in the namespace)."""
    with open(spec_path) as f:
        spec = json.load(f)
    child = os.fork()
    if child == 0:
        os._exit(_run_driver(spec))
    signal.signal(signal.SIGINT, signal.SIG_IGN)          # the child has it too (one process group)
    signal.signal(signal.SIGTERM, lambda s, f: _kill(child, signal.SIGTERM))
    while True:
        pid, status = os.wait()
        if pid == child:
            os._exit(os.waitstatus_to_exitcode(status) & 0xff)


class _Stop(Exception):
    pass


def _run_driver(spec):
    result = {"spec": spec}

    def stop(signum, frame):
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)          # cleaning up now: once is enough
        raise _Stop(f"stopped by signal {signum}")
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, stop)
    engine = server = None
    work = spec["work"]
    for k in [k for k in os.environ if k.startswith("MINIOCI_")]:
        del os.environ[k]       # the engines' runtimes get theirs from the wrapper alone
    try:
        _isolate(spec)
        from .engines import ENGINES
        wraps = {name: _wrapper(work, spec["timewrap"], name, path, phases=spec["phases"])
                 for name, path in spec["runtimes"]}
        result["wrapper"] = _wrapper_overhead(work, spec["timewrap"])
        result["machine"] = {"kernel": os.uname().release, "cpus": os.cpu_count(),
                             "load_before": os.getloadavg()[0]}
        from .engines import first_line
        result["versions"] = {name: first_line([path, "--version"]) for name, path in spec["runtimes"]}
        os.makedirs(os.path.join(work, "engine"))
        _say(f"starting {spec['engine']} on {os.path.join(work, 'engine')}")
        engine = ENGINES[spec["engine"]](os.path.join(work, "engine"),
                                        {f"bench-{n}": w for n, w in wraps.items()}, tag=spec["tag"])
        result["engine_version"] = engine.version()
        engine.import_image()
        if "minioci-served" in wraps:
            server = _start_server(dict(spec["runtimes"])["minioci-served"], work)
        result["runs"] = _measure(engine, spec, wraps)
        result["machine"]["load_after"] = os.getloadavg()[0]
        from .engines import wait_until
        wait_until(lambda: not engine.containers(), timeout=30)
        _wait_quiet([os.path.join(os.path.dirname(w), "calls.log") for w in wraps.values()])
        result["calls"] = {name: _read_calls(os.path.join(os.path.dirname(w), "calls.log"))
                           for name, w in wraps.items()}
        result["timings"] = {name: _read_timings(os.path.join(work, "timing", name))
                             for name in wraps if name.startswith("minioci") and spec["phases"]}
        if server:
            result["served"] = _server_status(server)
    except (_Stop, Exception) as e:
        result["error"] = str(e) if isinstance(e, _Stop) else f"{type(e).__name__}: {e}"
    finally:
        removed = []
        if server:
            removed += _stop_server(server)
        if engine:
            try:
                removed += engine.shutdown()
            except Exception as e:          # what is left is found by the caller
                removed.append(f"{spec['engine']} shutdown: {e}")
        from .engines import unmount_under
        removed += [f"mount {m}" for m in unmount_under(work)]
        result["removed"] = removed
        with open(os.path.join(work, "result.json"), "w") as f:
            json.dump(result, f)
    return 0


def _say(text):
    sys.stderr.write(f"bench engine: {text}\n")
    sys.stderr.flush()


def _isolate(spec):
    """This namespace's own /run (a tmpfs), and its own copy of each of
    spec["isolate"]; /sys/fs/cgroup/unified unmounted if crun needs it."""
    if spec["hide_unified"]:
        # an empty tmpfs instead, not the directory under the mount: crun
        # 1.8.1 then makes its "0::" cgroup directories there (and writes
        # cgroup.procs as a file), and they go with the namespace
        _mount(["umount", "/sys/fs/cgroup/unified"])
        _mount(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev,noexec", "minioci-bench",
                "/sys/fs/cgroup/unified"])
    _mount(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "minioci-bench", "/run"])
    _mount(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "minioci-bench", "/dev/shm"])
    for d in spec["isolate"]:
        _mount(["mount", "-t", "tmpfs", "-o", "mode=0700,nosuid,nodev", "minioci-bench", d])


def _mount(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")


# The wrapper's directory: see native/timewrap.c.

def _wrapper(work, timewrap, name, runtime, env=None, phases=True):
    """A directory for runtime `name`: the wrapper under the runtime's own
    file name, `real`, `env` and the config file that names minioci's
    timing_dir (unless not `phases`).  Every runtime gets the same
    variables (the others ignore them)."""
    d = os.path.join(work, "wrap", name)
    os.makedirs(d)
    os.chmod(os.path.join(work, "wrap"), 0o755)
    path = os.path.join(d, os.path.basename(runtime))
    shutil.copyfile(timewrap, path)
    os.chmod(path, 0o755)
    os.symlink(runtime, os.path.join(d, "real"))
    timing = os.path.join(work, "timing", name)
    os.makedirs(timing, 0o700)
    conf = os.path.join(d, "minioci.conf")
    with open(conf, "w") as f:
        f.write(f'# minioci bench engine: {name}\ntiming_dir = "{timing}"\n')
    if env is None:
        env = {"MINIOCI_SERVE": "always" if name == "minioci-served" else "never"}
        if phases:
            env["MINIOCI_CONFIG"] = conf
    with open(os.path.join(d, "env"), "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in env.items()))
    return path


def _wrapper_overhead(work, timewrap):
    """What the wrapper adds to a call: /bin/true run directly and through
    the wrapper, alternately, OVERHEAD_RUNS times each (from this process:
    posix_spawn and wait).  The difference of the medians is what an engine
    pays per call on top of the runtime; `logged_ms`, the median the
    wrapper logged for /bin/true, is the floor of a logged call."""
    path = _wrapper(work, timewrap, "overhead", "/bin/true",
                    env={"MINIOCI_CONFIG": os.path.join(work, "wrap", "overhead", "minioci.conf"),
                         "MINIOCI_SERVE": "never"})
    bare, wrapped = [], []
    env = dict(os.environ)
    for _ in range(OVERHEAD_RUNS):
        for argv, out in ((["/bin/true"], bare), ([path], wrapped)):
            t0 = time.monotonic_ns()
            pid = os.posix_spawn(argv[0], argv, env)
            os.waitpid(pid, 0)
            out.append((time.monotonic_ns() - t0) / 1e6)
    logged = [c["ms"] for c in _read_calls(os.path.join(os.path.dirname(path), "calls.log"))]
    bare_ms, wrapped_ms = statistics.median(bare), statistics.median(wrapped)
    return {"runs": OVERHEAD_RUNS, "bare_ms": bare_ms, "wrapped_ms": wrapped_ms,
            "overhead_ms": wrapped_ms - bare_ms, "logged_ms": statistics.median(logged)}


def _start_server(minioci, work):
    """`minioci serve` as a user starts it (no flags: the default socket,
    /run/minioci/serve.sock, in this namespace's own /run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIOCI_")}
    log = open(os.path.join(work, "serve.log"), "wb")
    proc = subprocess.Popen([minioci, "serve"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                            start_new_session=True)
    log.close()
    server = (minioci, proc, env)
    deadline = time.monotonic() + 30
    while _server_status(server) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"minioci serve did not start (see {work}/serve.log)")
        time.sleep(0.02)
    _say("minioci serve is running on /run/minioci/serve.sock")
    return server


def _server_status(server):
    minioci, proc, env = server
    r = subprocess.run([minioci, "serve", "--status"], capture_output=True, text=True, env=env, timeout=30)
    if r.returncode != 0:
        return None
    return dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)


def _stop_server(server):
    minioci, proc, env = server
    subprocess.run([minioci, "serve", "--stop"], capture_output=True, env=env, timeout=30)
    try:
        proc.wait(30)
        return []
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return ["a minioci server that did not stop (killed)"]


def _measure(engine, spec, wraps):
    """The runs: warm-up rounds, then `runs` rounds, each runtime once per
    round in an order rotated every round.  [{runtime, round, warmup, t0,
    t1 (monotonic ns)}]."""
    names = list(wraps)
    runs = []
    stderr = os.path.join(spec["work"], "run.err")
    rounds = [True] * spec["warmup"] + [False] * spec["runs"]
    for i, warmup in enumerate(rounds):
        _say(f"{'warm-up' if warmup else 'round'} {i + 1 - (0 if warmup else spec['warmup'])}/"
             f"{spec['warmup'] if warmup else spec['runs']}")
        k = i % len(names)
        for name in names[k:] + names[:k]:
            argv = engine.run_argv(f"bench-{name}", COMMAND, name=f"bench-{name}-{i}")
            with open(stderr, "wb") as err:
                t0 = time.monotonic_ns()
                r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                   env=engine.env)
                t1 = time.monotonic_ns()
            if r.returncode != 0:
                with open(stderr, errors="replace") as f:
                    raise RuntimeError(f"{spec['engine']} with {name}: exit status {r.returncode}: "
                                       f"{f.read().strip()[-600:]}")
            runs.append({"runtime": name, "round": i, "warmup": warmup, "t0": t0, "t1": t1})
    return runs


def _wait_quiet(logs, quiet=0.5, timeout=10):
    """Until no call log has grown for `quiet` seconds (a call the engine
    makes after its command returned is counted too)."""
    def sizes():
        return [os.path.getsize(p) if os.path.exists(p) else 0 for p in logs]
    deadline = time.monotonic() + timeout
    last = sizes()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = sizes()
        if now == last:
            return
        last = now


def _read_calls(path):
    """The wrapper's log: [{start, end (ns), ms, status, pid, args, call}]."""
    calls = []
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return calls
    for line in lines:
        head, _, rest = line.partition("\t")
        fields = head.split()
        if len(fields) != 4:
            continue
        start, end, status, pid = (int(x) for x in fields)
        args = rest.split("\t") if rest else []
        calls.append({"start": start, "end": end, "ms": (end - start) / 1e6, "status": status, "pid": pid,
                      "args": args, "call": subcommand(args)})
    return calls


def subcommand(args):
    """The runtime's subcommand in a runtime's argv (after the global flags,
    which engines put first); `--version` for that call."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in VALUE_FLAGS:
            i += 2
        elif a in ("--version", "-v", "--help", "-h"):
            return a
        elif a.startswith("-"):
            i += 1
        else:
            return a
    return "?"


def _read_timings(directory):
    """minioci's timing files: {pid: timeline} (named <id>.<command>.<pid>.json)."""
    out = {}
    for name in os.listdir(directory):
        parts = name.split(".")
        if len(parts) < 4 or parts[-1] != "json" or not parts[-2].isdigit():
            continue
        try:
            with open(os.path.join(directory, name)) as f:
                out[int(parts[-2])] = json.load(f)
        except (OSError, ValueError):
            continue
    return out


# ------------------------------------------------------------ the summary

def summarize(result):
    """The driver's raw result → medians per runtime: the engine's total, the
    runtime's calls by subcommand, and minioci's phases per call."""
    from . import phases
    spec = result["spec"]
    overhead = result["wrapper"]["overhead_ms"]
    out = {"engine": spec["engine"], "engine_version": result.get("engine_version", ""),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": spec["runs"],
           "warmup": spec["warmup"], "command": COMMAND, "wrapper": result["wrapper"],
           "phases": spec["phases"],
           "machine": result["machine"], "unified_hidden": spec["hide_unified"],
           "served": result.get("served"), "removed": result.get("removed", []),
           "left": result.get("left", []), "runtimes": {}}
    for name, path in spec["runtimes"]:
        mine = [r for r in result["runs"] if r["runtime"] == name]
        calls = result["calls"][name]
        per_run = []
        for k, r in enumerate(mine):
            end = mine[k + 1]["t0"] if k + 1 < len(mine) else float("inf")
            r_calls = [c for c in calls if r["t0"] <= c["start"] < end]
            if not r["warmup"]:
                per_run.append((r, r_calls))
        totals = [(r["t1"] - r["t0"]) / 1e6 for r, _ in per_run]
        in_calls = [sum(c["ms"] for c in cs) for _, cs in per_run]
        counts = [len(cs) for _, cs in per_run]
        by_call = {}
        for _, cs in per_run:
            for c in cs:
                by_call.setdefault(c["call"], []).append(c)
        entry = {
            "path": path, "version": result["versions"].get(name, ""),
            "total_ms": statistics.median(totals), "min_ms": min(totals), "max_ms": max(totals),
            "totals_ms": totals,
            "calls_ms": statistics.median(in_calls),
            "share": statistics.median(c / t for c, t in zip(in_calls, totals)),
            "calls_per_run": statistics.median(counts),
            "wrapper_ms": statistics.median(counts) * overhead,
            "engine_ms": statistics.median(t - c - n * overhead for t, c, n in zip(totals, in_calls, counts)),
            "late_calls": sum(1 for r, cs in per_run for c in cs if c["end"] > r["t1"]),
            "failed_calls": sum(1 for _, cs in per_run for c in cs if c["status"] != 0),
            "calls": {call: {"per_run": len(cs) / len(per_run), "median_ms": statistics.median(c["ms"] for c in cs),
                             "min_ms": min(c["ms"] for c in cs), "max_ms": max(c["ms"] for c in cs),
                             "example": " ".join(cs[0]["args"])}
                      for call, cs in sorted(by_call.items(), key=lambda kv: _call_rank(kv[0]))},
        }
        timings = result.get("timings", {}).get(name)
        if timings is not None:
            timings = {int(pid): t for pid, t in timings.items()}         # JSON keys are strings
            matched = [(c, timings[c["pid"]]) for _, cs in per_run for c in cs if c["pid"] in timings]
            summary = phases.summarize([t for _, t in matched])
            outside = {}
            for key in summary:
                diffs = [c["ms"] - t["total_ms"] for c, t in matched if _key(t, phases) == key]
                outside[key] = statistics.median(diffs) if diffs else None
            entry["phases"] = summary
            entry["outside_phases_ms"] = outside
            entry["calls_with_phases"] = len(matched)
        out["runtimes"][name] = entry
    base = out["runtimes"].get("runc") or next(iter(out["runtimes"].values()))
    for e in out["runtimes"].values():
        e["total_vs_first"] = e["total_ms"] / base["total_ms"]
    out["baseline"] = "runc" if "runc" in out["runtimes"] else next(iter(out["runtimes"]))
    return out


def _key(timeline, phases):
    command = timeline.get("command", "?")
    return command if phases.path_of(timeline) == "direct" else f"{command} (served)"


def _call_rank(call):
    return (CALL_ORDER.index(call) if call in CALL_ORDER else len(CALL_ORDER), call)


def markdown(s):
    names = list(s["runtimes"])
    rts = s["runtimes"]
    w = s["wrapper"]
    what = {"podman": "podman run --rm --network none", "docker": "docker run --rm --network none",
            "containerd": "ctr run --rm"}[s["engine"]]
    lines = [f"## Where {s['engine']}'s time goes ({s['when']})", "",
             f"`{what} IMAGE {' '.join(s['command'])}`, {_n(s['runs'], 'run')} per runtime (the runtimes "
             f"interleaved), after {_n(s['warmup'], 'warm-up run')} each; {s['engine_version']}; "
             + ", ".join(f"{n}: {rts[n]['version'] or rts[n]['path']}" for n in names) + ".  "
             f"Kernel {s['machine']['kernel']}, {s['machine']['cpus']} CPUs, load "
             f"{s['machine']['load_before']:.1f} → {s['machine']['load_after']:.1f}.", "",
             f"Every runtime call went through minioci-timewrap, which adds {w['overhead_ms']:.2f} ms to each "
             f"(/bin/true: {w['bare_ms']:.2f} ms direct, {w['wrapped_ms']:.2f} ms wrapped, medians of {w['runs']}); "
             f"the engine's totals include it, its own time below does not.  "
             + ("minioci wrote its phase timeline for each call (the timing_dir of a config file the benchmark "
                "wrote), which costs its direct path about 0.8 ms a call here (`--no-phases`: none)."
                if s["phases"] else "minioci wrote no phase files (`--no-phases`)."), ""]
    if s["unified_hidden"]:
        lines += ["This host is hybrid with a controller on the v2 side, which crun 1.8.1 refuses: the engine ran "
                  "in a mount namespace without /sys/fs/cgroup/unified, for every runtime alike.", ""]
    lines += ["| median ms | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(rts[n]) for n in names) + " |")
    row("**the engine's total**", lambda e: f"**{e['total_ms']:.1f}**")
    row(f"÷ {s['baseline']}'s total", lambda e: f"{e['total_vs_first']:.2f}")
    row("the runtime's calls, all", lambda e: f"{e['calls_ms']:.1f}")
    row("the runtime's share of the total", lambda e: f"{100 * e['share']:.1f} %")
    row("the engine's own (total − calls − wrapper)", lambda e: f"{e['engine_ms']:.1f}")
    calls = []
    for e in rts.values():
        calls += [c for c in e["calls"] if c not in calls]
    for call in sorted(calls, key=_call_rank):
        def cell(e, call=call):
            c = e["calls"].get(call)
            if not c:
                return "—"
            return f"{c['median_ms']:.1f}" + ("" if c["per_run"] == 1 else f" (×{c['per_run']:g})")
        row(f"`{call}`", cell)
    row("calls per run", lambda e: f"{e['calls_per_run']:g}")
    notes = [f"{n}: {rts[n]['late_calls']} calls ended after the engine's command returned" for n in names
             if rts[n]["late_calls"]]
    notes += [f"{n}: {rts[n]['failed_calls']} calls exited non-zero" for n in names if rts[n]["failed_calls"]]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    from . import phases
    for n in names:
        e = rts[n]
        if not e.get("phases"):
            continue
        lines += ["", f"{n}'s phases inside its calls (medians over {e['calls_with_phases']} calls' timing files, ms; "
                  "`outside` is the call's time as the wrapper saw it minus the phases' total: the process's "
                  "exec and exit, teardown after the timeline):", "", "```"]
        lines += phases.table(e["phases"]).rstrip("\n").split("\n")
        lines.append("outside  " + "  ".join(f"{k}: {v:.2f}" for k, v in e["outside_phases_ms"].items()
                                            if v is not None))
        lines.append("```")
    if s.get("served"):
        lines += ["", f"The server served {s['served'].get('requests', '?')} requests."]
    if s["removed"]:
        lines += ["", "Removed after the engine stopped (what it and the runtimes leave): " +
                  _abbreviate(s["removed"]) + "."]
    lines += ["", "Left behind: " + (", ".join(s["left"]) if s["left"] else "nothing") + "."]
    return "\n".join(lines) + "\n"


def _n(n, what):
    return f"{n} {what}" + ("" if n == 1 else "s")


def _abbreviate(items, limit=6):
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def draw(s, path):
    """Two panels: the engine's total per runtime, split into the runtime's
    calls and the rest; minioci's calls split into phase groups."""
    from .chart import grouped_segments, stacked_bars
    bars = []
    for name, e in s["runtimes"].items():
        segments = [(f"runtime: {call}", c["median_ms"] * c["per_run"]) for call, c in e["calls"].items()]
        rest = e["total_ms"] - sum(ms for _, ms in segments)
        bars.append((name.replace("minioci-", "minioci\n"), segments + [(f"{s['engine']} itself", max(0.0, rest))],
                     e["total_ms"]))
    panels = [(f"{s['engine']}'s total: the runtime's calls, and the rest", bars)]
    phase_bars = []
    for name, e in s["runtimes"].items():
        for key, ph in (e.get("phases") or {}).items():
            outside = e["outside_phases_ms"].get(key) or 0.0
            segments = grouped_segments(ph["phases"]) + [("outside the phases", max(0.0, outside))]
            phase_bars.append((key.replace(" (served)", "\nserved"), segments, ph["total_ms"] + outside))
    if phase_bars:
        panels.append(("minioci's calls, by phase", phase_bars))
    return stacked_bars(panels, path, f"Where {s['engine']}'s time goes (`run --rm`, medians)")


def write_results(summary, out, chart=True):
    """The JSON, markdown and chart in `out`, as the other benchmarks write
    theirs."""
    return write_report(summary, out, f"-engine-{summary['engine']}", markdown, draw if chart else None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--driver"]:
        driver(sys.argv[2])
