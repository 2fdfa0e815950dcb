"""--timing: every phase present, non-negative, in order, and adding up to the
total.  Structure only: never a wall-clock bound."""
import json
import os

from conftest import base_config
from minioci.timing import Timeline, format_table

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

# Before the config: Python's start, or the served path's front end, server and worker
# (a resident worker or a spare, "handover", or a worker forked for it, "fork": see
# check_structure; the server looks the config up before a fork).
START = {"direct": ["interpreter", "imports", "config"],
         "served": ["front end", "connect", "server", "worker", "config"]}
EXPECTED_ORDER = ["validate", "cgroup", "plan", "clone", "minioci-init",
                  "cgroup.join", "ns.ipc", "ns.net", "ns.mnt", "rootfs", "mount /proc", "mqueue",
                  "mount cgroup", "devices", "pivot_root", "masked paths", "capabilities", "exec"]


def check_structure(d, route="direct"):
    names = [p["phase"] for p in d["phases"]]
    expected = START[route] + EXPECTED_ORDER
    for name in expected:
        assert name in names, (name, names)
    if route == "served":       # no interpreter starts on the served path, and none is hidden
        assert "interpreter" not in names and "imports" not in names
        assert ("fork" in names) != ("handover" in names), names
        assert names.index("server") < names.index("fork" if "fork" in names else "handover") < names.index("worker")
    positions = [names.index(n) for n in expected]
    assert positions == sorted(positions), names
    assert all(p["ms"] >= 0 for p in d["phases"])
    total = sum(p["ms"] for p in d["phases"])
    assert abs(total - d["total_ms"]) <= 0.05 * d["total_ms"]
    assert abs(sum(p["share"] for p in d["phases"]) - 1) < 0.05
    assert names[-1] == "exec"
    cgroup = d["phases"][names.index("cgroup")]
    assert [q["phase"] for q in cgroup["parts"]] == ["cgroup.create", "cgroup.resources", "cgroup.devices"]
    assert 0 <= sum(q["ms"] for q in cgroup["parts"]) <= cgroup["ms"]


def test_timing_json_on_stderr(rt, route):
    r = rt.run(base_config(["true"]), "--timing=json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stderr.splitlines()[-1])
    check_structure(d, route)
    assert d["command"] == "run" and d["exit_code"] == 0
    assert [p["phase"] for p in d["after_exit"]] == ["cgroup.remove", "state.remove"]


def test_timing_table_on_stderr(rt, route):
    r = rt.run(base_config(["sh", "-c", "echo out"]), "--timing")
    assert r.returncode == 0 and r.stdout == "out\n"
    lines = r.stderr.splitlines()
    assert lines[0].split() == ["phase", "ms", "share"]
    rows = {line.rsplit(None, 2)[0]: line.split()[-2] for line in lines[2:] if line and not line.startswith("-")}
    assert "mqueue" in rows and START[route][0] in rows and "total (start to exec)" in rows
    assert any(line.startswith("after exit: cgroup.remove") for line in lines)


def test_minioci_timing_env_writes_json(rt, route, tmp_path):
    out = tmp_path / "t.json"
    r = rt.run(base_config(["true"]), env={**os.environ, "MINIOCI_TIMING": str(out)})
    assert r.returncode == 0 and r.stderr == ""         # no --timing: nothing printed
    check_structure(json.loads(out.read_text()), route)


def test_minioci_timing_dir_gets_a_file_per_command(rt, route, tmp_path):
    """MINIOCI_TIMING=dir/: one file per command, named by the minioci
    command's pid (served, one resident worker serves them all)."""
    out = tmp_path / "timings"
    out.mkdir()
    bundle = rt.bundle(base_config(["true"]))
    for _ in range(3):
        r = rt.run(bundle, env={**os.environ, "MINIOCI_TIMING": f"{out}/"})
        assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(out))
    assert len(files) == 3 and all(f.startswith("run-") and f.endswith(".json") for f in files)
    for f in files:
        check_structure(json.loads((out / f).read_text()), route)


def test_phases_add_up_even_when_marks_interleave():
    tl = Timeline(start=0)
    tl.mark("a", 10)
    tl.mark("child", 25)      # a child's stamp between two parent marks
    tl.mark("b", 20)
    tl.mark("a", 40)          # a phase met twice is summed
    assert tl.phases() == [("a", 10 + 15), ("b", 10), ("child", 5)]
    assert tl.total() == 40 and sum(ns for _, ns in tl.phases()) == 40


def test_parts_are_shown_under_their_phase_and_do_not_change_the_sums():
    tl = Timeline(start=0)
    tl.mark("a", 10)
    tl.mark_part("b.one", 12)
    tl.mark_part("b.two", 17)
    tl.mark("b", 20)
    tl.mark("c", 30)
    assert tl.phases() == [("a", 10), ("b", 10), ("c", 10)]
    assert tl.parts() == {"b": [("b.one", 2), ("b.two", 5)]}
    d = tl.as_dict()
    assert d["phases"][1]["parts"] == [{"phase": "b.one", "ms": 2e-6}, {"phase": "b.two", "ms": 5e-6}]
    assert "\n  b.one " in format_table(d)


def test_table_format():
    tl = Timeline(start=0)
    tl.mark("interpreter", 10_000_000)
    tl.mark("exec", 12_500_000)
    tl.mark_after_exit("cgroup.remove", 0, 1_000_000)
    text = format_table(tl.as_dict())
    assert "interpreter" in text and "10.000" in text and "80.0%" in text
    assert "total (start to exec)" in text and "12.500" in text
    assert "after exit: cgroup.remove" in text
