"""cgroups on the real kernel: every resource written and read back on this
host's layout, limits that hold (memory, pids, CPU quota), the commands that
work on a container's cgroup (update, pause, resume, ps, events, kill --all),
the v2 paths run for real on the unified hierarchy (eBPF device filter,
cgroup.freeze, cgroup.kill), clean removal (100 containers at once, a
create killed half-way) and bad input."""
import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import base_config, cgroup_dir_inside, needs_root, swap_accounted
from minioci import cgroups
from minioci.cgroups import devices, devices_bpf, freezer
from minioci.cgroups.resources import blkio_to_io_weight

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

LAYOUT = cgroups.detect()
SWAP = swap_accounted()


def memory(limit, swap):
    """linux.resources.memory: `limit`, and memory+swap `swap` where the
    host accounts swap; elsewhere minioci refuses `swap`, and the tests
    whose point it is not run without it (on v1 with swappiness 0, so that
    the container is not swapped out instead of meeting its limit)."""
    if SWAP:
        return {"limit": limit, "swap": swap}
    return {"limit": limit, "swappiness": 0} if LAYOUT.where("memory") == "v1" else {"limit": limit}


def sh(script, **resources):
    cfg = base_config(["sh", "-c", script])
    cfg["linux"]["resources"].update(resources)
    return cfg


def start_detached(rt, cfg, cid=None):
    cid = cid or rt.new_id()
    # A detached container keeps our stdio: give it nothing to hold open.
    err = rt.tmp / f"{cid}.stderr"
    with open(err, "w") as f:
        r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=subprocess.DEVNULL, stderr=f,
                    capture_output=False)
    assert r.returncode == 0, err.read_text()
    return cid


def create(rt, bundle, cid):
    """`create`, its stdio kept from the container (which would hold our
    pipes open until it exits); returns (exit status, stderr)."""
    err = rt.tmp / f"{cid}.create.stderr"
    with open(err, "w") as f:
        r = subprocess.run(rt.cmd("create", "-b", bundle, cid), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=f, timeout=60)
    return r.returncode, err.read_text()


def state_file(rt, cid):
    return json.loads(Path(rt.root, cid, "state.json").read_text())


def cgroup_of(rt, cid):
    return cgroups.Cgroup.from_dirs(LAYOUT, state_file(rt, cid)["cgroup_dirs"])


def read(part, v1_name, v2_name=None):
    name = v1_name if part.version == 1 else (v2_name or v1_name)
    return Path(part.directory, name).read_text().strip()


def status(rt, cid):
    return json.loads(rt.call("state", cid).stdout)["status"]


def wait_status(rt, cid, wanted, timeout=10):
    deadline = time.monotonic() + timeout
    while status(rt, cid) != wanted:
        assert time.monotonic() < deadline, f"{cid} never became {wanted}"
        time.sleep(0.02)


