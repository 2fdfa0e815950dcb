"""`minioci run`: real containers, checked from inside and outside."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import CAPS, MINIOCI, ROOTFS, base_config
from minioci import spec


def sh(script, **kw):
    return base_config(["sh", "-c", script], **kw)


def test_hello_and_exit_code(rt):
    assert rt.output(sh("echo hello from $(hostname), pid $$")) == "hello from minioci-test, pid 1\n"
    assert rt.run(sh("exit 7")).returncode == 7


def test_death_by_signal_is_128_plus_n(rt):
    # Without a PID namespace of its own the shell is not an init, which
    # the kernel would shield from its own SIGKILL.
    cfg = sh("kill -9 $$")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    assert rt.run(cfg).returncode == 128 + 9


def test_bundle_as_the_argument_generates_an_id(rt, tmp_path):
    bundle = rt.bundle(sh("echo ok"))
    r = rt.call("run", bundle)
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def ns_inodes(text):
    out = {}
    for line in text.split():
        name, _, rest = line.partition(":")
        out[name] = rest
    return out


def test_new_namespaces_differ_from_the_hosts(rt):
    out = rt.output(sh("for n in net ipc uts mnt pid cgroup user; do echo $n:$(readlink /proc/self/ns/$n); done"))
    inside = ns_inodes(out)
    for name in ("net", "ipc", "uts", "mnt", "pid", "cgroup"):
        assert inside[name] != os.readlink(f"/proc/self/ns/{name}"), name
    assert inside["user"] == os.readlink("/proc/self/ns/user")      # not asked for: shared


def test_joining_namespaces_by_path(rt):
    holder = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "sleep", "60"])
    try:
        time.sleep(0.2)
        cfg = sh("for n in net uts ipc; do echo $n:$(readlink /proc/self/ns/$n); done")
        for ns in cfg["linux"]["namespaces"]:
            short = {"network": "net", "uts": "uts", "ipc": "ipc"}.get(ns["type"])
            if short:
                ns["path"] = f"/proc/{holder.pid}/ns/{short}"
        cfg["hostname"] = None
        del cfg["hostname"]
        inside = ns_inodes(rt.output(cfg))
        for name in ("net", "uts", "ipc"):
            assert inside[name] == os.readlink(f"/proc/{holder.pid}/ns/{name}")
    finally:
        holder.kill()
        holder.wait()


def test_pid_namespace_joined_by_path(rt):
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "60"])
    try:
        time.sleep(0.3)
        # the sleep inside (pid 1 there) is unshare's child
        inner = int(open(f"/proc/{holder.pid}/task/{holder.pid}/children").read().split()[0])
        cfg = sh("readlink /proc/self/ns/pid; echo $$")
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{inner}/ns/pid"
        link, pid = rt.output(cfg).split()
        assert link == os.readlink(f"/proc/{inner}/ns/pid")
        assert int(pid) > 1                     # pid 1 there is the sleep
    finally:
        # unshare --fork: killing it would orphan its child; kill the child,
        # and unshare reaps it and exits
        for pid in open(f"/proc/{holder.pid}/task/{holder.pid}/children").read().split():
            os.kill(int(pid), signal.SIGKILL)
        holder.wait(10)


def mountinfo(text):
    """{mount point: (mount options, fstype, super options)} from mountinfo text."""
    out = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f, r = left.split(), right.split()
        out[f[4]] = (set(f[5].split(",")), r[0], set(r[2].split(",")))
    return out


def test_mounts_have_their_types_and_flags(rt):
    m = mountinfo(rt.output(sh("cat /proc/self/mountinfo")))
    assert m["/"][0] >= {"ro"}
    assert m["/proc"][1] == "proc"
    assert m["/dev"][1] == "tmpfs" and {"nosuid"} <= m["/dev"][0]
    assert m["/dev/pts"][1] == "devpts" and {"nosuid", "noexec"} <= m["/dev/pts"][0]
    assert m["/dev/shm"][1] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= m["/dev/shm"][0]
    assert m["/dev/mqueue"][1] == "mqueue"
    assert m["/sys"][1] == "sysfs" and "ro" in m["/sys"][0]
    assert m["/sys/fs/cgroup"][1] == "tmpfs" and "ro" in m["/sys/fs/cgroup"][0]
    assert m["/sys/fs/cgroup/memory"][1] == "cgroup"
    assert m["/proc/sys"][0] >= {"ro"}                   # readonlyPaths
    assert "/proc/keys" in m                             # maskedPaths: /dev/null bound over it


def test_cgroup_namespace_shows_the_containers_cgroup_as_root(rt):
    out = rt.output(sh("cat /proc/self/cgroup; ls /sys/fs/cgroup/memory/ | grep -c cgroup.procs"))
    lines = out.splitlines()
    assert all(line.endswith(":/") for line in lines[:-1]), out
    assert lines[-1] == "1"


def test_masked_and_readonly_paths(rt):
    out = rt.output(sh("cat /proc/keys | wc -c; ls /sys/firmware | wc -l; touch /sys/firmware/x 2>&1; "
                       "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo writable || echo ro"))
    assert out.split("\n")[:2] == ["0", "0"]                 # masked: empty
    assert "Read-only file system" in out and out.split()[-1] == "ro"


def test_rootfs_is_read_only(rt):
    out = rt.output(sh("touch /x 2>&1 || echo refused"))
    assert "Read-only file system" in out and "refused" in out


def test_devices(rt):
    cfg = sh("stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/mine; "
             "for l in /dev/ptmx /dev/fd /dev/stdin; do readlink $l; done; echo x > /dev/null && echo null-ok")
    cfg["linux"]["devices"] = [{"path": "/dev/mine", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600}]
    out = rt.output(cfg).splitlines()
    assert out[0] == "/dev/null character special file 1:3 666"
    assert out[6] == "/dev/mine character special file 1:3 600"
    assert out[7:10] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]
    assert out[-1] == "null-ok"


def test_device_cgroup_allows_config_devices_and_denies_the_rest(rt):
    # /dev/fuse (10:229) needs no capability to open, and is not on the default allow-list
    opener = "( exec 3<> /dev/fz ) 2>/dev/null && echo open || echo denied"
    cfg = sh(opener)
    cfg["linux"]["devices"] = [{"path": "/dev/fz", "type": "c", "major": 10, "minor": 229}]
    assert rt.output(cfg).strip() == "open"        # linux.devices are allowed, as runc does
    cfg = sh("mknod /dev/fz c 10 229 && " + opener)
    cfg["process"]["capabilities"] = {k: CAPS + ["CAP_MKNOD"] for k in ("bounding", "effective", "permitted")}
    assert rt.output(cfg).strip() == "denied"      # made inside, refused by the device cgroup


def status_fields(text):
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def test_user_groups_capabilities_and_no_new_privs(rt):
    cfg = sh("cat /proc/self/status")
    cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}
    cfg["process"]["capabilities"] = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
                                      "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
                                      "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    st = status_fields(rt.output(cfg))
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1001"] * 4
    assert st["Groups"].split() == ["10", "20"]

    def mask(*names):
        return f"{sum(1 << spec.CAP_NUMBERS[n] for n in names):016x}"
    # after execve a non-root process keeps ambient (and inheritable) capabilities only
    assert st["CapBnd"] == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW")
    assert st["CapAmb"] == mask("CAP_KILL")
    assert st["CapEff"] == st["CapPrm"] == mask("CAP_KILL")
    assert st["CapInh"] == mask("CAP_KILL")
    assert st["NoNewPrivs"] == "1"


def test_root_capabilities_are_exactly_the_configured_sets(rt):
    st = status_fields(rt.output(sh("cat /proc/self/status")))
    want = f"{sum(1 << spec.CAP_NUMBERS[n] for n in CAPS):016x}"
    assert st["CapBnd"] == st["CapEff"] == st["CapPrm"] == want


def test_rlimits_umask_cwd_env(rt):
    cfg = sh("grep 'open files' /proc/self/limits; umask; pwd; echo $GREETING")
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]
    cfg["process"]["user"]["umask"] = 0o027
    cfg["process"]["cwd"] = "/tmp"
    cfg["process"]["env"].append("GREETING=hej")
    lines = rt.output(cfg).splitlines()
    assert lines[0].split()[3:5] == ["100", "200"]
    assert lines[1:] == ["0027", "/tmp", "hej"]


def test_raising_a_hard_rlimit_is_refused_clearly(rt):
    # this sandbox lacks CAP_SYS_RESOURCE: the kernel refuses and we say so
    cfg = sh("true")
    hard = int(open("/proc/self/limits").read().split("Max open files")[1].split()[1])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard + 1}]
    r = rt.run(cfg)
    if os.popen("grep CapEff /proc/self/status").read().split()[1][-7] in "0123":   # no CAP_SYS_RESOURCE
        assert r.returncode != 0
        assert r.stderr == "minioci: setrlimit RLIMIT_NOFILE: Operation not permitted\n"


def test_hostname_domainname_sysctl_and_loopback(rt):
    cfg = sh("hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /sys/class/net/lo/flags")
    cfg["domainname"] = "example.org"
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    host_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    assert rt.output(cfg).split() == ["minioci-test", "example.org", "1", "0x9"]   # lo: UP|LOOPBACK
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forward


def test_user_namespace_with_mappings(rt):
    cfg = sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; cat /proc/self/status | grep CapEff")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    out = rt.output(cfg).split()
    assert out[:7] == ["0", "200000", "65536", "0", "200000", "65536", "0"]


def test_user_namespace_process_runs_as_the_mapped_host_uid(rt, tmp_path):
    cfg = sh("echo ready; sleep 5")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cid = rt.new_id()
    p = subprocess.Popen(rt.cmd("run", "-b", rt.bundle(cfg), cid), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        state = rt.call("state", cid)
        pid = int(__import__("json").loads(state.stdout)["pid"])
        uids = status_fields(open(f"/proc/{pid}/status").read())["Uid"].split()
        assert uids == ["200000"] * 4
    finally:
        p.send_signal(signal.SIGKILL if p.poll() is None else 0)
        rt.call("delete", "--force", cid)
        p.wait()


def test_signals_are_forwarded_to_the_container(rt):
    cfg = sh('trap "echo got TERM; exit 3" TERM; echo ready; while true; do sleep 0.05; done')
    p = subprocess.Popen(rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id()), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert out == "got TERM\n"
    assert p.returncode == 3


def test_sigint_and_usr1_are_forwarded_too(rt):
    cfg = sh('trap "echo INT" INT; trap "echo USR1; exit 0" USR1; echo ready; while true; do sleep 0.05; done')
    p = subprocess.Popen(rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id()), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGINT)
    assert p.stdout.readline() == "INT\n"
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=20)
    assert out == "USR1\n" and p.returncode == 0


def test_only_stdio_and_preserved_fds_reach_the_container(rt):
    r, w = os.pipe()
    try:
        cfg = sh("ls /proc/self/fd | sort -n | tr '\\n' ' '")
        os.set_inheritable(r, True)
        keep = subprocess.run(rt.cmd("run", "-b", rt.bundle(cfg), "--preserve-fds", "1", rt.new_id()),
                              capture_output=True, text=True, pass_fds=(r,), timeout=60)
        plain = subprocess.run(rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id()),
                               capture_output=True, text=True, pass_fds=(r,), timeout=60)
    finally:
        os.close(r)
        os.close(w)
    # ls itself holds one fd open on the directory it lists (3, or 4 with fd 3 kept)
    assert plain.stdout.split() == ["0", "1", "2", "3"], plain.stderr
    if r == 3:
        assert keep.stdout.split() == ["0", "1", "2", "3", "4"], keep.stderr


def test_a_symlink_in_the_rootfs_cannot_move_a_mount_outside_it(rt, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(ROOTFS / "bin" / "busybox", rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "sh")
    outside = tmp_path / "outside"
    outside.mkdir()
    # absolute and ../ symlinks both pointing at the host directory
    os.symlink(str(outside), rootfs / "abs")
    os.symlink("../../../../../../../.." + str(outside), rootfs / "rel")
    cfg = base_config(["/bin/sh", "-c", "cat /proc/self/mountinfo"], rootfs=rootfs)
    cfg["root"]["readonly"] = False
    cfg["mounts"] = [{"destination": "/proc", "type": "proc", "source": "proc"},
                     {"destination": "/abs/x", "type": "tmpfs", "source": "tmpfs"},
                     {"destination": "/rel/y", "type": "tmpfs", "source": "tmpfs"}]
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    m = mountinfo(rt.output(cfg))
    assert str(outside) + "/x" in m and str(outside) + "/y" in m     # inside the rootfs, at its own path
    assert list(outside.iterdir()) == []                            # nothing on the host
    assert (rootfs / str(outside).lstrip("/") / "x").is_dir()


def test_no_pivot(rt):
    assert rt.output(sh("echo moved"), "--no-pivot") == "moved\n"


def test_cwd_is_resolved_inside_the_container(rt):
    cfg = sh("pwd")
    cfg["process"]["cwd"] = "/nonexistent"
    r = rt.run(cfg)
    assert r.returncode != 0
    assert r.stderr == "minioci: chdir to cwd /nonexistent: No such file or directory\n"


def test_command_not_found_is_one_clear_error(rt):
    r = rt.run(base_config(["no-such-command"]))
    assert r.returncode != 0
    assert r.stderr == 'minioci: exec: "no-such-command": executable file not found in $PATH: ' \
                       "No such file or directory\n"


def test_a_failing_mount_names_it(rt):
    cfg = sh("true")
    cfg["mounts"].append({"destination": "/data", "type": "nosuchfs", "source": "none"})
    r = rt.run(cfg)
    assert r.returncode != 0
    assert r.stderr == "minioci: mount none on /data: No such device\n"


def test_terminal_gives_the_container_a_pty(rt):
    cfg = sh("tty; stty size")
    cfg["process"]["terminal"] = True
    cmd = " ".join(rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id()))
    r = subprocess.run(["script", "-qec", f"stty cols 77 rows 22; {cmd}", "/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    lines = r.stdout.replace("\r", "").split("\n")
    assert "/dev/pts/0" in lines and "22 77" in lines


def test_mqueue_without_an_ipc_namespace_binds_the_hosts(rt, tmp_path):
    """No IPC namespace of its own: the host's /dev/mqueue is bound, as runc
    falls back to.  The host here has none mounted, so the test mounts one in
    a private mount namespace of its own."""
    cfg = sh("grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f4,9")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"]
    bundle = rt.bundle(cfg)
    made = not os.path.exists("/dev/mqueue")
    if made:
        os.mkdir("/dev/mqueue")
    try:
        script = (f"mount -t mqueue mqueue /dev/mqueue && "
                  f"exec {' '.join(rt.cmd('run', '-b', bundle, rt.new_id()))}")
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
    finally:
        if made:
            os.rmdir("/dev/mqueue")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/", "mqueue"]


def test_mqueue_bind_fallback_reports_a_missing_host_mqueue(rt):
    if os.path.exists("/dev/mqueue"):
        pytest.skip("host has /dev/mqueue")
    cfg = sh("true")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"]
    r = rt.run(cfg)
    assert r.stderr == "minioci: bind /dev/mqueue on /dev/mqueue: No such file or directory\n"


def test_time_namespace_offsets(rt):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("kernel without time namespaces")
    cfg = sh("cut -d. -f1 /proc/uptime")
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    inside = int(rt.output(cfg))
    assert inside >= 86400 * 365
    assert inside - float(open("/proc/uptime").read().split()[0]) > 86400 * 364


def test_run_detach_then_state_kill_delete(rt):
    cid = rt.new_id()
    # A detached container keeps our stdio: give it nothing to hold open.
    r = rt.call("run", "-d", "-b", rt.bundle(sh("sleep 30")), cid, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, capture_output=False)
    assert r.returncode == 0
    import json
    st = json.loads(rt.call("state", cid).stdout)
    assert st["status"] == "running" and st["id"] == cid and st["pid"] > 0
    assert rt.call("kill", cid, "KILL").returncode == 0
    deadline = time.monotonic() + 10
    while json.loads(rt.call("state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert rt.call("delete", cid).returncode == 0
    assert rt.call("state", cid).returncode != 0


def test_user_namespace_joined_by_path_owns_the_new_pid_namespace(rt):
    """With a user namespace joined by path, the new PID namespace must belong
    to it (or /proc cannot be mounted): it is made after the join and a fork
    becomes its pid 1."""
    holder = subprocess.Popen(["unshare", "--user", "sleep", "60"])
    try:
        time.sleep(0.2)
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{holder.pid}/{name}", "w") as f:
                f.write("0 310000 65536\n")
        cfg = sh("readlink /proc/self/ns/user; cat /proc/self/uid_map; echo $$; id -u")
        cfg["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{holder.pid}/ns/user"})
        out = rt.output(cfg).split()
        assert out[0] == os.readlink(f"/proc/{holder.pid}/ns/user")
        assert out[1:4] == ["0", "310000", "65536"]
        assert out[4:] == ["1", "0"]           # pid 1 of its PID namespace, root in the user namespace
    finally:
        holder.kill()
        holder.wait()


def test_bind_mounts_of_a_file_and_a_directory(rt, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("from a dir\n")
    (tmp_path / "file").write_text("from a file\n")
    cfg = sh("cat /data/inside /etc/motd; touch /data/new 2>&1; grep -E ' /(data|etc/motd) ' /proc/self/mountinfo")
    cfg["mounts"] += [{"destination": "/data", "type": "bind", "source": str(tmp_path / "dir"),
                       "options": ["rbind", "ro", "nosuid"]},
                      {"destination": "/etc/motd", "type": "bind", "source": str(tmp_path / "file")}]
    out = rt.output(cfg)
    assert out.startswith("from a dir\nfrom a file\n") and "Read-only file system" in out
    m = mountinfo(out.split("\n", 3)[3])
    assert {"ro", "nosuid"} <= m["/data"][0] and "ro" not in m["/etc/motd"][0]
    assert not (tmp_path / "dir" / "new").exists()


def test_rootfs_propagation(rt):
    cfg = sh("awk '$5 == \"/\"' /proc/self/mountinfo")
    cfg["linux"]["rootfsPropagation"] = "rprivate"
    line = rt.output(cfg)
    assert line and "shared:" not in line and "master:" not in line      # no peer group, no master
    cfg["linux"]["rootfsPropagation"] = "rshared"
    assert "shared:" in rt.output(cfg)


def test_oom_score_adj(rt):
    cfg = sh("cat /proc/self/oom_score_adj")
    cfg["process"]["oomScoreAdj"] = 500
    assert rt.output(cfg).strip() == "500"


def test_joining_mount_cgroup_and_time_namespaces_by_path(rt):
    """A joined mount namespace is used as it is (no rootfs set up in it)."""
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("kernel without time namespaces")
    holder = subprocess.Popen(["unshare", "--mount", "--cgroup", "--time", "sleep", "60"])
    try:
        time.sleep(0.2)
        cfg = base_config(["/bin/busybox", "sh", "-c",
                           "for n in mnt cgroup time; do readlink /proc/self/ns/$n; done"])
        cfg["linux"]["namespaces"] = [{"type": "pid"}] + [
            {"type": t, "path": f"/proc/{holder.pid}/ns/{short}"}
            for t, short in (("mount", "mnt"), ("cgroup", "cgroup"), ("time", "time"))]
        del cfg["hostname"]
        inside = rt.output(cfg).split()
        assert inside == [os.readlink(f"/proc/{holder.pid}/ns/{n}") for n in ("mnt", "cgroup", "time")]
        assert inside[0] != os.readlink("/proc/self/ns/mnt")
    finally:
        holder.kill()
        holder.wait()


def test_a_config_with_hundreds_of_mounts_runs(rt, tmp_path):
    """The plan has no step limit of its own (it travels as bytes, and the
    shared region is sized to it): 600 mounts are 600 mounts."""
    rootfs = tmp_path / "rootfs"          # its own: the mount points are made in it
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(ROOTFS / "bin" / "busybox", rootfs / "bin" / "busybox")
    for name in ("sh", "grep"):
        os.symlink("busybox", rootfs / "bin" / name)
    cfg = base_config(["sh", "-c", "grep -c ' /m[0-9]* ' /proc/self/mountinfo"], rootfs=rootfs)
    cfg["mounts"] += [{"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(600)]
    cfg["root"]["readonly"] = False
    assert rt.output(cfg) == "600\n"
