"""`minioci serve` and the front end: who is served and who is refused, what
a killed server or worker leaves, falling back to the direct path, socket
activation, and the wire protocol's two halves agreeing.  The lifecycle,
bad-input and podman suites run served as well (BOTH_PATHS)."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import IS_ROOT, MINIOCI, REPO, SERVE_SOCKET, Server, alive, base_config, wait_for
from minioci import wire

DEVNULL = subprocess.DEVNULL


def sh(script):
    return base_config(["sh", "-c", script])


def served(rt):
    """rt with a server of its own (the fixture stops it afterwards; its
    front ends find it through MINIOCI_SERVE_SOCKET), every command required
    to be served unless it says otherwise."""
    rt.server = Server(rt.socket).start()
    os.environ["MINIOCI_SERVE"] = "always"          # the rt fixture restores it
    return rt.server


def env(**extra):
    return {**os.environ, **extra}


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


# ---- who is served -----------------------------------------------------------

def test_a_client_of_another_uid_is_refused(rt):
    """Another uid's front end does not trust root's server (its directory is
    not that uid's); and a client of another uid that connects anyway (keeping
    CAP_DAC_OVERRIDE past the socket's 0600) is refused by the server
    (SO_PEERCRED) before it forks anything."""
    server = served(rt)
    drop = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    r = subprocess.run(drop + rt.cmd("list"), capture_output=True, text=True, env=env(MINIOCI_SERVE="always"))
    # (Permission denied, if it cannot even reach it)
    assert r.returncode == 1 and r.stderr.startswith("minioci: MINIOCI_SERVE=always: "), r.stderr
    assert (server.status()["requests"], server.status()["refused"]) == ("0", "0")       # nothing reached it
    keep = ["--inh-caps", "+dac_override", "--ambient-caps", "+dac_override"]
    client = ("import socket, struct, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); "
              "s.connect(sys.argv[1]); s.send(struct.pack('<I', 21) + b'status'); sys.stdout.buffer.write(s.recv(4096))")
    r = subprocess.run(drop + keep + [sys.executable, "-I", "-S", "-c", client, rt.socket],
                       capture_output=True)
    assert r.stdout == struct.pack("<I", wire.REFUSED) + b"the client runs as uid 65534: this server serves uid 0 only"
    status = server.status()
    assert (status["requests"], status["refused"]) == ("0", "1")


def test_a_client_in_other_namespaces_is_refused(rt):
    server = served(rt)
    r = subprocess.run(["unshare", "--uts"] + rt.cmd("list"), capture_output=True, text=True,
                       env=env(MINIOCI_SERVE="always"))
    assert r.returncode == 1 and "the client is in another uts namespace than the server" in r.stderr
    # the same, not required: the direct path runs it
    r = subprocess.run(["unshare", "--uts"] + rt.cmd("--debug", "list"), capture_output=True, text=True,
                       env=env(MINIOCI_SERVE="auto"))
    assert r.returncode == 0 and r.stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert r.stderr == ("minioci: debug: direct path: the server refused: the client is in another uts "
                        "namespace than the server\n")
    assert server.status()["requests"] == "0"


def test_a_front_end_of_another_build_is_refused(rt):
    server = served(rt)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(rt.socket)
    cwd = os.open("/", os.O_PATH)
    payload = wire.Request.encode("another-build", "/", ["minioci", "list"], [], [-1])
    wire.send(s, wire.REQUEST, payload, [cwd])
    os.close(cwd)
    kind, answer, _ = wire.receive(s)
    s.close()
    build = server.status()["build"]
    assert (kind, answer.decode()) == (wire.REFUSED, f"the front end is build another-build, the server build {build}")


# ---- failure is boring ---------------------------------------------------------

def test_without_a_server_the_front_end_runs_python_and_says_why_once(rt, tmp_path):
    r = rt.call("--debug", "list", env=env(MINIOCI_SERVE="auto"))
    assert r.returncode == 0
    assert r.stderr == f"minioci: debug: direct path: no server on {rt.socket} (No such file or directory)\n"
    # with --log, where minioci's debug lines go, in its format
    log = tmp_path / "log.json"
    r = rt.call("--debug", "--log", log, "--log-format", "json", "list", env=env(MINIOCI_SERVE="auto"))
    assert r.returncode == 0 and r.stderr == ""
    entry = json.loads(log.read_text())
    assert entry["level"] == "debug" and entry["msg"].startswith("direct path: no server on ")
    r = rt.call("list", env=env(MINIOCI_SERVE="always"))
    assert r.returncode == 1 and r.stderr.startswith("minioci: MINIOCI_SERVE=always: no server on ")


def test_killing_the_server_mid_request(rt):
    """A request in flight is its worker's: it finishes and cleans up.  The
    socket left behind refuses connections, so the next command takes the
    direct path; a new server replaces the stale socket."""
    server = served(rt)
    cid = rt.new_id()
    run = subprocess.Popen(rt.cmd("run", "-b", rt.bundle(sh("read line; echo got $line")), cid),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: json.loads(rt.call("state", cid).stdout or "{}").get("status") == "running",
             "the container runs")
    server.proc.kill()
    server.proc.wait()
    assert os.path.exists(rt.socket)                                     # nobody removed it
    out, err = run.communicate("hello\n", timeout=30)
    assert (run.returncode, out, err) == (0, "got hello\n", "")
    assert rt.leftovers() == []                                          # the worker cleaned up
    r = rt.call("--debug", "list", env=env(MINIOCI_SERVE="auto"))
    assert r.returncode == 0
    assert r.stderr == f"minioci: debug: direct path: no server on {rt.socket} (Connection refused)\n"
    served(rt)
    assert rt.call("list", env=env(MINIOCI_SERVE="always")).returncode == 0


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.04, 0.08])
def test_a_worker_killed_half_way_leaves_what_a_killed_runtime_leaves(rt, delay):
    """SIGKILL the worker of a served `create` at some point: the front end
    dies of it as the direct path's process would have, and `delete --force`
    removes whatever the worker had made."""
    server = served(rt)
    pid = int(server.status()["pid"])
    cid = rt.new_id()
    err = rt.tmp / f"{cid}.stderr"           # not a pipe: the created container holds it open
    with open(err, "w") as f:
        # auto: a worker killed before it claimed the request leaves it to the direct path
        create = subprocess.Popen(rt.cmd("create", "-b", rt.bundle(sh("sleep 300")), cid), stdout=DEVNULL,
                                  stderr=f, env=env(MINIOCI_SERVE="auto"))
    # the worker: the server's child that holds the client's stderr (the spare holds /dev/null)
    ours = os.stat(err).st_ino
    worker = wait_for(lambda: {c for c in children(pid) if _fd_inode(c, 2) == ours}
                      or create.poll() is not None, "a worker")
    time.sleep(delay)
    if worker is not True:
        for w in worker:
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass                                   # done already
    create.wait(30)
    assert create.returncode in (0, -signal.SIGKILL), err.read_text()
    assert rt.call("delete", "--force", cid).returncode == 0
    assert rt.leftovers() == []
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _names(p, cid)], "a container process survived"


def _fd_inode(pid, fd):
    try:
        return os.stat(f"/proc/{pid}/fd/{fd}").st_ino
    except OSError:
        return None


def _names(pid, cid):
    try:
        return cid.encode() in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        return False


def test_the_state_lock_holds_across_both_paths(rt):
    """A served command waits for the container's lock like a direct one."""
    import fcntl
    server = served(rt)
    cid = rt.new_id()
    subprocess.run(rt.cmd("create", "-b", rt.bundle(sh("sleep 300")), cid), stdout=DEVNULL, check=True)
    fd = os.open(os.path.join(rt.root, cid, "lock"), os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)                      # as a direct-path command holds it
    inode = os.fstat(fd).st_ino
    delete = subprocess.Popen(rt.cmd("delete", "--force", cid), stdout=DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: any(line.startswith(f"{n}: -> ") for line in open("/proc/locks") for n in range(1, 99)
                         if f":{inode} " in line), "the served delete waiting for the lock")
    assert delete.poll() is None
    os.close(fd)
    assert delete.wait(30) == 0, delete.stderr.read()
    assert int(server.status()["requests"]) == 2


def test_a_signal_before_any_container_reaches_the_command(rt):
    """^C on a served `events` (which has no process of its own to forward it
    to) interrupts the command in its worker, as it would the direct path:
    exit status 130."""
    served(rt)
    cid = rt.new_id()
    assert rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
                   capture_output=False).returncode == 0
    events = subprocess.Popen(rt.cmd("events", "--interval", "50ms", cid), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert json.loads(events.stdout.readline())["type"] == "stats"      # it runs, served
    events.send_signal(signal.SIGINT)
    assert events.wait(30) == 130, events.stderr.read()
    assert rt.call("delete", "--force", cid).returncode == 0


def test_concurrent_requests_are_separate_workers(rt):
    served(rt)
    ids = [rt.new_id() for _ in range(4)]
    procs = [subprocess.Popen(rt.cmd("run", "-b", rt.bundle(sh(f"echo {cid} $$")), cid), stdout=subprocess.PIPE,
                              text=True) for cid in ids]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    assert outs == [f"{cid} 1\n" for cid in ids]


# ---- resident workers: commands that start no process, without a fork -----------

def residents(server):
    return [int(p) for p in server.status()["residents"].split() if p.isdigit()]


def locks_held_by(pid):
    return [line for line in open("/proc/locks") if f" {pid} " in line]


def test_commands_are_served_by_a_resident_worker(rt):
    """create, state, start, kill, delete, list...: no fork each, but a
    worker that lives on; it keeps none of the container's locks between
    requests (a direct-path command after it does not wait)."""
    server = served(rt)
    cid = rt.new_id()
    assert rt.call("create", "-b", rt.bundle(sh("sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
                   capture_output=False).returncode == 0
    before = residents(server)
    assert len(before) == 1
    for args in (["state", cid], ["start", cid], ["list"], ["kill", cid, "WINCH"], ["ps", "--format", "json", cid],
                 ["events", "--stats", cid], ["pause", cid], ["resume", cid], ["update", "--pids-limit", "9", cid],
                 ["features"]):
        r = rt.call(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert residents(server) == before
    assert server.status()["resident-requests"] == "11"         # the create too
    assert locks_held_by(before[0]) == []
    assert rt.call("delete", "--force", cid, env=env(MINIOCI_SERVE="never"), timeout=30).returncode == 0
    # The resident's rehearsal (commands run on nothing, before its first
    # request) left nothing in the server's --log: no error was anybody's.
    assert [line for line in open(server.log) if "level=debug" not in line] == []


def test_a_bad_state_file_hurts_only_its_own_request(rt):
    """What the direct path says of a state.json that is not one, the
    resident worker says too, and serves the next request as if nothing
    happened."""
    server = served(rt)
    bad = rt.new_id()
    os.makedirs(os.path.join(rt.root, bad), mode=0o700)
    for text in ("{not json", json.dumps({"id": bad, "pid": "x"}), "[" * 100000, "\0" * 3):
        with open(os.path.join(rt.root, bad, "state.json"), "w") as f:
            f.write(text)
        for args in (["state", bad], ["kill", bad], ["delete", bad], ["delete", "--force", bad]):
            r = rt.call(*args)
            direct = rt.call(*args, env=env(MINIOCI_SERVE="never"))
            assert (r.returncode, r.stderr) == (direct.returncode, direct.stderr) and r.returncode != 0
            assert r.stderr.startswith(f"minioci: {rt.root}/{bad}/state.json: ")
    pids = residents(server)
    assert rt.call("list", "-q").stdout.split() == [bad]
    import shutil
    shutil.rmtree(os.path.join(rt.root, bad))
    assert rt.call("list", "-q").stdout.split() == []
    assert residents(server) == pids


def test_a_hung_request_hurts_no_other_and_dies_with_its_client(rt, tmp_path):
    """A light command that blocks (here its --log is a FIFO nobody reads:
    opening it waits forever) blocks its resident worker only: the server
    serves the next requests elsewhere.  When its client is killed, the
    worker dies with it, as a direct-path process would have."""
    server = served(rt)
    hung, worker = _hang_a_request(rt, server, tmp_path)
    for _ in range(3):
        assert rt.call("list", "-q", timeout=30).returncode == 0
    assert rt.call("state", "nope", timeout=30).returncode == 1
    assert hung.poll() is None and alive(worker)
    hung.kill()
    hung.wait()
    wait_for(lambda: not alive(worker), "the hung resident worker dies with its client")
    assert rt.call("list", "-q", timeout=30).returncode == 0


def test_when_every_resident_worker_hangs_a_request_gets_a_worker_of_its_own(rt, tmp_path):
    """No request waits behind a hung one: with every resident worker stuck
    (RESIDENTS of them), the next light request is served by a worker
    forked for it."""
    from minioci.server import RESIDENTS
    server = served(rt)
    hung = []
    for i in range(RESIDENTS):
        os.mkfifo(tmp_path / f"log{i}")
        hung.append(subprocess.Popen(rt.cmd("--log", tmp_path / f"log{i}", "list"), stdout=DEVNULL, stderr=DEVNULL))
    wait_for(lambda: len([p for p in residents(server) if _opening_a_fifo(p)]) == RESIDENTS,
             "every resident worker hangs")
    r = rt.call("state", "nope", timeout=30)
    assert (r.returncode, r.stderr) == (1, "minioci: container 'nope' does not exist\n")
    for p in hung:
        p.kill()
        p.wait()


def _hang_a_request(rt, server, tmp_path):
    """A `list` whose --log is a FIFO nobody reads (opening it waits for
    ever): its client, and the resident worker that hangs with it."""
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    hung = subprocess.Popen(rt.cmd("--log", fifo, "list"), stdout=DEVNULL, stderr=DEVNULL)
    worker = wait_for(lambda: next((p for p in residents(server) if _opening_a_fifo(p)), None),
                      "a resident worker blocked on the FIFO")
    return hung, worker


def _opening_a_fifo(pid):
    """Whether process `pid` waits in open(2) of a FIFO for the other end."""
    try:
        return open(f"/proc/{pid}/wchan").read() == "wait_for_partner"
    except OSError:
        return False


def test_a_signal_ends_a_light_command_as_it_would_the_direct_path(rt, tmp_path):
    """The front end of a request a resident worker has never signals it
    (it serves others afterwards): it dies of the signal itself, and the
    worker dies with the request it was serving, not with a later one."""
    server = served(rt)
    hung, worker = _hang_a_request(rt, server, tmp_path)
    hung.send_signal(signal.SIGTERM)
    assert hung.wait(30) == -signal.SIGTERM
    wait_for(lambda: not alive(worker), "the worker dies with its request")
    r = rt.call("list", "-q", timeout=30)
    assert r.returncode == 0 and r.stderr == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_resident_workers_end_with_their_server(rt, sig):
    """Stopped (serve --stop: the fixture checks; SIGTERM, as systemd stops
    the unit, KillMode=process) or killed, the server takes its resident
    workers and its spare along: each sees its socket to the server close.
    Stopped, it reaps them before it exits."""
    server = served(rt)
    assert rt.call("list").returncode == 0
    status = server.status()
    pids = [int(p) for key in ("residents", "spares") for p in status[key].split() if p.isdigit()]
    assert pids and all(alive(p) for p in pids)
    server.proc.send_signal(sig)
    server.proc.wait()
    if sig == signal.SIGTERM:        # stopped, it reaps them: none is left once it is gone
        assert not [p for p in pids if alive(p)]
    wait_for(lambda: not any(alive(p) for p in pids), "the resident workers end")
    served(rt)                       # and the next one starts, in place of the dead one's socket and hold
    assert rt.call("list").returncode == 0


def test_a_request_a_resident_worker_died_before_taking_goes_to_another(rt):
    """A resident worker that dies with a request it has not claimed yet
    (here stopped, then killed) does not fail it: the server hands it to
    another one."""
    server = served(rt)
    assert rt.call("list").returncode == 0
    [worker] = residents(server)
    os.kill(worker, signal.SIGSTOP)
    try:
        waiting = subprocess.Popen(rt.cmd("list", "-q"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)                           # it went to the stopped worker (the only one, idle)
        assert waiting.poll() is None
    finally:
        os.kill(worker, signal.SIGKILL)
    out, err = waiting.communicate(timeout=30)
    assert (waiting.returncode, out, err) == (0, "\n", "")
    wait_for(lambda: worker not in residents(server), "the dead worker gone")


def test_a_client_gone_before_its_worker_started_leaves_the_worker_serving(rt):
    """A client killed after it sent its request, before the resident worker
    took it: the worker finds it gone and runs nothing, and its next
    requests are served as ever.  (That connection's socket object, left
    open, later closed the next request's connection at the same fd number:
    every request to that worker then failed, exit 1 and no word.)"""
    server = served(rt)
    assert rt.call("list").returncode == 0
    [worker] = residents(server)
    before = int(server.status()["requests"])
    os.kill(worker, signal.SIGSTOP)
    try:
        client = subprocess.Popen(rt.cmd("list", "-q"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: int(server.status()["requests"]) > before, "the request reaches the server")
        client.kill()
        client.wait()
    finally:
        os.kill(worker, signal.SIGCONT)
    for _ in range(5):
        r = rt.call("list", "-q")
        assert (r.returncode, r.stderr) == (0, "")
    assert worker in residents(server)              # the same worker served them


def test_hostile_requests_leave_the_server_and_its_workers_serving(rt):
    """Garbage argv and environments: each gets the direct path's answer,
    nobody else is hurt."""
    server = served(rt)
    for argv in (["\udcff" * 10], ["state", "\udcff"], ["kill", "x", "NOSUCHSIGNAL"], ["--log-format", "xml", "list"],
                 ["list", "-" * 5000], ["delete"] + ["x"] * 5000, ["--root"]):
        r = subprocess.run([MINIOCI, "--root", rt.root] + argv, capture_output=True,
                           env=env(**{"X" * 100: "\udcff" * 1000}, MINIOCI_SERVE="always"), timeout=30)
        direct = subprocess.run([MINIOCI, "--root", rt.root] + argv, capture_output=True,
                                env=env(**{"X" * 100: "\udcff" * 1000}, MINIOCI_SERVE="never"), timeout=30)
        assert (r.returncode, r.stdout, r.stderr) == (direct.returncode, direct.stdout, direct.stderr), argv
    assert rt.call("list", "-q").returncode == 0
    assert int(server.status()["refused"]) == 0


# ---- what the server keeps ------------------------------------------------------

def test_a_config_is_kept_by_its_bytes(rt):
    """A resident worker keeps configs validated, by their bytes: a
    config.json that changed is read anew."""
    served(rt)
    bundle = rt.bundle(sh("true"))
    for _ in range(3):
        assert rt.call("run", "-b", bundle, rt.new_id()).returncode == 0
    (bundle / "config.json").write_text(json.dumps(sh("exit 3")))
    for _ in range(2):
        assert rt.call("run", "-b", bundle, rt.new_id()).returncode == 3       # new bytes: parsed


def test_every_command_works_served(rt, tmp_path):
    served(rt)
    cid = rt.new_id()
    assert rt.call("run", "-d", "-b", rt.bundle(sh("exec sleep 300")), cid, stdout=DEVNULL, stderr=DEVNULL,
                   capture_output=False).returncode == 0
    assert json.loads(rt.call("state", cid).stdout)["status"] == "running"
    assert rt.call("exec", cid, "true").returncode == 0
    assert rt.call("update", "--pids-limit", "50", cid).returncode == 0
    assert json.loads(rt.call("events", "--stats", cid).stdout)["type"] == "stats"
    pids = json.loads(rt.call("ps", "--format", "json", cid).stdout)
    assert len(pids) == 1
    assert rt.call("pause", cid).returncode == 0
    assert json.loads(rt.call("state", cid).stdout)["status"] == "paused"
    assert rt.call("resume", cid).returncode == 0
    assert rt.call("kill", cid, "KILL").returncode == 0
    wait_for(lambda: json.loads(rt.call("state", cid).stdout)["status"] == "stopped", "stopped")
    assert rt.call("delete", cid).returncode == 0
    assert rt.call("list", "-q").stdout == "\n"
    features = json.loads(rt.call("features").stdout)
    assert features["annotations"]["org.minioci.serve"].startswith("running: this request was served by pid ")
    (tmp_path / "spec").mkdir()
    assert rt.call("spec", "--bundle", tmp_path / "spec").returncode == 0
    assert rt.call("seccomp", "cache").returncode == 0
    assert rt.call("--version").stdout.startswith("minioci version ")
    assert rt.call("bench", "--help").stdout.startswith("usage: minioci bench ")


def serve(*flags, **kw):
    """`minioci serve` as a user runs it (the rt fixture's MINIOCI_SERVE_SOCKET
    names the test's socket)."""
    return subprocess.run([MINIOCI, "serve", *flags], capture_output=True, text=True, timeout=30, **kw)


def test_serve_status_and_stop(rt):
    r = serve("--status")
    assert (r.returncode, r.stdout) == (3, f"not running (no server on {rt.socket})\n")
    r = serve("--stop")
    assert r.returncode == 1 and r.stderr == f"minioci: serve: no server is listening on {rt.socket}\n"
    features = json.loads(rt.call("features").stdout)
    assert features["annotations"]["org.minioci.serve"] == f"not running (no server on {rt.socket})"
    server = served(rt)
    assert set(server.status()) >= {"pid", "socket", "build", "requests", "refused", "workers", "spares",
                                    "residents", "resident-requests", "sandboxes"}
    assert server.status()["socket"] == rt.socket
    assert oct(os.stat(rt.socket).st_mode & 0o777) == "0o600"
    r = serve()
    assert r.returncode == 1 and r.stderr == f"minioci: serve: a server is already listening on {rt.socket}\n"
    features = json.loads(rt.call("features", env=env(MINIOCI_SERVE="never")).stdout)
    assert features["annotations"]["org.minioci.serve"] == (f"running: pid {server.status()['pid']}, {rt.socket}, "
                                                           f"build {server.status()['build']}")
    r = rt.call("serve", "--status")
    assert (r.returncode, r.stderr) == (1, "minioci: serve: a server serves every state root (each request names "
                                           "its own): --root is not its to take; --socket PATH says where it listens\n")


def test_one_server_serves_every_state_root(rt, tmp_path):
    """Each request brings its --root: one server serves them all, and each
    root is checked as the direct path checks it (a root of another user's
    is refused in the direct path's words, by the worker)."""
    server = served(rt)
    for root in (tmp_path / "a", tmp_path / "b"):
        r = subprocess.run([MINIOCI, "--root", root, "run", "-b", rt.bundle(sh("echo $0")), rt.new_id()],
                           capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout, r.stderr) == (0, "sh\n", "")
        assert os.listdir(root) == []
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    for mode in ("never", "always"):
        r = subprocess.run([MINIOCI, "--root", theirs, "state", "x"], capture_output=True, text=True,
                           env=env(MINIOCI_SERVE=mode))
        assert (r.returncode, r.stderr) == (1, f"minioci: state root {theirs} belongs to uid 65534, not 0: refusing "
                                               "to use it (only its owner may write in it)\n")
    status = server.status()
    assert (status["requests"], status["refused"]) == ("3", "0")


def test_socket_activation(rt):
    """systemd's way: the socket is made (and kept) by someone else, and
    passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID."""
    os.makedirs(rt.root, mode=0o700)
    path = rt.socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    s.listen(16)
    server = Server(rt.socket)
    activate = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
                "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); os.execv(sys.argv[2], sys.argv[2:])")
    server.proc = subprocess.Popen([sys.executable, "-c", activate, str(s.fileno()), MINIOCI, "serve"],
                                   pass_fds=[s.fileno()], stdout=DEVNULL, stderr=subprocess.PIPE)
    rt.server = server
    try:
        wait_for(lambda: server.status() or server.proc.poll() is not None, "the activated server answers")
        assert server.proc.poll() is None, server.proc.stderr.read()
        assert rt.call("list", env=env(MINIOCI_SERVE="always")).returncode == 0
        assert server.status()["requests"] == "1"
        assert serve("--stop").returncode == 0
        assert server.proc.wait(10) == 0
        assert os.path.exists(path)                  # systemd's to remove, not the server's
    finally:
        s.close()
        os.unlink(path)
        rt.server = None


def test_the_shipped_systemd_units_agree_with_the_defaults():
    socket_unit = (REPO / "systemd" / "minioci.socket").read_text()
    service = (REPO / "systemd" / "minioci.service").read_text()
    assert re.search(r"^ListenSequentialPacket=/run/minioci/serve\.sock$", socket_unit, re.M)
    assert re.search(r"^SocketMode=0600$", socket_unit, re.M)
    assert re.search(r"^ExecStart=\S*minioci serve --preload$", service, re.M)
    assert re.search(r"^KillMode=process$", service, re.M)     # workers finish their requests


# ---- the protocol's two halves -----------------------------------------------------

def test_wire_numbers_and_layouts_agree_with_native_wire_h(tmp_path):
    header = (REPO / "native" / "wire.h").read_text()
    defined = dict(re.findall(r"^#define MO_WIRE_(\w+) (\d+)", header, re.M))
    assert int(defined.pop("VERSION")) == wire.VERSION
    for name, value in defined.items():
        if name not in ("MAX_FDS",):
            assert getattr(wire, name) == int(value), name
    assert int(defined["MAX_FDS"]) == wire.MAX_FDS
    assert re.search(r'#define MO_WIRE_SOCKET_NAME "serve\.sock"', header) and wire.SOCKET_NAME == SERVE_SOCKET
    if not IS_ROOT and not os.access("/usr/bin/cc", os.X_OK):
        pytest.skip("needs a C compiler")
    from minioci import remote
    probe = tmp_path / "sizes.c"
    probe.write_text('#include <stdio.h>\n#include "wire.h"\nint main(void){printf("%zu %zu %zu %zu %zu\\n", '
                     'sizeof(struct mo_wire_request), sizeof(struct mo_wire_spawn), '
                     'sizeof(struct mo_wire_spawned), sizeof(struct mo_wire_report), '
                     'sizeof(struct mo_wire_started));return 0;}\n')
    subprocess.run(["cc", "-I", str(REPO / "native"), "-o", str(tmp_path / "sizes"), str(probe)], check=True)
    sizes = [int(n) for n in subprocess.run([tmp_path / "sizes"], capture_output=True, text=True).stdout.split()]
    assert sizes == [struct.calcsize("<" + f) for f in (wire.Request.HEAD, remote.SPAWN_HEAD, "iiq",
                                                         remote.REPORT_HEAD, "ii")]


def test_a_payload_larger_than_a_packet_travels_in_a_sealed_memfd():
    """Any size goes both ways (the plan of a config with thousands of mounts,
    their step times back): what a packet cannot carry goes in a memfd, the
    message's last fd; the other fds and the type arrive as they were."""
    import fcntl
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    try:
        big = os.urandom(wire.INLINE_MAX) * 40        # ~2.6 MB: far more than a packet
        wire.send(a, wire.SPAWN, big, fds=[r])
        kind, payload, fds = wire.receive(b, wire.SPAWN)
        assert (kind, payload, len(fds)) == (wire.SPAWN, big, 1)
        assert os.path.samestat(os.fstat(fds[0]), os.fstat(r))
        os.close(fds[0])
        wire.send(a, wire.GO, b"small")
        assert wire.receive(b, wire.GO)[1:] == (b"small", [])
        # a BIG message without its memfd is refused, not read from elsewhere
        a.sendmsg([struct.pack("<I", wire.SPAWN | wire.BIG)])
        with pytest.raises(wire.ProtocolError, match="without its memfd"):
            wire.receive(b)
        # what travels is sealed: the sender cannot change it afterwards
        fd = wire._sealed(b"x" * 10)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_WRITE
        finally:
            os.close(fd)
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_the_minioci_command_is_the_native_executable():
    exe = Path(MINIOCI)
    assert exe.read_bytes()[:4] == b"\x7fELF"
    installed = Path(wire.__file__).parent / "bin" / "minioci"
    assert exe.read_bytes() == installed.read_bytes()


def test_a_server_older_than_the_installed_files_stops(rt, tmp_path):
    """Reinstalling minioci (a new build id in minioci/build_info.py) leaves
    a running server stale: it refuses the new front end's request, says
    why, and stops (socket activation then starts the new one)."""
    import shutil
    pkg = tmp_path / "pkg"
    shutil.copytree(Path(wire.__file__).parent, pkg / "minioci")
    server = Server(rt.socket)
    site = str(Path(wire.__file__).parents[1])           # cffi and the others
    code = (f"import sys; sys.path[:0] = [{str(pkg)!r}, {site!r}]; from minioci.cli import main; "
            f"sys.exit(main(['serve', '--socket', {rt.socket!r}]))")
    server.proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdout=DEVNULL, stderr=subprocess.PIPE)
    rt.server = server
    try:
        old = wait_for(server.status, "the server answers")["build"]
        (pkg / "minioci" / "build_info.py").write_text('BUILD_ID = "newer"\n')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(rt.socket)
        cwd = os.open("/", os.O_PATH)
        wire.send(s, wire.REQUEST, wire.Request.encode("newer", "/", ["minioci", "list"], [], [-1]), [cwd])
        os.close(cwd)
        kind, answer, _ = wire.receive(s)
        s.close()
        assert (kind, answer.decode()) == (wire.REFUSED, f"the server (build {old}) is older than the installed "
                                                         "files (build newer): it stops; start it again")
        assert server.proc.wait(10) == 0
        assert not os.path.exists(rt.socket)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        rt.server = None


def test_the_server_keeps_the_default_cgroup_parent_while_it_serves(rt):
    """A server holds /minioci with a cgroup of its own below it, so that
    containers do not make and remove the parent one after the other; a
    hold left by a server that died goes when the next one starts, and the
    server's own goes when it stops."""
    from minioci import cgroups
    parents = [os.path.dirname(d) for d in
               cgroups.Cgroup.for_path(cgroups.detect(), f"{cgroups.DEFAULT_PARENT}/x").directories()]
    stale = os.path.join(parents[0], "minioci:serve:999999999")      # no such pid
    made_parent = not os.path.exists(parents[0])
    # made as minioci makes it, registered as its own (plain makedirs left
    # /minioci unregistered for good, while holds kept it: no realtime
    # budget was granted to it any more)
    cgroups.fs.makedirs(stale, cgroups.register_parent)
    try:
        server = served(rt)
        pid = server.proc.pid
        assert not os.path.exists(stale)
        holds = [os.path.join(p, f"minioci:serve:{pid}") for p in parents]
        assert all(os.path.isdir(h) for h in holds)
        inodes = []
        for _ in range(2):
            assert rt.call("run", "-b", rt.bundle(base_config()), rt.new_id()).returncode == 0
            inodes.append([os.stat(p).st_ino for p in parents])
        assert inodes[0] == inodes[1]                     # not made again
        assert rt.server.stop() == []
        rt.server = None
        assert not any(os.path.exists(h) for h in holds)
    finally:
        try:
            os.rmdir(stale)
        except OSError:
            pass
        if made_parent:
            cgroups.remove_parents(parents[0])
