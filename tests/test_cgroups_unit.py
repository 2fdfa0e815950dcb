"""cgroups without root: layout detection from mountinfo texts of the three
host kinds, path resolution, resource planning and routing, the v1 device
emulation and the v2 eBPF device filter (run through a small interpreter),
and the file writes of v2 and of v1-only controllers on temporary trees
shaped like cgroupfs.  Real cgroups are in test_cgroups.py."""
import os

import pytest

from minioci import cgroups
from minioci.cgroups import devices, devices_bpf, resources
from minioci.errors import ConfigError, MiniociError

KERNEL = cgroups.KNOWN_CONTROLLERS

V1_ONLY = """\
25 30 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
33 25 0:30 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
"""

V2_ONLY = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
27 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""

# This development machine's layout: v1 controllers mounted one by one, a
# named systemd hierarchy, and cgroup2 at /sys/fs/cgroup/unified.
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_pure_v1_layout():
    layout = cgroups.parse_layout(V1_ONLY, KERNEL)
    assert layout.kind == "v1" and layout.v2 is None
    assert set(layout.v1) == {"name=systemd", "cpu,cpuacct", "memory", "net_cls,net_prio", "pids", "devices"}
    assert layout.v1["cpu,cpuacct"] == ("/sys/fs/cgroup/cpu,cpuacct", "/", ["cpu", "cpuacct"])
    # mount flags (xattr, release_agent=...) are not controllers
    assert layout.v1["name=systemd"][2] == ["name=systemd"]


def test_pure_v2_layout():
    layout = cgroups.parse_layout(V2_ONLY, KERNEL)
    assert (layout.kind, layout.v1, layout.v2) == ("v2", {}, ("/sys/fs/cgroup", "/"))


def test_hybrid_layout_has_both():
    layout = cgroups.parse_layout(HYBRID, KERNEL)
    assert layout.kind == "hybrid"
    assert layout.v2 == ("/sys/fs/cgroup/unified", "/")
    assert set(layout.v1) == {"cpu", "cpuacct", "memory", "devices", "name=systemd"}


def test_this_hosts_layout_is_detected():
    layout = cgroups.detect()
    assert layout.kind in ("v1", "v2", "hybrid")
    assert layout.v1 or layout.v2


def test_a_controller_the_kernel_lacks_is_a_flag():
    layout = cgroups.parse_layout(V1_ONLY, KERNEL - {"net_prio"})
    assert "net_cls" in layout.v1


def test_no_cgroup_mount_is_an_error():
    with pytest.raises(MiniociError, match="no cgroup filesystem is mounted"):
        cgroups.parse_layout(V2_ONLY.splitlines()[0] + "\n", KERNEL)


def test_mount_with_escaped_path_and_non_root_mount():
    text = ("50 40 0:26 /docker/abc /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n")
    layout = cgroups.parse_layout(text, KERNEL)
    assert layout.v2 == ("/sys/fs/cgroup x", "/docker/abc")
    # a path under the mount's root is shown relative to it
    assert cgroups.directory_in("/sys/fs/cgroup x", "/docker/abc", "/docker/abc/c1", None) == "/sys/fs/cgroup x/c1"


OWN = cgroups.own_cgroups("2:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/session-1.scope\n"
                          "4:memory:/user.slice\n3:pids:/\n5:net_cls,net_prio:/\n6:devices:/\n0::/\n")


def test_paths_absolute_default_and_relative():
    layout = cgroups.parse_layout(V1_ONLY, KERNEL)
    assert cgroups.resolve_path(None, "c1") == "/minioci/c1"
    cg = cgroups.Cgroup.for_path(layout, "/libpod_parent/libpod-c1", OWN)
    assert "/sys/fs/cgroup/memory/libpod_parent/libpod-c1" in cg.directories()
    # relative: below the caller's own cgroup in each hierarchy, as runc does
    cg = cgroups.Cgroup.for_path(layout, "box/c1", OWN)
    dirs = cg.directories()
    assert "/sys/fs/cgroup/cpu,cpuacct/user.slice/box/c1" in dirs
    assert "/sys/fs/cgroup/systemd/user.slice/session-1.scope/box/c1" in dirs
    assert "/sys/fs/cgroup/pids/box/c1" in dirs


