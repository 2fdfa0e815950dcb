"""Kubernetes pods on minioci, through containerd's CRI plugin.

What a kubelet does, done by a CRI client of our own (tests/cri.py, gRPC
with the CRI v1 messages of tests/cri_api.proto) against containerd 1.6
with the runtime handler `minioci` (the runc.v2 shim, BinaryName = minioci;
docs/kubernetes.md): RunPodSandbox with that handler, containers created
in the pod and joining its namespaces, ExecSync, the container logs the
CRI writes, ContainerStats, UpdateContainerResources, StopContainer,
RemoveContainer, StopPodSandbox, RemovePodSandbox, and nothing left behind.
Pods use the host's network, or one of their own from CNI's bridge plugin
(isolated: no gateway, no route out), and the cgroupfs driver (minioci
manages cgroupfs itself); the sandbox image is a pause-like image made
from the host's busybox and imported beforehand, so nothing is pulled.

The module runs twice: minioci on its direct path, and with one `minioci
serve` started as a user starts it, which serves the root containerd's
shim passes (<Root>/k8s.io).  A host config file (MINIOCI_CONFIG, with
timing_dir) in containerd's environment makes each minioci command leave
its phase timings, which say whether it was served: each pod's create,
start, exec and delete must have taken the path the module asked for.
"""
import glob
import ipaddress
import json
import os
import shutil
import subprocess
import uuid

import pytest

import engines
from conftest import IS_ROOT, MINIOCI, cgroup_dirs, cgroup_layout

grpc = pytest.importorskip("grpc", reason="needs grpcio (scripts/setup installs it: pip .[test])")
pytest.importorskip("grpc_tools", reason="needs grpcio-tools (scripts/setup installs it: pip .[test])")
import cri  # noqa: E402  (after the skips: it uses grpc)

pytestmark = [
    pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root"),
    pytest.mark.skipif(not (shutil.which("containerd") and shutil.which("ctr")),
                       reason="needs containerd and ctr (Debian package containerd; scripts/setup installs it)"),
]

# What containerd's CRI plugin or CNI would make on the host if a setting
# were missing from tests/cri.py's config (deepest first): each must be as
# it was before the session.  (Not /opt/containerd, which the config also
# keeps away: the docker suite's containerd makes it, and another run on
# the machine may be making it meanwhile.)
HOST_DIRS = ("/etc/cni/net.d", "/etc/cni", "/var/lib/cni/results", "/var/lib/cni", "/var/run/netns",
             "/var/lib/containerd", "/var/log/pods") + engines.CONTAINERD_HOST_DIRS


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    return cri.compile_api(tmp_path_factory.mktemp("cri-api"))


