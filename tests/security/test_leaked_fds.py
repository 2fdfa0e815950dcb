"""CVE-2016-9962 and CVE-2024-21626 class: an fd the caller leaked to
minioci must not reach the container, not even for a moment.

runc's init once held host fds while it joined the container (CVE-2016-9962),
and later left a host directory fd open until exec, so that a config's cwd
or command (`/proc/self/fd/7/...`) resolved outside the container
(CVE-2024-21626).  minioci's clone closes every fd but stdio,
--preserve-fds and its own sockets before it starts minioci-init
(native/spawn.c): the leaked directory is gone before the container's
process exists.
"""
import os
import shutil
import subprocess

import pytest

from conftest import CAPS, ROOTFS, base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

DEVNULL = subprocess.DEVNULL


@pytest.fixture
def leaked_dir(tmp_path):
    """A host directory holding a static shell, open on an inheritable fd
    (as a careless caller leaks one): (fd, directory)."""
    host = tmp_path / "host-dir"
    host.mkdir()
    shutil.copy(ROOTFS / "bin" / "busybox", host / "sh")
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(fd, True)
    yield fd, host
    os.close(fd)


def call(rt, fd, *args):
    return subprocess.run(rt.cmd(*args), capture_output=True, text=True, pass_fds=(fd,), timeout=60)


def attack(fd, host):
    """The container's command: run the host's shell through the leaked fd
    and write next to it."""
    return [f"/proc/self/fd/{fd}/sh", "-c", f"echo escaped > /proc/self/fd/{fd}/escaped"]


def test_run_cannot_exec_through_a_leaked_directory_fd(rt, leaked_dir):
    fd, host = leaked_dir
    r = call(rt, fd, "run", "-b", rt.bundle(base_config(attack(fd, host))), rt.new_id())
    assert r.returncode != 0
    assert f"/proc/self/fd/{fd}/sh" in r.stderr and "no such file or directory" in r.stderr.lower(), r.stderr
    assert sorted(os.listdir(host)) == ["sh"]


def test_run_cannot_start_in_a_leaked_directory(rt, leaked_dir):
    fd, host = leaked_dir
    cfg = base_config(["sh", "-c", "echo escaped > escaped"])
    cfg["process"]["cwd"] = f"/proc/self/fd/{fd}"
    r = call(rt, fd, "run", "-b", rt.bundle(cfg), rt.new_id())
    assert r.returncode != 0 and "cwd" in r.stderr, r.stderr
    assert sorted(os.listdir(host)) == ["sh"]


def test_exec_cannot_use_a_leaked_directory_fd(rt, leaked_dir):
    fd, host = leaked_dir
    cid = rt.new_id()
    assert rt.call("run", "-d", "-b", rt.bundle(base_config(["sleep", "300"])), cid, stdout=DEVNULL,
                   stderr=DEVNULL, capture_output=False).returncode == 0
    r = call(rt, fd, "exec", cid, *attack(fd, host))
    assert r.returncode != 0
    assert "no such file or directory" in r.stderr.lower(), r.stderr
    r = call(rt, fd, "exec", "--cwd", f"/proc/self/fd/{fd}", cid, "sh", "-c", "echo escaped > escaped")
    assert r.returncode != 0 and "cwd" in r.stderr, r.stderr
    assert sorted(os.listdir(host)) == ["sh"]
    assert rt.call("delete", "--force", cid).returncode == 0


def test_no_leaked_fd_is_open_in_any_process_of_the_container(rt, leaked_dir):
    """Not in the process waiting for `start` (pid 1 after create), not in
    what exec starts: only stdio, then the ones minioci itself uses (its
    sockets and the exec fifo), never the caller's directory."""
    fd, host = leaked_dir
    cid = rt.new_id()
    cfg = base_config(["sleep", "300"])
    # CAP_SYS_PTRACE: the links of minioci's non-dumpable pid 1 become readable
    caps = CAPS + ["CAP_SYS_PTRACE"]
    cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    err = rt.tmp / "create.stderr"
    with open(err, "w") as f:
        r = subprocess.run(rt.cmd("create", "-b", rt.bundle(cfg), cid),
                           stdout=DEVNULL, stderr=f, pass_fds=(fd,), timeout=60)
    assert r.returncode == 0, err.read_text()
    r = call(rt, fd, "exec", cid, "sh", "-c", "ls -l /proc/1/fd/ /proc/self/fd/")
    assert r.returncode == 0, r.stderr
    assert "socket:[" in r.stdout and "exec.fifo" in r.stdout, r.stdout    # the links were read
    assert str(host) not in r.stdout, r.stdout
    assert rt.call("delete", "--force", cid).returncode == 0