def block_device():
    """major:minor of a real block device (throttling needs one)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram")):
            return [int(x) for x in Path("/sys/block", name, "dev").read_text().split(":")]
    pytest.skip("no block device to throttle")


def delete(rt, cid):
    r = rt.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr


# ---- every resource, read back ----------------------------------------------------

@needs_root
def test_every_resource_is_written_and_reads_back(rt):
    """What every host of this kind has, written at create and read back;
    then each setting only some hosts have (OPTIONAL), by update."""
    major, minor = block_device()
    res = {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 30000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 77},
        "blockIO": {k: [{"major": major, "minor": minor, "rate": rate}] for k, rate in (
            ("throttleReadBpsDevice", 1 << 20), ("throttleWriteBpsDevice", 2 << 20),
            ("throttleReadIOPSDevice", 100), ("throttleWriteIOPSDevice", 200))},
    }
    if LAYOUT.where("memory") == "v1":
        res["memory"].update(swappiness=30, disableOOMKiller=True)
    if LAYOUT.v2:
        res["unified"] = {"cgroup.max.descendants": "5"}        # a core file: on any cgroup2
    cid = start_detached(rt, sh("sleep 100", **res))
    cg = cgroup_of(rt, cid)
    mem, cpu, cpuset, pids, blkio = (cg.part_for(c) for c in ("memory", "cpu", "cpuset", "pids", "blkio"))
    assert read(mem, "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert read(mem, "memory.soft_limit_in_bytes", "memory.low") == str(32 << 20)
    if mem.version == 1:
        assert read(mem, "memory.swappiness") == "30"
        assert "oom_kill_disable 1" in read(mem, "memory.oom_control")
    assert read(cpu, "cpu.shares", "cpu.weight") == ("512" if cpu.version == 1 else "50")
    if cpu.version == 1:
        assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("30000", "100000")
    else:
        assert read(cpu, "cpu.max") == "30000 100000"
    assert (read(cpuset, "cpuset.cpus"), read(cpuset, "cpuset.mems")) == ("0", "0")
    assert read(pids, "pids.max") == "77"
    dev = f"{major}:{minor}"
    if blkio.version == 1:
        assert read(blkio, "blkio.throttle.read_bps_device") == f"{dev} {1 << 20}"
        assert read(blkio, "blkio.throttle.write_bps_device") == f"{dev} {2 << 20}"
        assert read(blkio, "blkio.throttle.read_iops_device") == f"{dev} 100"
        assert read(blkio, "blkio.throttle.write_iops_device") == f"{dev} 200"
    else:
        assert read(blkio, "io.max") == f"{dev} rbps={1 << 20} wbps={2 << 20} riops=100 wiops=200"
    if LAYOUT.v2:
        assert read(cg.v2, "cgroup.max.descendants") == "5"
    for setting in OPTIONAL:
        check_optional(rt, cid, cg, setting)
    delete(rt, cid)


class Optional:
    """A setting only some hosts have: `resources` asks for it; the
    `controller`'s files `v1` (or `v2`, by the part's version) are where it
    goes, the first that exists; `want(file)` is what it reads back (its
    last word, or one of its lines), or None where the kernel takes the
    value and drops it."""

    def __init__(self, field, resources, controller, v1, v2, want):
        self.field, self.resources, self.controller = field, resources, controller
        self.v1, self.v2, self.want = v1, v2, want


OPTIONAL = [
    # memory+swap needs the kernel to account swap
    Optional("memory.swap", {"memory": {"limit": 64 << 20, "swap": 128 << 20}}, "memory",
             ("memory.memsw.limit_in_bytes",), ("memory.swap.max",),
             lambda f: str((128 if f.startswith("memory.memsw") else 64) << 20)),
    # BFQ (or CFQ) on v1, BFQ or iocost on v2
    Optional("blockIO.weight", {"blockIO": {"weight": 300}}, "blkio", ("blkio.weight", "blkio.bfq.weight"),
             ("io.bfq.weight", "io.weight"), lambda f: str(blkio_to_io_weight(300) if f == "io.weight" else 300)),
    # Linux 5.15
    Optional("cpu.idle", {"cpu": {"idle": 1}}, "cpu", ("cpu.idle",), ("cpu.idle",), lambda f: "1"),
    # Linux 5.14
    Optional("cpu.burst", {"cpu": {"burst": 2000}}, "cpu", ("cpu.cfs_burst_us",), ("cpu.max.burst",),
             lambda f: "2000"),
    Optional("hugepageLimits[0].pageSize", {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]},
             "hugetlb", ("hugetlb.2MB.limit_in_bytes",), ("hugetlb.2MB.max",), lambda f: str(4 << 20)),
    Optional("network.classID", {"network": {"classID": 0x100001}}, "net_cls", ("net_cls.classid",), (),
             lambda f: str(0x100001)),
    Optional("network.priorities[0]", {"network": {"priorities": [{"name": "lo", "priority": 5}]}}, "net_prio",
             ("net_prio.ifpriomap",), (), lambda f: "lo 5"),
    Optional("memory.kernelTCP", {"memory": {"kernelTCP": 64 << 20}}, "memory", ("memory.kmem.tcp.limit_in_bytes",),
             (), lambda f: str(64 << 20)),
    # Linux 5.16 and later take a kmem limit and drop it
    Optional("memory.kernel", {"memory": {"kernel": 64 << 20}}, "memory", ("memory.kmem.limit_in_bytes",), (),
             lambda f: None),
]


def check_optional(rt, cid, cg, setting):
    """Where the container's own cgroup has a file for `setting`, an update
    writes it there; where it has none (or the controller is not here at
    all), the update is refused with one line that names the field and
    what is missing."""
    part = cg.part_for(setting.controller)
    names = () if part is None else setting.v1 if part.version == 1 else setting.v2
    offered = [n for n in names if Path(part.directory, n).exists()]
    res = rt.tmp / f"{cid}.optional.json"
    res.write_text(json.dumps(setting.resources))
    r = rt.call("update", "-r", res, cid)
    if offered:
        assert r.returncode == 0, (setting.field, r.stderr)
        want = setting.want(offered[0])
        if want is not None:
            got = Path(part.directory, offered[0]).read_text()
            assert want == got.split()[-1] or want in got.splitlines(), (setting.field, got)
        return
    assert r.returncode != 0 and r.stderr.count("\n") == 1, (setting.field, r.stderr)
    assert f"minioci: {res}: {setting.field}: " in r.stderr, r.stderr
    what = names or (setting.controller,)
    assert any(name in r.stderr for name in what) or "is not supported on cgroup v2" in r.stderr, r.stderr


def v1_root(controller):
    """The root directory of `controller`'s v1 hierarchy, or None."""
    return next((m for m, _, ctrls in LAYOUT.v1.values() if controller in ctrls), None)


