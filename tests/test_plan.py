"""Spec → Plan, asserted as plain data without root."""
import copy

from minioci import plan, spec
from minioci.seccomp import Filter
from conftest import base_config


def build(cfg, tmp_path, **opts):
    cfg = copy.deepcopy(cfg)
    cfg["root"]["path"] = str(tmp_path)
    s = spec.parse(cfg, "config.json", str(tmp_path))
    opts.setdefault("cgroup_mounts", lambda m: [dict(op="mount", phase="mount cgroup", source="cgroup",
                                                      destination=m.destination, fstype="cgroup2",
                                                      data=None, flags=0, propagation=0, target_kind=1)])
    opts.setdefault("cgroup_join", [dict(op="join_cgroup", phase="cgroup.join", path="/cg/tasks", v2=0)])
    return plan.build(s, plan.Options(**opts))


def test_order_follows_runc_init(tmp_path):
    p = build(base_config(["sh"]), tmp_path)
    ops = p.ops()
    order = ["join_cgroup", "close_fds", "unshare", "rootfs", "mount", "mknod", "pivot_root",
             "remount_root_ro", "sethostname", "readonly", "mask", "rlimit", "cap_bounding", "chown_stdio", "user",
             "chdir", "caps", "no_new_privs", "find_exec", "exec"]
    positions = [ops.index(op) for op in order]
    assert positions == sorted(positions), ops
    assert ops[-1] == "exec"


def test_an_apparmor_profile_is_named_for_execve_while_the_process_is_root(tmp_path, monkeypatch):
    """AppArmor's onexec attribute, written in the container's procfs (the
    checked write_proc) before the user and capabilities change; none
    without a profile."""
    assert not [s for s in build(base_config(["sh"]), tmp_path).find("write_proc") if "attr" in s["path"]]
    monkeypatch.setattr(spec, "apparmor_enabled", lambda: True)
    cfg = base_config(["sh"])
    cfg["process"]["apparmorProfile"] = "docker-default"
    p = build(cfg, tmp_path)
    [step] = [s for s in p.find("write_proc") if "attr" in s["path"]]
    assert step["path"] in ("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec")
    assert (step["content"], step["phase"], step["field"]) == ("exec docker-default", "apparmor",
                                                               "process.apparmorProfile")
    at = p.steps.index(step)
    assert at > p.ops().index("pivot_root") and at < p.ops().index("cap_bounding") < p.ops().index("user")


def test_pid_namespace_comes_from_clone_and_the_rest_are_unshared_one_by_one(tmp_path):
    p = build(base_config(), tmp_path)
    assert p.clone_flags == spec.NAMESPACES["pid"]
    unshared = [s["name"] for s in p.find("unshare")]
    assert unshared == ["cgroup", "ipc", "uts", "network", "mount"]
    # the cgroup namespace is made after the cgroup is joined, so it is rooted there
    assert p.ops().index("join_cgroup") < p.ops().index("unshare")
    # a new network namespace gets lo up right after it is made
    assert p.ops()[p.ops().index("unshare") + 4] == "loopback_up"


def test_namespaces_made_ahead_are_joined_by_fd_instead_of_unshared(tmp_path):
    """A sandbox made ahead (minioci/sandbox.py): its namespaces the config
    asks to be new are joined by fd (lo is up already), the others made as
    ever; the fds are the plan's, so the child keeps them."""
    p = build(base_config(), tmp_path, made_ahead={"network": 40, "uts": 41})
    assert [s["name"] for s in p.find("unshare")] == ["cgroup", "ipc", "mount"]
    joined = p.find("setns")
    assert [(s["phase"], s["fd"], s.get("path")) for s in joined] == [("ns.uts", 41, None), ("ns.net", 40, None)]
    assert "loopback_up" not in p.ops()
    assert {40, 41} <= set(p.fds())
    assert [s["fd"] for s in p.with_fds({40: 70, 41: 71}).find("setns")] == [71, 70]


