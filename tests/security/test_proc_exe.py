"""CVE-2019-5736 class: a process entering a container must not give the
container a path to a host executable file.

runc's init was a copy of the host's runc binary; a container that opened
/proc/<pid>/exe could, once runc exited, reopen it for writing and replace
runc on the host.  minioci's entering process (for run, create and exec)
executes a sealed memfd copy of minioci's static executable before it joins
anything of the container (native/spawn.c), so what the container can reach
through /proc is that memfd, which nobody can write, and no host file is
mapped or open in it.  A container holding CAP_SYS_PTRACE passes the
kernel's ptrace checks, so only that makes the difference; one without it
cannot even read the links (the process is non-dumpable).
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CAPS, MINIOCI, base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

DEVNULL = subprocess.DEVNULL

# Run inside the container: find minioci's entering process (TARGET: pid 1
# waiting for start, or "joiner": the process whose parent is outside the
# container, other than pid 1 and this script) and report what its /proc
# entries give away.  Only fds >= 3 matter: 0-2 are the container's stdio.
INSPECT = r"""
for i in $(seq 300); do
  for p in /proc/[0-9]*; do
    n=${p#/proc/}
    if [ "$TARGET" = joiner ]; then
      [ "$n" = 1 ] || [ "$n" = $$ ] && continue
      [ "$(cut -d' ' -f4 $p/stat 2>/dev/null)" = 0 ] || continue
    else
      [ "$n" = "$TARGET" ] || continue
    fi
    echo found
    readlink $p/exe || echo exe-denied
    if cat $p/maps >/dev/null 2>&1; then
      awk '$5 != 0 {print "map", $4, $5, $6}' $p/maps
    else
      echo maps-denied
    fi
    for fd in $(ls $p/fd 2>/dev/null); do
      [ "$fd" -ge 3 ] && echo "fd $(readlink $p/fd/$fd)"
    done
    if (echo x >> $p/exe) 2>/dev/null; then echo exe-writable; else echo exe-not-writable; fi
    exit 0
  done
  sleep 0.02
done
echo not-found
"""

# What an fd of the entering process may be: sockets to minioci, pipes, the
# exec fifo `start` writes to.  Never a host directory or regular file.
ALLOWED_FD = ("socket:[", "pipe:[", "anon_inode:")


def host_files():
    """(device as /proc/<pid>/maps writes it, inode) of every file the test's
    own interpreter maps (python, its libraries: what a fork of Python would
    map) and of minioci's executables."""
    import minioci.shim
    out = set()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[4] != "0":
                out.add((fields[3], fields[4]))
    for path in (MINIOCI, minioci.shim.EXE, sys.executable):
        st = os.stat(path)
        out.add((f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", str(st.st_ino)))
    return out


def config(ptrace):
    cfg = base_config(["sh", "-c", "exec sleep 300"])
    caps = CAPS + (["CAP_SYS_PTRACE"] if ptrace else [])
    cfg["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    return cfg


def host_executables():
    """The host files a leak would let a container rewrite: the interpreter
    and minioci's own executables."""
    import minioci.shim
    paths = [Path(sys.executable).resolve(), Path(MINIOCI).resolve(), Path(minioci.shim.EXE).resolve()]
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def check(out, ptrace):
    lines = out.splitlines()
    assert lines and lines[0] == "found", out
    exe = lines[1]
    if not ptrace:
        # non-dumpable: not even the link can be read
        assert exe == "exe-denied" and "maps-denied" in lines, out
        return
    mapped = {tuple(l.split()[1:3]) for l in lines if l.startswith("map ")}
    assert mapped and not mapped & host_files(), out             # no host file mapped, exe included
    assert exe.startswith("/memfd:minioci-init"), out
    # (an empty link: the fd was closed between ls and readlink, as the
    # process went on through its plan)
    fds = [l[3:] for l in lines if l.startswith("fd ") and l[3:]]
    assert all(f.startswith(ALLOWED_FD) or f.endswith("/exec.fifo") for f in fds), out
    assert lines[-1] == "exe-not-writable", out


@pytest.mark.parametrize("ptrace", [False, True], ids=["plain", "cap_sys_ptrace"])
def test_a_created_containers_waiting_process_exposes_no_host_executable(rt, ptrace):
    """create: pid 1 waits for `start` as minioci-init; a process exec'ed
    into the container looks at it and tries to write through its exe."""
    before = host_executables()
    cid = rt.new_id()
    err = rt.tmp / "create.stderr"      # a file: the waiting process keeps its stderr
    with open(err, "w") as f:
        r = subprocess.run(rt.cmd("create", "-b", rt.bundle(config(ptrace)), cid), stdout=DEVNULL,
                           stderr=f, timeout=60)
    assert r.returncode == 0, err.read_text()
    r = rt.call("exec", "--env", "TARGET=1", cid, "sh", "-c", INSPECT)
    assert r.returncode == 0, r.stderr
    check(r.stdout, ptrace)
    assert rt.call("delete", "--force", cid).returncode == 0
    assert host_executables() == before


@pytest.mark.parametrize("ptrace", [False, True], ids=["plain", "cap_sys_ptrace"])
def test_the_process_exec_puts_into_a_container_exposes_no_host_executable(rt, ptrace):
    """exec: strace holds the joiner at its final execve for 2 s, when it is
    in every namespace of the container with the container's capabilities;
    the container looks at it meanwhile."""
    if not shutil.which("strace"):
        pytest.skip("needs strace")
    before = host_executables()
    cid = rt.new_id()
    assert rt.call("run", "-d", "-b", rt.bundle(config(ptrace)), cid, stdout=DEVNULL, stderr=DEVNULL,
                   capture_output=False).returncode == 0
    # execve only: minioci-init itself is started with execveat, undelayed
    joiner = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=execve",
                               "-e", "inject=execve:delay_enter=2000000"] +
                              rt.cmd("exec", cid, "/bin/true"), stdout=DEVNULL, stderr=DEVNULL)
    try:
        r = rt.call("exec", "--env", "TARGET=joiner", cid, "sh", "-c", INSPECT)
    finally:
        joiner.wait(60)
    assert r.returncode == 0, r.stderr
    check(r.stdout, ptrace)
    assert joiner.returncode == 0
    assert rt.call("delete", "--force", cid).returncode == 0
    assert host_executables() == before