@pytest.fixture(scope="module", params=["direct", "served"])
def kube(tmp_path_factory, api, request):
    """containerd with its CRI plugin for the module, on minioci's direct
    path or served; afterwards, nothing of it is left."""
    tmp = tmp_path_factory.mktemp("cri")
    conf = tmp / "minioci.conf"
    conf.write_text(f'timing_dir = "{tmp}/timing"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIOCI_")}
    env.update(MINIOCI_CONFIG=str(conf), MINIOCI_SERVE="always" if request.param == "served" else "never")
    existed = {d for d in HOST_DIRS if os.path.exists(d)}
    left = []
    with engines.host_dirs_left_as_found(HOST_DIRS):      # those it must make, gone again if empty
        with engines.minioci_served(request.param):
            k = cri.ContainerdCri(tmp, MINIOCI, api, env=env)
            k.route = request.param
            k.timing_dir = tmp / "timing"
            try:
                yield k
            finally:
                left += k.shutdown()
    left += [f"host directory {d}" for d in HOST_DIRS if os.path.exists(d) and d not in existed]
    assert not left, f"containerd left behind: {left}"


class Pod:
    """A pod sandbox of the test's, removed afterwards whatever happens;
    its cgroups go below a parent of its own."""

    def __init__(self, kube, name, pid_mode, network=None, hostname="", privileged=False, sysctls=None):
        self.kube, self.api = kube, kube.cri.api
        api = self.api
        self.network = api.NODE if network is None else network
        self.parent = f"/minioci-cri-{uuid.uuid4().hex[:8]}"
        self.log_dir = kube.tmp / "pods" / name
        self.config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="minioci-test"),
            hostname=hostname, log_directory=str(self.log_dir),
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=self.parent, sysctls=sysctls or {},
                security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=self.network, pid=pid_mode, ipc=api.POD),
                    privileged=privileged)))
        self.id = kube.cri.RunPodSandbox(config=self.config, runtime_handler=cri.HANDLER).pod_sandbox_id
        self.containers = []

    def pid(self):
        return json.loads(self.kube.cri.PodSandboxStatus(pod_sandbox_id=self.id, verbose=True).info["info"])["pid"]

    def container(self, name, command, pid_mode, security=None, resources=None, **config):
        """Create and start a container in the pod; its id."""
        api = self.api
        ctx = api.LinuxContainerSecurityContext(
            namespace_options=api.NamespaceOption(network=self.network, pid=pid_mode, ipc=api.POD),
            **(security or {}))
        cfg = api.ContainerConfig(metadata=api.ContainerMetadata(name=name), image=api.ImageSpec(image=cri.IMAGE),
                                  command=command, log_path=f"{name}.log",
                                  linux=api.LinuxContainerConfig(security_context=ctx, resources=resources), **config)
        cid = self.kube.cri.CreateContainer(pod_sandbox_id=self.id, config=cfg,
                                            sandbox_config=self.config).container_id
        self.containers.append(cid)
        self.kube.cri.StartContainer(container_id=cid)
        return cid

    def container_pid(self, cid):
        return json.loads(self.kube.cri.ContainerStatus(container_id=cid, verbose=True).info["info"])["pid"]

    def exec(self, cid, *cmd):
        return self.kube.cri.ExecSync(container_id=cid, cmd=list(cmd), timeout=60)

    def log(self, name):
        try:
            return (self.log_dir / f"{name}.log").read_text()
        except FileNotFoundError:
            return ""

    def remove(self):
        """Stop and remove it unless the test did (containerd 1.6 answers
        NotFound for a removed pod); the cgroups left are returned and
        removed, the parent's with them."""
        api = self.api
        if self.kube.cri.ListPodSandbox(filter=api.PodSandboxFilter(id=self.id)).items:
            self.kube.cri.StopPodSandbox(pod_sandbox_id=self.id)
            self.kube.cri.RemovePodSandbox(pod_sandbox_id=self.id)
        left = [d for cid in [self.id] + self.containers for d in cgroup_dirs(cid)]
        engines.remove_cgroups(engines.cgroup_parents(self.parent.lstrip("/")))
        return left


@pytest.fixture
def pods(kube):
    """Pods made by the test: afterwards each is gone, with all it had: no
    sandbox or container in containerd, no minioci state entry under the
    root the shim passes, no cgroup, no process, no mount."""
    made = []

    def new(name, pid_mode, **how):
        made.append(Pod(kube, name, pid_mode, **how))
        return made[-1]

    yield new
    left = []
    for pod in made:
        left += [f"cgroup {d}" for d in pod.remove()]
    left += [f"pod {p.id}" for p in kube.cri.ListPodSandbox().items]
    left += [f"container {c.id}" for c in kube.cri.ListContainers().containers]
    if os.path.isdir(kube.runtime_root):
        left += [f"minioci state {e}" for e in os.listdir(kube.runtime_root) if e != "seccomp-cache"]
    left += [f"mount {m}" for m in engines.mounts_under(str(kube.tmp))]
    left += [f"network namespace {n}" for n in glob.glob(str(kube.tmp / "state/io.containerd.grpc.v1.cri/netns/*"))]
    links = subprocess.run(["ip", "-o", "link", "show", "master", kube.bridge], capture_output=True, text=True)
    left += [f"link {line.split(':')[1].strip()}" for line in links.stdout.splitlines()]
    assert not left, f"left behind: {left}"


def ns(pid, name):
    return os.readlink(f"/proc/{pid}/ns/{name}")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def timings(kube, cid):
    """{command: paths} of the minioci commands the host config file saw
    for container `cid`: "served" (its phases begin with the server's) or
    "direct" (with the interpreter's start)."""
    out = {}
    for path in glob.glob(str(kube.timing_dir / f"{cid}.*.json")):
        command = os.path.basename(path).split(".")[1]
        with open(path) as f:
            phases = [p["phase"] for p in json.load(f)["phases"]]
        out.setdefault(command, set()).add("served" if "server" in phases else
                                           "direct" if "interpreter" in phases else "?")
    return out


