"""`minioci run`: real containers, checked from inside and outside."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import CAPS, ROOTFS, base_config, cgroup_dir_inside, cgroup_layout, small_rootfs, wait_for

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)
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


def _runs_sleep(pid):
    """Whether `pid` runs sleep (an `unshare ... sleep` that made its namespaces)."""
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "sleep"
    except OSError:
        return False


def test_joining_namespaces_by_path(rt):
    holder = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "sleep", "60"])
    try:
        wait_for(lambda: _runs_sleep(holder.pid), "unshare's namespaces made (it runs sleep in them)")
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
        # the sleep inside (pid 1 there) is unshare's child
        inner = int(wait_for(lambda: open(f"/proc/{holder.pid}/task/{holder.pid}/children").read().split(),
                             "unshare's child")[0])
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
    assert "ro" in m["/sys/fs/cgroup"][0]
    memory = cgroup_dir_inside("memory")
    if cgroup_layout().kind == "v2":
        assert m["/sys/fs/cgroup"][1] == "cgroup2"
    else:                                               # a tmpfs with one directory per hierarchy
        assert m["/sys/fs/cgroup"][1] == "tmpfs" and m[memory][1] == ("cgroup" if "/unified" not in memory
                                                                     else "cgroup2")
    assert m["/proc/sys"][0] >= {"ro"}                   # readonlyPaths
    assert "/proc/keys" in m                             # maskedPaths: /dev/null bound over it


def test_cgroup_namespace_shows_the_containers_cgroup_as_root(rt):
    memory = cgroup_dir_inside("memory")
    out = rt.output(sh(f"cat /proc/self/cgroup; ls {memory}/ | grep -c cgroup.procs"))
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


def test_device_file_mode_may_carry_the_file_type_bits(rt):
    """podman sends fileMode as stat(2) reports it (S_IFCHR | 0666 for
    `--device /dev/null:/dev/mynull`); runc and crun take it."""
    cfg = sh("stat -c '%n %F %t:%T %a' /dev/mynull; echo x > /dev/mynull && echo written")
    cfg["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                "fileMode": 0o20666}]
    assert rt.output(cfg).splitlines() == ["/dev/mynull character special file 1:3 666", "written"]


def test_devices_outside_dev(rt):
    """A device may be anywhere in the container (here in a tmpfs at /tmp,
    so that the shared rootfs stays as it is); runc and crun make it."""
    cfg = sh("stat -c '%n %F %t:%T' /tmp/sub/null2; echo x > /tmp/sub/null2 && echo written")
    cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]})
    cfg["linux"]["devices"] = [{"path": "/tmp/sub/null2", "type": "c", "major": 1, "minor": 3}]
    assert rt.output(cfg).splitlines() == ["/tmp/sub/null2 character special file 1:3", "written"]


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


def test_capabilities_that_cannot_be_granted_are_left_out_with_a_warning(rt, tmp_path):
    """runtime-spec: "Any value which cannot be mapped to a relevant kernel
    interface, or cannot be granted otherwise MUST be logged as a warning
    ... Runtimes SHOULD NOT fail" (docker --privileged asks for every
    capability; this sandbox's bounding set lacks CAP_SYS_RESOURCE).  The
    warning is seen without --debug: on stderr in runc's form, or in --log."""
    with open("/proc/self/status") as f:
        have = int(next(line.split()[1] for line in f if line.startswith("CapBnd:")), 16)
    every = list(spec.CAPABILITIES)
    cfg = sh("grep -E '^Cap(Eff|Bnd)' /proc/self/status")
    cfg["process"]["capabilities"] = {k: every + ["CAP_FLY"] for k in ("bounding", "effective", "permitted")}
    bundle = rt.bundle(cfg)
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert r.returncode == 0, r.stderr
    known = (1 << len(every)) - 1
    assert [int(line.split()[1], 16) for line in r.stdout.splitlines()] == [known & have] * 2
    missing = [name for i, name in enumerate(every) if not have >> i & 1]
    warned = [f"{bundle}/config.json: process.capabilities.{k}[{len(every)}]: unknown capability 'CAP_FLY': left out"
              for k in ("bounding", "effective", "permitted")]
    if missing:
        warned.append(f"{bundle}/config.json: process.capabilities: not granted, outside minioci's bounding set: "
                      f"{', '.join(missing)}")
    assert [line.split(" ", 2)[2] for line in r.stderr.splitlines()] == [f'msg="{w}"' for w in warned], r.stderr
    assert all(" level=warning " in line for line in r.stderr.splitlines())
    if rt.server:           # it warmed the config quietly: its worker said the warnings, to the caller
        os.set_blocking(rt.server.proc.stderr.fileno(), False)
        assert rt.server.proc.stderr.read() in (None, b"")
    log = tmp_path / "log"
    r = rt.call("--log", log, "run", "-b", bundle, rt.new_id())
    assert (r.returncode, r.stderr) == (0, "")
    assert [line.split(" ", 2)[2] for line in log.read_text().splitlines()] == [f'msg="{w}"' for w in warned]


