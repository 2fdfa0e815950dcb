"""The caller's session keyring stays the caller's.

Keys (kerberos tickets, encryption keys, tokens) live in keyrings; a process
reaches those of its session keyring, which a clone inherits.  Like runc,
minioci joins each container to a session keyring of its own, `_ses.<id>`,
searchable by its owner (by others too in a user namespace), and `exec`'d
processes join that one; `--no-new-keyring` (runc's flag, podman may pass it)
keeps the caller's.

The caller here is `keyring add` (tests/security/keyring.c): a new session
keyring holding a user key, then minioci.  Inside, `keyring show` prints the
session keyring it has and whether that key can be read.
"""
import errno
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest

from conftest import REPO, base_config
from users import plain_user

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

SECRET = "hunter2-of-the-caller"
KEY_NONE = f"key none {errno.ENOKEY}"


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    """keyring.c, built statically."""
    out = tmp_path_factory.mktemp("keyring") / "keyring"
    out.parent.chmod(0o755)            # for a user namespace's root too
    subprocess.run(["gcc", "-static", "-O1", "-Wall", "-o", str(out), str(REPO / "tests" / "security" / "keyring.c")],
                   check=True)
    return out


@pytest.fixture(scope="module")
def open_tool(tool):
    """The tool where another user can run it (pytest's directories are
    root's alone)."""
    where = tempfile.mkdtemp(prefix="mo-keyring-")
    try:
        os.chmod(where, 0o755)
        yield shutil.copy(tool, where)
    finally:
        shutil.rmtree(where)


def caller(tool, *argv):
    """argv as run by a caller whose session keyring holds the secret."""
    return [str(tool), "add", "secret", SECRET, *map(str, argv)]


def shown(text):
    """keyring show's two lines: (session keyring's description, key line)."""
    session, key = text.splitlines()
    return session.split(" ", 2)[2] if session.split()[1] != "none" else None, key


def detached(rt, argv):
    """`run -d` as argv has it; the container keeps our stderr, so a file
    takes it, not a pipe we would wait on until it exits."""
    err = rt.tmp / "run-d.stderr"
    with open(err, "w") as f:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f, timeout=60)
    assert r.returncode == 0, err.read_text()


def show_config(tool, script="/tmp/keyring show secret"):
    """The busybox config running `script`, with the tool at /tmp/keyring
    (bound: a user namespace's root could not reach it, nor a rootfs of the
    test's own, below pytest's directories)."""
    cfg = base_config(["sh", "-c", script])
    cfg["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(tool.parent),
                          "options": ["bind", "ro"]})
    return cfg