def test_a_new_user_namespace_makes_the_parent_write_maps_and_join(tmp_path):
    cfg = base_config()
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    p = build(cfg, tmp_path, cgroup_fd=7)
    assert p.parent_setup
    assert "join_cgroup" not in p.ops()
    assert p.cgroup_fd is None            # the parent joins: no clone into the cgroup
    assert p.clone_flags == spec.NAMESPACES["pid"] | spec.NAMESPACES["user"]
    # mknod is not possible in a user namespace: devices are bound from the host
    assert p.find("bind_dev", destination="/dev/null") and not p.find("mknod")


def test_mqueue_is_its_own_step_and_a_fresh_mount_even_without_an_ipc_namespace(tmp_path):
    p = build(base_config(), tmp_path)
    (mq,) = p.find("mqueue")
    assert mq["phase"] == "mqueue" and "bind_only" not in mq
    cfg = base_config()
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"]
    (mq,) = build(cfg, tmp_path).find("mqueue")
    assert "bind_only" not in mq                      # --ipc host: runc mounts a fresh one too
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "mqueue"]
    assert not build(cfg, tmp_path).find("mqueue")      # lazy: only when asked for


def test_default_devices_and_links(tmp_path):
    p = build(base_config(), tmp_path)
    nodes = {s["destination"]: s for s in p.find("mknod")}
    assert set(nodes) == {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/urandom", "/dev/random"}
    assert nodes["/dev/null"]["mode"] == 0o020666 and nodes["/dev/null"]["dev"] == (1 << 8) | 3
    links = {s["destination"]: s["target"] for s in p.find("symlink")}
    assert links["/dev/ptmx"] == "pts/ptmx" and links["/dev/fd"] == "/proc/self/fd"
    assert links["/dev/stdin"] == "/proc/self/fd/0"


def test_dev_pts_and_shm_are_added_when_the_config_lacks_them(tmp_path):
    cfg = base_config()
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in ("/dev/pts", "/dev/shm")]
    p = build(cfg, tmp_path)
    assert p.find("mount", destination="/dev/pts", fstype="devpts")
    assert p.find("mount", destination="/dev/shm", fstype="tmpfs")


def test_bind_mount_of_a_file_gets_a_file_mount_point(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("x")
    cfg = base_config()
    cfg["mounts"].append({"destination": "/etc/hosts", "type": "bind", "source": str(f), "options": ["ro"]})
    (m,) = build(cfg, tmp_path).find("mount", destination="/etc/hosts")
    assert m["target_kind"] == 2 and m["flags"] & spec.MS_BIND and m["flags"] & spec.MS_RDONLY


def test_seccomp_loads_last_with_or_without_no_new_privs(tmp_path):
    """Nothing of minioci's own runs under the container's filter: it is
    loaded right before execve.  Without no_new_privs that needs
    CAP_SYS_ADMIN, held until then (execve drops it)."""
    cfg = base_config()
    p = build(cfg, tmp_path, seccomp=Filter(b"\0" * 8, 0))
    assert p.ops()[-2:] == ["seccomp", "exec"]
    assert p.find("seccomp")[0]["listener_fd"] == -1
    assert not p.find("caps")[0]["effective"] & plan.CAP_SYS_ADMIN_BIT
    cfg["process"]["noNewPrivileges"] = False
    p = build(cfg, tmp_path, seccomp=Filter(b"\0" * 8, 0))
    assert p.ops()[-2:] == ["seccomp", "exec"]
    (caps,) = p.find("caps")
    assert caps["effective"] & caps["permitted"] & plan.CAP_SYS_ADMIN_BIT
    assert not caps["inheritable"] & plan.CAP_SYS_ADMIN_BIT and not caps["ambient"] & plan.CAP_SYS_ADMIN_BIT


def test_seccomp_step_carries_the_listener_socket(tmp_path):
    p = build(base_config(), tmp_path, seccomp=Filter(b"\0" * 8, 8, "/run/agent.sock"), seccomp_listener_fd=7)
    step = p.find("seccomp")[0]
    assert (step["flags"], step["listener_fd"]) == (8, 7)


def test_create_waits_for_start_before_exec(tmp_path):
    p = build(base_config(), tmp_path, exec_fifo_fd=5)
    assert p.ops()[-2:] == ["wait_start", "exec"]
    assert p.find("wait_start")[0]["fd"] == 5


def test_namespaces_given_by_path_are_joined_and_pid_by_a_fork_there(tmp_path):
    cfg = base_config()
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] in ("network", "pid"):
            ns["path"] = f"/proc/self/ns/{'net' if ns['type'] == 'network' else 'pid'}"
    p = build(cfg, tmp_path)
    assert p.clone_flags == 0
    assert [s["path"] for s in p.find("setns")] == ["/proc/self/ns/net", "/proc/self/ns/pid"]
    # the process in the PID namespace is minioci-init's fork, never the
    # parent's clone (a host executable the container could see)
    ops = p.ops()
    assert ops[ops.index("setns", ops.index("setns") + 1) + 1] == "fork"
    assert "loopback_up" not in p.ops()          # a joined netns is left as it is


