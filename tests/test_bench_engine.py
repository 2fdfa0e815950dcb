"""`minioci bench engine`: under each real engine, the structure of what it
reports (never its numbers) and that it leaves nothing behind.  One run per
runtime, no warm-up: the engines take their own time (~10 s each here)."""
import glob
import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import IS_ROOT, MINIOCI
from minioci.bench import engines

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="starts real engines and containers: needs root")

RUNTIMES = ["minioci", "minioci-served"] + [n for n in ("runc", "crun") if shutil.which(n)]
CALLS = {"podman": {"create", "start", "delete"}, "docker": {"create", "start", "delete"},
         "containerd": {"create", "start", "delete"}}


def _host_state():
    """What an engine or the benchmark could leave on the host: its work
    directories, processes naming them, their mounts, cgroups named like an
    engine's of the benchmark's."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "minioci-bench-engine-" in line]
    return {"dirs": set(glob.glob("/tmp/minioci-bench-engine-*")),
            "processes": set(engines.processes_mentioning("/tmp/minioci-bench-engine-")),
            "mounts": set(mounts),
            "cgroups": set(glob.glob("/sys/fs/cgroup/*/minioci-podman-*") + glob.glob("/sys/fs/cgroup/*/minioci-docker-*")
                           + glob.glob("/sys/fs/cgroup/*/minioci-[0-9a-f]" + "[0-9a-f]" * 7)),
            "isolated": {d: os.path.exists(d) for d in ("/var/lib/containers", "/opt/containerd")}}


@pytest.mark.parametrize("engine", ["podman", "docker", "containerd"])
def test_bench_engine_reports_every_runtime_its_calls_and_minioci_phases(engine, tmp_path):
    cls = engines.ENGINES[engine]
    missing = [b for b in cls.BINARIES if not os.access(b, os.X_OK)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/setup installs them)")
    before = _host_state()
    chart = ["--no-chart"] if engine != "podman" else []        # one draws its chart (matplotlib)
    r = subprocess.run([MINIOCI, "bench", "engine", engine, "--runs", "1", "--warmup", "0", "--out", tmp_path,
                        *chart], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    (result_file,) = tmp_path.glob("*-engine-*.json")
    result = json.loads(result_file.read_text())
    assert result["engine"] == engine and result["runs"] == 1
    assert set(result["runtimes"]) == set(RUNTIMES)
    w = result["wrapper"]
    assert w["runs"] == 200 and w["bare_ms"] > 0 and w["wrapped_ms"] > 0 and w["logged_ms"] > 0
    for name, e in result["runtimes"].items():
        assert len(e["totals_ms"]) == 1 and e["total_ms"] > 0 and e["calls_ms"] > 0, name
        assert CALLS[engine] <= set(e["calls"]), (name, e["calls"])
        for call in e["calls"].values():
            assert call["per_run"] >= 1 and call["median_ms"] > 0 and call["example"]
        assert e["failed_calls"] == 0, name
    for name, path in (("minioci", "direct"), ("minioci-served", "served")):
        ph = result["runtimes"][name]["phases"]
        suffix = "" if path == "direct" else " (served)"
        assert {f"{c}{suffix}" for c in ("create", "start", "delete")} <= set(ph), (name, set(ph))
        create = [p["phase"] for p in ph[f"create{suffix}"]["phases"]]
        first = ["interpreter", "imports"] if path == "direct" else ["front end", "server", "worker"]
        for expected in first + ["config", "cgroup", "clone", "pivot_root", "exec"]:
            assert expected in create, (name, expected)
        assert result["runtimes"][name]["calls_with_phases"] >= 3
        assert set(result["runtimes"][name]["outside_phases_ms"]) == set(ph)
    assert int(result["served"]["requests"]) >= 3 and result["served"]["refused"] == "0"
    assert result["left"] == []
    md = result_file.with_suffix(".md").read_text()
    assert "the engine's total" in md and "`create`" in md and "minioci-served's phases" in md
    assert f"Where {engine}'s time goes" in r.stdout
    if not chart:
        assert result_file.with_suffix(".png").exists()
    assert _host_state() == before


def test_bench_engine_interrupted_leaves_nothing(tmp_path):
    """SIGINT in the middle of the runs (once the first round has begun),
    to the command alone (a terminal's ^C reaches the driver too): it is
    passed on, the engine is stopped, the namespace's processes end with it,
    the work directory and cgroups go; exit status 130, nothing written."""
    engine = "docker"          # the most processes: dockerd, its containerd, the shims
    if not all(os.access(b, os.X_OK) for b in engines.ENGINES[engine].BINARIES):
        pytest.skip("needs docker.io")
    before = _host_state()
    p = subprocess.Popen([MINIOCI, "bench", "engine", engine, "--runs", "100", "--out", tmp_path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if "round 1/" in line:
            p.send_signal(signal.SIGINT)
            break
    rest = p.communicate(timeout=600)[1]
    assert p.returncode == 130, "".join(seen) + rest
    assert "interrupted" in rest and "left behind" not in rest, rest
    assert "round 100/100" not in rest              # it stopped, rather than finishing first
    assert list(tmp_path.iterdir()) == []
    assert _host_state() == before


def test_bench_engine_help_and_usage():
    r = subprocess.run([MINIOCI, "bench", "engine", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and all(f in r.stdout for f in ("--runs", "--warmup", "--runtimes", "--no-phases"))
    r = subprocess.run([MINIOCI, "bench", "engine", "nerdctl"], capture_output=True, text=True)
    assert r.returncode != 0 and "podman|docker|containerd" in r.stderr
    r = subprocess.run([MINIOCI, "bench", "engine", "podman", "--runtimes", "youki"], capture_output=True, text=True)
    assert r.returncode != 0 and "youki" in r.stderr