def test_stdio_is_owned_by_the_process_user_so_it_can_reopen_it(rt, tmp_path):
    """As runc: pipes and files given as stdio become the process user's
    (uid only), so that it can reopen /proc/self/fd/N; /dev/null stays
    root's."""
    cfg = sh("stat -L -c %u:%g /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; echo reopened >> /proc/self/fd/1; "
             "echo err >> /proc/self/fd/2")
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = rt.run(cfg, input="")
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["1000:0"] * 3 + ["reopened"], "err\n"), r.stderr
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = rt.run(cfg, stdin=subprocess.DEVNULL, stdout=f, capture_output=False, stderr=subprocess.PIPE)
    assert (r.returncode, out.read_text().split()) == (0, ["0:0", "1000:0", "1000:0", "reopened"]), r.stderr
    assert os.stat(out).st_uid == 1000 and os.stat("/dev/null").st_uid == 0
    cid = rt.new_id()                                           # and exec's process, as runc's
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, capture_output=False)
    r = rt.call("exec", "--user", "1000:1000", cid, *cfg["process"]["args"], input="")
    rt.call("delete", "--force", cid)
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["1000:0"] * 3 + ["reopened"], "err\n"), r.stderr


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


def has_capability(name):
    """Whether this process (and so minioci, its child) holds `name`."""
    with open("/proc/self/status") as f:
        eff = int(next(line.split()[1] for line in f if line.startswith("CapEff:")), 16)
    return bool(eff >> spec.CAP_NUMBERS[name] & 1)


def test_raising_a_hard_rlimit_takes_cap_sys_resource(rt):
    """A hard limit above the runtime's own: with CAP_SYS_RESOURCE the
    container gets it; without (this sandbox), the kernel refuses and the
    error says which limit."""
    import resource
    cfg = sh("grep 'open files' /proc/self/limits")
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 8192}]
    r = rt.run(cfg, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096)))
    if has_capability("CAP_SYS_RESOURCE"):
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[3:5] == ["2048", "8192"]
    else:
        assert r.returncode != 0
        assert r.stderr.endswith(": process.rlimits[0]: setrlimit RLIMIT_NOFILE: operation not permitted\n")
        assert r.stderr.startswith("minioci: ") and "config.json" in r.stderr and r.stderr.count("\n") == 1


def test_hostname_domainname_sysctl_and_loopback(rt):
    cfg = sh("hostname; cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /sys/class/net/lo/flags")
    cfg["domainname"] = "example.org"
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    host_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    assert rt.output(cfg).split() == ["minioci-test", "example.org", "1", "0x9"]   # lo: UP|LOOPBACK
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forward


def test_uts_sysctls_that_agree_with_the_fields_are_set(rt):
    """kernel.hostname and kernel.domainname are refused only where they
    conflict with hostname or domainname (test_bad_input)."""
    cfg = sh("hostname; cat /proc/sys/kernel/domainname")
    cfg["linux"]["sysctl"] = {"kernel.hostname": "minioci-test", "kernel.domainname": "only.sysctl"}
    assert rt.output(cfg).split() == ["minioci-test", "only.sysctl"]