def test_the_container_and_its_exec_join_a_session_keyring_of_its_own(tmp_path):
    p = build(base_config(), tmp_path, session_keyring="_ses.box")
    ops = p.ops()
    # in every namespace of the container, before its rootfs is set up (runc's order)
    assert ops.index("unshare") < ops.index("session_keyring") < ops.index("rootfs")
    assert p.find("session_keyring") == [dict(op="session_keyring", phase="keyring", name="_ses.box",
                                              perm=plan.KEY_USR_SEARCH)]
    cfg = base_config()
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    (step,) = build(cfg, tmp_path, session_keyring="_ses.box").find("session_keyring")
    assert step["perm"] == plan.KEY_USR_SEARCH | plan.KEY_OTH_SEARCH
    # --no-new-keyring: none
    assert not build(base_config(), tmp_path).find("session_keyring")
    s = spec.parse(base_config(), "config.json", str(tmp_path))
    ex = plan.build_exec(s.process, {"pid": "/proc/1/ns/pid"}, plan.Options(session_keyring="_ses.box"))
    assert ex.ops().index("fork") < ex.ops().index("session_keyring") < ex.ops().index("user")
    assert ex.find("session_keyring")[0]["perm"] == 0            # joined, left as it is


def test_a_mount_step_says_where_it_may_lie_in_procfs(tmp_path):
    from minioci import shim
    assert (spec.IN_PROC_NO, spec.IN_PROC_ALLOWED, spec.IN_PROC_IF_PROCFS) == \
        (shim.lib.MO_IN_PROC_NO, shim.lib.MO_IN_PROC_ALLOWED, shim.lib.MO_IN_PROC_IF_PROCFS)
    (tmp_path / "meminfo").write_text("")
    cfg = base_config()
    cfg["mounts"] += [{"destination": "/proc/meminfo", "type": "bind", "source": str(tmp_path / "meminfo")},
                      {"destination": "/proc", "type": "bind", "source": str(tmp_path)}]
    p = build(cfg, tmp_path)
    assert [s.get("in_proc", 0) for s in p.find("mount")] == \
        [spec.IN_PROC_ALLOWED] + [spec.IN_PROC_NO] * 5 + [spec.IN_PROC_ALLOWED, spec.IN_PROC_IF_PROCFS]
    # what it writes under /proc goes through the child's procfs of its own
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    cfg["process"]["oomScoreAdj"] = 5
    assert [s["path"] for s in build(cfg, tmp_path).find("write_proc")] == \
        ["/proc/sys/net/ipv4/ip_forward", "/proc/self/oom_score_adj"]


