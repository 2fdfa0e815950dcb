"""Files minioci writes where another user may write too: a local user who
can write in the directory of a --pid-file (or of --log, MINIOCI_TIMING's
file, `minioci spec`'s config.json) must not make root write anything else.

The attacker plants symlinks to a victim file: at the pid file itself, and
at the temporary name minioci once used (`.<name>.<its pid>.tmp`, opened
without O_EXCL or O_NOFOLLOW: root followed the link and wrote the pid into
the victim).  The shared directory is world-writable without the sticky
bit, where the kernel's protected_symlinks does not apply.
"""
import json
import os
import subprocess

import pytest

from conftest import MINIOCI

from .conftest import sh

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

VICTIM_TEXT = "precious: root's, not the attacker's\n"


@pytest.fixture
def shared(tmp_path):
    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    return d


@pytest.fixture
def victim(tmp_path):
    v = tmp_path / "victim"
    v.write_text(VICTIM_TEXT)
    return v


def run_with_planted(argv, plant, stderr_file, env=None):
    """Run `argv` as a process whose pid is known before it starts: fork,
    let `plant(pid)` plant its symlinks, then exec.  Its stderr goes to a
    file (a container inherits it: a pipe would stay open while it runs).
    (exit status, stderr)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                     # the child: wait for the plant, then become minioci
        try:
            os.close(w)
            os.read(r, 1)
            null = os.open("/dev/null", os.O_RDWR)
            err = os.open(stderr_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            os.execve(argv[0], argv, env if env is not None else os.environ)
        finally:
            os._exit(127)
    os.close(r)
    try:
        plant(pid)
    finally:
        os.write(w, b"x")
        os.close(w)
    _, status = os.waitpid(pid, 0)
    with open(stderr_file) as f:
        return os.waitstatus_to_exitcode(status), f.read()


def plant_old_temp_names(directory, name, victim):
    """The temporary names minioci used before: `.<name>.<pid>.tmp`."""
    def plant(pid):
        os.symlink(victim, directory / f".{name}.{pid}.tmp")
    return plant


def no_temp_files_left(directory):
    return [n for n in os.listdir(directory) if n.startswith(".minioci-")] == []


def test_create_pid_file_through_a_planted_temp_name_leaves_the_victim(rt, shared, victim):
    cid = rt.new_id()
    pid_file = shared / "pid"
    argv = rt.cmd("create", "-b", rt.bundle(sh("sleep 300")), "--pid-file", pid_file, cid)
    code, err = run_with_planted(argv, plant_old_temp_names(shared, "pid", victim), rt.tmp / "stderr")
    assert code == 0, err
    assert victim.read_text() == VICTIM_TEXT
    state = json.loads(rt.call("state", cid).stdout)
    assert pid_file.read_text() == str(state["pid"]) and not pid_file.is_symlink()
    assert no_temp_files_left(shared)
    assert rt.call("delete", "--force", cid).returncode == 0


@pytest.mark.parametrize("command", ["create", "run -d", "exec"])
def test_a_symlink_at_the_pid_file_is_replaced_not_followed(rt, box, shared, victim, command):
    pid_file = shared / "pid"
    os.symlink(victim, pid_file)
    if command == "exec":
        cid = box.detached(sh("exec sleep 300"))
        argv = rt.cmd("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "300")
    else:
        cid = rt.new_id()
        argv = rt.cmd(*command.split(), "-b", rt.bundle(sh("sleep 300")), "--pid-file", pid_file, cid)
    # the container (or the exec'd process) keeps our stdio: files, not pipes
    with open(rt.tmp / "err", "w") as err:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
    assert r.returncode == 0, (rt.tmp / "err").read_text()
    assert victim.read_text() == VICTIM_TEXT
    assert not pid_file.is_symlink() and pid_file.read_text().isdigit()
    assert oct(pid_file.stat().st_mode & 0o777) == "0o644"
    assert no_temp_files_left(shared)
    assert rt.call("delete", "--force", cid).returncode == 0


def test_exec_pid_file_through_a_planted_temp_name_leaves_the_victim(rt, box, shared, victim):
    cid = box.detached(sh("exec sleep 300"))
    pid_file = shared / "pid"
    argv = rt.cmd("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "300")
    code, err = run_with_planted(argv, plant_old_temp_names(shared, "pid", victim), rt.tmp / "stderr")
    assert code == 0, err
    assert victim.read_text() == VICTIM_TEXT
    assert pid_file.read_text().isdigit()
    assert rt.call("delete", "--force", cid).returncode == 0


def test_a_pid_file_that_cannot_be_written_is_one_clear_error(rt, tmp_path):
    """A directory at the pid file's path: rename(2) cannot replace it."""
    (tmp_path / "pid").mkdir()
    r = rt.call("run", "-d", "-b", rt.bundle(sh("sleep 300")), "--pid-file", tmp_path / "pid", rt.new_id(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, capture_output=False)
    assert r.returncode == 1
    assert r.stderr == f"minioci: --pid-file {tmp_path / 'pid'}: is a directory\n"
    assert no_temp_files_left(tmp_path)


def test_minioci_timing_through_a_planted_temp_name_leaves_the_victim(rt, shared, victim):
    out = shared / "timing.json"
    env = dict(os.environ, MINIOCI_TIMING=str(out))

    def plant(pid):
        os.symlink(victim, shared / f"timing.json.{pid}.tmp")
    code, err = run_with_planted(rt.cmd("run", "-b", rt.bundle(sh("true")), rt.new_id()), plant, rt.tmp / "stderr",
                                 env=env)
    assert code == 0, err
    assert victim.read_text() == VICTIM_TEXT
    assert json.loads(out.read_text())["command"] == "run"
    os.unlink(out)
    os.symlink(victim, out)
    assert rt.call("run", "-b", rt.bundle(sh("true")), rt.new_id(), env=env).returncode == 0
    assert victim.read_text() == VICTIM_TEXT and not out.is_symlink()


def test_the_log_never_follows_a_planted_symlink(rt, shared, victim, tmp_path):
    log = shared / "log.json"
    os.symlink(victim, log)
    os.lchown(log, 1000, 1000)        # the attacker's, as it would be
    r = rt.call("--log", log, "--log-format", "json", "start", "no-such-id")
    # a log that cannot be opened is an error, as in runc: said on stderr
    assert r.stderr == f"minioci: --log {log}: too many levels of symbolic links\n"
    assert victim.read_text() == VICTIM_TEXT
    dangling = shared / "dangling.json"
    os.symlink(tmp_path / "made-by-root", dangling)
    os.lchown(dangling, 1000, 1000)
    assert rt.call("--log", dangling, "state", "x").returncode == 1
    assert not (tmp_path / "made-by-root").exists()
    # a symlink of root's own, such as /dev/stderr, still works
    r = rt.call("--log", "/dev/stderr", "--log-format", "json", "start", "no-such-id")
    assert '"msg":"container \'no-such-id\' does not exist"' in r.stderr


def test_spec_never_writes_through_a_dangling_symlink(shared, tmp_path):
    target = tmp_path / "made-by-root"
    os.symlink(target, shared / "config.json")
    r = subprocess.run([MINIOCI, "spec", "--bundle", shared], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == f"minioci: {shared / 'config.json'} exists: remove it first\n"
    assert not target.exists()