def refused(rt, cfg, field, *words):
    """`run` of cfg fails with one line naming linux.resources.<field> and
    each of `words` (what the host lacks), leaving nothing (the rt fixture)."""
    bundle = rt.bundle(cfg)
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"minioci: {bundle}/config.json: linux.resources.{field}: "), r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def realtime_offered():
    """Real-time budgets: cgroup v1's cpu controller, on a kernel with
    real-time group scheduling (CONFIG_RT_GROUP_SCHED)."""
    return LAYOUT.where("cpu") == "v1" and os.path.exists(os.path.join(v1_root("cpu"), "cpu.rt_runtime_us"))


def refused_realtime(rt, cfg):
    if LAYOUT.where("cpu") == "v1":
        refused(rt, cfg, "cpu.realtimeRuntime", "cpu.rt_runtime_us does not exist", "CONFIG_RT_GROUP_SCHED")
    else:
        refused(rt, cfg, "cpu.realtimeRuntime", "is not supported on cgroup v2")


@needs_root
@pytest.mark.parametrize("cgroups_path", [None, "/cgwt-rt-{cid}/inner/{cid}"])
def test_realtime_under_parents_minioci_makes(rt, cgroups_path):
    """The runtime comes out of the parent's budget, and a new cgroup has
    none: minioci gives the parents it made (/minioci, or a cgroupsPath's)
    what the container needs."""
    cid = rt.new_id()
    cfg = sh("sleep 100", cpu={"realtimeRuntime": 10000, "realtimePeriod": 500000})
    if cgroups_path:
        cfg["linux"]["cgroupsPath"] = cgroups_path.format(cid=cid)
    if not realtime_offered():
        return refused_realtime(rt, cfg)
    start_detached(rt, cfg, cid)
    cpu = cgroup_of(rt, cid).part_for("cpu")
    assert (read(cpu, "cpu.rt_runtime_us"), read(cpu, "cpu.rt_period_us")) == ("10000", "500000")
    parent = os.path.dirname(cpu.directory)
    assert int(Path(parent, "cpu.rt_runtime_us").read_text()) >= 10000 * 1000000 // 500000
    delete(rt, cid)
    assert not os.path.exists(cpu.directory)
    if cgroups_path:
        assert not os.path.exists(os.path.dirname(parent))        # the parents minioci made are gone


def test_a_realtime_policy_without_a_budget_is_refused_naming_the_field(rt):
    """SCHED_FIFO in a cgroup without a real-time budget (cgroup v1 with
    real-time group scheduling: a new cgroup has none) would fail with
    sched_setattr's EPERM alone: minioci says which field gives one, for
    run and exec.  With a budget (or where the kernel wants none) it runs."""
    if LAYOUT.where("cpu") != "v1":
        pytest.skip("cgroup v2 has no real-time budgets: whether a real-time policy runs is the kernel's word")
    cfg = sh("awk '/^policy/ {print $3}' /proc/self/sched")
    cfg["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    if realtime_offered():
        bundle = rt.bundle(cfg)
        r = rt.call("run", "-b", bundle, rt.new_id())
        assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"minioci: {bundle}/config.json: process.scheduler.policy: SCHED_FIFO needs "
                                   "a real-time budget in the container's cpu cgroup"), r.stderr
        assert r.stderr.endswith("cpu.rt_runtime_us is 0: give one in linux.resources.cpu.realtimeRuntime "
                                 "(or with minioci update --cpu-rt-runtime)\n"), r.stderr
        cfg["linux"]["resources"]["cpu"] = {"realtimeRuntime": 10000, "realtimePeriod": 1000000}
    assert rt.output(cfg) == "1\n"                                     # SCHED_FIFO
    if realtime_offered():
        cid = start_detached(rt, sh("sleep 100"))                      # no budget
        process = dict(base_config()["process"], args=["true"], scheduler={"policy": "SCHED_RR", "priority": 5})
        (rt.tmp / "process.json").write_text(json.dumps(process))
        r = rt.call("exec", "--process", rt.tmp / "process.json", cid)
        assert r.returncode != 0 and r.stderr.startswith("minioci: process: scheduler.policy: SCHED_RR needs a "
                                                         "real-time budget"), r.stderr
        delete(rt, cid)