def test_user_namespace_with_mappings(rt):
    cfg = sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; cat /proc/self/status | grep CapEff")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    out = rt.output(cfg).split()
    assert out[:7] == ["0", "200000", "65536", "0", "200000", "65536", "0"]


def test_a_user_namespace_without_mappings_maps_the_callers_ids(rt):
    """As crun: container id 0 is the caller's uid and gid (here root's),
    size 1 (runc refuses).  A gid mapping given alone is kept."""
    cfg = sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g")
    cfg["linux"]["namespaces"].append({"type": "user"})
    for m in cfg["mounts"]:             # gid 5 (tty) is not mapped: devpts's gid= would fail
        m["options"] = [o for o in m.get("options", []) if not o.startswith("gid=")]
    assert rt.output(cfg).split() == ["0", str(os.geteuid()), "1"] + ["0", str(os.getegid()), "1"] + ["0", "0"]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 10}]
    assert rt.output(cfg).split() == ["0", str(os.geteuid()), "1"] + ["0", "200000", "10"] + ["0", "0"]
    cfg["process"]["user"] = {"uid": 1000, "gid": 0}                 # not mapped
    r = rt.run(cfg)
    assert (r.returncode, r.stderr) == (1, "minioci: setuid 1000: invalid argument\n")


def test_user_namespace_process_runs_as_the_mapped_host_uid(rt, tmp_path):
    cfg = sh("echo ready; sleep 5")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cid = rt.new_id()
    p = subprocess.Popen(rt.cmd("run", "-b", rt.bundle(cfg), cid), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        # `run` saves the pid once the program has exec'ed: it may not have yet
        deadline = time.monotonic() + 30
        while not (pid := __import__("json").loads(rt.call("state", cid).stdout)["pid"]):
            assert time.monotonic() < deadline, "no pid in the state"
            time.sleep(0.01)
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


def test_a_tmpfs_without_mode_keeps_the_mode_of_its_directory(rt, tmp_path):
    """As runc (and crun since 1.9): a tmpfs on a directory of mode 0712
    is 0712, not tmpfs's own 1777; a new directory gets 1777; mode= wins."""
    rootfs = small_rootfs(tmp_path / "rootfs", applets=("sh", "stat"))
    for name, mode in (("kept", 0o712), ("sticky", 0o3750), ("given", 0o712)):
        (rootfs / name).mkdir()
        os.chmod(rootfs / name, mode)
    cfg = base_config(["sh", "-c", "stat -c %a /kept /sticky /new /given"], rootfs=rootfs)
    cfg["mounts"] += [{"destination": f"/{name}", "type": "tmpfs", "source": "tmpfs", "options": options}
                      for name, options in (("kept", ["nosuid"]), ("sticky", []), ("new", []),
                                            ("given", ["mode=755", "size=1m"]))]
    assert rt.output(cfg).split() == ["712", "3750", "1777", "755"]


# systemd's way of starting a command with sockets: fds at 3, 4, ..., and
# LISTEN_FDS and LISTEN_PID (the pid it started: the minioci command's).
# argv: LISTEN_FDS, LISTEN_PID ("": its own), the fds for 3, 4, ... ("a,b,c"), the command.
ACTIVATE = ("import os, sys; [os.dup2(int(fd), 3 + i) for i, fd in enumerate(sys.argv[3].split(','))]; "
            "os.environ.update(LISTEN_FDS=sys.argv[1], LISTEN_PID=sys.argv[2] or str(os.getpid())); "
            "os.execv(sys.argv[4], sys.argv[4:])")


def test_socket_activation_passes_the_sockets_on(rt):
    """As runc: with LISTEN_PID the minioci command's own (on the served
    path too, where the worker is another process), the LISTEN_FDS fds
    reach the container at 3, 4, ..., with LISTEN_FDS=N and LISTEN_PID=1 in
    its environment; --preserve-fds's come after them."""
    import socket
    pairs = [socket.socketpair() for _ in range(3)]
    high = [os.dup2(a.fileno(), 100 + i, inheritable=True) for i, (a, _) in enumerate(pairs)]
    try:
        cfg = sh("echo $LISTEN_FDS $LISTEN_PID; echo one >&3; echo two >&4; echo kept >&5")
        cfg["process"]["env"].append("LISTEN_FDS=9")               # the runtime's word wins
        bundle = rt.bundle(cfg)
        run = rt.cmd("run", "-b", bundle, "--preserve-fds", "1", rt.new_id())
        r = subprocess.run([sys.executable, "-c", ACTIVATE, "2", "", ",".join(map(str, high)), *run],
                           pass_fds=high, capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout, r.stderr) == (0, "2 1\n", "")
        assert [b.recv(10) for _, b in pairs] == [b"one\n", b"two\n", b"kept\n"]
        # LISTEN_PID another process's: the fds were not meant for us
        cfg["process"]["args"] = ["sh", "-c", "echo $LISTEN_FDS; ls /proc/self/fd | wc -l"]
        r = subprocess.run([sys.executable, "-c", ACTIVATE, "2", "1", ",".join(map(str, high[:2])),
                            *rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id())],
                           pass_fds=high, capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["9", "4"], "")     # 0-2 and ls's own
    finally:
        for fd in high:
            os.close(fd)
        for a, b in pairs:
            a.close()
            b.close()