def test_the_plan_names_the_fds_the_child_keeps(tmp_path):
    cfg = base_config()
    cfg["process"]["terminal"] = True
    p = build(cfg, tmp_path, exec_fifo_fd=9, console_fd=8, preserve_fds=2,
              seccomp=Filter(b"\0" * 8, 8, "/run/agent.sock"), seccomp_listener_fd=7)
    assert p.fds() == [7, 8, 9] and p.preserve_fds == 2
    assert p.find("close_fds")[0]["first"] == 5


def test_terminal_goes_to_the_console_socket_or_the_parent(tmp_path):
    cfg = base_config()
    cfg["process"]["terminal"] = True
    assert build(cfg, tmp_path).find("terminal")[0]["socket_fd"] == -1
    assert build(cfg, tmp_path, console_fd=9).find("terminal")[0]["socket_fd"] == 9


def test_every_plan_field_has_a_place_in_the_c_struct(tmp_path):
    from minioci import shim
    cfg = base_config()
    cfg["process"]["terminal"] = True
    cfg["process"]["user"]["additionalGids"] = [5, 6]
    cfg["process"]["oomScoreAdj"] = 100
    cfg["domainname"] = "example"
    p = build(cfg, tmp_path, seccomp=Filter(b"\0" * 8, 1), exec_fifo_fd=3)
    data = shim.encode(p)
    assert data[:4] == b"MOP1" and int.from_bytes(data[4:8], "little") == len(p.steps)
    assert {s["op"] for s in p.steps} <= set(shim.FIELDS)


def test_no_capabilities_in_the_config_means_every_set_empty(tmp_path):
    for uid in (0, 1000):
        cfg = base_config()
        del cfg["process"]["capabilities"]
        cfg["process"]["user"] = {"uid": uid, "gid": uid}
        p = build(cfg, tmp_path)
        assert p.find("cap_bounding", keep=0)
        assert p.find("caps", effective=0, permitted=0, inheritable=0, ambient=0)


def decode(data, nsteps):
    """The steps native/plan.c (minioci-init's decoder) reads from `data`."""
    from minioci._shim import ffi, lib
    out = ffi.new("struct mo_step **")
    rc = lib.mo_plan_decode(data, len(data), nsteps, out)
    if rc < 0:
        return rc
    return [out[0][i] for i in range(nsteps)]


def test_the_c_decoder_reads_back_every_field_the_encoder_wrote(tmp_path):
    from minioci import shim
    from minioci._shim import ffi
    cfg = base_config(["sh", "-c", "echo ü"])
    cfg["process"]["terminal"] = True
    cfg["process"]["user"].update(uid=1000, gid=1000, additionalGids=[5, 65534])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 2**64 - 1, "hard": 2**64 - 1}]
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    p = build(cfg, tmp_path, seccomp=Filter(bytes(range(16)), 1), exec_fifo_fd=9, console_fd=8)
    data = shim.encode(p)
    steps = decode(data, len(p.steps))

    def c_value(c, field):
        if field[0] == "s":
            v = getattr(c, field)
            return None if v == ffi.NULL else ffi.string(v).decode()
        if field[0] == "v":
            v, out = getattr(c, field), []
            while v != ffi.NULL and v[len(out)] != ffi.NULL:
                out.append(ffi.string(v[len(out)]).decode())
            return out
        if field == "blob":
            return bytes(ffi.buffer(c.blob, c.blob_len))
        if field == "gids":
            return [int.from_bytes(ffi.buffer(c.blob, c.blob_len)[i:i + 4], "little")
                    for i in range(0, c.blob_len, 4)]
        return getattr(c, field)

    for step, c in zip(p.steps, steps):
        assert c.op == shim.OPS[step["op"]]
        for key, field in shim.FIELDS[step["op"]].items():
            if key in step:
                assert c_value(c, field) == step[key], (step["op"], key)