def test_version(kube):
    v = kube.cri.Version(version="v1")
    assert (v.runtime_name, v.runtime_api_version) == ("containerd", "v1")


def test_a_handler_containerd_does_not_know_is_refused(kube):
    """A RuntimeClass naming a handler the node lacks fails the pod at once
    (docs/kubernetes.md says so), rather than running it on runc."""
    api = kube.cri.api
    config = api.PodSandboxConfig(metadata=api.PodSandboxMetadata(name="nohandler", uid=uuid.uuid4().hex,
                                                                  namespace="minioci-test"))
    with pytest.raises(grpc.RpcError) as refused:
        kube.cri.RunPodSandbox(config=config, runtime_handler="no-such-handler")
    assert "no-such-handler" in refused.value.details(), refused.value.details()
    assert kube.cri.ListPodSandbox().items == []


def test_a_pod_sharing_its_pid_namespace(kube, pods):
    """A pod with shareProcessNamespace (PID namespace POD), the host's
    network: two containers in the pod's IPC and PID namespaces, seen from
    outside and inside; exec, logs, stats, an update, stop and remove."""
    api = kube.cri.api
    pod = pods("shared", api.POD)
    status = kube.cri.PodSandboxStatus(pod_sandbox_id=pod.id).status
    assert (status.state, status.runtime_handler) == (api.SANDBOX_READY, cri.HANDLER)
    a = pod.container("a", ["/bin/sh", "-c", "echo hello from a; echo to stderr >&2; "
                                             "trap 'exit 7' TERM; while :; do sleep 1000 & wait; done"], api.POD)
    b = pod.container("b", ["/bin/sh", "-c", "echo b is up; exec sleep 1001"], api.POD)
    # minioci runs them: its state entries are under the root the shim passes
    assert set(os.listdir(kube.runtime_root)) >= {pod.id, a, b}

    # the namespaces, from outside: the pod's IPC and PID, the host's network and UTS
    sandbox, pa, pb = pod.pid(), pod.container_pid(a), pod.container_pid(b)
    host = os.getpid()
    for pid in (pa, pb):
        assert ns(pid, "pid") == ns(sandbox, "pid") != ns(host, "pid")
        assert ns(pid, "ipc") == ns(sandbox, "ipc") != ns(host, "ipc")
        assert ns(pid, "net") == ns(host, "net") and ns(pid, "uts") == ns(host, "uts")
        assert ns(pid, "mnt") not in (ns(sandbox, "mnt"), ns(host, "mnt"))
    assert ns(pa, "mnt") != ns(pb, "mnt")
    # and from inside: the same namespaces, the pause process as PID 1, b's process seen from a
    r = pod.exec(a, "/bin/sh", "-c", "for n in ipc net pid uts; do readlink /proc/self/ns/$n; done; "
                                     "cat /proc/1/cmdline; echo; cat /proc/*/cmdline | tr '\\0' ' '")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[:4] == [ns(pa, n) for n in ("ipc", "net", "pid", "uts")]
    assert lines[4].split("\0")[:3] == cri.PAUSE
    assert "sleep 1001" in lines[5]

    # ExecSync: output, errors and the exit status
    r = pod.exec(b, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3)

    # the logs the CRI writes: "<time> <stream> F <line>" per line
    assert engines.wait_until(lambda: "b is up" in pod.log("b"))
    assert engines.wait_until(lambda: "to stderr" in pod.log("a"))
    streams = [line.split(" ", 3)[1:] for line in pod.log("a").splitlines()]
    assert sorted(streams) == [["stderr", "F", "to stderr"], ["stdout", "F", "hello from a"]]   # two pipes: either first

    # stats, read by the shim from the container's cgroup
    stats = kube.cri.ContainerStats(container_id=a).stats
    assert stats.attributes.id == a and stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0

    # an update: the shim's `update --resources -`, into the cgroup where this host keeps memory
    limit = 96 << 20
    kube.cri.UpdateContainerResources(container_id=b, linux=api.LinuxContainerResources(memory_limit_in_bytes=limit))
    name = "memory.limit_in_bytes" if cgroup_layout().where("memory") == "v1" else "memory.max"
    files = [os.path.join(d, name) for d in cgroup_dirs(b) if os.path.exists(os.path.join(d, name))]
    assert files and [open(f).read().strip() for f in files] == [str(limit)]

    # stop: a's TERM trap ends it (its sleep, left in the pod's PID namespace,
    # goes with the shim's `kill --all`); b, given no time, is killed
    a_sleep = [int(p) for p in open(f"/proc/{pa}/task/{pa}/children").read().split()]
    kube.cri.StopContainer(container_id=a, timeout=30)
    kube.cri.StopContainer(container_id=b, timeout=0)
    for cid, code in ((a, 7), (b, 137)):
        st = kube.cri.ContainerStatus(container_id=cid).status
        assert (st.state, st.exit_code) == (api.CONTAINER_EXITED, code), st
    assert engines.wait_until(lambda: not any(alive(p) for p in [pa, pb] + a_sleep))
    for cid in (a, b):
        kube.cri.RemoveContainer(container_id=cid)
        assert not cgroup_dirs(cid), f"cgroup of {cid} left"
    assert kube.cri.ListContainers(filter=api.ContainerFilter(pod_sandbox_id=pod.id)).containers == []
    assert a not in os.listdir(kube.runtime_root) and b not in os.listdir(kube.runtime_root)

    kube.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    assert kube.cri.PodSandboxStatus(pod_sandbox_id=pod.id).status.state == api.SANDBOX_NOTREADY
    assert engines.wait_until(lambda: not alive(sandbox))
    kube.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    assert kube.cri.ListPodSandbox(filter=api.PodSandboxFilter(id=pod.id)).items == []

    # each minioci command of the pod took the path this module asked for
    for cid in (pod.id, a, b):
        seen = timings(kube, cid)
        assert {"create", "start", "delete"} <= set(seen), (cid, seen)
        assert all(paths == {kube.route} for paths in seen.values()), (cid, seen)
    assert timings(kube, a)["exec"] == {kube.route}


