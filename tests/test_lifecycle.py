"""The runc-style lifecycle: create/start/state/kill/delete/list/exec, the
console socket, pid files, --log json errors, and faults."""
import array
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import base_config, cgroup_dirs, cgroup_layout

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

DEVNULL = subprocess.DEVNULL


def sh(script):
    return base_config(["sh", "-c", script])


def state(rt, cid):
    r = rt.call("state", cid)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_status(rt, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while state(rt, cid)["status"] != want:
        assert time.monotonic() < deadline, f"{cid} never became {want}"
        time.sleep(0.02)


def create(rt, cfg, *flags, cid=None):
    cid = cid or rt.new_id()
    # The container inherits our stdio (conmon passes pipes it never waits
    # on): a file, not a pipe we would wait on until the container exits.
    err = rt.tmp / f"{cid}.stderr"
    with open(err, "w") as f:
        r = subprocess.run(rt.cmd("create", "-b", rt.bundle(cfg), *flags, cid), stdout=DEVNULL,
                           stderr=f, timeout=60)
    assert r.returncode == 0, err.read_text()
    assert err.read_text() == ""                    # nothing printed on success
    return cid


def test_create_start_state_kill_delete(rt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cfg = sh("echo started > /out/log; exec sleep 300")
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out)})
    pid_file = tmp_path / "pid"
    cid = create(rt, cfg, "--pid-file", pid_file)
    st = state(rt, cid)
    assert st["status"] == "created" and st["id"] == cid
    assert pid_file.read_text() == str(st["pid"])          # host pid, no newline
    assert set(st) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner",
                       "annotations"}
    assert not (out / "log").exists()                         # waits before exec
    assert rt.call("start", cid).returncode == 0
    wait_status(rt, cid, "running")
    deadline = time.monotonic() + 5
    while not (out / "log").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r = rt.call("start", cid)
    assert r.returncode != 0 and "it is running, not created" in r.stderr
    listed = json.loads(rt.call("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid] and listed[0]["status"] == "running"
    assert rt.call("list", "-q").stdout.split() == [cid]
    assert rt.call("kill", cid, "SIGKILL").returncode == 0
    wait_status(rt, cid, "stopped")
    assert state(rt, cid)["pid"] == 0
    assert rt.call("kill", cid).returncode != 0               # not running
    assert rt.call("delete", cid).returncode == 0
    assert not cgroup_dirs(cid)
    assert rt.call("state", cid).returncode != 0


def test_duplicate_id_is_refused(rt):
    cid = create(rt, sh("sleep 300"))
    r = rt.call("create", "-b", rt.bundle(sh("true")), cid)
    assert r.returncode != 0 and r.stderr == f"minioci: container {cid!r} already exists\n"
    assert state(rt, cid)["status"] == "created"             # the first one is untouched
    assert rt.call("delete", "--force", cid).returncode == 0


def test_start_fails_when_the_process_died(rt):
    cid = create(rt, sh("true"))
    os.kill(state(rt, cid)["pid"], signal.SIGKILL)
    wait_status(rt, cid, "stopped")
    r = rt.call("start", cid)
    assert r.returncode != 0 and "it is stopped, not created" in r.stderr
    assert rt.call("delete", cid).returncode == 0


def test_delete_refuses_a_running_container_without_force(rt):
    cid = create(rt, sh("sleep 300"))
    rt.call("start", cid)
    r = rt.call("delete", cid)
    assert r.returncode != 0 and "is running (use --force)" in r.stderr
    assert rt.call("delete", "--force", cid).returncode == 0
    assert rt.call("state", cid).returncode != 0


def test_delete_force_of_an_unknown_id_succeeds(rt):
    assert rt.call("delete", "--force", "no-such-container").returncode == 0
    r = rt.call("delete", "no-such-container")
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_unknown_id_errors(rt):
    for args in (("start", "nope"), ("state", "nope"), ("kill", "nope"), ("exec", "nope", "true")):
        r = rt.call(*args)
        assert r.returncode != 0 and r.stderr == "minioci: container 'nope' does not exist\n", args


def test_kill_all_signals_every_process(rt):
    cid = create(rt, sh("sleep 300 & sleep 300 & wait"))
    rt.call("start", cid)
    wait_status(rt, cid, "running")
    assert rt.call("kill", "--all", cid, "KILL").returncode == 0
    wait_status(rt, cid, "stopped")
    assert rt.call("delete", cid).returncode == 0


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_of_a_stopped_container_words_and_kill_all(rt):
    """As runc: `kill` of a stopped container fails with "container not
    running" (containerd maps exactly that to NotFound); `kill --all` of one
    succeeds and reaches what is left in its cgroup, as containerd's shim
    asks once the init of a container without a PID namespace has exited."""
    cfg = sh("sleep 4321 & echo $! > /out/pid; exit 0")
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    out = rt.tmp / "out"
    out.mkdir()
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out)})
    cid = create(rt, cfg)
    assert rt.call("start", cid).returncode == 0
    wait_status(rt, cid, "stopped")
    left = int((out / "pid").read_text())               # no PID namespace: a host pid
    assert _alive(left)
    r = rt.call("kill", cid, "KILL")
    assert r.returncode == 1 and "container not running" in r.stderr, r.stderr
    r = rt.call("kill", "--all", cid, "KILL")
    assert (r.returncode, r.stderr) == (0, "")
    deadline = time.monotonic() + 10
    while _alive(left):
        assert time.monotonic() < deadline, "kill --all left the container's process alive"
        time.sleep(0.01)
    assert rt.call("kill", "--all", cid, "KILL").returncode == 0      # nothing left: still fine
    assert rt.call("delete", cid).returncode == 0


