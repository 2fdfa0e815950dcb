"""What minioci tells about itself: `spec` (a default config.json, as
`runc spec` writes it) and `features` (the runtime-spec features document)."""
from . import OCI_VERSION, __version__
from .spec import CAPABILITIES, MOUNT_OPTIONS, NAMESPACES, PROPAGATIONS, RECURSIVE_MOUNT_OPTIONS

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_config(rootless=False):
    """runc spec's default config.json: `sh` in a busybox-like rootfs."""
    cfg = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minioci",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        import os
        make_rootless(cfg, os.geteuid(), os.getegid())
    return cfg


def make_rootless(cfg, uid, gid):
    """`spec --rootless` (the caller's ids), and `bench --user`'s bundles:
    a config a plain user can run, as runc's and crun's are: a user
    namespace mapping that user's uid and gid to root (runc writes them;
    crun leaves them to the runtime), no gid=5 for
    devpts (no group 5 is mapped) and no resources (a user may have no
    cgroup to hold them: docs/rootless.md).  The network namespace stays,
    as crun keeps it: the user namespace owns it, so sysfs mounts there."""
    linux = cfg["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"] + [{"type": "user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    linux.pop("resources", None)
    for m in cfg["mounts"]:
        m["options"] = [o for o in m.get("options", []) if not o.startswith(("uid=", "gid="))]


def features():
    """The runtime-spec features document (features.md) for this build; its
    annotations say whether this caller's server (`minioci serve`) listens."""
    import os
    from .cgroups import detect
    try:
        layout = detect()
        cgroup = {"v1": bool(layout.v1), "v2": bool(layout.v2)}
    except Exception:          # no cgroupfs here: say what the code supports
        cgroup = {"v1": True, "v2": True}
    doc = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted(set(MOUNT_OPTIONS) | set(PROPAGATIONS) | set(RECURSIVE_MOUNT_OPTIONS)
                               | {"tmpcopyup"}),
        "linux": {
            "namespaces": sorted(n for n in NAMESPACES
                                 if n != "time" or os.path.exists("/proc/self/ns/time")),
            "capabilities": list(CAPABILITIES),
            "cgroup": dict(cgroup, systemd=False, systemdUser=False, rdma=True),
            "seccomp": _seccomp_features(),
            "apparmor": {"enabled": True},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": _annotations(),
    }
    return doc


def _annotations():
    """minioci's own facts, and the config annotations it reads (runc lists
    its libseccomp the same way)."""
    from .network import PREFIX
    from .network.config import MODES
    out = {"org.minioci.version": __version__,
           PREFIX + "mode": ",".join(MODES),
           "run.oci.seccomp_bpf_data": "a ready seccomp BPF program, base64 (crun's annotation)"}
    from .seccomp import libseccomp_version
    lib = libseccomp_version()
    if lib:
        out["io.github.seccomp.libseccomp.version"] = lib
    from .control import status_line
    out["org.minioci.serve"] = status_line()
    return out


def _seccomp_features():
    try:
        from .seccomp import features as seccomp_features
    except ImportError:
        return {"enabled": False}
    return seccomp_features()