@pytest.mark.parametrize("path,message", [
    ("/a/../b", "must not contain '..'"), ("../x", "must not contain '..'"), ("/a/./b", "'.'"),
    ("/", "is the root cgroup"), ("machine.slice:libpod:c1", "systemd's slice:prefix:name form"),
])
def test_bad_cgroups_paths(path, message):
    with pytest.raises(ConfigError, match=message) as e:
        cgroups.resolve_path(path, "c1", "b/config.json")
    assert str(e.value).startswith("b/config.json: linux.cgroupsPath: ")


def test_a_path_holding_minioci_itself_is_refused():
    layout = cgroups.parse_layout(V1_ONLY, KERNEL)
    with pytest.raises(ConfigError, match="would hold minioci's own cgroup"):
        cgroups.Cgroup.for_path(layout, "/user.slice", OWN)


def test_from_dirs_finds_each_hierarchy():
    layout = cgroups.parse_layout(HYBRID, KERNEL)
    dirs = ["/sys/fs/cgroup/cpu/minioci/c", "/sys/fs/cgroup/memory/minioci/c", "/sys/fs/cgroup/unified/minioci/c"]
    cg = cgroups.Cgroup.from_dirs(layout, dirs)
    assert [p.version for p in cg.parts] == [1, 1, 2]
    assert cg.part_for("memory").directory == dirs[1]


# ---- planning ------------------------------------------------------------------

def settings(res, **kw):
    return {s.path: s for s in resources.plan(res, "c.json", **kw).settings}


@pytest.mark.parametrize("res,path,message", [
    ({"memory": {"limit": -5}}, "linux.resources.memory.limit", "must be at least -1, not -5"),
    ({"memory": {"limit": 2**64}}, "linux.resources.memory.limit", "must be at most"),
    ({"memory": {"limit": 1 << 20, "swap": 1 << 19}}, "linux.resources.memory.swap", "must be at least memory.limit"),
    ({"memory": {"swap": 1 << 30}}, "linux.resources.memory.swap", "needs memory.limit"),
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness", "from 0 to 100"),
    ({"memory": {"disableOOMKiller": "yes"}}, "linux.resources.memory.disableOOMKiller", "true or false"),
    ({"cpu": {"quota": 999}}, "linux.resources.cpu.quota", "at least 1000 microseconds"),
    ({"cpu": {"quota": -2}}, "linux.resources.cpu.quota", "must be from -1 to"),
    ({"cpu": {"period": 10}}, "linux.resources.cpu.period", "from 1000 to 1000000"),
    ({"cpu": {"cpus": "0-x"}}, "linux.resources.cpu.cpus", "not a list like 0-3,5"),
    ({"cpu": {"cpus": "3-1"}}, "linux.resources.cpu.cpus", "not a list like 0-3,5"),
    ({"cpu": {"idle": 2}}, "linux.resources.cpu.idle", "from 0 to 1"),
    ({"cpu": {"idle": 1, "shares": 100}}, "linux.resources.cpu.idle", "cannot go with cpu.shares"),
    ({"pids": {"limit": -7}}, "linux.resources.pids.limit", "must be from -1 to 4194304"),
    ({"pids": {"limit": 10**9}}, "linux.resources.pids.limit", "from -1 to 4194304"),
    ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight", "from 10 to 1000"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8}]}}, "linux.resources.blockIO.throttleReadBpsDevice[0]",
     "needs major and minor"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].rate", "is required"),
    ({"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}, "linux.resources.hugepageLimits[0].pageSize",
     "not a page size"),
    ({"unified": {"../x": "1"}}, "linux.resources.unified.../x", "not a cgroup v2 file name"),
    ({"devices": [{"allow": True, "type": "q"}]}, "linux.resources.devices[0].type", "unknown device type 'q'"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "linux.resources.devices[0].access", "made of r, w and m"),
    ({"devices": [{"type": "c"}]}, "linux.resources.devices[0].allow", "is required"),
    ({"memory": []}, "linux.resources.memory", "must be an object"),
])
def test_bad_resources_name_the_field(res, path, message):
    with pytest.raises(ConfigError) as e:
        resources.plan(res, "c.json")
    assert str(e.value).startswith(f"c.json: {path}: "), str(e.value)
    assert message in str(e.value)


