"""CVE-2025-52881 class: minioci's writes under /proc taken elsewhere.

minioci writes sysctls (/proc/sys/...), oomScoreAdj (/proc/self/oom_score_adj)
and time offsets in the container's process.  Written by path, a mount over
/proc/sys/kernel holding a symlink turned a sysctl into a write to a host
file, and a plain file where a sysctl would be was written as if it were one.
Now every such write is made below the root of a real procfs (the host's
/proc until pivot_root, then the one minioci mounted in the container),
with no symlink followed and no mount crossed, onto a procfs file
(native/procfs.c); without a procfs there, it is refused.  And, as runc
does, a bundle may mount nothing inside /proc but the files lxcfs stands in
for, whether the destination names /proc or leads there through a symlink.

The victim is a host file bound into the container; the checks are made
from outside too (nsenter into the container's namespaces).
"""
import json
import subprocess

import pytest

from conftest import base_config, small_rootfs
from minioci.spec import PROC_MOUNTS_ALLOWED

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

VICTIM = "the host's file, untouched\n"


@pytest.fixture
def victim(tmp_path):
    v = tmp_path / "victim"
    v.write_text(VICTIM)
    return v


def bind(source, destination, *options):
    return {"destination": destination, "type": "bind", "source": str(source), "options": ["bind", *options]}


def planted_kernel_dir(tmp_path):
    """A host directory to mount over /proc/sys/kernel: its `domainname`
    a symlink to /victim (the host file, bound there)."""
    d = tmp_path / "kernel"
    d.mkdir()
    (d / "domainname").symlink_to("/victim")
    return d