def test_a_symlink_in_the_rootfs_cannot_move_a_mount_outside_it(rt, tmp_path):
    rootfs = small_rootfs(tmp_path / "rootfs")
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
    cfg["process"]["cwd"] = "/etc/passwd/x"         # the container's /etc/passwd, a file
    r = rt.run(cfg)
    assert r.returncode != 0
    assert r.stderr.startswith("minioci: ") and "/etc/passwd/x: not a directory" in r.stderr


def test_command_not_found_is_one_clear_error(rt):
    r = rt.run(base_config(["no-such-command"]))
    assert r.returncode != 0
    assert r.stderr == 'minioci: exec: "no-such-command": executable file not found in $PATH: ' \
                       "no such file or directory\n"


def test_a_failing_mount_names_it(rt):
    cfg = sh("true")
    cfg["mounts"].append({"destination": "/data", "type": "nosuchfs", "source": "none"})
    r = rt.run(cfg)
    assert r.returncode != 0
    assert r.stderr.startswith("minioci: ") and r.stderr.count("\n") == 1
    where = f"config.json: mounts[{len(cfg['mounts']) - 1}]: "
    assert r.stderr.endswith(where + "mount none on /data: no such device\n"), r.stderr


def test_terminal_gives_the_container_a_pty(rt):
    """... which is also its /dev/console (runtime-spec: bound there)."""
    cfg = sh("tty; stty size; stat -c 'console %t:%T' /dev/console")
    cfg["process"]["terminal"] = True
    cmd = " ".join(rt.cmd("run", "-b", rt.bundle(cfg), rt.new_id()))
    # script's stdin stays open: at its end script(1) would type an EOF (a
    # NUL in raw mode) into the terminal, racing the container's output.
    p = subprocess.Popen(["script", "-qec", f"stty cols 77 rows 22; {cmd}", "/dev/null"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    p.stdin.close()
    assert p.wait(60) == 0, out
    lines = out.replace("\r", "").split("\n")
    assert "/dev/pts/0" in lines and "22 77" in lines
    assert "console 88:0" in lines                  # /dev/pts/0: major 136 (0x88), minor 0


def test_mqueue_without_an_ipc_namespace_is_a_fresh_mount(rt):
    """No IPC namespace of its own (docker and podman --ipc host): a fresh
    mqueue is mounted, as runc does; the host needs no /dev/mqueue of its own
    (this one has none)."""
    cfg = sh("readlink /proc/self/ns/ipc; grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f4,9")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"]
    out = rt.output(cfg).split()
    assert out == [os.readlink("/proc/self/ns/ipc"), "/", "mqueue"]


def test_mqueue_in_a_user_namespace_without_its_own_ipc_binds_the_hosts(rt):
    """In a user namespace without an IPC namespace of its own the kernel
    refuses a new mqueue mount: the host's /dev/mqueue is bound instead, and
    where the host has none (this one), its absence is the error."""
    cfg = sh("grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f3")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"] + [{"type": "user"}]
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    r = rt.run(cfg)
    if os.path.exists("/dev/mqueue"):
        dev = os.stat("/dev/mqueue").st_dev
        assert (r.returncode, r.stdout) == (0, f"{os.major(dev)}:{os.minor(dev)}\n"), r.stderr
    else:
        index = next(i for i, m in enumerate(cfg["mounts"]) if m["type"] == "mqueue")
        assert r.stderr.startswith("minioci: ") and r.stderr.count("\n") == 1
        assert r.stderr.endswith(f"config.json: mounts[{index}]: bind /dev/mqueue on /dev/mqueue: no such file "
                                 "or directory\n"), r.stderr


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
        wait_for(lambda: _runs_sleep(holder.pid), "unshare's namespaces made (it runs sleep in them)")
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
    for value in ("unbindable", "runbindable"):      # as crun makes it (runc leaves it private)
        cfg["linux"]["rootfsPropagation"] = value
        assert rt.output(cfg).split(" - ")[0].split()[6:] == ["unbindable"], value
    cfg["root"]["readonly"] = False
    assert rt.output(cfg).split(" - ")[0].split()[6:] == ["unbindable"]


def test_a_shared_root_lets_a_mount_made_in_a_shared_volume_reach_the_host(rt, tmp_path):
    """rootfsPropagation "rshared" and a bind mount "rshared" of a shared
    host directory (what containerd asks for a Kubernetes Bidirectional
    volume, as CSI node plugins use): a mount the container makes inside the
    volume shows on the host, as with runc (minioci made "/" a slave first
    and the volume a peer group of its own, so it stayed inside).  With the
    default root, a slave, and an "rslave" volume, it does not; and nothing
    else the container mounts reaches the host either way."""
    vol = tmp_path / "vol"
    (vol / "inside").mkdir(parents=True)
    script = "mount -t tmpfs -o size=1m inside /vol/inside && echo from inside > /vol/inside/marker"
    before = set(engines_mounts())
    try:
        for how in (["--bind", str(vol), str(vol)], ["--make-shared", str(vol)]):
            subprocess.run(["mount", *how], check=True)
        for root, volume, flags, reaches in ((None, "rslave", [], False), ("rshared", "rshared", [], True),
                                             ("rshared", "rshared", ["--no-pivot"], True)):
            cfg = sh(script)
            cfg["process"]["capabilities"] = {k: CAPS + ["CAP_SYS_ADMIN"] for k in
                                              ("bounding", "effective", "permitted")}
            cfg["mounts"].append({"destination": "/vol", "type": "bind", "source": str(vol),
                                  "options": ["rbind", volume]})
            if root:
                cfg["linux"]["rootfsPropagation"] = root
            r = rt.run(cfg, *flags)
            assert r.returncode == 0, r.stderr
            assert (vol / "inside" / "marker").exists() == reaches, (root, volume, flags)
            assert set(engines_mounts()) - before == {str(vol)} | ({str(vol / "inside")} if reaches else set())
            if reaches:
                subprocess.run(["umount", str(vol / "inside")], check=True)
    finally:
        for point in (vol / "inside", vol):
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.mark.direct_only      # a mount namespace of the test's own: the server rightly refuses it
def test_a_shared_root_passes_nothing_of_the_container_to_a_shared_host_root(rt, tmp_path):
    """Where the host's "/" is shared (systemd makes it so), a shared root
    (rootfsPropagation rshared) must still not hand the container's rootfs
    to the host: not with pivot_root, nor with --no-pivot, which moves the
    rootfs onto "/" (a peer of the host's, it would pass it on).  The host
    here is a mount namespace of the test's own whose "/" is shared, and the
    rootfs lies on a mount of its own, as containerd's overlay does."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    cfg = base_config(["true"], rootfs=rootfs)
    cfg["linux"]["rootfsPropagation"] = "rshared"
    bundle = rt.bundle(cfg)
    for flags in ([], ["--no-pivot"]):
        script = (f"mount --bind {ROOTFS} {rootfs} && {' '.join(rt.cmd('run', *flags, '-b', bundle, rt.new_id()))}"
                  " && awk '$5 == \"/\"' /proc/self/mountinfo")
        r = subprocess.run(["unshare", "--mount", "--propagation", "shared", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == 1, (flags, r.stdout)       # the host's own "/" alone


def engines_mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


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
        wait_for(lambda: _runs_sleep(holder.pid), "unshare's namespaces made (it runs sleep in them)")
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
    rootfs = small_rootfs(tmp_path / "rootfs", ("sh", "grep"))     # the mount points are made in it
    cfg = base_config(["sh", "-c", "grep -c ' /m[0-9]* ' /proc/self/mountinfo"], rootfs=rootfs)
    cfg["mounts"] += [{"destination": f"/m{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(600)]
    cfg["root"]["readonly"] = False
    assert rt.output(cfg) == "600\n"


def test_without_a_mount_namespace_the_hosts_is_inherited(rt):
    """runtime-spec: a namespace type not listed is inherited from the
    runtime.  The process shares the host's mount table (nothing is mounted:
    spec.py refuses what would be) and still gets root.path as its root."""
    cfg = base_config(["/bin/busybox", "sh", "-c", "ls /bin/busybox; test -e /usr/bin/python3 || echo no-host-files; "
                                                   "exec sleep 100"])
    cfg["linux"]["namespaces"] = [{"type": "pid"}, {"type": "uts"}]
    cfg["mounts"] = []
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    cfg["root"]["readonly"] = False
    cid = rt.new_id()
    out = rt.tmp / "out"
    with open(out, "w") as f:
        r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=f, stderr=subprocess.STDOUT, capture_output=False)
    assert r.returncode == 0, out.read_text()
    pid = __import__("json").loads(rt.call("state", cid).stdout)["pid"]
    deadline = time.monotonic() + 10
    while "no-host-files" not in out.read_text():
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.01)
    assert out.read_text() == "/bin/busybox\nno-host-files\n"
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{pid}/root") == str(ROOTFS)
    assert rt.call("delete", "--force", cid).returncode == 0


# ---- issue 11's native items: ready for the shim's restructure ----------------

NATIVE = "native: pending (issue 11 item {}: {})"


def test_tmpcopyup_copies_what_was_there(rt):
    """podman's --read-only and --tmpfs mounts carry tmpcopyup: the new
    tmpfs starts with the directory's content (runc and crun)."""
    cfg = sh("grep ' /etc ' /proc/self/mountinfo | cut -d' ' -f9; cat /etc/passwd")
    cfg["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "tmpcopyup"]})
    assert rt.output(cfg) == "tmpfs\n" + (ROOTFS / "etc" / "passwd").read_text()


def test_tmpcopyup_keeps_the_tmpfs_roots_own_mode(rt, tmp_path):
    """Only the content is copied: the new tmpfs's root keeps tmpfs's mode
    (1777), as with runc and crun, so that podman's --tmpfs of a directory
    the image lacks is writable by a container user that is not root.  (A
    rootfs of its own: in one that had the directory, made by an earlier
    run, the tmpfs keeps that directory's mode, as with runc.)"""
    rootfs = small_rootfs(tmp_path / "rootfs", applets=("sh", "stat", "touch"))
    cfg = base_config(["sh", "-c", "stat -c %a /scratch; touch /scratch/y && echo written"], rootfs=rootfs)
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "tmpcopyup"]})
    assert rt.output(cfg) == "1777\nwritten\n"