def test_run_keep_leaves_a_stopped_container_until_delete(rt):
    cid = rt.new_id()
    r = rt.run(sh("exit 3"), "--keep", cid=cid)
    assert r.returncode == 3, r.stderr
    assert state(rt, cid)["status"] == "stopped"
    assert cgroup_dirs(cid)                                   # kept, as runc keeps it
    assert rt.call("delete", cid).returncode == 0
    assert not cgroup_dirs(cid) and rt.call("state", cid).returncode != 0


def test_exec_cgroup_joins_an_existing_sub_cgroup(rt):
    cid = create(rt, sh("sleep 300"))
    with open(os.path.join(rt.root, cid, "state.json")) as f:
        dirs = json.load(f)["cgroup_dirs"]
    for d in dirs:
        os.mkdir(os.path.join(d, "sub"))
        if os.path.basename(os.path.dirname(os.path.dirname(d))) == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):     # a new v1 cpuset starts empty
                with open(os.path.join(d, name)) as src, open(os.path.join(d, "sub", name), "w") as dst:
                    dst.write(src.read())
    rt.call("start", cid)
    r = rt.call("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    # seen from the container's cgroup namespace, rooted at its cgroup
    paths = [line.split(":", 2)[2] for line in r.stdout.splitlines()]
    assert paths and set(paths) == {"/sub"}, r.stdout
    r = rt.call("exec", "--cgroup", "pids:sub", cid, "cat", "/proc/self/cgroup")
    lines = dict(line.split(":", 2)[1:] for line in r.stdout.splitlines())
    assert (lines["pids"], lines["memory"]) == ("/sub", "/"), r.stdout
    r = rt.call("exec", "--cgroup", "nope", cid, "true")
    assert r.returncode == 255 and "/nope does not exist (the sub-cgroup must exist)" in r.stderr
    r = rt.call("exec", "--cgroup", "../x", cid, "true")
    assert r.returncode == 255 and "must be relative" in r.stderr
    assert rt.call("delete", "--force", cid).returncode == 0


def test_a_config_changed_since_create_does_not_reach_exec(rt):
    """runtime-spec: "Any updates to config.json after this step MUST NOT
    affect the container": exec takes the container's process and seccomp
    filter from what create kept (see tests/security/test_state_integrity.py)."""
    cfg = sh("sleep 300")
    bundle = rt.bundle(cfg)
    cid = rt.new_id()
    err = rt.tmp / "create.stderr"
    with open(err, "w") as f:
        assert subprocess.run(rt.cmd("create", "-b", bundle, cid), stdout=DEVNULL, stderr=f).returncode == 0
    assert rt.call("start", cid).returncode == 0
    cfg["process"]["env"].append("CHANGED=1")
    (bundle / "config.json").write_text(json.dumps(cfg))
    r = rt.call("exec", cid, "sh", "-c", "echo changed=$CHANGED")
    assert (r.returncode, r.stdout) == (0, "changed=\n"), r.stderr
    assert rt.call("delete", "--force", cid).returncode == 0


def test_exec_joins_every_namespace_and_the_cgroup(rt):
    cid = rt.new_id()
    cfg = sh("exec sleep 300")
    cfg["process"]["user"] = {"uid": 0, "gid": 0}
    assert rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=DEVNULL, stderr=DEVNULL,
                   capture_output=False).returncode == 0
    init = state(rt, cid)["pid"]
    names = ("net", "ipc", "uts", "mnt", "pid", "cgroup")
    r = rt.call("exec", cid, "sh", "-c", "for n in " + " ".join(names) +
                "; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup; hostname")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == [os.readlink(f"/proc/{init}/ns/{n}") for n in names]
    cgroups = lines[6:-1]
    assert cgroups and all(line.endswith(":/") for line in cgroups)   # its cgroup, seen from its cgroupns
    assert lines[-1] == "minioci-test"
    assert rt.call("delete", "--force", cid).returncode == 0