def test_a_bundle_mount_inside_proc_is_refused(rt, tmp_path, victim):
    cfg = base_config(["true"])
    cfg["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    cfg["mounts"] += [bind(victim, "/victim"), bind(planted_kernel_dir(tmp_path), "/proc/sys/kernel")]
    bundle = rt.bundle(cfg)
    r = rt.run(bundle)
    assert r.returncode != 0
    assert r.stderr == (f"minioci: {bundle}/config.json: mounts[{len(cfg['mounts']) - 1}].destination: "
                        f"/proc/sys/kernel is inside /proc, where nothing may be mounted but "
                        f"{', '.join(PROC_MOUNTS_ALLOWED)}\n")
    assert victim.read_text() == VICTIM


def test_on_proc_only_a_procfs_is_mounted(rt, tmp_path):
    cfg = base_config(["true"])
    cfg["mounts"].append({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
    bundle = rt.bundle(cfg)
    r = rt.run(bundle)
    assert r.returncode != 0
    assert r.stderr == (f"minioci: {bundle}/config.json: mounts[{len(cfg['mounts']) - 1}].type: "
                        "'tmpfs' cannot be mounted on /proc: only a proc mount or a bind of a procfs can be\n")
    cfg["mounts"][-1] = bind(tmp_path, "/proc")
    r = rt.run(cfg)
    assert r.returncode != 0
    names_field(r, f"mounts[{len(cfg['mounts']) - 1}]", f"mount {tmp_path} on /proc: only a procfs can be bound on /proc")


def names_field(r, field, message):
    """One line: the child's failure, named by the config field its step
    came from (plan.Plan.failure)."""
    assert r.stderr.startswith("minioci: ") and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.endswith(f"config.json: {field}: {message}\n"), r.stderr


def test_the_files_lxcfs_stands_in_for_may_be_mounted(rt, tmp_path):
    """runc's list: a bind on /proc/meminfo (and the like) is what lxcfs does."""
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal: 42 kB\n")
    cfg = base_config(["cat", "/proc/meminfo"])
    cfg["mounts"].append(bind(fake, "/proc/meminfo", "ro"))
    assert rt.output(cfg) == "MemTotal: 42 kB\n"


def test_a_mount_that_leads_inside_proc_through_a_symlink_is_refused(rt, tmp_path, victim):
    """The destination /x/kernel names no /proc, but /x -> /proc/sys in the
    rootfs: on the code before, the sysctl then wrote the host file."""
    rootfs = small_rootfs(tmp_path / "rootfs")
    (rootfs / "x").symlink_to("/proc/sys")
    cfg = base_config(["sh", "-c", ":"], rootfs=rootfs)
    cfg["linux"]["sysctl"] = {"kernel.domainname": "pwned"}
    kernel = planted_kernel_dir(tmp_path)
    cfg["mounts"] += [bind(victim, "/victim"), bind(kernel, "/x/kernel")]
    r = rt.run(cfg)
    assert r.returncode != 0
    names_field(r, f"mounts[{len(cfg['mounts']) - 1}]", f"mount {kernel} on /x/kernel: it leads inside /proc, where "
                                                        "nothing may be mounted but the files runc allows")
    assert victim.read_text() == VICTIM


def detached(rt, tmp_path, *args):
    """`run -d` or `exec -d` with these arguments; the pid it started.  Its
    process keeps our stdio: files, not pipes we would wait on."""
    pid_file, err = tmp_path / "pid", tmp_path / "stderr"
    with open(err, "w") as f:
        r = subprocess.run(rt.cmd(args[0], "--pid-file", pid_file, *args[1:]), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=f, timeout=60)
    assert r.returncode == 0, err.read_text()
    return int(pid_file.read_text())


def container_sees(pid, ns, path):
    """What the process `pid` reads at `path` in its `ns` namespace (the
    host's procfs shows its namespace's sysctls: nsenter)."""
    r = subprocess.run(["nsenter", "-t", str(pid), f"--{ns}", "cat", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_plain_files_and_symlinks_where_proc_files_would_be_are_not_written(rt, tmp_path, victim):
    """A container without a proc mount: its rootfs's /proc holds a plain
    file at sys/kernel/domainname and symlinks to the host's file at
    sys/net/ipv4/ip_forward and self/oom_score_adj.  There is no procfs to
    write the sysctls and oomScoreAdj to: refused, for run and exec, and
    the files stay as they were."""
    rootfs = small_rootfs(tmp_path / "rootfs", ("sh", "sleep"))
    (rootfs / "proc/sys/kernel").mkdir(parents=True)
    (rootfs / "proc/sys/kernel/domainname").write_text("plain\n")
    (rootfs / "proc/sys/net/ipv4").mkdir(parents=True)
    (rootfs / "proc/sys/net/ipv4/ip_forward").symlink_to("/victim")
    (rootfs / "proc/self").mkdir()
    (rootfs / "proc/self/oom_score_adj").symlink_to("/victim")
    cfg = base_config(["sleep", "300"], rootfs=rootfs)
    cfg["root"]["readonly"] = False
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/proc"] + [bind(victim, "/victim")]
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    for key, value in (("kernel.domainname", "example.test"), ("net.ipv4.ip_forward", "1")):
        r = rt.run(dict(cfg, linux=dict(cfg["linux"], sysctl={key: value})))
        assert r.returncode != 0
        names_field(r, f"linux.sysctl.{key}", f"write /proc/sys/{key.replace('.', '/')}: /proc is not a procfs "
                                              "(the container needs a proc mount there)")
    r = rt.run(dict(cfg, process=dict(cfg["process"], oomScoreAdj=123)))
    assert r.returncode != 0
    names_field(r, "process.oomScoreAdj", "write /proc/self/oom_score_adj: /proc is not a procfs (the container "
                                          "needs a proc mount there)")
    cid = rt.new_id()
    try:
        detached(rt, tmp_path, "run", "-d", "-b", rt.bundle(cfg), cid)
        process = tmp_path / "process.json"
        process.write_text(json.dumps({"args": ["sleep", "1"], "cwd": "/", "oomScoreAdj": 456,
                                       "user": {"uid": 0, "gid": 0}}))
        r = rt.call("exec", "--process", process, cid)
        assert r.returncode != 0
        assert r.stderr.endswith("write /proc/self/oom_score_adj: /proc is not a procfs (the container needs "
                                 "a proc mount there)\n"), r.stderr
    finally:
        rt.call("delete", "--force", cid)
    assert (rootfs / "proc/sys/kernel/domainname").read_text() == "plain\n"
    assert victim.read_text() == VICTIM


def test_with_a_proc_mount_the_writes_reach_the_kernel(rt, tmp_path):
    """The same writes, where the container has its procfs: in its own
    namespaces (nsenter reads them from the host's procfs), for run and
    exec."""
    cfg = base_config(["sleep", "300"])
    cfg["linux"]["sysctl"] = {"kernel.domainname": "example.test", "net.ipv4.ip_forward": "1"}
    cfg["process"]["oomScoreAdj"] = 123
    cid = rt.new_id()
    try:
        pid = detached(rt, tmp_path, "run", "-d", "-b", rt.bundle(cfg), cid)
        assert container_sees(pid, "uts", "/proc/sys/kernel/domainname") == "example.test\n"
        assert container_sees(pid, "net", "/proc/sys/net/ipv4/ip_forward") == "1\n"
        assert open(f"/proc/{pid}/oom_score_adj").read() == "123\n"
        process = tmp_path / "process.json"
        process.write_text(json.dumps({"args": ["sleep", "300"], "cwd": "/", "oomScoreAdj": 456,
                                       "user": {"uid": 0, "gid": 0}}))
        pid = detached(rt, tmp_path, "exec", "-d", "--process", process, cid)
        assert open(f"/proc/{pid}/oom_score_adj").read() == "456\n"
    finally:
        rt.call("delete", "--force", cid)
