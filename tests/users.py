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