def test_exec_exit_codes_user_env_cwd(rt):
    cid = rt.new_id()
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
            capture_output=False)
    assert rt.call("exec", cid, "sh", "-c", "exit 3").returncode == 3
    r = rt.call("exec", "--user", "1000:1000", "-e", "X=1", "--cwd", "/tmp", cid, "sh", "-c",
                "id -u; id -g; echo $X; pwd")
    assert r.stdout.split() == ["1000", "1000", "1", "/tmp"], r.stderr
    r = rt.call("exec", cid, "no-such-thing")
    assert r.returncode == 255 and "executable file not found" in r.stderr
    assert rt.call("delete", "--force", cid).returncode == 0


def test_exec_process_json_detach_and_pid_file(rt, tmp_path):
    cid = rt.new_id()
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
            capture_output=False)
    proc = base_config(["sh", "-c", "echo $$ > /dev/null; sleep 300"])["process"]
    (tmp_path / "p.json").write_text(json.dumps(proc))
    r = subprocess.run(rt.cmd("exec", "--process", tmp_path / "p.json", "--detach", "--pid-file",
                              tmp_path / "pid", cid), stdout=DEVNULL, stderr=DEVNULL)
    assert r.returncode == 0
    pid = int((tmp_path / "pid").read_text())
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{state(rt, cid)['pid']}/ns/pid")
    assert rt.call("delete", "--force", cid).returncode == 0       # takes the exec'd process with it
    assert not os.path.exists(f"/proc/{pid}/ns")


def test_malformed_process_json(rt, tmp_path):
    cid = rt.new_id()
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
            capture_output=False)
    bad = tmp_path / "process.json"
    bad.write_text(json.dumps({"args": [], "cwd": "/", "user": {"uid": 0, "gid": 0}}))
    r = rt.call("exec", "--process", bad, cid)
    assert r.returncode != 0
    assert r.stderr == f"minioci: {bad}: args: must be a non-empty array of strings\n"
    bad.write_text("{")
    assert "invalid JSON" in rt.call("exec", "--process", bad, cid).stderr
    assert rt.call("delete", "--force", cid).returncode == 0


def test_exec_into_stopped_container_is_an_error(rt):
    cid = create(rt, sh("true"))
    rt.call("start", cid)
    wait_status(rt, cid, "stopped")
    r = rt.call("exec", cid, "true")
    assert r.returncode == 255 and "it is stopped" in r.stderr
    assert rt.call("delete", cid).returncode == 0