def test_realtime_runtime_and_period(rt):
    # Directly below the root, which has the budget.
    cid = rt.new_id()
    cfg = sh("sleep 100", cpu={"realtimeRuntime": 10000, "realtimePeriod": 500000})
    cfg["linux"]["cgroupsPath"] = f"/cgwt-rt-{cid}"
    if not realtime_offered():
        return refused_realtime(rt, cfg)
    start_detached(rt, cfg, cid)
    cpu = cgroup_of(rt, cid).part_for("cpu")
    assert (read(cpu, "cpu.rt_runtime_us"), read(cpu, "cpu.rt_period_us")) == ("10000", "500000")
    delete(rt, cid)
    assert not os.path.exists(cpu.directory)


@needs_root
@pytest.mark.skipif("devices" not in LAYOUT.v1_controllers(), reason="needs the v1 devices controller")
def test_v1_device_rules_in_the_listed_order(rt):
    cfg = sh("sleep 300", devices=[{"allow": False, "access": "rwm"},
                                   {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                                   {"allow": True, "type": "b", "major": 7, "access": "r"},
                                   {"allow": True, "type": "c", "major": 4, "minor": 1, "access": "rwm"}])
    cid = start_detached(rt, cfg)
    listed = read(cgroup_of(rt, cid).part_for("devices"), "devices.list").splitlines()
    assert listed[:3] == ["c 10:229 rw", "b 7:* r", "c 4:1 rwm"]
    delete(rt, cid)


def test_a_cgroup_that_was_there_before_is_emptied_not_removed(rt):
    """runtime-spec (delete): "resources associated with the container, but
    not created by this container, MUST NOT be deleted" (runc removes it)."""
    cid = rt.new_id()
    cfg = sh("sleep 100")
    cfg["linux"]["cgroupsPath"] = f"/cgwt-pre-{cid}"
    part = cgroups.Cgroup.for_path(LAYOUT, cfg["linux"]["cgroupsPath"]).parts[0]
    os.mkdir(part.directory)
    try:
        start_detached(rt, cfg, cid)
        dirs = state_file(rt, cid)["cgroup_dirs"]
        assert part.directory in dirs and Path(part.directory, "cgroup.procs").read_text()
        delete(rt, cid)
        assert os.path.isdir(part.directory) and not Path(part.directory, "cgroup.procs").read_text()
        assert not [d for d in dirs if d != part.directory and os.path.exists(d)]
        cfg["process"]["args"] = ["true"]                          # and again, with run
        assert rt.run(cfg).returncode == 0 and os.path.isdir(part.directory)
    finally:
        os.rmdir(part.directory)


def test_the_process_is_in_every_cgroup_before_it_execs(rt):
    # No cgroup namespace: /proc/self/cgroup shows the full paths.
    cid = rt.new_id()
    path = f"/cgwt-libpod_parent-{cid}/libpod-{cid}"
    cfg = sh("cat /proc/self/cgroup")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
    cfg["linux"]["cgroupsPath"] = path
    # (the kernel lists the v2 hierarchy as 0:: even where none is mounted)
    lines = [line for line in rt.output(cfg, cid=cid).splitlines() if LAYOUT.v2 or not line.startswith("0::")]
    assert len(lines) == len(LAYOUT.v1) + (1 if LAYOUT.v2 else 0)
    assert all(line.endswith(":" + path) for line in lines), lines
    # and the parent it made is gone with it
    assert not any(os.path.exists(os.path.join(m, path.split("/")[1])) for m, _, _ in LAYOUT.v1.values())


# ---- limits that hold -------------------------------------------------------------------

@needs_root
def test_past_the_memory_limit_the_oom_killer_strikes_and_the_exit_shows_it(rt):
    r = rt.run(sh("exec dd if=/dev/zero of=/dev/null bs=64M count=1",
                  memory=memory(16 << 20, 16 << 20)))
    assert r.returncode == 128 + 9, r.stderr
    assert "killed by the OOM killer" in r.stderr


@needs_root
def test_pids_limit_stops_fork_inside(rt):
    r = rt.run(sh("for i in $(seq 30); do sleep 5 & echo $i; done", pids={"limit": 20}))
    started = [int(x) for x in r.stdout.split()]
    assert "can't fork" in r.stderr, r.stderr
    assert 10 <= len(started) < 20          # the shell itself is one of the 20


@needs_root
def test_cpu_quota_holds_a_busy_loop_near_its_share(rt):
    # The cpu controller's own counters, read inside: the usage a second's
    # busy loop got, and how often the quota stopped it (cpu.stat's
    # nr_throttled, v1 and v2 alike).  Throttling is the proof of
    # enforcement, whatever the machine's load; the usage bound holds on any.
    stats = ("for f in /sys/fs/cgroup/cpu/cpu.stat /sys/fs/cgroup/cpu.stat /sys/fs/cgroup/unified/cpu.stat; do "
             "[ -f $f ] && grep -E '^(nr_throttled|usage_usec) ' $f; done; "
             "[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ] && echo cpuacct_ns $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage)")
    out = rt.output(sh(f"timeout 1 sh -c 'while :; do :; done'; {stats}",
                       cpu={"quota": 20000, "period": 100000}))
    values = dict(line.split() for line in out.splitlines())
    seconds = int(values["cpuacct_ns"]) / 1e9 if "cpuacct_ns" in values else int(values["usage_usec"]) / 1e6
    assert int(values["nr_throttled"]) > 0, out
    assert seconds < 0.45, seconds          # 0.2 CPU for the one second (unlimited: up to 1.0)


# ---- the commands on a container's cgroup --------------------------------------------

@needs_root
def test_ps_update_pause_resume_events_and_kill_all(rt, tmp_path):
    cid = start_detached(rt, sh("sleep 1000 & sleep 1000 & wait", memory=memory(64 << 20, 128 << 20),
                                pids={"limit": 50}))
    pids = json.loads(rt.call("ps", "--format", "json", cid).stdout)
    assert len(pids) == 3 and state_file(rt, cid)["pid"] in pids
    table = rt.call("ps", cid).stdout.splitlines()
    assert "PID" in table[0] and sorted(int(line.split()[1]) for line in table[1:]) == sorted(pids)

    cg = cgroup_of(rt, cid)
    mem, cpu, pid_part = cg.part_for("memory"), cg.part_for("cpu"), cg.part_for("pids")
    r = rt.call("update", "--memory", "128m", *(["--memory-swap", "256m"] if SWAP else []), "--cpu-quota", "25000",
                "--cpu-period", "50000", "--pids-limit", "30", cid)
    assert r.returncode == 0, r.stderr
    assert read(mem, "memory.limit_in_bytes", "memory.max") == str(128 << 20)
    assert read(pid_part, "pids.max") == "30"
    assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("25000", "50000") \
        if cpu.version == 1 else read(cpu, "cpu.max") == "25000 50000"
    # lowering memory below the old limit takes the other write order on v1
    (tmp_path / "r.json").write_text(json.dumps({"memory": memory(32 << 20, 48 << 20)}))
    r = rt.call("update", "--resources", tmp_path / "r.json", cid)
    assert r.returncode == 0, r.stderr
    assert read(mem, "memory.limit_in_bytes", "memory.max") == str(32 << 20)
    r = rt.call("update", "--resources=-", cid, input=json.dumps({"pids": {"limit": 40}}))
    assert r.returncode == 0 and read(pid_part, "pids.max") == "40", r.stderr
    assert state_file(rt, cid)["resources"]["memory"] == memory(32 << 20, 48 << 20)

    assert rt.call("pause", cid).returncode == 0
    assert status(rt, cid) == "paused" and freezer.is_frozen(cg.directories())
    assert rt.call("pause", cid).returncode != 0           # already paused
    assert rt.call("resume", cid).returncode == 0
    assert status(rt, cid) == "running" and not freezer.is_frozen(cg.directories())
    assert "it is running" in rt.call("resume", cid).stderr

    r = rt.call("events", "--stats", cid)
    event = json.loads(r.stdout)
    assert event["type"] == "stats" and event["id"] == cid
    data = event["data"]
    assert data["pids"] == {"current": 3, "limit": 40}
    assert data["memory"]["usage"]["limit"] == 32 << 20 and data["memory"]["usage"]["usage"] > 0
    assert data["cpu"]["usage"]["total"] > 0

    # TERM to every process: the sleeps die, so the shell's wait returns and
    # the container stops (TERM to the init alone would be ignored).
    assert rt.call("kill", "--all", cid, "TERM").returncode == 0
    wait_status(rt, cid, "stopped")
    assert rt.call("delete", cid).returncode == 0
    assert not any(os.path.exists(d) for d in cg.directories())


@needs_root
def test_kill_all_with_sigkill_empties_the_cgroup(rt):
    cid = start_detached(rt, sh("sleep 1000 & sleep 1000 & wait"))
    dirs = cgroup_of(rt, cid).directories()
    assert rt.call("kill", "--all", cid, "KILL").returncode == 0
    wait_status(rt, cid, "stopped")
    assert cgroups.pids(dirs) == []
    assert rt.call("delete", cid).returncode == 0


@needs_root
def test_events_streams_stats_and_oom_until_the_container_stops(rt):
    cid = start_detached(rt, sh("sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 0.7",
                                memory=memory(16 << 20, 16 << 20)))
    r = rt.call("events", "--interval", "100ms", cid, timeout=20)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert {"type": "oom", "id": cid} in events
    assert sum(e["type"] == "stats" for e in events) >= 3
    delete(rt, cid)


@needs_root
def test_check_before_update_refuses_a_limit_below_usage_even_when_paused(rt, tmp_path):
    # 4 MB in a tmpfs file: charged to the container, and not reclaimable
    # without swap; well above the smallest limit allowed.
    cid = start_detached(rt, sh("head -c 4000000 /dev/zero > /dev/shm/x; sleep 100"))
    mem = cgroup_of(rt, cid).part_for("memory")
    deadline = time.monotonic() + 10
    while int(read(mem, "memory.usage_in_bytes", "memory.current")) < 4000000:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert rt.call("pause", cid).returncode == 0
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}}))
    r = rt.call("update", "-r", res, cid)
    assert r.returncode != 0 and "memory.limit: 1048576 is below the container's current memory use" in r.stderr
    res.write_text(json.dumps({"memory": {"limit": 64 << 20, "checkBeforeUpdate": True}}))
    assert rt.call("update", "-r", res, cid).returncode == 0
    assert read(mem, "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert status(rt, cid) == "paused"
    delete(rt, cid)


@needs_root
def test_update_of_a_stopped_container_is_an_error(rt):
    cid = rt.new_id()
    assert create(rt, rt.bundle(sh("true")), cid) == (0, "")
    assert rt.call("start", cid).returncode == 0
    wait_status(rt, cid, "stopped")
    r = rt.call("update", "--memory", "64m", cid)
    assert r.returncode != 0 and f"cannot update container {cid!r}: it is stopped" in r.stderr
    assert rt.call("pause", cid).returncode != 0
    assert rt.call("delete", cid).returncode == 0


@needs_root
@pytest.mark.parametrize("args,message", [
    (["--memory", "-5"], "--memory: invalid size '-5'"),
    (["--memory", "lots"], "--memory: invalid size 'lots'"),
    (["--pids-limit", "abc"], "--pids-limit needs a number"),
    (["--cpu-quota", "5"], "--cpu-quota: must be -1 (no limit) or at least 1000 microseconds"),
    pytest.param(["--memory", "1g"], "--memory: memory.swap (134217728) must be at least memory.limit (1073741824)",
                 marks=pytest.mark.skipif(not SWAP, reason="the container's swap limit needs swap accounting")),
    (["--cpuset-cpus", "a-b"], "--cpuset-cpus: 'a-b' is not a list like 0-3,5"),
    (["--pids-limit", "10000000"], "--pids-limit: must be from -1 to 4194304"),
    ([], "nothing to update"),
    (["--resources", "/nonexistent.json"], "--resources /nonexistent.json: no such file or directory"),
    (["--resources", "RES", "--memory", "1m"], "cannot be combined"),
])
def test_bad_updates_are_refused_and_change_nothing(rt, tmp_path, args, message):
    cid = start_detached(rt, sh("sleep 100", memory=memory(64 << 20, 128 << 20)))
    (tmp_path / "RES").write_text("{}")
    args = [str(tmp_path / "RES") if a == "RES" else a for a in args]
    r = rt.call("update", *args, cid)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert read(cgroup_of(rt, cid).part_for("memory"), "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    delete(rt, cid)


@needs_root
def test_bad_update_file_names_the_file_and_field(rt, tmp_path):
    cid = start_detached(rt, sh("sleep 100"))
    bad = tmp_path / "res.json"
    bad.write_text(json.dumps({"memory": {"limit": -5}}))
    r = rt.call("update", "-r", bad, cid)
    assert r.returncode != 0 and f"{bad}: memory.limit: must be at least -1, not -5" in r.stderr
    bad.write_text("{not json")
    assert f"{bad}: invalid JSON" in rt.call("update", "-r", bad, cid).stderr
    delete(rt, cid)


# ---- the v2 paths, for real on the unified hierarchy ---------------------------------

@pytest.fixture
def v2_cgroup():
    """A cgroup of our own in the cgroup2 mount (hybrid or pure v2)."""
    if os.geteuid() != 0 or not LAYOUT.v2:
        pytest.skip("needs root and a cgroup2 mount")
    d = os.path.join(LAYOUT.v2[0], f"cgwt-v2-{uuid.uuid4().hex[:10]}")
    os.mkdir(d)
    yield d
    cgroups.remove([d])


def open_in_cgroup(directory, path, mode="r"):
    """Whether a process in `directory` may open `path`."""
    redirect = "<" if mode == "r" else "<>"
    script = (f'echo $$ > {directory}/cgroup.procs && '
              f'( exec 3{redirect}{path} ) 2>/dev/null && echo open || echo denied')
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def test_ebpf_device_filter_attached_to_a_real_v2_cgroup(v2_cgroup):
    # podman's deny-all plus the default list: /dev/null opens, a block
    # device does not, and mknod of anything is allowed.
    devices_bpf.attach(v2_cgroup, devices_bpf.program(devices.rules([{"allow": False, "access": "rwm"}], [])))
    assert open_in_cgroup(v2_cgroup, "/dev/null", "rw") == "open"
    assert open_in_cgroup(v2_cgroup, "/dev/loop0") == "denied"
    assert open_in_cgroup(v2_cgroup, "/dev/fuse", "rw") == "denied"


def test_ebpf_filter_can_allow_all_but_one(v2_cgroup):
    devices_bpf.attach(v2_cgroup, devices_bpf.program(devices.rules(
        [{"allow": True}, {"allow": False, "type": "c", "major": 10, "minor": 229}], [])))
    assert open_in_cgroup(v2_cgroup, "/dev/loop0") == "open"
    assert open_in_cgroup(v2_cgroup, "/dev/fuse", "rw") == "denied"


def v2_usage(directory):
    return int(Path(directory, "cpu.stat").read_text().split("usage_usec ")[1].split()[0])


@needs_root
@pytest.mark.skipif(not LAYOUT.v2, reason="needs a cgroup2 mount")
def test_v2_freeze_and_kill_on_a_real_container(rt):
    cid = start_detached(rt, sh("while :; do :; done"))
    v2 = cgroup_of(rt, cid).v2.directory
    freezer.set_frozen([v2], True)                    # cgroup.freeze, not the v1 freezer
    assert "frozen 1" in Path(v2, "cgroup.events").read_text()
    before = v2_usage(v2)
    time.sleep(0.2)
    assert v2_usage(v2) == before                     # frozen: no CPU at all
    freezer.set_frozen([v2], False)
    time.sleep(0.2)
    assert v2_usage(v2) > before
    cgroups.kill([v2], signal.SIGKILL)                # cgroup.kill where the kernel has it (5.14)
    wait_status(rt, cid, "stopped")
    assert cgroups.pids([v2]) == []
    assert rt.call("delete", cid).returncode == 0


# ---- clean removal -----------------------------------------------------------------------

def all_cgroup_dirs():
    roots = [m for m, _, _ in LAYOUT.v1.values()] + ([LAYOUT.v2[0]] if LAYOUT.v2 else [])
    out = set()
    for root in roots:
        for d, subdirs, _ in os.walk(root):
            out.update(os.path.join(d, s) for s in subdirs)
    return out


@needs_root
def test_100_containers_at_once_leave_no_cgroup_behind(rt):
    parent = f"cgwt-many-{uuid.uuid4().hex[:8]}"
    ids = [rt.new_id() for _ in range(100)]
    before = all_cgroup_dirs()

    def one(i, cid):
        cfg = base_config(["true"])
        if i % 2:               # half in a parent of their own, half in /minioci
            cfg["linux"]["cgroupsPath"] = f"/{parent}/{cid}"
        bundle = rt.bundle(cfg)
        results = [create(rt, bundle, cid)]
        results += [(r.returncode, r.stderr) for r in (rt.call("start", cid), rt.call("delete", "--force", cid))]
        return results

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(one, range(100), ids))
    assert all(o == [(0, "")] * 3 for o in outcomes), [o for o in outcomes if o != [(0, "")] * 3][:3]
    after = all_cgroup_dirs()
    ours = {d for d in (before ^ after) if parent in d or any(cid in d for cid in ids)}
    assert not ours, sorted(ours)[:5]


@needs_root
def test_a_create_killed_half_way_is_removed_by_delete_force(rt):
    cid = rt.new_id()
    parent = f"cgwt-crash-{cid}"
    cfg = base_config(["true"])
    cfg["linux"]["cgroupsPath"] = f"/{parent}/{cid}"
    first = cgroups.Cgroup.for_path(LAYOUT, f"/{parent}/{cid}").directories()[0]
    proc = subprocess.Popen(rt.cmd("create", "-b", rt.bundle(cfg), cid), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.isdir(first):
        # (a create quicker than this loop may have finished in between: then
        # the directory is there, and the loop ends)
        assert time.monotonic() < deadline and (proc.poll() is None or os.path.isdir(first))
    proc.kill()                        # mid-way through setting up the cgroups
    proc.wait()
    r = rt.call("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not any(parent in d for d in all_cgroup_dirs())
    assert not os.path.exists(os.path.join(rt.root, cid))


# ---- bad input: one clear error, nothing left ---------------------------------------

BAD = [
    ("memory limit negative", {"memory": {"limit": -5}}, "linux.resources.memory.limit",
     "must be at least -1, not -5"),
    ("pids absurd", {"pids": {"limit": 10**12}}, "linux.resources.pids.limit", "must be from -1 to 4194304"),
    ("cpu quota absurd", {"cpu": {"quota": 2**60}}, "linux.resources.cpu.quota", "must be from -1 to"),
    ("swappiness", {"memory": {"swappiness": 200}}, "linux.resources.memory.swappiness", "from 0 to 100"),
    ("device type", {"devices": [{"allow": True, "type": "z"}]}, "linux.resources.devices[0].type",
     "unknown device type 'z'"),
    ("huge page size", {"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]},
     "linux.resources.hugepageLimits[0].pageSize", "this host has no 3MB huge pages"),
    ("no such block device", {"blockIO": {"throttleReadBpsDevice": [{"major": 259, "minor": 12345, "rate": 1}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0]", "no such device"),
    ("wildcard hole", {"devices": [{"allow": False}, {"allow": True, "type": "b"},
                                   {"allow": False, "type": "b", "major": 8, "minor": 0}]},
     "linux.resources.devices[2]", "it is part of the wildcard rule b *:* rwm"),
    ("unified on a v1 controller", {"unified": {"memory.high": "1"}}, "linux.resources.unified.memory.high",
     "the memory controller is not available on cgroup v2"),
]
if LAYOUT.where("net_cls") is None:
    BAD.append(("net_cls not mounted", {"network": {"classID": 1}}, "linux.resources.network.classID",
                "needs the net_cls controller"))
if LAYOUT.where("hugetlb") is None:
    BAD = [b for b in BAD if b[0] != "huge page size"]
    BAD.append(("hugetlb not here", {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]},
                "linux.resources.hugepageLimits[0].pageSize", "needs the hugetlb controller"))
if LAYOUT.where("memory") != "v1" or not LAYOUT.v2:
    BAD = [b for b in BAD if b[0] != "unified on a v1 controller"]


@needs_root
@pytest.mark.parametrize("name,res,path,message", BAD, ids=[b[0] for b in BAD])
def test_bad_resources_give_one_clear_error_and_leave_nothing(rt, name, res, path, message):
    cfg = sh("true")
    cfg["linux"]["resources"] = res
    bundle = rt.bundle(cfg)
    cid = rt.new_id()
    r = rt.call("run", "-b", bundle, cid)
    assert r.returncode != 0
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"minioci: {bundle}/config.json: {path}: "), r.stderr
    assert message in lines[0], lines[0]
    # the rt fixture checks that no state, cgroup, mount or process is left


@needs_root
def test_a_cgroups_path_holding_minioci_itself_is_refused(rt):
    mine = cgroups.own_cgroups().get(frozenset(["memory"]))
    if not mine or mine == "/":
        pytest.skip("minioci runs in the root memory cgroup here")
    cfg = sh("true")
    cfg["linux"]["cgroupsPath"] = mine
    r = rt.run(cfg)
    assert r.returncode != 0 and "would hold minioci's own cgroup" in r.stderr


def delegated(cgroup_options):
    """A container with its own user and cgroup namespaces whose root is
    host uid 200000, and a cgroup mount with these options."""
    v2 = cgroup_dir_inside("cgroup")
    cfg = sh(f"stat -c %u {v2}; mkdir {v2}/sub && echo made-sub; echo $$ > {v2}/sub/cgroup.procs && echo moved; "
             f"cat {v2}/cgroup.procs | wc -l")
    cfg["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        cfg["linux"][key] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    for m in cfg["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            m["options"] = cgroup_options
    return cfg


@needs_root
def test_a_read_write_cgroup_mount_delegates_the_containers_v2_cgroup(rt):
    """runtime-spec "Cgroup ownership": with a new user and cgroup namespace
    and /sys/fs/cgroup mounted read-write, the container's root owns its v2
    cgroup and the files /sys/kernel/cgroup/delegate lists, and can make and
    use cgroups below it."""
    if LAYOUT.v2 is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    out = rt.output(delegated(["nosuid", "noexec", "nodev", "relatime", "rw"])).split()
    assert out == ["0", "made-sub", "moved", "0"], out


@needs_root
def test_a_read_only_cgroup_mount_delegates_nothing(rt):
    if LAYOUT.v2 is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    r = rt.run(delegated(["nosuid", "noexec", "nodev", "relatime", "ro"]))
    assert r.stdout.split()[0] == "65534", r.stdout          # host root: unmapped, nobody
    assert "made-sub" not in r.stdout
