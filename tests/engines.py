"""What the docker and containerd suites share: images made from the host's
static busybox, a daemon started on its own sockets and directories and
stopped by its pid, and the removal of what an engine leaves on the host
(mounts, cgroups, shim processes).  ../shared/ENGINES.md says how each engine
is run offline here.
"""
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time
from contextlib import contextmanager

import pytest

BUSYBOX = "/bin/busybox"
# root, and an unprivileged user whose name the engines resolve from /etc/passwd
PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
GROUP = "root:x:0:\nuser:x:1000:\n"
IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def rootfs_tar():
    """A rootfs as an uncompressed tar: /bin/busybox, a link per applet,
    /etc/passwd and /etc/group, and the usual empty directories."""
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("dev", 0o755), ("proc", 0o555),
                           ("sys", 0o555), ("tmp", 0o1777), ("root", 0o700), ("home", 0o755)):
            tar.addfile(_entry(name, tarfile.DIRTYPE, mode))
        tar.addfile(_entry("home/user", tarfile.DIRTYPE, 0o755, owner=1000))
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(data)), io.BytesIO(data))
        for applet in applets:
            if applet != "busybox":
                info = _entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
                info.linkname = "busybox"
                tar.addfile(info)
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            data = text.encode()
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def _entry(name, kind, mode, size=0, owner=0):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.uid = info.gid = owner
    info.mtime = 0
    return info


def write_rootfs_tar(path):
    """The rootfs tarball `docker import` takes as it is."""
    with open(path, "wb") as f:
        f.write(rootfs_tar())
    return path


def write_oci_archive(path, name, image_config=None):
    """An OCI image layout tarball for `ctr image import`: one gzip layer,
    its image config and manifest, and an index whose entry carries
    containerd's image name annotation (`name`, e.g. docker.io/library/bb:latest).
    `image_config` changes the image's config (Entrypoint, Cmd, ...; None
    removes a key)."""
    layer = rootfs_tar()
    gz = gzip.compress(layer, mtime=0)
    settings = {"Env": IMAGE_ENV, "Cmd": ["/bin/sh"]}
    settings.update(image_config or {})
    config = _json({"architecture": "amd64", "os": "linux",
                    "config": {k: v for k, v in settings.items() if v is not None},
                    "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]}})
    manifest = _json({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
                      "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar+gzip", gz)]})
    entry = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    entry["annotations"] = {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rpartition(":")[2]}
    index = _json({"schemaVersion": 2, "manifests": [entry]})
    files = [("oci-layout", _json({"imageLayoutVersion": "1.0.0"})), ("index.json", index)]
    files += [(f"blobs/sha256/{_digest(blob)[7:]}", blob) for blob in (config, manifest, gz)]
    with tarfile.open(path, "w") as tar:
        for member, data in files:
            tar.addfile(_entry(member, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return path


def _json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type, data):
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


class Daemon:
    """A daemon this test session started (and alone stops, by its pid).
    The `rt` fixture counts a test's children as containers left behind:
    it is told this one is not (conftest.SESSION_DAEMONS)."""

    def __init__(self, argv, log_path, ready, what, timeout=60, env=None):
        from conftest import SESSION_DAEMONS
        self.what = what
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        SESSION_DAEMONS.add(self.proc.pid)
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} was not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def log_tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=30):
        """SIGTERM (a clean shutdown: the daemon stops what it started),
        then SIGKILL if it does not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Host directories containerd makes whatever its --root and --state say: the
# shims' sockets, ctr's fifos (deepest first).
CONTAINERD_HOST_DIRS = ("/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc",
                        "/run/containerd")
# and dockerd, whatever its --exec-root says: its plugin sockets' directory
DOCKER_HOST_DIRS = ("/run/docker/plugins", "/run/docker") + CONTAINERD_HOST_DIRS


@contextmanager
def host_dirs_left_as_found(dirs=CONTAINERD_HOST_DIRS):
    """Directories that did not exist before go again afterwards, if empty
    (another user on the machine may have come to need them meanwhile)."""
    made = [d for d in dirs if not os.path.exists(d)]
    try:
        yield
    finally:
        remove_empty(made)


def processes_mentioning(text):
    """Pids of the processes whose command line contains `text` (the shims
    of our own daemon name its socket or directories)."""
    out = []
    needle = text.encode()
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if needle in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def kill_processes_mentioning(text):
    pids = processes_mentioning(text)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]


def unmount_under(path):
    """Lazily unmount everything at or below `path`, deepest first."""
    left = mounts_under(path)
    for point in sorted(left, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    return left


def cgroups_named(names, parent):
    """Directories /sys/fs/cgroup/<hierarchy>/.../<parent>/<name> for the given names."""
    names = set(names)
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(top) == parent:
            found += [os.path.join(top, d) for d in dirs if d in names]
            dirs[:] = []
    return found


def remove_cgroups(directories):
    for d in sorted(directories, key=len, reverse=True):
        for sub, _, _ in sorted(os.walk(d), key=lambda t: len(t[0]), reverse=True):
            try:
                os.rmdir(sub)
            except OSError:
                pass


def cgroup_parents(parent):
    """Every /sys/fs/cgroup/<hierarchy>/<parent> that exists now."""
    out = set()
    for base in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", base, parent)
        if os.path.isdir(d):
            out.add(d)
    return out


def remove_empty(directories):
    for d in directories:
        try:
            os.rmdir(d)
        except OSError:
            pass                # in use by someone else on this machine: theirs


def wait_until(predicate, timeout=30, interval=0.1):
    """Poll `predicate` until it holds; False if it never did within `timeout`
    (a deadline for progress, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@contextmanager
def minioci_served(route):
    """route "served": `minioci serve` started as a user starts it (no flags:
    root's server on /run/minioci/serve.sock), for the engine's session.  It
    serves every state root, so the engine's calls go through it whatever
    --root its shim passes; afterwards it must have served them and refused
    none (a refused call falls back to the direct path, which would pass
    unseen; Server.refusals leaves out other installs' front ends)."""
    if route != "served":
        yield None
        return
    from conftest import DEFAULT_SOCKET, SESSION_DAEMONS, Server
    server = Server()
    if server.status() is not None:
        pytest.skip(f"another server listens on {DEFAULT_SOCKET}")
    directory = os.path.dirname(DEFAULT_SOCKET)
    made = not os.path.exists(directory)
    server.start()
    SESSION_DAEMONS.add(server.proc.pid)       # it outlives the tests that run meanwhile
    try:
        yield server
    finally:
        status = server.status() or {}
        left = server.stop()
        SESSION_DAEMONS.discard(server.proc.pid)
        if made:
            try:
                os.rmdir(directory)             # as found (unless something else keeps things there now)
            except OSError:
                pass
    assert not left, f"the engine's minioci server: {left}"
    assert int(status.get("requests", "0").split()[0]) > 0, f"nothing was served: {status}"
    assert not server.refused, f"requests were refused: {server.refused}"