def recv_pty(listener, result):
    conn, _ = listener.accept()
    fds = array.array("i")
    msg, anc, flags, _ = conn.recvmsg(16, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    result.update(msg=msg, fds=list(fds))
    conn.close()


def test_console_socket_gets_exactly_one_pty_master(rt, tmp_path):
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    result = {}
    t = threading.Thread(target=recv_pty, args=(listener, result))
    t.start()
    cfg = sh("tty; echo via-the-pty; sleep 300")
    cfg["process"]["terminal"] = True
    cid = create(rt, cfg, "--console-socket", path)
    t.join(10)
    listener.close()
    assert len(result["fds"]) == 1 and len(result["msg"]) >= 1
    master = result["fds"][0]
    try:
        rt.call("start", cid)
        text = b""
        deadline = time.monotonic() + 10
        while b"via-the-pty" not in text and time.monotonic() < deadline:
            text += os.read(master, 4096)
        assert b"/dev/pts/0" in text and b"via-the-pty" in text
    finally:
        os.close(master)
        rt.call("delete", "--force", cid)


def test_errors_go_to_the_json_log_as_exactly_one_line(rt, tmp_path):
    log = tmp_path / "log.json"
    r = rt.call("--log-format=json", "--log", log, "start", "no-such-id")
    assert r.returncode != 0
    assert r.stderr == "minioci: container 'no-such-id' does not exist\n"
    text = log.read_text()
    assert text.count("\n") == 1
    entry = json.loads(text)           # podman parses the whole file as one object
    assert entry["level"] == "error" and entry["msg"] == "container 'no-such-id' does not exist"
    assert entry["time"].endswith("Z")


def test_pid_file_directory_must_exist(rt, tmp_path):
    r = rt.call("create", "-b", rt.bundle(sh("true")), "--pid-file", tmp_path / "no" / "pid", rt.new_id())
    assert r.returncode != 0 and "its directory does not exist" in r.stderr


def test_console_socket_that_is_not_a_socket(rt, tmp_path):
    cfg = sh("true")
    cfg["process"]["terminal"] = True
    (tmp_path / "file").write_text("")
    r = rt.call("create", "-b", rt.bundle(cfg), "--console-socket", tmp_path / "file", rt.new_id())
    assert r.returncode != 0
    assert r.stderr == f"minioci: connect to console socket {tmp_path / 'file'}: connection refused\n"


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.06, 0.1, 0.2])
def test_a_create_killed_at_any_point_is_removed_by_delete_force(rt, delay):
    cid = rt.new_id()
    p = subprocess.Popen(rt.cmd("create", "-b", rt.bundle(sh("sleep 300")), cid), stdout=DEVNULL, stderr=DEVNULL)
    time.sleep(delay)
    p.kill()
    p.wait()
    assert rt.call("delete", "--force", cid).returncode == 0
    assert rt.leftovers() == []
    assert _processes_of(cid) == [], "a container process survived"


RENAMES = ("rename", "renameat", "renameat2")       # state.json replaced atomically: a save
SYSCALL_NUMBERS = {82, 264, 316}                     # x86_64's rename, renameat, renameat2


@pytest.mark.direct_only
@pytest.mark.skipif(not shutil.which("strace"), reason="holds the create in its last save with strace")
@pytest.mark.parametrize("named_after_it", [True, False])
def test_a_create_killed_in_its_last_save_is_removed_by_delete_force(rt, named_after_it):
    """A create saves its state once, at the end, when delete --force can
    find its cgroup by the id alone (cgroups.find_named); before it makes
    anything otherwise.  Killed in that last save (strace holds every
    rename), what it made goes with delete --force either way."""
    cid = rt.new_id()
    cfg = sh("sleep 300")
    elsewhere = f"/minioci-test-{cid[2:]}-elsewhere"
    if not named_after_it:
        cfg["linux"]["cgroupsPath"] = elsewhere
    hold = ",".join(RENAMES)
    p = subprocess.Popen(["strace", "-o", "/dev/null", "-e", f"trace={hold}", "-e",
                          f"inject={hold}:delay_enter=400000"] + rt.cmd("create", "-b", rt.bundle(cfg), cid),
                         stdout=DEVNULL, stderr=DEVNULL)
    try:
        procs = [f"/sys/fs/cgroup/{b}/{'minioci/' + cid if named_after_it else elsewhere}/cgroup.procs"
                 for b in os.listdir("/sys/fs/cgroup")]
        deadline = time.monotonic() + 30
        while True:         # its process is in its cgroup, and the create in a rename: the last save
            tracee = _children(p.pid)
            joined = any(open(f).read().strip() for f in procs if os.path.exists(f))
            if tracee and joined and _syscall(tracee[0]) in SYSCALL_NUMBERS:
                break
            assert time.monotonic() < deadline and p.poll() is None, "the create never reached its last save"
            time.sleep(0.005)
        os.kill(tracee[0], signal.SIGKILL)
    finally:
        p.wait(30)
    assert rt.call("delete", "--force", cid).returncode == 0
    assert rt.leftovers() == []
    assert not any(os.path.exists(f"/sys/fs/cgroup/{b}{elsewhere}") for b in os.listdir("/sys/fs/cgroup"))
    assert _processes_of(cid) == [], "a container process survived"


