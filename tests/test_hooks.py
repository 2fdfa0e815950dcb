"""OCI hooks: each stage at its point, in the namespaces the spec says, with
the state on stdin; failures abort (prestart, createRuntime, createContainer,
startContainer) or are only logged (poststart, poststop)."""
import json
import os
import stat
import subprocess

import pytest

from conftest import base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

HOOK = """#!/bin/sh
# args: stage outdir
state=$(cat)
echo "$1 $(readlink /proc/self/ns/mnt) $state" >> "$2/log"
"""


def write_hook(tmp_path, body=HOOK):
    path = tmp_path / "hook.sh"
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def with_hooks(tmp_path, cfg, **stages):
    cfg["hooks"] = {stage: hooks for stage, hooks in stages.items()}
    return cfg


def read_log(out):
    entries = []
    for line in (out / "log").read_text().splitlines():
        stage, mnt, state = line.split(" ", 2)
        entries.append((stage, mnt, json.loads(state)))
    return entries


def test_every_stage_runs_in_order_where_the_spec_says(rt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    hook = write_hook(tmp_path)
    host = {s: [{"path": hook, "args": ["hook.sh", s, str(out)]}]
            for s in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    # startContainer runs after pivot_root: its path is the container's
    inside = [{"path": "/bin/sh", "args": ["sh", "-c", 'echo "startContainer $(readlink /proc/self/ns/mnt) '
                                           '$(cat)" >> /out/log']}]
    cfg = base_config(["sh", "-c", "readlink /proc/self/ns/mnt"])
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out)})
    cid = rt.new_id()
    container_mnt = rt.output(with_hooks(tmp_path, cfg, startContainer=inside, **host), cid=cid).strip()

    log = read_log(out)
    assert [e[0] for e in log] == ["prestart", "createRuntime", "createContainer", "startContainer",
                                   "poststart", "poststop"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    by_stage = {stage: (mnt, state) for stage, mnt, state in log}
    for stage in ("prestart", "createRuntime", "poststart", "poststop"):
        assert by_stage[stage][0] == host_mnt, stage            # the runtime's namespace
    for stage in ("createContainer", "startContainer"):
        assert by_stage[stage][0] == container_mnt, stage       # the container's
    statuses = {stage: s["status"] for stage, (_, s) in by_stage.items()}
    assert statuses == {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                        "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    assert all(s["id"] == cid and s["bundle"] for _, s in by_stage.values())
    assert by_stage["prestart"][1]["pid"] > 0 and by_stage["prestart"][1]["pid"] == by_stage["poststart"][1]["pid"]


def test_a_failing_prestart_aborts_the_create_and_cleans_up(rt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    hook = write_hook(tmp_path)
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    bad.chmod(0o755)
    cfg = with_hooks(tmp_path, base_config(["sh", "-c", "echo should not run"]),
                     prestart=[{"path": str(bad)}],
                     poststop=[{"path": hook, "args": ["hook.sh", "poststop", str(out)]}])
    r = rt.run(cfg)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr == f"minioci: hook prestart[0] {bad}: exited with status 3: broken\n"
    assert [e[0] for e in read_log(out)] == ["poststop"]       # the lifecycle ends with poststop


# createRuntime runs here in minioci, createContainer and startContainer in
# the child (the shim): both report the same way.
@pytest.mark.parametrize("stage", ["createRuntime", "createContainer", "startContainer"])
def test_a_hook_that_hangs_is_killed_after_its_timeout(rt, tmp_path, stage):
    cfg = with_hooks(tmp_path, base_config(), **{stage: [{"path": "/bin/sleep", "args": ["sleep", "30"],
                                                          "timeout": 1}]})
    r = rt.run(cfg)
    assert r.returncode != 0
    assert r.stderr == f"minioci: hook {stage}[0] /bin/sleep: did not finish within 1s\n"


@pytest.mark.parametrize("stage", ["prestart", "createContainer", "startContainer"])
def test_a_failing_hook_aborts_the_start(rt, tmp_path, stage):
    cfg = with_hooks(tmp_path, base_config(["sh", "-c", "echo should not run"]), **{stage: [{"path": "/bin/false"}]})
    r = rt.run(cfg)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr == f"minioci: hook {stage}[0] /bin/false: exited with status 1\n"


def test_poststart_and_poststop_failures_are_warnings_a_user_sees(rt, tmp_path):
    """runtime-spec v1.2.0: a failing poststart or poststop hook is logged
    as a warning and the lifecycle goes on.  Without --debug: on stderr in
    runc's form without --log, in the log (and only there) with it."""
    cfg = with_hooks(tmp_path, base_config(["sh", "-c", "echo ran"]),
                     poststart=[{"path": "/bin/false"}], poststop=[{"path": "/bin/false"}])
    r = rt.call("run", "-b", rt.bundle(cfg), rt.new_id())
    assert (r.returncode, r.stdout) == (0, "ran\n")
    lines = r.stderr.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        'level=warning msg="hook poststart[0] /bin/false: exited with status 1"',
        'level=warning msg="hook poststop[0] /bin/false: exited with status 1"'], r.stderr
    assert all(line.startswith('time="') for line in lines)
    r = rt.call("--log-format", "json", "run", "-b", rt.bundle(cfg), rt.new_id())
    on_stderr = [json.loads(line) for line in r.stderr.splitlines()]
    log = tmp_path / "minioci.log"
    r = rt.call("--log", log, "--log-format", "json", "run", "-b", rt.bundle(cfg), rt.new_id())
    assert (r.returncode, r.stdout, r.stderr) == (0, "ran\n", "")
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["msg"]) for e in on_stderr] == [(e["level"], e["msg"]) for e in logged] == [
        ("warning", "hook poststart[0] /bin/false: exited with status 1"),
        ("warning", "hook poststop[0] /bin/false: exited with status 1")]


def test_state_during_create_says_creating(rt, tmp_path):
    """While `create` runs (here: its createRuntime hook), `state` reports
    "creating", as the runtime-spec's lifecycle and runc do; then "created"."""
    from conftest import MINIOCI
    cid = rt.new_id()
    out = tmp_path / "state-during-create.json"
    hook = write_hook(tmp_path, f"#!/bin/sh\n{MINIOCI} --root {rt.root} state {cid} > {out}\n")
    cfg = with_hooks(tmp_path, base_config(["sleep", "300"]), createRuntime=[{"path": hook}])
    err = tmp_path / "create.stderr"         # a file: the container keeps what it inherits open
    with open(err, "w") as f:
        r = rt.call("create", "-b", rt.bundle(cfg), cid, stdout=subprocess.DEVNULL, stderr=f,
                    capture_output=False)
    assert r.returncode == 0, err.read_text()
    during = json.loads(out.read_text())
    assert during["status"] == "creating" and during["pid"] > 0
    after = json.loads(rt.call("state", cid).stdout)
    assert after["status"] == "created" and after["pid"] == during["pid"]
    assert rt.call("delete", "--force", cid).returncode == 0


@pytest.mark.parametrize("stage", ["prestart", "createRuntime", "createContainer", "startContainer"])
def test_a_missing_hook_is_one_error_line(rt, tmp_path, stage):
    """Inside the container (createContainer, startContainer) as outside it:
    the failed exec is reported once, by minioci, not also by the hook's
    own child."""
    cfg = with_hooks(tmp_path, base_config(), **{stage: [{"path": "/no/such/hook"}]})
    r = rt.run(cfg)
    assert r.returncode == 1
    assert r.stderr == f"minioci: hook {stage}[0] /no/such/hook: no such file or directory\n"