def test_a_malformed_plan_is_refused_not_read_past_its_end(tmp_path):
    from minioci import shim
    data = shim.encode(build(base_config(), tmp_path))
    n = int.from_bytes(data[4:8], "little")
    assert decode(data, n) != -74 and isinstance(decode(data, n), list)
    for bad in (data[:-1], data + b"\0", data[:20], b"MOP2" + data[4:]):
        assert decode(bad, n) == -74                     # EBADMSG
    assert decode(data, n + 1) == -74


def test_what_c_cannot_carry_is_a_clear_error(tmp_path):
    import pytest
    from minioci import shim
    from minioci.errors import MiniociError
    p = build(base_config(), tmp_path)
    p.steps.append(dict(op="chdir", phase="cwd", path="/a\0b"))
    with pytest.raises(MiniociError, match="step chdir .*path.*NUL"):
        shim.encode(p)
    p.steps[-1] = dict(op="umask", phase="process", mask=2**31)
    with pytest.raises(MiniociError, match="step umask .*mask 2147483648: out of range"):
        shim.encode(p)


def test_only_a_tmpfs_without_mode_keeps_its_directorys(tmp_path):
    cfg = base_config()
    cfg["mounts"] += [{"destination": "/a", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
                      {"destination": "/b", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]}]
    p = build(cfg, tmp_path)
    kept = [m["destination"] for m in p.find("mount") if m.get("tmpfs", 0) & plan.TMPFS_KEEP_MODE]
    assert kept == ["/a"]                                             # /dev and /dev/shm have mode=
    from minioci import shim
    assert (plan.TMPFS_COPYUP, plan.TMPFS_KEEP_MODE) == (shim.lib.MO_TMPFS_COPYUP, shim.lib.MO_TMPFS_KEEP_MODE)


def test_a_shared_root_is_shared_from_the_start_with_the_rootfs_parent_made_private(tmp_path):
    """rootfsPropagation "rshared" (containerd's, for a Bidirectional volume):
    "/" is made rshared before anything is bound, so the binds keep their
    host peer groups (made shared only after pivot_root, they would be
    slaves of the host, and nothing would come back); the mount the rootfs
    lies on goes private first.  Without it, "/" is made a slave first and
    no parent is touched."""
    cfg = base_config()
    p = build(cfg, tmp_path)
    assert [(s["propagation"], s.get("parent")) for s in p.find("rootfs")] == [(spec.MS_SLAVE | spec.MS_REC, None)]
    cfg["linux"]["rootfsPropagation"] = "rshared"
    p = build(cfg, tmp_path, rootfs_parent="/some/mount")
    shared = spec.MS_SHARED | spec.MS_REC
    assert [(s["propagation"], s.get("parent")) for s in p.find("rootfs")] == [(shared, "/some/mount")]
    assert [s["propagation"] for s in p.find("root_propagation")] == [shared]
    cfg["linux"]["rootfsPropagation"] = "rslave"
    p = build(cfg, tmp_path, rootfs_parent="/some/mount")
    assert [(s["propagation"], s.get("parent")) for s in p.find("rootfs")] == [(spec.MS_SLAVE | spec.MS_REC, None)]


def test_the_mount_point_a_path_lies_on(tmp_path):
    from minioci.container import mount_point_of
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:21 / / rw shared:1 - ext4 /dev/vda rw\n"
                    "30 22 0:30 / /tmp rw shared:2 - tmpfs tmpfs rw\n"
                    "31 30 0:31 / /tmp/a\\040b rw - tmpfs tmpfs rw\n"
                    "32 30 0:32 / /tmp/ab rw - tmpfs tmpfs rw\n")
    assert mount_point_of("/tmp/a b/rootfs", str(info)) == "/tmp/a b"
    assert mount_point_of("/tmp/ab", str(info)) == "/tmp/ab"
    assert mount_point_of("/tmp/abc/rootfs", str(info)) == "/tmp"
    assert mount_point_of("/var/lib", str(info)) == "/"
