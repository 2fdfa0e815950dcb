"""`minioci bench`: the structure of what it reports (never its numbers)."""
import json
import shutil
import subprocess

import pytest

from conftest import IS_ROOT, MINIOCI, REPO

pytestmark = pytest.mark.skipif(not (IS_ROOT and shutil.which("hyperfine") and shutil.which("runc")),
                                reason="needs root, hyperfine and runc")


def test_startup_bench_reports_medians_ratios_and_phases(tmp_path):
    r = subprocess.run([MINIOCI, "bench", "--runs", "3", "--rounds", "1", "--warmup", "1", "--runtime", "runc",
                        "--cases", "run:busybox,cycle:busybox", "--bundles", REPO / "bundles", "--out", tmp_path,
                        "--no-chart"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())
    assert set(result["cases"]) == {"run:busybox", "cycle:busybox"}
    ways = ("minioci", "minioci-served", "minioci-sh")
    for case in result["cases"].values():
        for name in ways + ("runc",):
            e = case[name]
            assert e["runs"] == 3 and 0 < e["min_ms"] <= e["median_ms"] <= e["max_ms"]
        for way in ways:
            assert case["ratios"][way]["runc"] == pytest.approx(case[way]["median_ms"] / case["runc"]["median_ms"])
    for way, first in (("minioci", ["interpreter", "imports"]), ("minioci-served", ["front end", "server", "worker"])):
        phases = result["cases"]["run:busybox"][way]["phases"]
        names = [p["phase"] for p in phases["phases"]]
        for expected in first + ["config", "cgroup", "clone", "ns.net", "mqueue", "pivot_root", "exec"]:
            assert expected in names, (way, expected)
        assert phases["runs"] == 4              # the warm-up run writes its timing too
    assert "interpreter" not in [p["phase"] for p in result["cases"]["run:busybox"]["minioci-served"]["phases"]
                                 ["phases"]]
    assert {(t["case"], t["way"], t["peer"]) for t in result["targets"]} == {
        ("run:busybox", "minioci", "minioci-sh"), ("run:busybox", "minioci", "runc"), ("cycle:busybox", "minioci", "runc")}
    assert result["python_floor_ms"] > 0 and result["above_floor_ms"] is None     # no crun given
    md = result_file.with_suffix(".md").read_text()
    assert "| run:busybox | minioci-served |" in md and "minioci-served's phases, run:busybox" in md
    assert "unaccounted" in md
    assert "run:busybox" in r.stdout


def test_rootless_startup_bench_runs_every_runtime_as_the_user(tmp_path, plain_user):
    """`bench --user`: minioci and the peer run as a plain user, each in a
    user namespace of its own; the phase table works rootless."""
    r = subprocess.run([MINIOCI, "bench", "--user", plain_user.name, "--runs", "2", "--rounds", "1", "--warmup", "1",
                        "--runtime", "runc", "--ways", "minioci", "--bundles", REPO / "bundles", "--out", tmp_path,
                        "--no-chart"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (result_file,) = tmp_path.glob("*.json")
    result = json.loads(result_file.read_text())
    assert result["rootless_user"] == plain_user.name
    assert set(result["cases"]) == {"rootless run:busybox", "rootless cycle:busybox"}
    for case in result["cases"].values():
        assert case["minioci"]["runs"] == 2 and case["runc"]["runs"] == 2
    names = [p["phase"] for p in result["cases"]["rootless run:busybox"]["minioci"]["phases"]["phases"]]
    assert "userns.map" in names and "exec" in names
    assert result["targets"] == []            # the targets are root's
    assert plain_user.processes() == []


def test_density_bench_leaves_nothing(tmp_path):
    r = subprocess.run([MINIOCI, "bench", "density", "3", "--runtime", "runc", "--json",
                        "--bundles", REPO / "bundles"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert set(results) == {"minioci", "minioci-served", "runc"}
    for res in results.values():
        assert res["left"] == [] and res["failures"] == []
        assert res["up_s"] > 0 and res["peak_rss_kib"] > 0