def test_run_gets_a_session_keyring_of_its_own(rt, tool):
    cid = rt.new_id()
    r = subprocess.run(caller(tool, *rt.cmd("run", "-b", rt.bundle(show_config(tool)), cid)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    session, key = shown(r.stdout)
    # runc's: possessor all; owner view, read, link and search
    assert session == f"keyring;0;0;3f1b0000;_ses.{cid}"
    assert key == KEY_NONE


def test_without_the_protection_the_same_container_reads_the_key(rt, tool):
    """--no-new-keyring keeps the caller's (runc's flag): the attack works,
    so the test above can fail."""
    r = subprocess.run(caller(tool, *rt.cmd("run", "--no-new-keyring", "-b", rt.bundle(show_config(tool)),
                                            rt.new_id())),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert shown(r.stdout)[1] == f"key {SECRET}"


@pytest.mark.parametrize("userns", [False, True], ids=["no user namespace", "user namespace"])
def test_exec_joins_the_containers_keyring(rt, tool, userns):
    cfg = show_config(tool, "/tmp/keyring show secret > /dev/shm/init; exec sleep 300")
    if userns:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cid = rt.new_id()
    try:
        detached(rt, caller(tool, *rt.cmd("run", "-d", "-b", rt.bundle(cfg), cid)))
        init = rt.call("exec", cid, "cat", "/dev/shm/init")
        assert init.returncode == 0, init.stderr
        ex = subprocess.run(caller(tool, *rt.cmd("exec", cid, "/tmp/keyring", "show", "secret")), capture_output=True,
                            text=True, timeout=60)
        assert ex.returncode == 0, ex.stderr
        assert init.stdout.splitlines()[1] == ex.stdout.splitlines()[1] == KEY_NONE
        # the same keyring (serial and all), the container's
        assert init.stdout.splitlines()[0] == ex.stdout.splitlines()[0]
        assert shown(ex.stdout)[0].endswith(f";_ses.{cid}")
    finally:
        rt.call("delete", "--force", cid)


def test_exec_in_a_container_made_with_no_new_keyring_keeps_the_callers(rt, tool):
    cid = rt.new_id()
    try:
        detached(rt, rt.cmd("run", "-d", "--no-new-keyring", "-b", rt.bundle(show_config(tool, "exec sleep 300")),
                            cid))
        ex = subprocess.run(caller(tool, *rt.cmd("exec", cid, "/tmp/keyring", "show", "secret")), capture_output=True,
                            text=True, timeout=60)
        assert ex.returncode == 0, ex.stderr
        assert shown(ex.stdout)[1] == f"key {SECRET}"
    finally:
        rt.call("delete", "--force", cid)


def test_where_keyctl_is_missing_the_container_runs_and_where_it_is_denied_it_fails(rt, tool):
    """As runc: a kernel without keyrings (ENOSYS) is no error; minioci
    denied keyctl (a seccomp profile of its own caller's: EPERM) refuses to
    start the container, rather than hand it the caller's keyring."""
    cfg = rt.bundle(show_config(tool))
    r = subprocess.run([str(tool), "deny", str(errno.ENOSYS), *rt.cmd("run", "-b", cfg, rt.new_id())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"session none {errno.ENOSYS}", f"key none {errno.ENOSYS}"]
    cid = rt.new_id()
    r = subprocess.run([str(tool), "deny", str(errno.EPERM), *rt.cmd("run", "-b", cfg, cid)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr == f"minioci: join session keyring _ses.{cid}: operation not permitted\n"


# ---- a keyring of the container's name that another user made --------------

PLANTED = "left-by-another-user"


@contextmanager
def planted(open_tool, name):
    """Another local user (real, made for the test) holding a session keyring
    `name` that it opened to everyone, with a key of its own in it: the
    kernel's join by name finds it for anyone who may search it."""
    with plain_user("keyring") as user:
        p = subprocess.Popen(user.cmd(open_tool, "plant", name, "planted", PLANTED, "sleep", "300"),
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            assert line.startswith("planted "), line
            yield user
        finally:
            p.kill()
            p.wait()


def refusal(cid, user):
    return (f"minioci: join session keyring _ses.{cid}: it belongs to uid {user.uid}, not 0 (another user made a "
            "keyring of the container's name)\n")


def keyring_owners(name):
    """The owners of the keyrings called `name` the host still keeps
    (/proc/keys: serial flags usage timeout perm uid gid type description)."""
    with open("/proc/keys") as f:
        rows = [line.split(None, 8) for line in f]
    return {int(r[5]) for r in rows if r[7] == "keyring" and r[8].split(":")[0] == name}


def test_a_keyring_another_user_made_under_the_containers_name_is_refused(rt, tool, open_tool):
    """runc (1.1.5 and current) joins it: the container's keys land where
    that user reads them, and the user's keys reach the container."""
    cid = rt.new_id()
    with planted(open_tool, f"_ses.{cid}") as user:
        r = rt.call("run", "-b", rt.bundle(show_config(tool, "/tmp/keyring show planted")), cid)
        assert r.stdout == ""                  # before: "session ...;<uid>;...;_ses.<id>" and "key left-by-..."
        assert r.returncode != 0 and r.stderr == refusal(cid, user)


def test_exec_refuses_a_keyring_another_user_made_under_the_containers_name(rt, tool, open_tool):
    """The container's process moved to a keyring of its own (any process
    may), so nothing holds `_ses.<id>` any more: the next one of that name
    is another user's."""
    cid = rt.new_id()
    try:
        detached(rt, rt.cmd("run", "-d", "-b", rt.bundle(show_config(tool, "exec /tmp/keyring add mine x sleep 300")),
                            cid))
        with planted(open_tool, f"_ses.{cid}") as user:
            deadline = time.monotonic() + 30
            while keyring_owners(f"_ses.{cid}") != {user.uid}:       # the container's own is gone
                assert time.monotonic() < deadline, keyring_owners(f"_ses.{cid}")
                time.sleep(0.05)
            ex = rt.call("exec", cid, "/tmp/keyring", "show", "planted")
            assert ex.stdout == ""
            assert ex.returncode != 0 and ex.stderr == refusal(cid, user)
    finally:
        rt.call("delete", "--force", cid)
