"""Capabilities: a container gets exactly the sets its config names, and an
absent `process.capabilities` means none at all (as runc does), for root
and for other users, for `run` and for `exec`.  With the default
capabilities gone, the attacks that need CAP_SYS_ADMIN (unmasking a masked
path, a fresh procfs, /proc/sys read-write) must fail.

CVE-2022-29162: `exec --cap` and the default spec must not put anything in
the inheritable (or ambient) set, where an unprivileged process would keep
it across execve of a file with inheritable file capabilities.
"""
import pytest

from .conftest import CAP_LINES, CAPS, ZERO, base_config, cap_mask, sh, status_fields

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)


def without_caps(cfg, uid=0):
    del cfg["process"]["capabilities"]
    cfg["process"]["user"] = {"uid": uid, "gid": uid}
    return cfg


def caps_of(text):
    st = status_fields(text)
    return {k: st[k] for k in CAP_LINES}


NO_CAPS = dict.fromkeys(CAP_LINES, ZERO)


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "non-root"])
def test_run_without_capabilities_has_empty_sets(rt, uid):
    cfg = without_caps(sh("cat /proc/self/status"), uid)
    assert caps_of(rt.output(cfg)) == NO_CAPS


# Each line: an attack a container with CAP_SYS_ADMIN could make, as the
# container runs it; it must fail without capabilities.
ATTACKS = r"""
umount /proc/keys 2>/dev/null && echo umount-masked-path
mount -o remount,rw /proc/sys 2>/dev/null && echo proc-sys-rw
v=$(cat /proc/sys/kernel/printk_ratelimit); (echo $v > /proc/sys/kernel/printk_ratelimit) 2>/dev/null && echo host-sysctl-written
mount -t tmpfs tmpfs /tmp 2>/dev/null && echo mounted
mount -t proc proc /proc 2>/dev/null && echo fresh-procfs
echo done
"""


def test_without_capabilities_masked_paths_and_proc_sys_stay_shut(rt):
    assert rt.output(without_caps(sh(ATTACKS))).split() == ["done"]


def test_the_attacks_do_work_with_cap_sys_admin(rt):
    """The check above can fail: given CAP_SYS_ADMIN, the same script gets in
    (in its own mount namespace: the host is unchanged)."""
    cfg = sh(ATTACKS.replace("echo $v >", "true"))     # never write even the same value here
    cfg["process"]["capabilities"] = {k: CAPS + ["CAP_SYS_ADMIN"] for k in ("bounding", "effective", "permitted")}
    out = rt.output(cfg).split()
    assert {"umount-masked-path", "fresh-procfs", "proc-sys-rw", "mounted"} <= set(out)


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "non-root"])
def test_exec_in_a_container_without_capabilities_gets_none(box, uid):
    cid = box.detached(without_caps(sh("exec sleep 300"), uid))
    r = box.exec(cid, "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert caps_of(r.stdout) == NO_CAPS
    proc = without_caps(base_config(["cat", "/proc/self/status"]), uid)["process"]
    r = box.exec(cid, process=proc)
    assert r.returncode == 0, r.stderr
    assert caps_of(r.stdout) == NO_CAPS
    box.delete(cid)


def test_exec_process_without_capabilities_gets_the_containers_own(box):
    cfg = sh("exec sleep 300")
    cfg["process"]["capabilities"] = {"bounding": CAPS + ["CAP_SYS_PTRACE"], "effective": CAPS,
                                      "permitted": CAPS, "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    cid = box.detached(cfg)
    with open(f"/proc/{box.state(cid)['pid']}/status") as f:
        init = caps_of(f.read())
    assert init["CapBnd"] == cap_mask(*CAPS, "CAP_SYS_PTRACE")     # the container's own sets
    proc = base_config(["cat", "/proc/self/status"])["process"]
    del proc["capabilities"]
    r = box.exec(cid, process=proc)
    assert r.returncode == 0, r.stderr
    assert caps_of(r.stdout) == init
    box.delete(cid)


@pytest.mark.parametrize("user", ["0:0", "1000:1000"], ids=["root", "non-root"])
def test_exec_cap_adds_to_bounding_effective_and_permitted_only(box, user):
    """CVE-2022-29162: runc's `exec --cap` left the inheritable set alone."""
    cid = box.detached(sh("exec sleep 300"))
    r = box.exec(cid, "cat", "/proc/self/status", flags=("--user", user, "--cap", "CAP_NET_RAW"))
    assert r.returncode == 0, r.stderr
    caps = caps_of(r.stdout)
    assert caps["CapBnd"] == cap_mask(*CAPS, "CAP_NET_RAW")
    assert caps["CapInh"] == ZERO
    if user == "0:0":
        assert caps["CapAmb"] == ZERO
        assert caps["CapEff"] == caps["CapPrm"] == cap_mask(*CAPS, "CAP_NET_RAW")
    else:
        # after execve a non-root process keeps its ambient set only: the
        # container's (ambient needs inheritable, which it has none of)
        assert caps["CapAmb"] == caps["CapEff"] == caps["CapPrm"] == ZERO
    box.delete(cid)


def test_the_default_spec_grants_nothing_inheritable(rt, tmp_path):
    """`minioci spec` (runc's since 1.1.2) leaves out the inheritable set."""
    from minioci.specgen import default_config
    cfg = default_config()
    assert "inheritable" not in cfg["process"]["capabilities"]
    cfg = base_config(["cat", "/proc/self/status"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    caps = caps_of(rt.output(cfg))
    assert caps["CapInh"] == caps["CapAmb"] == ZERO