def _syscall(pid):
    """The number of the system call `pid` is in, or None ("running")."""
    try:
        first = open(f"/proc/{pid}/syscall").read().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.lstrip("-").isdigit() else None


def _children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def _processes_of(cid):
    """Processes whose command line names `cid`: a created container's process
    is a clone of `minioci create ... cid` until `start`, so it shows there."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                if cid.encode() in open(f"/proc/{d}/cmdline", "rb").read().split(b"\0"):
                    out.append(int(d))
            except OSError:
                pass
    return out


def test_version_has_runcs_layout(rt):
    """dockerd reads the runtime's name and version from the one line with
    "version" in it, and the commit from `commit:` (as podman shows it)."""
    from minioci import OCI_VERSION, __version__
    r = rt.call("--version")
    lines = r.stdout.splitlines()
    assert lines[0] == f"minioci version {__version__}"
    commit = lines[1].removeprefix("commit: ")
    assert lines[1].startswith("commit: ") and (commit == "unknown" or
                                                all(ch in "0123456789abcdef" for ch in commit[:40]))
    assert lines[2] == f"spec: {OCI_VERSION}"
    assert [line for line in lines if "version" in line] == [lines[0]]


def test_list_names_the_owner_and_state_leaves_it_empty(rt):
    cid = create(rt, sh("sleep 300"))
    assert json.loads(rt.call("list", "--format", "json").stdout)[0]["owner"] == "root"
    assert rt.call("list").stdout.splitlines()[1].split()[-1] == "root"
    assert state(rt, cid)["owner"] == ""                     # runc's `state` says nothing either
    assert rt.call("delete", "--force", cid).returncode == 0


def test_systemd_cgroup_is_refused_clearly(rt):
    """Refused, saying how each engine is given its cgroupfs driver (every
    engine defaults to systemd's on a systemd host)."""
    r = rt.call("--systemd-cgroup", "create", "-b", rt.bundle(sh("true")), rt.new_id())
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("minioci: --systemd-cgroup: minioci has no systemd cgroup driver"), r.stderr
    assert "podman --cgroup-manager=cgroupfs" in r.stderr and "native.cgroupdriver=cgroupfs" in r.stderr


def test_spec_writes_runcs_default_which_runs(rt, tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    r = rt.call("spec", "--bundle", bundle)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["process"]["terminal"] is True
    r = rt.call("spec", "--bundle", bundle)
    assert r.returncode != 0 and "exists" in r.stderr
    from conftest import ROOTFS
    cfg["root"]["path"] = str(ROOTFS)
    cfg["process"].update(terminal=False, args=["echo", "default-config-runs"])
    assert rt.output(cfg) == "default-config-runs\n"


def test_features_document(rt):
    r = rt.call("features")
    doc = json.loads(r.stdout)
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"].startswith("1.")
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer",
                                 "poststart", "poststop"}
    linux = doc["linux"]
    assert {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"} <= set(linux["namespaces"])
    assert "CAP_SYS_ADMIN" in linux["capabilities"] and {"rbind", "rro", "tmpcopyup"} <= set(doc["mountOptions"])
    layout = cgroup_layout()
    assert (linux["cgroup"]["v1"], linux["cgroup"]["v2"]) == (bool(layout.v1), bool(layout.v2))
    assert doc["annotations"]["org.minioci.net.mode"] == "loopback,veth,ipvlan,macvlan"
    assert doc["annotations"]["io.github.seccomp.libseccomp.version"].count(".") == 2


def test_exec_gets_only_stdio(rt):
    cid = rt.new_id()
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
            capture_output=False)
    r = rt.call("exec", cid, "ls", "/proc/self/fd")
    assert r.stdout.split() == ["0", "1", "2", "3"], r.stderr      # 3: ls's own directory
    assert rt.call("delete", "--force", cid).returncode == 0


def test_pausing_a_created_container_is_refused(rt):
    cid = create(rt, sh("sleep 300"))
    r = rt.call("pause", cid)
    assert r.returncode != 0 and r.stderr == f"minioci: cannot pause container {cid!r}: it is created\n"
    assert rt.call("delete", "--force", cid).returncode == 0


def test_commands_need_no_environment_and_no_stdin(rt):
    """podman runs start/kill/delete/state with almost no environment (no
    PATH, no HOME) and its own stdio: nothing may depend on either."""
    cid = create(rt, sh("exec sleep 300"))
    bare = dict(env={}, stdin=subprocess.DEVNULL)
    assert rt.call("start", cid, **bare).returncode == 0
    assert json.loads(rt.call("state", cid, **bare).stdout)["status"] == "running"
    assert rt.call("kill", cid, "9", **bare).returncode == 0
    wait_status(rt, cid, "stopped")
    assert rt.call("delete", "--force", cid, **bare).returncode == 0
    assert rt.call("delete", "--force", cid, **bare).returncode == 0      # unknown by now: still 0


def test_exec_and_ps_flags_get_one_clear_line(rt):
    """Found looking for tracebacks and multi-line errors: a relative --cwd
    reached chdir, an --env without = reached the process, and ps's usage
    text followed its error."""
    cid = rt.new_id()
    rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
            capture_output=False)
    for args, line in ((("exec", "--cwd", "tmp", cid, "true"), "minioci: exec: --cwd 'tmp' must be an absolute path"),
                       (("exec", "-e", "NOEQ", cid, "true"), "minioci: exec: --env 'NOEQ' must be KEY=value")):
        r = rt.call(*args)
        assert (r.returncode, r.stderr) == (255, line + "\n")
    r = rt.call("ps", cid, "-o", "nonsense")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("minioci: minioci ps: ps -o ")
    assert rt.call("delete", "--force", cid).returncode == 0