def test_recursive_read_only_reaches_submounts(rt):
    """rro: read-only with every submount (runc's features list it); /sys has
    submounts of its own (/sys/fs/cgroup...)."""
    cfg = sh("cat /proc/self/mountinfo")
    cfg["mounts"].append({"destination": "/hostsys", "type": "bind", "source": "/sys", "options": ["rbind", "rro"]})
    m = mountinfo(rt.output(cfg))
    below = [point for point in m if point.startswith("/hostsys/")]
    assert below and all("ro" in m[point][0] for point in ["/hostsys"] + below)


def test_idmap_bind_mount_shows_host_root_as_container_root(rt, tmp_path):
    (tmp_path / "owned").write_text("")            # owned by host root (0)
    cfg = sh("stat -c %u /tmp/owned")             # /tmp: a mount point the namespace's root may use
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(tmp_path),
                          "options": ["rbind", "idmap"]})
    assert rt.output(cfg) == "0\n"                # without idmap: 65534, nobody


def test_home_comes_from_the_containers_passwd(rt):
    """runc and crun: no HOME in process.env, so HOME is the passwd entry's
    home for the process's uid, or / for a uid it does not list."""
    cfg = sh('echo "$HOME"')
    assert not any(e.startswith("HOME=") for e in cfg["process"]["env"])
    assert rt.output(cfg) == "/root\n"
    cfg["process"]["user"] = {"uid": 4242, "gid": 4242}
    assert rt.output(cfg) == "/\n"
    cfg["process"]["env"].append("HOME=/given")
    assert rt.output(cfg) == "/given\n"


