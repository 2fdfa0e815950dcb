"""Container engines run offline, as the engine suites (tests/) and
`minioci bench engine` run them: podman, dockerd and containerd each on
sockets and directories of its own under a directory the caller gives, and
stopped by the pid it was started with; images made from the host's static
busybox; and the removal of what an engine leaves on the host (containers,
mounts, cgroups, shim processes).  ../shared/ENGINES.md says how each
engine is run offline here.

Nothing here is on a container's path: only the tests and the benchmark
import it.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from contextlib import contextmanager

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
    """A daemon we started (and alone stop, by its pid), in a session of its
    own (a terminal's ^C reaches the caller, who stops it).  `track`, a set,
    is given its pid (the tests' conftest.SESSION_DAEMONS: the `rt` fixture
    counts a test's children as containers left behind, but not these)."""

    def __init__(self, argv, log_path, ready, what, timeout=60, track=None, env=None):
        self.what = what
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        if track is not None:
            track.add(self.proc.pid)
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
# and dockerd, whatever its --exec-root says: its plugin sockets' directory,
# and its containerd's opt plugin's (the config dockerd writes for it names
# no other)
DOCKER_HOST_DIRS = ("/run/docker/plugins", "/run/docker", "/opt/containerd/bin", "/opt/containerd/lib",
                    "/opt/containerd") + CONTAINERD_HOST_DIRS


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


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def first_line(argv):
    """The first line `argv` prints, or "" if it fails."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except OSError:
        return ""
    return r.stdout.strip().split("\n")[0] if r.returncode == 0 else ""


DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"         # Debian's docker.io, not whatever else is called docker on PATH
CONTAINERD = shutil.which("containerd") or "/usr/bin/containerd"
CTR = shutil.which("ctr") or "/usr/bin/ctr"
PODMAN = shutil.which("podman") or "/usr/bin/podman"


class Dockerd:
    """dockerd (with the containerd it starts) on its own socket, data root,
    exec root and pid file under `directory`, with its own daemon.json (which
    keeps its trust key out of /etc/docker), its own cgroup parent, no bridge
    and no iptables rules (the host's firewall and links stay as they are),
    and each of `runtimes` ({name: path}) added as a runtime of that name."""

    NAME = "docker"
    IMAGE = "minioci-busybox"
    BINARIES = (DOCKERD, DOCKER)
    env = None              # the environment run_argv() runs in (None: ours)

    def __init__(self, directory, runtimes, track=None, tag=None):
        self.dir = str(directory)
        self.socket = os.path.join(self.dir, "docker.sock")
        self.exec_root = os.path.join(self.dir, "exec")
        # cgroups at /sys/fs/cgroup/*/<parent>/<id> instead of the shared */docker/<id>
        self.cgroup_parent = self.cgroup_parent_of(tag or uuid.uuid4().hex[:8])
        config = _write(os.path.join(self.dir, "daemon.json"),
                        json.dumps({"deprecated-key-path": os.path.join(self.dir, "key.json")}))
        self.daemon = Daemon(
            [DOCKERD, "-H", f"unix://{self.socket}", "--config-file", config,
             "--data-root", os.path.join(self.dir, "data"), "--exec-root", self.exec_root,
             "--pidfile", os.path.join(self.dir, "docker.pid"), "--bridge", "none", "--iptables=false",
             "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
             "--cgroup-parent", self.cgroup_parent]
            + [f"--add-runtime={name}={path}" for name, path in runtimes.items()],
            os.path.join(self.dir, "dockerd.log"), ready=lambda: self("version").returncode == 0,
            what="dockerd", track=track)

    @staticmethod
    def cgroup_parent_of(tag):
        """The cgroup parent of the dockerd started with `tag`."""
        return f"minioci-docker-{tag}"

    def __call__(self, *args, timeout=120):
        return subprocess.run([DOCKER, "-H", f"unix://{self.socket}", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def version(self):
        return "docker " + self("version", "--format", "{{.Server.Version}}").stdout.strip()

    def import_image(self):
        """The busybox image (`docker import` of a rootfs tarball); its name."""
        r = self("import", write_rootfs_tar(os.path.join(self.dir, "rootfs.tar")), self.IMAGE)
        if r.returncode != 0:
            raise RuntimeError(f"docker import: {r.stderr.strip()}")
        return self.IMAGE

    def run_argv(self, runtime, command, name=None):
        """`docker run --rm` of the image with runtime `runtime` (a name given
        at start), without a network."""
        return [DOCKER, "-H", f"unix://{self.socket}", "run", "--rm", "--network", "none", "--runtime", runtime,
                self.IMAGE, *command]

    def containers(self):
        return self("ps", "-aq", "--no-trunc").stdout.split()

    def shutdown(self):
        """Remove every container and stop dockerd (which stops its
        containerd); then whatever is left: shims, mounts, cgroups.
        Returns what had to be removed that way."""
        left = []
        ids = self.containers()
        try:
            if ids:
                self("rm", "-f", *ids)
        finally:
            self.daemon.stop()
            left += [f"process {p}" for p in kill_processes_mentioning(self.exec_root)]
            left += [f"mount {m}" for m in unmount_under(self.dir)]
            left += remove_cgroups_under(self.cgroup_parent)
        return left


def remove_cgroups_under(parent, children_left=True):
    """Remove /sys/fs/cgroup/*/<parent> and everything in it.  Returns what
    was left: the children that were there (unless `children_left` is
    false: an engine that leaves its containers' cgroups for the parent's
    removal), and a parent that would not go."""
    left = []
    parents = cgroup_parents(parent)
    for d in parents:
        children = [os.path.join(d, c) for c in os.listdir(d) if os.path.isdir(os.path.join(d, c))]
        remove_cgroups(children)
        if children_left:
            left += [f"cgroup {c}" for c in children]
    remove_empty(parents)
    left += [f"cgroup {d}" for d in cgroup_parents(parent)]
    return left


class Containerd:
    """containerd on its own socket, root and state directories under
    `directory`, its CRI plugin off and its opt plugin's directory there
    too (not /opt/containerd); `ctr` in a namespace of its own, so the
    containers' cgroups are /sys/fs/cgroup/*/<namespace>/<id>.  Runtimes are
    given per container (`ctr run --runc-binary PATH`), with a --runc-root
    under `directory`: the shim passes `<runc-root>/<namespace>` as --root."""

    NAME = "containerd"
    IMAGE = "docker.io/library/minioci-busybox:latest"
    BINARIES = (CONTAINERD, CTR)
    env = None

    def __init__(self, directory, runtimes=None, track=None, tag=None):
        self.dir = str(directory)
        self.socket = os.path.join(self.dir, "containerd.sock")
        self.namespace = self.cgroup_parent_of(tag or uuid.uuid4().hex[:8])
        self.cgroup_parent = self.namespace
        self.runc_root = os.path.join(self.dir, "runtime")
        self.runtimes = dict(runtimes or {})
        config = _write(os.path.join(self.dir, "config.toml"), f"""version = 2
root = "{os.path.join(self.dir, 'root')}"
state = "{os.path.join(self.dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{os.path.join(self.dir, 'opt')}"
""")
        self.daemon = Daemon([CONTAINERD, "--config", config], os.path.join(self.dir, "containerd.log"),
                             ready=lambda: self("version").returncode == 0, what="containerd", track=track)

    @staticmethod
    def cgroup_parent_of(tag):
        """The namespace, which is the cgroup parent, of the containerd started with `tag`."""
        return f"minioci-{tag}"

    def __call__(self, *args, timeout=120, input=None):
        return subprocess.run([CTR, "-a", self.socket, "-n", self.namespace, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def version(self):
        return first_line([CONTAINERD, "--version"])

    def import_image(self):
        """The busybox image (`ctr image import` of an OCI layout tarball); its name."""
        r = self("image", "import", write_oci_archive(os.path.join(self.dir, "image.tar"), self.IMAGE))
        if r.returncode != 0:
            raise RuntimeError(f"ctr image import: {r.stderr.strip()}")
        return self.IMAGE

    def run_argv(self, runtime, command, name=None):
        """`ctr run --rm` of the image as container `name` with runtime
        `runtime` (a name given at start: its path is the shim's BinaryName)."""
        return [CTR, "-a", self.socket, "-n", self.namespace, "run", "--rm", "--runc-binary",
                self.runtimes[runtime], "--runc-root", self.runc_root, self.IMAGE, name, *command]

    def containers(self):
        return self("containers", "list", "-q").stdout.split()

    def task_status(self, cid):
        for line in self("task", "list").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[2]
        return None

    def remove(self, cid):
        self("task", "kill", "-s", "SIGKILL", cid)
        wait_until(lambda: self.task_status(cid) in (None, "STOPPED"), timeout=15)
        self("task", "delete", "--force", cid)
        self("containers", "delete", cid)

    def shutdown(self):
        """Remove every container, the image and the namespace, stop the
        daemon; then whatever it left: shims, mounts, cgroups.  Returns what
        had to be removed that way."""
        left = []
        try:
            for cid in self.containers():
                self.remove(cid)
            self("images", "remove", self.IMAGE)
            subprocess.run([CTR, "-a", self.socket, "namespaces", "remove", self.namespace],
                           capture_output=True, timeout=60)
        finally:
            self.daemon.stop()
            left += [f"shim {p}" for p in kill_processes_mentioning(self.socket)]
            left += [f"mount {m}" for m in unmount_under(self.dir)]
            left += remove_cgroups_under(self.namespace, children_left=False)
        return left


class Podman:
    """podman, which has no daemon, on storage, run and tmp directories of
    its own under `directory` (--root, --runroot, --tmpdir) and a
    containers.conf of its own (CONTAINERS_CONF): cgroupfs under a cgroup
    parent of its own, file locks in its tmp directory (not the host's
    /dev/shm/libpod_lock), events to a file there, its network config
    there, each of `runtimes` ({name: path}) registered by name
    ([engine.runtimes]) with conmon's JSON error log (runtime_supports_json:
    a runtime given as a path gets it only if named runc or crun), and the
    ulimits every runtime needs on this host (../shared/PODMAN.md).
    Podman passes a runtime no --root.

    c/image (the import) writes its blob cache to /var/lib/containers/cache
    whatever --root says: `minioci bench engine` runs it in a mount
    namespace where that is a directory of its own."""

    NAME = "podman"
    IMAGE = "localhost/minioci-busybox:latest"
    BINARIES = (PODMAN,)

    def __init__(self, directory, runtimes=None, track=None, tag=None):
        self.dir = str(directory)
        self.runtimes = dict(runtimes or {})
        self.cgroup_parent = self.cgroup_parent_of(tag or uuid.uuid4().hex[:8])
        tmp = os.path.join(self.dir, "tmp")
        registered = "".join(f"{json.dumps(name)} = [{json.dumps(path)}]\n" for name, path in self.runtimes.items())
        conf = _write(os.path.join(self.dir, "containers.conf"), f"""[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{os.path.join(tmp, 'events.log')}"
lock_type = "file"
tmp_dir = "{tmp}"
runtime_supports_json = {json.dumps(sorted({"runc", "crun"} | set(self.runtimes)))}
[engine.runtimes]
{registered}[network]
network_config_dir = "{os.path.join(self.dir, 'networks')}"
""")
        self.env = {**os.environ, "CONTAINERS_CONF": conf}
        self.globals = [PODMAN, "--root", os.path.join(self.dir, "storage"),
                        "--runroot", os.path.join(self.dir, "run"), "--tmpdir", tmp,
                        "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs"]

    @staticmethod
    def cgroup_parent_of(tag):
        """The cgroup parent of the containers of the podman set up with `tag`."""
        return f"minioci-podman-{tag}"

    def __call__(self, *args, timeout=120):
        return subprocess.run(self.globals + [str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)

    def version(self):
        return self("--version").stdout.strip()

    def import_image(self):
        """The busybox image (`podman import` of a rootfs tarball); its name."""
        r = self("import", write_rootfs_tar(os.path.join(self.dir, "rootfs.tar")), self.IMAGE)
        if r.returncode != 0:
            raise RuntimeError(f"podman import: {r.stderr.strip()}")
        return self.IMAGE

    def run_argv(self, runtime, command, name=None):
        """`podman run --rm` of the image with runtime `runtime` (a name
        given at start), without a network, in our cgroup parent."""
        return self.globals + ["--runtime", runtime, "run", "--rm", "--network", "none",
                               "--cgroup-parent", f"/{self.cgroup_parent}", self.IMAGE, *command]

    def containers(self):
        return self("ps", "-aq", "--no-trunc").stdout.split()

    def shutdown(self):
        """Remove every container and the image; then whatever is left:
        conmon and cleanup processes, mounts (storage's own), cgroups.
        Returns what had to be removed that way (storage's mounts of its own
        directories are podman's way, not a leftover)."""
        left = []
        try:
            ids = self.containers()
            if ids:
                self("rm", "-f", "-t", "0", *ids)
                left += [f"container {c}" for c in ids]
            self("rmi", "-af")
        finally:
            left += [f"process {p}" for p in kill_processes_mentioning(self.dir)]
            unmount_under(self.dir)
            left += remove_cgroups_under(self.cgroup_parent)
        return left


ENGINES = {cls.NAME: cls for cls in (Podman, Dockerd, Containerd)}