def test_a_pod_whose_containers_have_their_own_pid_namespace(kube, pods):
    """The kubelet's default for a pod (PID namespace CONTAINER), with a
    container as a restricted pod asks: a user, no new privileges, the
    runtime's default seccomp profile (containerd's, through minioci's
    seccomp), a read-only root.  The pod is stopped with the container
    still running: StopPodSandbox stops it, RemovePodSandbox removes it."""
    api = kube.cri.api
    pod = pods("own-pid", api.CONTAINER)
    c = pod.container("c", ["/bin/sh", "-c", "exec sleep 1002"], api.CONTAINER,
                      security=dict(run_as_user=api.Int64Value(value=1000), no_new_privs=True, readonly_rootfs=True,
                                    seccomp=api.SecurityProfile(profile_type=api.SecurityProfile.RuntimeDefault)))
    sandbox, pc = pod.pid(), pod.container_pid(c)
    assert ns(pc, "pid") not in (ns(sandbox, "pid"), ns(os.getpid(), "pid"))
    assert ns(pc, "ipc") == ns(sandbox, "ipc")
    r = pod.exec(c, "/bin/sh", "-c", "id -u; cat /proc/1/cmdline; echo; grep -E '^(Seccomp|NoNewPrivs):' "
                                     "/proc/self/status; grep '^[^ ]* / ' /proc/self/mounts")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1000" and lines[1] == "sleep\x001002\x00"
    assert sorted(line.split()[1] for line in lines[2:4]) == ["1", "2"]      # NoNewPrivs 1, Seccomp 2 (filter)
    assert lines[4].split()[3].split(",")[0] == "ro", lines[4]

    kube.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    st = kube.cri.ContainerStatus(container_id=c).status
    assert st.state == api.CONTAINER_EXITED and st.exit_code == 137, st
    assert engines.wait_until(lambda: not (alive(pc) or alive(sandbox)))
    kube.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    assert kube.cri.ListContainers(filter=api.ContainerFilter(id=c)).containers == []
    assert not set(os.listdir(kube.runtime_root)) & {pod.id, c}


