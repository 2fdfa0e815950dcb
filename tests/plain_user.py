"""A real non-root user for the rootless suites, made for the test session
and removed afterwards (its home, its subordinate ids, its processes), even
when tests fail.  What the host must offer is checked first; a host that
lacks it skips the rootless tests and says why.
"""
import os
import pwd
import shutil
import signal
import subprocess
import time
import uuid
from contextlib import contextmanager

from conftest import IS_ROOT, MINIOCI, ROOTFS

SETPRIV = shutil.which("setpriv")


class User:
    """The test user: its name, ids, home, and the subordinate ranges
    /etc/subuid and /etc/subgid give it."""

    def __init__(self, name):
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid, self.home = name, pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.subuid = _subordinate("/etc/subuid", name)
        self.subgid = _subordinate("/etc/subgid", name)

    def env(self, **extra):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": self.home, "USER": self.name,
               "LOGNAME": self.name, "LC_ALL": "C.UTF-8"}
        env.update(extra)
        return env

    def argv(self, argv):
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"] + [str(a) for a in argv]

    def run(self, argv, timeout=120, env=None, cgroup=None, **kw):
        """argv as this user (its own ids and groups, no capabilities), in
        its home unless cwd says otherwise; with `cgroup`, in that v2 cgroup
        directory (root moves it there first, as systemd does for a user's
        delegated service)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("cwd", self.home)
        kw.setdefault("stdin", subprocess.DEVNULL)
        argv = self.argv(argv)
        if cgroup:
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup] + argv
        return subprocess.run(argv, timeout=timeout, env=env or self.env(), **kw)

    def processes(self):
        """Pids of the processes running as this user or one of its
        subordinate uids (its containers), on the host."""
        ranges = [(self.uid, 1)] + ([self.subuid] if self.subuid else [])
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                uid = int(fields["Uid"].split()[0])
            except (OSError, KeyError, ValueError):
                continue
            if fields.get("State", "").split()[:1] == ["Z"]:
                continue                    # exited: only its parent's wait is left
            if any(start <= uid < start + size for start, size in ranges):
                out.append(int(d))
        return out

    def kill_all(self):
        """SIGKILL what runs as this user (each by its pid); the pids killed."""
        pids = self.processes()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def own_dir(self, path):
        """A directory `path` made for this user (mode 0755)."""
        os.makedirs(path, exist_ok=True)
        os.chown(path, self.uid, self.gid)
        return path

    def bundle(self, directory, config):
        """A bundle in `directory` (made, the user's) with `config` and its
        own copy of the busybox rootfs."""
        import json
        self.own_dir(directory)
        rootfs = os.path.join(directory, "rootfs")
        if not os.path.exists(rootfs):
            shutil.copytree(ROOTFS, rootfs, symlinks=True)
            subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", rootfs], check=True)
        config = dict(config, root=dict(config.get("root") or {}, path="rootfs"))
        path = os.path.join(directory, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        os.chown(path, self.uid, self.gid)
        return directory


def _subordinate(path, name):
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] == name:
                    return int(fields[1]), int(fields[2])
    except OSError:
        pass
    return None


def why_not():
    """Why this host cannot run the rootless tests, or ""."""
    if not IS_ROOT:
        return "makes a user: needs root"
    for tool in ("useradd", "userdel", "setpriv"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if not all(os.access(os.path.join(d, f), os.X_OK) for d in ("/usr/bin",) for f in ("newuidmap", "newgidmap")):
        return "needs newuidmap and newgidmap (Debian's uidmap package)"
    return ""


def _check_user(user):
    """What the made user cannot do here (unprivileged user namespaces
    refused, minioci out of its reach), or ""."""
    r = user.run(["unshare", "--user", "--map-root-user", "true"])
    if r.returncode != 0:
        return f"this host does not let a plain user make a user namespace: {r.stderr.strip()}"
    r = user.run([MINIOCI, "--version"])
    if r.returncode != 0:
        return f"the test user cannot run {MINIOCI} (a directory on its path is closed to others?): " \
               f"{r.stderr.strip()}"
    return ""


@contextmanager
def made_user():
    """A new user with a home and subordinate ids (useradd gives a range
    where /etc/login.defs says so; usermod adds one otherwise), removed with
    all it left afterwards: (User, or None and why not)."""
    name = f"mo-rl-{uuid.uuid4().hex[:6]}"
    home = f"/home/{name}"
    subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", "--user-group", name],
                   check=True, capture_output=True)
    try:
        for path, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
            if _subordinate(path, name) is None:
                start = 900000000 + (os.getpid() % 1000) * 65536
                subprocess.run(["usermod", flag, f"{start}-{start + 65535}", name], check=True, capture_output=True)
        user = User(name)
        yield user, _check_user(user)
    finally:
        try:
            user = User(name)
            user.kill_all()
        except KeyError:
            user = None
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        _drop_lines(("/etc/subuid", "/etc/subgid"), name)
        if user is not None:
            for leftover in (f"/tmp/podman-run-{user.uid}", f"/tmp/containers-user-{user.uid}",
                             f"/run/user/{user.uid}"):
                shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _drop_lines(paths, name):
    """userdel leaves subordinate ranges behind on some versions."""
    for path in paths:
        try:
            with open(path) as f:
                lines = f.readlines()
        except OSError:
            continue
        kept = [line for line in lines if not line.startswith(name + ":")]
        if kept != lines:
            with open(path, "w") as f:
                f.writelines(kept)