def test_personality(rt):
    cfg = sh("uname -m")
    cfg["linux"]["personality"] = {"domain": "LINUX32"}
    assert rt.output(cfg) == "i686\n"


def test_scheduler(rt):
    cfg = sh("awk '/^policy/ {print $3}' /proc/self/sched")
    cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH"}
    assert rt.output(cfg) == "3\n"


def test_io_priority(rt):
    cfg = sh("ionice -p $$")
    cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    assert rt.output(cfg) == "best-effort: prio 3\n"


def test_memory_policy(rt):
    cfg = sh("head -1 /proc/self/numa_maps | cut -d' ' -f2")
    cfg["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    if not os.path.exists("/proc/self/numa_maps"):         # a kernel without NUMA (CONFIG_NUMA)
        assert rt.run(cfg).stderr == "minioci: set_mempolicy: function not implemented\n"
        return
    assert rt.output(cfg) == "bind:0\n"


def test_a_joined_mount_namespace_still_gets_the_rootfs(rt):
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        wait_for(lambda: _runs_sleep(holder.pid), "unshare's namespaces made (it runs sleep in them)")
        cfg = base_config(["/bin/busybox", "sh", "-c", "readlink /proc/self/ns/mnt; "
                           "test -e /usr/bin/python3 || echo rootfs; grep -c ' /proc/keys ' /proc/self/mountinfo"])
        cfg["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount", "path": f"/proc/{holder.pid}/ns/mnt"}]
        del cfg["hostname"]
        assert "/proc/keys" in cfg["linux"]["maskedPaths"]
        assert rt.output(cfg).split() == [os.readlink(f"/proc/{holder.pid}/ns/mnt"), "rootfs", "1"]
    finally:
        holder.kill()
        holder.wait()