def test_containers_that_exit_or_cannot_start(kube, pods):
    """A container that ends by itself keeps its exit status; one whose
    command does not exist fails StartContainer with minioci's message,
    which the shim reads from the log it gave minioci and the CRI passes
    on, in the words a kubelet shows (`no such file or directory`)."""
    api = kube.cri.api
    pod = pods("failing", api.CONTAINER)
    done = pod.container("done", ["/bin/sh", "-c", "echo bye; exit 3"], api.CONTAINER)
    assert engines.wait_until(lambda: kube.cri.ContainerStatus(container_id=done).status.state
                              == api.CONTAINER_EXITED)
    st = kube.cri.ContainerStatus(container_id=done).status
    assert st.exit_code == 3 and st.finished_at > 0, st      # (containerd stamps started_at after start returns)
    with pytest.raises(grpc.RpcError) as failed:
        pod.container("missing", ["/no/such/binary"], api.CONTAINER)
    message = failed.value.details()
    assert "/no/such/binary" in message and "no such file or directory" in message, message
    missing = pod.containers[-1]
    st = kube.cri.ContainerStatus(container_id=missing).status
    assert st.state == api.CONTAINER_EXITED and st.exit_code != 0, st
    for cid in (done, missing):
        kube.cri.RemoveContainer(container_id=cid)
    assert not set(os.listdir(kube.runtime_root)) & {done, missing}


def test_a_pod_on_its_own_network(kube, pods):
    """A pod on a network of its own (CNI's bridge plugin, offline: no
    gateway, no route out): containerd makes the pod's network namespace
    and its hostname's UTS namespace, and each container joins them by path.
    Two containers talk over the pod's loopback, as a pod's containers do."""
    missing = cri.cni_plugins_missing()
    if missing:
        pytest.skip(f"needs the CNI plugins {missing} in {cri.CNI_BIN} (Debian's containernetworking-plugins)")
    api = kube.cri.api
    pod = pods("net", api.CONTAINER, network=api.POD, hostname="minioci-pod")
    ip = kube.cri.PodSandboxStatus(pod_sandbox_id=pod.id).status.network.ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(cri.POD_SUBNET), ip
    # (nc's stdin held open: at EOF busybox's nc may close before it reads)
    a = pod.container("a", ["/bin/sh", "-c", "sleep 1003 | nc -l -p 7777"], api.CONTAINER)
    b = pod.container("b", ["/bin/sh", "-c", "exec sleep 1004"], api.CONTAINER)
    sandbox, pa, pb = pod.pid(), pod.container_pid(a), pod.container_pid(b)
    host = os.getpid()
    for pid in (pa, pb):
        for name in ("net", "uts", "ipc"):
            assert ns(pid, name) == ns(sandbox, name) != ns(host, name), name
    r = pod.exec(b, "/bin/sh", "-c", "hostname; ip -o -4 addr show eth0; "
                                     "until echo over the pod loopback | nc 127.0.0.1 7777; do sleep 0.1; done")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "minioci-pod" and f" {ip}/" in lines[1], lines
    assert engines.wait_until(lambda: "over the pod loopback" in pod.log("a"))
    kube.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    kube.cri.RemovePodSandbox(pod_sandbox_id=pod.id)


