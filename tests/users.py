"""Real non-root users for the tests that act as one, or against one: made
with useradd (Debian's gives each subordinate ids in /etc/subuid and
/etc/subgid), removed with userdel afterwards, with every process that ran
as them (the test started them all: the user did not exist before)."""
import contextlib
import os
import pwd
import signal
import subprocess
import time
import uuid


class User:
    def __init__(self, name):
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid

    def cmd(self, *args):
        """`args` run as this user: its uid and gid, no other group, no
        capability."""
        return ["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups", *map(str, args)]

    def processes(self):
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.stat(f"/proc/{d}").st_uid == self.uid:
                        out.append(int(d))
                except OSError:
                    pass
        return out


def _retry(args):
    """useradd and userdel fail while another holds the password files' lock."""
    for _ in range(50):
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 10 and "lock" not in r.stderr:
            return r
        time.sleep(0.1)
    return r


@contextlib.contextmanager
def plain_user(purpose="test"):
    """A new user `mo-<purpose>-<random>` for the duration."""
    name = f"mo-{purpose}-{uuid.uuid4().hex[:6]}"[:32]
    r = _retry(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name])
    assert r.returncode == 0, f"useradd {name}: {r.stderr}"
    user = None
    try:
        user = User(name)
        yield user
    finally:
        if user is not None:
            deadline = time.monotonic() + 10
            while user.processes() and time.monotonic() < deadline:
                for pid in user.processes():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
        r = _retry(["userdel", name])
        assert r.returncode == 0, f"userdel {name}: {r.stderr}"


@contextlib.contextmanager
def delegated_cgroup(user, prefix):
    """A v2 cgroup handed to `user` as systemd's Delegate=yes hands one (the
    directory and its delegatable files are the user's), with a leaf below
    it for the user's commands: yields (top, leaf), or None where the host
    has no cgroup v2.  Removed afterwards, once what ran in it has left."""
    from minioci import cgroups
    layout = cgroups.detect()
    if not layout.v2:
        yield None
        return
    top = os.path.join(layout.v2[0], f"{prefix}-{uuid.uuid4().hex[:8]}")
    leaf = os.path.join(top, "leaf")
    os.makedirs(leaf)
    try:
        for d in (top, leaf):
            for path in [d] + [os.path.join(d, name) for name in cgroups._delegate_files()]:
                if os.path.exists(path):
                    os.chown(path, user.uid, user.gid)
        yield top, leaf
    finally:
        deadline = time.monotonic() + 10          # a front end or conmon may take a moment to leave
        while os.path.exists(top) and time.monotonic() < deadline:
            for d in sorted((t for t, _, _ in os.walk(top)), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    time.sleep(0.05)
        assert not os.path.exists(top), f"the delegated cgroup {top} could not be removed"