def test_a_missing_cwd_is_created_also_under_a_read_only_root(rt):
    cfg = sh("pwd")
    cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    cfg["process"]["cwd"] = "/tmp/new/work"
    assert cfg["root"]["readonly"]
    assert rt.output(cfg) == "/tmp/new/work\n"


def test_read_only_paths_keep_the_flags_of_their_mount(rt):
    """runc: /proc/sys under a nosuid,nodev,noexec /proc stays so, read-only."""
    cfg = sh("cat /proc/self/mountinfo")
    for m in cfg["mounts"]:
        if m["destination"] == "/proc":
            m["options"] = ["nosuid", "noexec", "nodev"]
    assert "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert mountinfo(rt.output(cfg))["/proc/sys"][0] >= {"ro", "nosuid", "nodev", "noexec"}


def test_a_mount_source_the_user_namespace_cannot_reach(rt, tmp_path):
    locked = tmp_path / "locked"
    (locked / "data").mkdir(parents=True)
    (locked / "data" / "f").write_text("reached\n")
    locked.chmod(0o000)                            # host root's, and no one else may traverse it
    cfg = sh("cat /data/f")
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(locked / "data"),
                          "options": ["rbind"]})
    try:
        out = rt.output(cfg)
    finally:
        locked.chmod(0o755)
    assert out == "reached\n"


