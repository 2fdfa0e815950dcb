"""Big configs: the direct and served paths agree.

A served start carries the plan to the front end over a SOCK_SEQPACKET
socket, whose packets the kernel keeps to ~200 KB: 10,000 mounts ran direct
and failed served ("[Errno 90] Message too long").  A payload larger than a
packet now travels in a sealed memfd (minioci/wire.py), both ways: the plan
to the front end, the step times back.  What execve itself cannot take
(process.args and process.env beyond the kernel's limits) is refused on
both paths, before anything is made, naming the field and the limit,
instead of the kernel's "argument list too long" at exec.
"""
import json
import resource

import pytest

from conftest import base_config, small_rootfs

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)


def test_thirty_thousand_mounts_run_on_both_paths(rt, tmp_path):
    """~1.5 MB of plan to the front end, ~240 KB of step times back."""
    rootfs = small_rootfs(tmp_path / "rootfs", ("sh", "grep"))
    cfg = base_config(["sh", "-c", "grep -c ' /m/' /proc/self/mountinfo"], rootfs=rootfs)
    cfg["root"]["readonly"] = False
    cfg["mounts"] += [{"destination": f"/m/{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(30000)]
    r = rt.run(cfg, "--timing=json", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "30000\n"
    phases = {p["phase"] for p in json.loads(r.stderr)["phases"]}
    assert {"mount /m/0", "mount /m/29999", "exec"} <= phases


def test_a_large_environment_that_execve_takes_runs_on_both_paths(rt):
    cfg = base_config(["sh", "-c", "env | grep -c ^BIG"])
    cfg["process"]["env"] += [f"BIG{i}={'v' * 40}" for i in range(25000)]     # ~1.2 MB
    assert rt.output(cfg) == "25000\n"


@pytest.mark.parametrize("what", ["100,000 env entries", "3 MB of args", "one arg of 200 KB"])
def test_what_execve_cannot_take_is_refused_naming_the_field_and_the_limit(rt, what):
    cfg = base_config(["true"])
    if what == "100,000 env entries":
        cfg["process"]["env"] += [f"VAR{i}=value{i}" for i in range(100000)]
    elif what == "3 MB of args":
        cfg["process"]["args"] += ["x" * 1000] * 3000
    else:
        cfg["process"]["args"] += ["x" * 200000]
    bundle = rt.bundle(cfg)
    r = rt.run(bundle)
    assert r.returncode != 0
    where = f"minioci: {bundle}/config.json: "
    if what == "one arg of 200 KB":
        assert r.stderr == (where + "process.args[1]: 200000 bytes, more than the 131071 the kernel takes in "
                            "one string of a program's arguments or environment\n")
    else:
        assert r.stderr.startswith(where + "process.args and process.env: "), r.stderr
        assert r.stderr.endswith(" bytes with their pointers, more than the 2097152 the kernel lets a program's "
                                 "arguments and environment take (a quarter of its stack limit, 8388608; at "
                                 "most 6 MiB)\n"), r.stderr


def test_a_larger_stack_limit_lets_more_through(rt):
    """The limit is the container's own: process.rlimits' RLIMIT_STACK."""
    cfg = base_config(["sh", "-c", 'echo "$#"', "sh"] + ["y" * 100000] * 30)      # 3 MB
    cfg["process"]["rlimits"].append({"type": "RLIMIT_STACK", "soft": 64 << 20, "hard": 64 << 20})
    assert rt.output(cfg) == "30\n"


def test_exec_refuses_what_execve_cannot_take_too(box):
    cid = box.detached(base_config(["sleep", "300"]))
    r = box.exec(cid, process={"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                               "env": [f"VAR{i}=value{i}" for i in range(100000)]})
    assert r.returncode != 0
    assert ".json: process.args and process.env: " in r.stderr and " 2097152 " in r.stderr, r.stderr


def unlimited_stack():
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_a_command_line_larger_than_a_packet_goes_too(box):
    """The front end's request (its arguments and environment) likewise:
    5 MB, more than the largest packet the served path ever took (4 MB),
    which a caller with a raised stack limit may give (execve then takes up
    to 6 MiB: the front end's command line, and the exec'd process's, which
    inherits the limit)."""
    cid = box.detached(base_config(["sleep", "300"]))
    r = box.rt.call("exec", cid, "sh", "-c", 'echo "$#"', "sh", *["z" * 1000] * 5000, preexec_fn=unlimited_stack)
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout == "5000\n"