def test_zero_means_not_set_as_runc_reads_it():
    assert settings({"memory": {"limit": 0}, "cpu": {"shares": 0, "quota": 0}, "pids": {"limit": 0}}) == {}


def test_swap_conversion_for_v2_and_memory_minus_one_frees_swap_too():
    s = settings({"memory": {"limit": 64 << 20, "swap": 128 << 20}})["linux.resources.memory.limit"]
    assert ("memory.max", str(64 << 20)) in s.v2 and ("memory.swap.max", str(64 << 20)) in s.v2
    s = settings({"memory": {"limit": -1}})["linux.resources.memory.limit"]
    assert ("memory.max", "max") in s.v2 and ("memory.swap.max", "max") in s.v2


def test_update_of_the_limit_recomputes_v2_swap_from_the_current_swap():
    s = resources.plan({"memory": {"limit": 100 << 20}}, "u", prefix="",
                       current={"memory": {"limit": 64 << 20, "swap": 256 << 20}}).settings[0]
    assert s.path == "memory.limit" and ("memory.swap.max", str(156 << 20)) in s.v2
    with pytest.raises(ConfigError, match="memory.limit: memory.swap .* must be at least memory.limit"):
        resources.plan({"memory": {"limit": 512 << 20}}, "u", prefix="",
                       current={"memory": {"limit": 64 << 20, "swap": 256 << 20}})


def test_cpu_max_keeps_the_other_half_on_update():
    s = resources.plan({"cpu": {"period": 50000}}, "u", prefix="", current={"cpu": {"quota": 20000}}).settings[0]
    assert s.v2 == [("cpu.max", "20000 50000")]
    s = resources.plan({"cpu": {"quota": 30000}}, "u", prefix="").settings[0]
    assert s.v2 == [("cpu.max", "30000")]


def test_shares_to_weight_as_runc():
    assert [resources.shares_to_weight(s) for s in (2, 1024, 262144)] == [1, 100, 10000]
    assert resources.shares_to_weight(512) < 100 < resources.shares_to_weight(2048)
    weights = [resources.shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights) and 1 <= min(weights) and max(weights) <= 10000
    assert resources.blkio_to_io_weight(10) == 1 and resources.blkio_to_io_weight(1000) == 10000