def test_a_device_path_holding_another_file_is_an_error(rt, tmp_path):
    """runtime-spec: "If a file already exists at path that does not match
    the requested device, the runtime MUST generate an error" (here a file
    bound into the container's own tmpfs, so the rootfs is not touched)."""
    (tmp_path / "plain").write_text("not a device\n")
    cfg = sh("true")
    cfg["mounts"] += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
                      {"destination": "/tmp/file", "type": "bind", "source": str(tmp_path / "plain")}]
    cfg["linux"]["devices"] = [{"path": "/tmp/file", "type": "c", "major": 1, "minor": 3}]
    r = rt.run(cfg)
    assert r.returncode == 1
    assert r.stderr == "minioci: device /tmp/file: a file that is not this device is already there: " \
                       "file exists\n"
    assert (tmp_path / "plain").stat().st_mode & 0o777 == 0o644       # not chmod'ed


def own_mappings_config(tmp_path, option):
    """A bind mount of a host directory whose files belong to uid and gid
    1234, which mappings of the mount's own show as 0 (and 0 is written as
    1234).  As runc writes them into the mount's user namespace, containerID
    is the id on the source filesystem, hostID the one the mount shows."""
    host = tmp_path / "host-dir"
    (host / "sub").mkdir(parents=True)
    for f in (host / "file", host / "sub" / "file"):
        f.write_text("x")
    for f in (host, host / "file", host / "sub", host / "sub" / "file"):
        os.chown(f, 1234, 1234)
    cfg = sh("stat -c '%u:%g' /data/file /data/sub/file; touch /data/made-inside")
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(host),
                          "options": ["rbind"] + ([option] if option else []),
                          "uidMappings": [{"containerID": 1234, "hostID": 0, "size": 1}],
                          "gidMappings": [{"containerID": 1234, "hostID": 0, "size": 1}]})
    return cfg, host


@pytest.mark.parametrize("option", [None, "idmap", "ridmap"])
def test_a_mounts_own_mappings_idmap_it_without_a_user_namespace(rt, tmp_path, option):
    """runtime-spec mounts[].uidMappings/gidMappings: the container (no user
    namespace of its own) sees host uid 1234 as 0 through that mount, and
    what it writes there as 0 lands as 1234 on the host."""
    cfg, host = own_mappings_config(tmp_path, option)
    assert rt.output(cfg).split() == ["0:0", "0:0"]
    st = os.stat(host / "made-inside")
    assert (st.st_uid, st.st_gid) == (1234, 1234)


def test_preserve_fds_naming_an_fd_the_caller_does_not_have_is_refused(rt):
    """--preserve-fds 3 passes fds 3, 4 and 5; with only 3 open, minioci's
    own fds would take 4 and 5 and cross into the container with them."""
    import shlex
    cmd = shlex.join(rt.cmd("run", "--preserve-fds", "3", "-b", rt.bundle(sh("ls /proc/self/fd")), rt.new_id()))
    r = subprocess.run(["sh", "-c", f"exec 3</dev/null; exec {cmd}"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert r.stderr == "minioci: --preserve-fds 3: fd 4 is not open\n"