def test_volumes_env_and_mount_propagation(kube, pods, tmp_path):
    """What a kubelet gives a container besides its image: a working
    directory, environment variables, and volumes (host directories, as
    emptyDir and hostPath are): read-only, HostToContainer (a mount made on
    the host later shows inside: rslave) and Bidirectional (a mount made
    inside shows on the host: rshared; a privileged container's, in a
    privileged pod, as Kubernetes allows it).  Their host directories are
    shared mounts of the test's own, as the CRI requires (this host's / is
    private)."""
    api = kube.cri.api
    ro, h2c, bidi = (tmp_path / n for n in ("ro", "h2c", "bidi"))
    for d in (ro, h2c, bidi):
        d.mkdir()
    (ro / "file").write_text("from the host\n")
    (h2c / "later").mkdir()
    (bidi / "inside").mkdir()
    try:
        for d in (h2c, bidi):
            for how in (["--bind", str(d), str(d)], ["--make-shared", str(d)]):
                subprocess.run(["mount", *how], check=True)
        pod = pods("volumes", api.CONTAINER, privileged=True)
        mounts = [api.Mount(container_path="/ro", host_path=str(ro), readonly=True),
                  api.Mount(container_path="/h2c", host_path=str(h2c), propagation=api.PROPAGATION_HOST_TO_CONTAINER),
                  api.Mount(container_path="/bidi", host_path=str(bidi), propagation=api.PROPAGATION_BIDIRECTIONAL)]
        c = pod.container("c", ["/bin/sh", "-c", "exec sleep 1005"], api.CONTAINER, security=dict(privileged=True),
                          mounts=mounts, working_dir="/ro", envs=[api.KeyValue(key="GREETING", value="hi there")])
        r = pod.exec(c, "/bin/sh", "-c", 'pwd; echo "$GREETING"; cat file; touch /ro/x 2>&1 || true')
        assert r.exit_code == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[:3] == ["/ro", "hi there", "from the host"], lines
        assert "Read-only file system" in lines[3], lines

        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "later", str(h2c / "later")], check=True)
        (h2c / "later" / "marker").write_text("mounted after the start\n")
        r = pod.exec(c, "cat", "/h2c/later/marker")
        assert (r.exit_code, r.stdout) == (0, b"mounted after the start\n"), r.stderr

        r = pod.exec(c, "/bin/sh", "-c", "mount -t tmpfs -o size=1m inside /bidi/inside && echo from inside > "
                                         "/bidi/inside/marker")
        assert r.exit_code == 0, r.stderr
        assert (bidi / "inside" / "marker").read_text() == "from inside\n"
        kube.cri.StopPodSandbox(pod_sandbox_id=pod.id)
        kube.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    finally:
        engines.unmount_under(str(tmp_path))


def test_resources_sysctls_and_a_terminal_as_a_kubelet_sets_them(kube, pods):
    """A Burstable pod's container as a kubelet sets it up: CPU shares,
    quota and period, a memory limit and an OOM score adjustment, found in
    its cgroup where this host keeps each controller (v1 or v2) and in
    /proc; the pod's namespaced sysctls (its IPC namespace's), seen inside;
    and a container with a terminal (`tty: true`: the shim's console
    socket), whose output the CRI logs."""
    api = kube.cri.api
    host_msgmax = open("/proc/sys/kernel/msgmax").read()
    pod = pods("limits", api.CONTAINER, sysctls={"kernel.shm_rmid_forced": "1", "kernel.msgmax": "4096"})
    limits = api.LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=512,
                                         memory_limit_in_bytes=80 << 20, oom_score_adj=500)
    c = pod.container("c", ["/bin/sh", "-c", "exec sleep 1006"], api.CONTAINER, resources=limits)
    pc = pod.container_pid(c)
    assert open(f"/proc/{pc}/oom_score_adj").read().strip() == "500"
    layout, dirs = cgroup_layout(), cgroup_dirs(c)

    def read(v1_name, v2_name):
        name = v1_name if layout.where(v1_name.split(".")[0]) == "v1" else v2_name
        found = [open(os.path.join(d, name)).read().strip() for d in dirs if os.path.exists(os.path.join(d, name))]
        assert len(found) == 1, (name, dirs)
        return found[0]

    assert read("memory.limit_in_bytes", "memory.max") == str(80 << 20)
    if layout.where("cpu") == "v1":
        assert (read("cpu.cfs_quota_us", ""), read("cpu.cfs_period_us", ""), read("cpu.shares", "")) == \
            ("50000", "100000", "512")
    else:
        assert read("", "cpu.max") == "50000 100000"
    r = pod.exec(c, "cat", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/kernel/msgmax")
    assert (r.exit_code, r.stdout) == (0, b"1\n4096\n"), r.stderr
    assert open("/proc/sys/kernel/msgmax").read() == host_msgmax        # the host's own is untouched

    t = pod.container("t", ["/bin/sh", "-c", "tty; echo on a terminal; exec sleep 1007"], api.CONTAINER, tty=True)
    assert engines.wait_until(lambda: "on a terminal" in pod.log("t"))
    lines = [line.split(" ", 3)[1:] for line in pod.log("t").splitlines()]
    assert lines == [["stdout", "F", "/dev/pts/0"], ["stdout", "F", "on a terminal"]], lines
    assert pod.exec(t, "tty").stdout.startswith(b"not a tty")      # ExecSync has no terminal