def test_merge_keeps_what_an_update_does_not_name():
    cur = {"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}, "devices": [{"allow": False}]}
    out = resources.merge(cur, {"memory": {"limit": 3, "swap": 0}, "cpu": {"quota": 9}, "devices": []})
    assert out == {"memory": {"limit": 3, "swap": 2}, "pids": {"limit": 5}, "cpu": {"quota": 9},
                   "devices": [{"allow": False}]}
    assert resources.merge({}, {"memory": {"limit": -1}})["memory"] == {"limit": -1, "swap": -1}


# ---- devices: the v1 emulation and the v2 eBPF program -------------------------

def run_filter(prog, dtype, major, minor, access):
    """Interpret the device filter as the kernel would run it."""
    import struct
    acc = sum(bit for ch, bit in (("r", 2), ("w", 4), ("m", 1)) if ch in access)
    ctx = [(acc << 16) | (1 if dtype == "b" else 2), major, minor]
    reg = [0] * 11
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    pc = 0
    for _ in range(1000):
        code, regs, off, imm = insns[pc]
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        u32 = imm & 0xFFFFFFFF
        if code == 0x61:
            reg[dst] = ctx[off // 4]
        elif code == 0x54:
            reg[dst] = reg[dst] & u32
        elif code == 0x74:
            reg[dst] = (reg[dst] & 0xFFFFFFFF) >> u32
        elif code == 0xb4:
            reg[dst] = u32
        elif code == 0xbc:
            reg[dst] = reg[src] & 0xFFFFFFFF
        elif code == 0x55:
            pc += off if reg[dst] != imm else 0
        elif code == 0x5d:
            pc += off if reg[dst] != reg[src] else 0
        elif code == 0x15:
            pc += off if reg[dst] == imm else 0
        elif code == 0x95:
            return reg[0] == 1
        else:
            raise AssertionError(f"unknown opcode {code:#x}")
    raise AssertionError("no exit")


CASES = [("c", 1, 3, "rw"), ("c", 1, 3, "m"), ("c", 10, 229, "r"), ("b", 8, 0, "r"), ("b", 8, 0, "m"),
         ("c", 136, 4, "rw"), ("c", 5, 2, "rwm"), ("c", 4, 1, "w"), ("b", 7, 3, "rw"), ("c", 1, 9, "wm")]

RULE_SETS = {
    "podman deny-all": [{"allow": False, "access": "rwm"}],
    "allow all, deny one": [{"allow": True}, {"allow": False, "type": "c", "major": 10, "minor": 229}],
    "allow all, deny writes to block": [{"allow": True}, {"allow": False, "type": "b", "access": "w"}],
    "whitelist with a partial allow": [{"allow": False}, {"allow": True, "type": "b", "major": 8, "access": "r"}],
    "allow then take back write": [{"allow": False}, {"allow": True, "type": "c", "major": 4, "minor": 1},
                                   {"allow": False, "type": "c", "major": 4, "minor": 1, "access": "w"}],
}


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_ebpf_filter_decides_as_the_v1_emulation(name):
    rules = devices.rules(RULE_SETS[name], [])
    prog = devices_bpf.program(rules)
    assert len(prog) % 8 == 0
    for case in CASES:
        assert run_filter(prog, *case) == rules.allows(*case), (name, case)


def test_default_list_makes_podmans_deny_all_usable():
    rules = devices.rules([{"allow": False, "access": "rwm"}], [])
    assert rules.allows("c", 1, 3, "rw") and rules.allows("c", 136, 7, "rw") and rules.allows("b", 8, 0, "m")
    assert not rules.allows("c", 10, 229, "r") and not rules.allows("b", 8, 0, "r")
    assert rules.v1_writes()[0] == ("devices.deny", "a")
    assert ("devices.allow", "c 1:3 rwm") in rules.v1_writes()


def test_v1_rules_are_written_in_the_listed_order():
    """runtime-spec: "The runtime MUST apply entries in the listed order"
    (the kernel's devices.list keeps them in that order)."""
    rules = devices.rules([{"allow": False}, {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                           {"allow": True, "type": "b", "major": 7, "access": "r"},
                           {"allow": True, "type": "c", "major": 4, "minor": 1}], [])
    writes = [value for _, value in rules.v1_writes()]
    assert writes[:4] == ["a", "c 10:229 rw", "b 7:* r", "c 4:1 rwm"]
    assert writes[4:] == [devices.line(*rule) for rule in devices.DEFAULT_ALLOW]


def test_later_rules_win_and_access_is_merged():
    rules = devices.rules([{"allow": False}, {"allow": True, "type": "c", "major": 4, "minor": 1, "access": "r"},
                           {"allow": True, "type": "c", "major": 4, "minor": 1, "access": "w"}], [])
    assert rules.exceptions[("c", 4, 1)] == "rw"
    rules = devices.rules([{"allow": False, "type": "c", "major": 4, "minor": 1}, {"allow": True}], [])
    assert rules.default_allow and rules.allows("c", 4, 1, "rw")


def test_punching_a_hole_in_a_wildcard_rule_is_refused():
    with pytest.raises(ConfigError, match=r"devices\[2\]: cannot deny c 1:3 r: it is part of the wildcard rule c \*:\* rwm"):
        devices.rules([{"allow": False}, {"allow": True, "type": "c"},
                       {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}], [])


# ---- writes on trees shaped like cgroupfs ----------------------------------------

V2_FILES = ["memory.max", "memory.swap.max", "memory.low", "memory.current", "cpu.weight", "cpu.max",
            "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max",
            "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "rdma.max", "memory.high", "cgroup.procs",
            "cgroup.controllers"]


@pytest.fixture
def fake_v2(tmp_path):
    """A cgroup2 mount with /minioci/c1 in it, each file a plain file."""
    root = tmp_path / "unified"
    leaf = root / "minioci" / "c1"
    leaf.mkdir(parents=True)
    for d in (root, root / "minioci"):
        (d / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
        (d / "cgroup.subtree_control").write_text("")
    for name in V2_FILES:
        (leaf / name).write_text("")
    (leaf / "memory.current").write_text("4096\n")
    layout = cgroups.Layout({}, (str(root), "/"))
    return cgroups.Cgroup.for_path(layout, "/minioci/c1", {frozenset([""]): "/"}), leaf, root


def test_v2_writes_every_resource(fake_v2):
    cg, leaf, root = fake_v2
    cg.create()                                   # the directories exist already
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +cpuset +hugetlb +io +memory +pids +rdma"
    assert (root / "minioci" / "cgroup.subtree_control").read_text().startswith("+cpu +cpuset")
    p = resources.route(cg, resources.plan({
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "burst": 5000, "idle": 0,
                "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 20},
        "blockIO": {"weight": 500, "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 2 << 21}],
        "rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}},
        "unified": {"memory.high": "50000000"},
    }, "c.json"))
    resources.apply(p)
    got = {name: (leaf / name).read_text() for name in V2_FILES}
    assert got["memory.max"] == str(64 << 20) and got["memory.swap.max"] == str(32 << 20)
    assert got["memory.low"] == str(32 << 20)
    assert got["cpu.weight"] == "100" and got["cpu.max"] == "20000 100000" and got["cpu.max.burst"] == "5000"
    assert got["cpu.idle"] == "0" and got["cpuset.cpus"] == "0-1" and got["cpuset.mems"] == "0"
    assert got["pids.max"] == "20"
    assert got["io.weight"] == str(resources.blkio_to_io_weight(500)) and got["io.max"] == "8:0 wiops=max"
    assert got["hugetlb.2MB.max"] == got["hugetlb.2MB.rsvd.max"] == str(2 << 21)
    assert got["rdma.max"] == "mlx5_0 hca_handle=3 hca_object=100"
    assert got["memory.high"] == "50000000"


def test_v2_unlimited_values_are_max(fake_v2):
    cg, leaf, _ = fake_v2
    resources.apply(resources.route(cg, resources.plan({"memory": {"limit": -1, "reservation": -1},
                                                        "pids": {"limit": -1}, "cpu": {"quota": -1}}, "c")))
    assert [(leaf / n).read_text() for n in ("memory.max", "memory.swap.max", "memory.low", "pids.max", "cpu.max")] \
        == ["max"] * 5


def test_v2_check_before_update_refuses_a_limit_below_usage(fake_v2):
    cg, leaf, _ = fake_v2
    (leaf / "memory.current").write_text(str(300 << 20))
    p = resources.route(cg, resources.plan({"memory": {"limit": 256 << 20, "checkBeforeUpdate": True}}, "u",
                                           prefix=""))
    with pytest.raises(ConfigError, match=r"u: memory.limit: 268435456 is below the container's current memory use"):
        resources.apply(p)
    assert (leaf / "memory.max").read_text() == ""


@pytest.mark.parametrize("res,path,message", [
    ({"memory": {"swappiness": 10}}, "memory.swappiness", "is not supported on cgroup v2"),
    ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller", "is not supported on cgroup v2"),
    ({"cpu": {"realtimeRuntime": 1000}}, "cpu.realtimeRuntime", "is not supported on cgroup v2"),
    ({"blockIO": {"leafWeight": 100}}, "blockIO.leafWeight", "is not supported on cgroup v2"),
    ({"network": {"classID": 1}}, "network.classID", "is cgroup v1 only, and this host has only cgroup v2"),
    ({"unified": {"misc.max": "x 1"}}, "unified.misc.max", "the misc controller is not available on cgroup v2"),
])
def test_v2_refuses_what_it_cannot_hold_before_writing(fake_v2, res, path, message):
    cg, _, _ = fake_v2
    with pytest.raises(ConfigError) as e:
        resources.route(cg, resources.plan(res, "c.json"))
    assert str(e.value).startswith(f"c.json: linux.resources.{path}: ") and message in str(e.value)


def test_v2_missing_file_is_a_clear_error(fake_v2):
    cg, leaf, _ = fake_v2
    (leaf / "cpu.max.burst").unlink()
    with pytest.raises(ConfigError, match=r"cpu.burst: is not available here .*cpu.max.burst does not exist"):
        resources.apply(resources.route(cg, resources.plan({"cpu": {"burst": 1}}, "c")))
    with pytest.raises(ConfigError, match=r"hugepageLimits\[0\].pageSize: this host has no 1GB huge pages \(it has: 2MB\)"):
        resources.apply(resources.route(cg, resources.plan({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}, "c")))


def test_v2_devices_go_to_an_ebpf_program(fake_v2):
    cg, _, _ = fake_v2
    rules = devices.rules([{"allow": False}], [])
    part, prog = devices.route(cg, rules)
    assert part is cg.v2 and prog == devices_bpf.program(rules)


def test_v1_only_controllers_on_a_fake_v1_tree(tmp_path):
    mounts = {}
    for name, ctrls, files in (("net_cls,net_prio", ["net_cls", "net_prio"], ["net_cls.classid", "net_prio.ifpriomap"]),
                               ("rdma", ["rdma"], ["rdma.max"]),
                               ("blkio", ["blkio"], ["blkio.leaf_weight", "blkio.weight", "blkio.weight_device"]),
                               ("memory", ["memory"], ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                                                       "memory.oom_control", "memory.usage_in_bytes"])):
        mount = tmp_path / name
        (mount / "c1").mkdir(parents=True)
        for f in files:
            (mount / "c1" / f).write_text("")
        mounts[name] = (str(mount), "/", ctrls)
    (tmp_path / "memory" / "c1" / "memory.limit_in_bytes").write_text("0\n")
    (tmp_path / "memory" / "c1" / "memory.usage_in_bytes").write_text("0\n")
    cg = cgroups.Cgroup.for_path(cgroups.Layout(mounts, None), "/c1", {})
    resources.apply(resources.route(cg, resources.plan({
        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx4_0": {"hcaHandles": 2}},
        "blockIO": {"weight": 200, "leafWeight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 400}]},
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": True},
    }, "c")))

    def read(h, f):
        return (tmp_path / h / "c1" / f).read_text()
    assert read("net_cls,net_prio", "net_cls.classid") == str(0x100001)
    assert read("net_cls,net_prio", "net_prio.ifpriomap") == "eth0 5"
    assert read("rdma", "rdma.max") == "mlx4_0 hca_handle=2"
    assert read("blkio", "blkio.weight") == "200" and read("blkio", "blkio.leaf_weight") == "300"
    assert read("blkio", "blkio.weight_device") == "8:0 400"
    assert read("memory", "memory.limit_in_bytes") == str(64 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read("memory", "memory.oom_control") == "1"


def test_realtime_on_a_kernel_without_realtime_group_scheduling_is_one_clear_error(tmp_path):
    """Without CONFIG_RT_GROUP_SCHED a v1 cpu cgroup has no cpu.rt_* files:
    the error says so (not a failed write to a parent)."""
    (tmp_path / "cpu" / "c1").mkdir(parents=True)
    for f in ("cpu.shares", "cpu.cfs_quota_us"):
        (tmp_path / "cpu" / "c1" / f).write_text("")
    cg = cgroups.Cgroup.for_path(cgroups.Layout({"cpu": (str(tmp_path / "cpu"), "/", ["cpu"])}, None), "/c1", {})
    with pytest.raises(ConfigError, match=r"c: linux.resources.cpu.realtimeRuntime: is not available here .*"
                                          r"cpu.rt_runtime_us does not exist \(the kernel has no real-time group"):
        resources.apply(resources.route(cg, resources.plan({"cpu": {"realtimeRuntime": 1000}}, "c")))


def test_a_shared_parent_goes_with_its_last_user_whoever_made_it(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "PARENTS", str(tmp_path / "registry"))
    mount = tmp_path / "memory"
    mount.mkdir()
    layout = cgroups.Layout({"memory": (str(mount), "/", ["memory"])}, None)
    a = cgroups.Cgroup.for_path(layout, "/p/q/a", {})
    b = cgroups.Cgroup.for_path(layout, "/p/q/b", {})
    a.create()                 # a makes /p and /p/q
    b.create()                 # b finds them
    a.destroy()                # a goes first: /p/q is still b's
    assert sorted(os.listdir(mount / "p" / "q")) == ["b"]
    b.destroy()                # the last user takes the parents a made
    assert os.listdir(mount) == [] and os.listdir(tmp_path / "registry") == []


def test_a_parent_minioci_did_not_make_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "PARENTS", str(tmp_path / "registry"))
    mount = tmp_path / "memory"
    (mount / "libpod_parent").mkdir(parents=True)
    layout = cgroups.Layout({"memory": (str(mount), "/", ["memory"])}, None)
    c = cgroups.Cgroup.for_path(layout, "/libpod_parent/libpod-c1", {})
    c.create()
    c.destroy()
    assert os.listdir(mount) == ["libpod_parent"] and os.listdir(mount / "libpod_parent") == []


def test_detect_keeps_the_layout_while_the_files_read_the_same(tmp_path):
    mountinfo, proc_cgroups = tmp_path / "mountinfo", tmp_path / "cgroups"
    mountinfo.write_text("50 40 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    proc_cgroups.write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t1\n")
    first = cgroups.detect(str(mountinfo), str(proc_cgroups))
    assert cgroups.detect(str(mountinfo), str(proc_cgroups)) is first
    mountinfo.write_text("50 40 0:26 / /sys/fs/cgroup2 rw - cgroup2 cgroup2 rw\n")
    again = cgroups.detect(str(mountinfo), str(proc_cgroups))
    assert again is not first and again.v2 == ("/sys/fs/cgroup2", "/")


# ---- finding a container by its id (delete --force without a state) -------------

@pytest.mark.parametrize("name,match", [
    ("c1", True),                               # minioci's /minioci/<id>
    ("libpod-c1", True),                        # podman's cgroupfs /libpod_parent/libpod-<id>
    ("libpod-c1.scope", True),                  # systemd's slice:prefix:<id>, as runc and crun make it
    ("crio_x-c1.scope", True),
    ("c1.scope", False), ("xc1", False), ("c10", False), ("libpod-c10", False),
    ("a-b-c1", False),                          # the prefix is one word: a-b-c1 is container b-c1's
    ("-c1", False), ("libpod-c1.slice", False),
])
def test_named_after(name, match):
    assert cgroups.named_after(name, "c1") is match


def test_find_named_searches_every_hierarchy_and_leaves_others_out(tmp_path):
    v1 = {"memory": (str(tmp_path / "memory"), "/", ["memory"])}
    layout = cgroups.Layout(v1, (str(tmp_path / "unified"), "/"))
    for d in ("memory/minioci/c1/sub", "memory/minioci/c2", "unified/libpod_parent/libpod-c1",
              "unified/machine.slice/libpod-c1.scope", "unified/minioci/x-c1", "unified/deep/er/c1"):
        (tmp_path / d).mkdir(parents=True)
    found = cgroups.find_named(layout, "c1", exclude={str(tmp_path / "unified/minioci/x-c1")})
    assert sorted(found) == sorted(str(tmp_path / d) for d in (
        "memory/minioci/c1", "unified/libpod_parent/libpod-c1", "unified/machine.slice/libpod-c1.scope",
        "unified/deep/er/c1"))
