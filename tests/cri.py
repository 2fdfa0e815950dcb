"""A Kubernetes CRI client for the tests, and containerd with its CRI plugin
started offline on its own socket and directories.

The client speaks CRI v1 over gRPC (grpcio) with the messages of
tests/cri_api.proto, the part of k8s.io/cri-api that the tests use,
compiled with grpcio-tools' protoc into a directory of the session's
(nothing generated is kept in the tree).  It calls what a kubelet calls:
`runtime.RuntimeService(socket).RunPodSandbox(config=..., runtime_handler=...)`
builds the request from keyword arguments and returns the response.

containerd runs as ../shared/ENGINES.md says: its own --config with its root,
state, sockets, network namespaces, CNI config and leases and plugin
directory under a temporary directory, its CRI plugin on, the runtime handler `minioci` (the runc.v2
shim with BinaryName = minioci, the stanza docs/kubernetes.md shows),
sandbox_image a pause image imported beforehand (nothing is pulled), and
the cgroupfs driver (no systemd here).  It is stopped by its pid.
"""
import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import engines

CONTAINERD = "containerd"
HANDLER = "minioci"
NAMESPACE = "k8s.io"                 # containerd's namespace for the CRI's containers and images
IMAGE = "docker.io/library/minioci-busybox:latest"
PAUSE_IMAGE = "docker.io/library/minioci-pause:latest"
# The sandbox's process, as Kubernetes' pause does: nothing but wait,
# reaping, until it is killed (containerd stops a sandbox with SIGKILL); it
# is PID 1 in the pod's PID namespace.
PAUSE = ["/bin/sh", "-c", "trap 'exit 0' INT TERM; while :; do sleep 2147483647 & wait; done"]
PROTO = Path(__file__).with_name("cri_api.proto")
CNI_BIN = "/usr/lib/cni"            # Debian's containernetworking-plugins
# The pods' network, for pods not on the host's: CNI's bridge plugin on a
# bridge of the session's own, no gateway, no masquerading, no route out;
# addresses from a link-local range (nothing is sent anywhere but between
# the pods and the bridge), leased by host-local in the session's directory.
POD_SUBNET = "169.254.77.0/24"


def compile_api(out_dir):
    """The CRI messages as a Python module, compiled from PROTO into out_dir."""
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out_dir}", str(PROTO)])
    if rc != 0:
        raise RuntimeError(f"protoc failed on {PROTO}: {rc}")
    sys.path.insert(0, str(out_dir))
    try:
        return importlib.import_module("cri_api_pb2")
    finally:
        sys.path.remove(str(out_dir))


class RuntimeService:
    """runtime.v1.RuntimeService on a unix socket: each rpc of PROTO is a
    method taking the request's fields as keyword arguments."""

    def __init__(self, socket, api, timeout=120):
        import grpc
        self.api = api
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.service = api.DESCRIPTOR.services_by_name["RuntimeService"]

    def __getattr__(self, name):
        method = self.service.methods_by_name.get(name)
        if method is None:
            raise AttributeError(name)
        request = getattr(self.api, method.input_type.name)
        response = getattr(self.api, method.output_type.name)
        call = self.channel.unary_unary(f"/{self.service.full_name}/{name}",
                                        request_serializer=request.SerializeToString,
                                        response_deserializer=response.FromString)
        return lambda **fields: call(request(**fields), timeout=self.timeout)

    def close(self):
        self.channel.close()


def config_toml(tmp, minioci, cgroup_driver_systemd=False):
    """containerd's config: everything it writes under `tmp`, the CRI plugin
    with the runtime handler `minioci` as its default, no pull ever."""
    return f"""version = 2
root = "{tmp}/root"
state = "{tmp}/state"
plugin_dir = "{tmp}/plugins"
[grpc]
  address = "{tmp}/containerd.sock"
[ttrpc]
  address = "{tmp}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{tmp}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "{HANDLER}"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}.options]
        BinaryName = "{minioci}"
        Root = "{tmp}/runtime"
        SystemdCgroup = {"true" if cgroup_driver_systemd else "false"}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{tmp}/cni"
"""


def cni_conflist(tmp, bridge):
    return json.dumps({"cniVersion": "0.4.0", "name": "minioci-test", "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": False, "ipMasq": False,
         "ipam": {"type": "host-local", "dataDir": f"{tmp}/cni-leases", "ranges": [[{"subnet": POD_SUBNET}]]}}]})


def cni_plugins_missing():
    """Which CNI plugins the pod network needs that this host lacks."""
    return [p for p in ("bridge", "host-local", "loopback") if not os.access(f"{CNI_BIN}/{p}", os.X_OK)]


class ContainerdCri:
    """containerd with its CRI plugin, on `tmp`, for a session: the images
    imported into the k8s.io namespace, the CRI client ready."""

    def __init__(self, tmp, minioci, api, env=None):
        self.tmp = Path(tmp)
        self.socket = str(self.tmp / "containerd.sock")
        self.runtime_root = str(self.tmp / "runtime" / NAMESPACE)   # the --root the shim passes minioci
        config = self.tmp / "config.toml"
        config.write_text(config_toml(self.tmp, minioci))
        self.bridge = f"mocri-{uuid.uuid4().hex[:8]}"
        (self.tmp / "cni").mkdir()
        (self.tmp / "cni" / "10-minioci-test.conflist").write_text(cni_conflist(self.tmp, self.bridge))
        self.daemon = engines.Daemon([CONTAINERD, "--config", str(config)], str(self.tmp / "containerd.log"),
                                     ready=lambda: self.ctr("version").returncode == 0, what="containerd",
                                     env=env)
        self.cri = None
        try:
            for name, extra in ((IMAGE, {}), (PAUSE_IMAGE, {"Entrypoint": PAUSE, "Cmd": None})):
                archive = engines.write_oci_archive(str(self.tmp / f"{name.split('/')[-1]}.tar"), name, extra)
                r = self.ctr("image", "import", archive)
                assert r.returncode == 0, r.stderr
            self.cri = RuntimeService(self.socket, api)
        except BaseException:
            self.shutdown()
            raise

    def ctr(self, *args):
        return subprocess.run(["ctr", "-a", self.socket, "-n", NAMESPACE, *map(str, args)],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    def shutdown(self):
        """Whatever pods are left go (stopped and removed through the CRI),
        then the daemon; then what it may have left on the host: shims,
        mounts.  Returns what was left."""
        left = []
        try:
            if self.cri is not None:
                for pod in self.cri.ListPodSandbox().items:
                    left.append(f"pod {pod.id}")
                    self.cri.StopPodSandbox(pod_sandbox_id=pod.id)
                    self.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
                self.cri.close()
        finally:
            self.daemon.stop()
            left += [f"shim {p}" for p in engines.kill_processes_mentioning(self.socket)]
            left += [f"mount {m}" for m in engines.unmount_under(str(self.tmp))]
            # the bridge plugin leaves its bridge (as it does on a node)
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        return left