def test_an_error_is_one_line_whatever_its_input_held(rt, tmp_path):
    """Found by the fuzz test: an argument with a newline in it split the
    error in two lines (engines read the first)."""
    cfg = sh("true")
    cfg["process"]["args"] = ["no\nsuch"]
    r = rt.call("--log", tmp_path / "log.txt", "run", "-b", rt.bundle(cfg), rt.new_id())
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no\\nsuch" in r.stderr, r.stderr
    assert (tmp_path / "log.txt").read_text().count("\n") == 1


def test_a_process_that_ran_to_its_end_before_its_start_was_read_is_not_alive():
    """A container's process may exit before its parent reads its start time
    (a `run` of `exit 3` joining a sandbox made ahead): the start is read
    from the zombie, and with none recorded nothing counts as alive (the
    gone pid's None once matched a recorded None: `state` said "running")."""
    from minioci import state
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    deadline = time.monotonic() + 10
    while state.process_start_time(pid) is not None:      # a zombie now: exited
        assert time.monotonic() < deadline
        time.sleep(0.001)
    start = state.process_start_time(pid, exited_too=True)
    assert start is not None and not state.is_alive({"pid": pid, "pid_start": start})
    os.waitpid(pid, 0)
    assert state.process_start_time(pid, exited_too=True) is None
    assert not state.is_alive({"pid": pid, "pid_start": None})
