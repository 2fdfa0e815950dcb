"""Malformed bundles: one clear error naming the file and the JSON path,
exit status != 0, and nothing left behind (the `rt` fixture checks state,
cgroups, host mounts and processes after each case)."""
import json
import os

import pytest

from conftest import SECCOMP_CACHE, base_config
from minioci.spec import apparmor_enabled

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)


def without(cfg, *path):
    d = cfg
    for key in path[:-1]:
        d = d[key]
    del d[path[-1]]
    return cfg


def setting(cfg, value, *path):
    d = cfg
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value
    return cfg


def ns(cfg, **types):
    """Replace linux.namespaces by [{type, path?}] from keyword args."""
    cfg["linux"]["namespaces"] = [{"type": t, **({"path": p} if p else {})} for t, p in types.items()]
    return cfg


NOT_A_NAMESPACE = "/etc/hostname"


def seccomp(architectures=None, **rule):
    """A linux.seccomp with one rule (on getcpu, ERRNO) changed by `rule`."""
    doc = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [dict({"names": ["getcpu"], "action": "SCMP_ACT_ERRNO"}, **rule)]}
    if architectures is not None:
        doc["architectures"] = architectures
    return doc

CASES = [
    # (id, config (dict, raw text or None for no file), JSON path in the message, message part)
    ("missing config.json", None, "", "cannot read: no such file or directory"),
    ("invalid JSON", '{"ociVersion": "1.0.2",}', "", "invalid JSON: Expecting property name"),
    ("not an object", "[1, 2]", "", "must be an object"),
    ("NaN is not JSON", '{"ociVersion": NaN}', "", "invalid JSON"),
    ("ociVersion missing", lambda c: without(c, "ociVersion"), "ociVersion", "is required"),
    ("ociVersion a number", lambda c: setting(c, 1, "ociVersion"), "ociVersion", "must be a string"),
    ("root missing", lambda c: without(c, "root"), "root", "is required"),
    ("rootfs does not exist", lambda c: setting(c, "/nonexistent/rootfs", "root", "path"),
     "root.path", "/nonexistent/rootfs is not a directory"),
    ("args empty", lambda c: setting(c, [], "process", "args"), "process.args",
     "must be a non-empty array of strings"),
    ("args not an array", lambda c: setting(c, "sh", "process", "args"), "process.args",
     "must be a non-empty array of strings"),
    ("args with a number", lambda c: setting(c, ["sh", 1], "process", "args"), "process.args",
     "must be a non-empty array of strings"),
    ("cwd relative", lambda c: setting(c, "tmp", "process", "cwd"), "process.cwd", "must be an absolute path"),
    ("env without =", lambda c: setting(c, ["PATH"], "process", "env"), "process.env[0]", "must be KEY=value"),
    ("uid negative", lambda c: setting(c, -1, "process", "user", "uid"), "process.user.uid",
     "must be in range 0-2147483647"),
    # Values the shim takes as a C int: runc's range, never an OverflowError.
    ("uid 2^31", lambda c: setting(c, 2**31, "process", "user", "uid"), "process.user.uid",
     "must be in range 0-2147483647"),
    ("gid 2^32-1", lambda c: setting(c, 2**32 - 1, "process", "user", "gid"), "process.user.gid",
     "must be in range 0-2147483647"),
    ("additional gid 2^31", lambda c: setting(c, [1, 2**31], "process", "user", "additionalGids"),
     "process.user.additionalGids[1]", "must be in range 0-2147483647"),
    ("umask 2^31", lambda c: setting(c, 2**31, "process", "user", "umask"), "process.user.umask",
     "must be in range 0-2147483647"),
    ("hook timeout 2^31", lambda c: setting(c, {"poststop": [{"path": "/bin/true", "timeout": 2**31}]}, "hooks"),
     "hooks.poststop[0].timeout", "must be in range 1-2147483647 (seconds)"),
    ("device uid 2^31", lambda c: setting(c, [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3,
                                               "uid": 2**31}], "linux", "devices"),
     "linux.devices[0].uid", "must be in range 0-2147483647"),
    # Found by tests/security/test_fuzz.py: strings go to the kernel as C
    # strings, and a NUL was caught only as the plan was encoded, without
    # the JSON path; a hostname too long only by sethostname's EINVAL.
    ("NUL in an arg", lambda c: setting(c, ["sh", "\0"], "process", "args"), "process.args[1]",
     "must not contain a NUL byte"),
    ("NUL in mount data", lambda c: setting(c, ["a\0b"], "mounts", 1, "options"), "mounts[1].options[0]",
     "must not contain a NUL byte"),
    ("NUL in a mount type", lambda c: setting(c, "\0", "mounts", 0, "type"), "mounts[0].type",
     "must not contain a NUL byte"),
    ("NUL in a sysctl value", lambda c: setting(c, {"net.ipv4.ip_forward": "1\0"}, "linux", "sysctl"),
     "linux.sysctl.net.ipv4.ip_forward", "must not contain a NUL byte"),
    ("NUL in cwd", lambda c: setting(c, "/\0", "process", "cwd"), "process.cwd", "must not contain a NUL byte"),
    ("hostname of 65 bytes", lambda c: setting(c, "h" * 65, "hostname"), "hostname", "must be at most 64 bytes"),
    # a config's warnings (an unknown capability) come only with a valid config
    ("hostname of 65 bytes beside a capability warned of",
     lambda c: setting(setting(c, "h" * 65, "hostname"), ["CAP_FLY"], "process", "capabilities", "bounding"),
     "hostname", "must be at most 64 bytes"),
    ("domainname of 65 bytes", lambda c: setting(c, "d" * 65, "domainname"), "domainname",
     "must be at most 64 bytes"),
    # Found by the fuzz test: capset(2)'s EPERM, without the JSON path.
    ("effective outside permitted", lambda c: setting(c, ["CAP_KILL", "CAP_SYS_ADMIN"], "process", "capabilities",
                                                      "effective"),
     "process.capabilities.effective", "CAP_SYS_ADMIN is not in permitted"),
    ("inheritable outside bounding", lambda c: setting(c, ["CAP_SYS_ADMIN"], "process", "capabilities",
                                                       "inheritable"),
     "process.capabilities.inheritable", "CAP_SYS_ADMIN is not in bounding"),
    ("oomScoreAdj 2^63", lambda c: setting(c, 2**63, "process", "oomScoreAdj"), "process.oomScoreAdj",
     "must be from -1000 to 1000"),
    ("user missing", lambda c: without(c, "process", "user"), "process.user", "is required"),
    ("terminal a string", lambda c: setting(c, "yes", "process", "terminal"), "process.terminal",
     "must be a boolean"),
    ("bad rlimit name", lambda c: setting(c, [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}], "process", "rlimits"),
     "process.rlimits[0].type", "unknown rlimit 'RLIMIT_FOO'"),
    ("rlimit soft above hard", lambda c: setting(c, [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}],
                                                 "process", "rlimits"),
     "process.rlimits[0]", "soft limit 9 is above hard limit 1"),
    ("rlimit twice", lambda c: setting(c, [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2, "process", "rlimits"),
     "process.rlimits[1].type", "RLIMIT_NOFILE is given twice"),
    ("oomScoreAdj out of range", lambda c: setting(c, 5000, "process", "oomScoreAdj"), "process.oomScoreAdj",
     "must be from -1000 to 1000"),
    # Refused where the host has no AppArmor; where it has, a profile it has not loaded fails the start.
    ("apparmor without AppArmor", lambda c: setting(c, "minioci-no-such-profile", "process", "apparmorProfile"),
     "process.apparmorProfile", "no such file or directory" if apparmor_enabled() else
     "AppArmor is not enabled on this host"),
    ("unknown namespace type", lambda c: ns(c, pid="", mount="", bogus=""), "linux.namespaces[2].type",
     "unknown namespace type 'bogus'"),
    ("namespace twice", lambda c: setting(c, [{"type": "mount"}, {"type": "mount"}], "linux", "namespaces"),
     "linux.namespaces[1].type", "namespace 'mount' is given twice"),
    ("namespace path is not a namespace", lambda c: ns(c, mount="", network=NOT_A_NAMESPACE),
     "linux.namespaces[1].path", f"{NOT_A_NAMESPACE} is not a network namespace"),
    ("namespace path of the wrong type", lambda c: ns(c, mount="", network="/proc/self/ns/uts"),
     "linux.namespaces[1].path", "/proc/self/ns/uts is not a network namespace"),
    ("namespace path missing", lambda c: ns(c, mount="", ipc="/nonexistent/ns"),
     "linux.namespaces[1].path", "/nonexistent/ns: no such file or directory"),
    ("uid maps overlap", lambda c: setting(setting(setting(ns(c, mount="", user=""), [
        {"containerID": 0, "hostID": 100000, "size": 100}, {"containerID": 50, "hostID": 200000, "size": 10}],
        "linux", "uidMappings"), [{"containerID": 0, "hostID": 100000, "size": 100}], "linux", "gidMappings"),
        None, "hostname"),
     "linux.uidMappings[1]", "containerID range overlaps linux.uidMappings[0]"),
    ("uid maps without a user namespace", lambda c: setting(c, [{"containerID": 0, "hostID": 1, "size": 1}],
                                                            "linux", "uidMappings"),
     "linux.uidMappings", "needs a new user namespace"),
    ("mount destination empty", lambda c: setting(c, "", "mounts", 0, "destination"),
     "mounts[0].destination", "must not be empty"),
    ("a mount's uidMappings without gidMappings",
     lambda c: setting(c, [{"containerID": 0, "hostID": 1000, "size": 1}], "mounts", 0, "uidMappings"),
     "mounts[0].gidMappings", "is required with the other"),
    ("a mount's own mappings on a proc mount",
     lambda c: setting(setting(c, [{"containerID": 0, "hostID": 1000, "size": 1}], "mounts", 0, "uidMappings"),
                       [{"containerID": 0, "hostID": 1000, "size": 1}], "mounts", 0, "gidMappings"),
     "mounts[0].uidMappings", "idmap is for bind mounts only"),
    ("a mount's mapping of size 0",
     lambda c: setting(c, [{"containerID": 0, "hostID": 1000, "size": 0}], "mounts", 0, "uidMappings"),
     "mounts[0].uidMappings[0].size", "must be greater than zero"),
    ("ociVersion not SemVer", lambda c: setting(c, "1.0", "ociVersion"),
     "ociVersion", "'1.0' is not a SemVer version"),
    ("ociVersion of another major version", lambda c: setting(c, "2.0.0", "ociVersion"),
     "ociVersion", "minioci implements version 1"),
    ("annotation with an empty key", lambda c: setting(c, {"": "x"}, "annotations"),
     "annotations", "a key must not be empty"),
    ("mount options not an array", lambda c: setting(c, "ro", "mounts", 1, "options"),
     "mounts[1].options", "must be an array of strings"),
    ("bind source missing", lambda c: setting(c, c["mounts"] + [{"destination": "/x", "type": "bind",
                                                                  "source": "/nonexistent/src"}], "mounts"),
     "mounts[7].source", "/nonexistent/src does not exist"),
    ("mount without type", lambda c: setting(c, c["mounts"] + [{"destination": "/x", "source": "tmpfs"}], "mounts"),
     "mounts[7].type", "is required unless the mount is a bind mount"),
    ("idmap without a user namespace", lambda c: setting(c, c["mounts"] + [{"destination": "/x", "type": "bind",
                                                                            "source": "/tmp",
                                                                            "options": ["rbind", "idmap"]}],
                                                         "mounts"),
     "mounts[7].options", "idmap maps ids through the container's user namespace"),
    ("idmap on a tmpfs", lambda c: setting(c, ["idmap"], "mounts", 1, "options"),
     "mounts[1].options", "idmap is for bind mounts only"),
    ("tmpcopyup on a bind mount", lambda c: setting(c, c["mounts"] + [{"destination": "/x", "type": "bind",
                                                                       "source": "/tmp",
                                                                       "options": ["tmpcopyup"]}], "mounts"),
     "mounts[7].options", "tmpcopyup is for tmpfs mounts only"),
    ("a mount inside /proc", lambda c: setting(c, c["mounts"] + [{"destination": "/proc/sys/../sys//kernel",
                                                                  "type": "tmpfs", "source": "tmpfs"}], "mounts"),
     "mounts[7].destination", "/proc/sys/kernel is inside /proc, where nothing may be mounted but /proc/cpuinfo"),
    ("a tmpfs on /proc", lambda c: setting(c, "tmpfs", "mounts", 0, "type"),
     "mounts[0].type", "'tmpfs' cannot be mounted on /proc: only a proc mount or a bind of a procfs can be"),
    ("hostname without uts", lambda c: ns(c, mount=""), "hostname", "needs a UTS namespace"),
    ("host sysctl", lambda c: setting(c, {"vm.swappiness": "10"}, "linux", "sysctl"),
     "linux.sysctl.vm.swappiness", "is not in a namespace of the container's own"),
    # crun's refusal, one line naming both fields (runc refuses kernel.hostname
    # always, and lets kernel.domainname win silently)
    ("kernel.hostname sysctl conflicts with hostname", lambda c: setting(c, {"kernel.hostname": "b"}, "linux", "sysctl"),
     "linux.sysctl.kernel.hostname", "'b' conflicts with hostname 'minioci-test' (give one of the two)"),
    ("kernel/domainname sysctl conflicts with domainname",
     lambda c: setting(setting(c, "a.example", "domainname"), {"kernel/domainname": "b.example"}, "linux", "sysctl"),
     "linux.sysctl.kernel/domainname", "'b.example' conflicts with domainname 'a.example' (give one of the two)"),
    ("net sysctl without netns", lambda c: setting(ns(c, mount="", uts=""), {"net.ipv4.ip_forward": "1"},
                                                   "linux", "sysctl"),
     "linux.sysctl.net.ipv4.ip_forward", "needs a network namespace"),
    ("device type unknown", lambda c: setting(c, [{"path": "/dev/x", "type": "z", "major": 1, "minor": 1}],
                                              "linux", "devices"),
     "linux.devices[0].type", "unknown device type 'z'"),
    ("device path relative", lambda c: setting(c, [{"path": "dev/x", "type": "c", "major": 1, "minor": 1}],
                                               "linux", "devices"),
     "linux.devices[0].path", "must be an absolute path in the container, not 'dev/x'"),
    ("device fileMode of another type", lambda c: setting(c, [{"path": "/dev/x", "type": "c", "major": 1,
                                                                "minor": 1, "fileMode": 0o60666}],
                                                          "linux", "devices"),
     "linux.devices[0].fileMode", "0o60666 is not a mode for a device of type 'c'"),
    ("hook path relative", lambda c: setting(c, {"prestart": [{"path": "hook.sh"}]}, "hooks"),
     "hooks.prestart[0].path", "must be an absolute path"),
    ("memory limit too small", lambda c: setting(c, {"memory": {"limit": 100}}, "linux", "resources"),
     "linux.resources.memory.limit", "100 bytes is too small"),
    ("pids limit a string", lambda c: setting(c, {"pids": {"limit": "10"}}, "linux", "resources"),
     "linux.resources.pids.limit", "must be an integer"),
    ("cpu shares out of range", lambda c: setting(c, {"cpu": {"shares": 1}}, "linux", "resources"),
     "linux.resources.cpu.shares", "must be from 2 to 262144"),
    ("device rule type unknown", lambda c: setting(c, {"devices": [{"allow": True, "type": "x"}]},
                                                   "linux", "resources"),
     "linux.resources.devices[0].type", "unknown device type 'x'"),
    ("timeOffsets without time ns", lambda c: setting(c, {"boottime": {"secs": 1}}, "linux", "timeOffsets"),
     "linux.timeOffsets", "needs a time namespace"),
    ("cgroupsPath with a NUL byte", lambda c: setting(c, "/minioci-test/a\0b", "linux", "cgroupsPath"),
     "linux.cgroupsPath", "must not contain a NUL byte"),
    ("argument with a NUL byte", lambda c: setting(c, ["echo", "a\0b"], "process", "args"),
     "process.args[1]", "must not contain a NUL byte"),
    ("mounts without a mount namespace", lambda c: ns(c, pid=""), "mounts[0]",
     "needs a mount namespace of the container's own"),
    ("masked paths without a mount namespace", lambda c: setting(ns(c, pid=""), [], "mounts"),
     "linux.maskedPaths", "needs a mount namespace of the container's own"),
    ("scheduler policy unknown", lambda c: setting(c, {"policy": "SCHED_FAST"}, "process", "scheduler"),
     "process.scheduler.policy", "unknown policy 'SCHED_FAST'"),
    ("realtime priority out of range", lambda c: setting(c, {"policy": "SCHED_FIFO", "priority": 0},
                                                         "process", "scheduler"),
     "process.scheduler.priority", "must be from 1 to 99 for a realtime policy"),
    ("io priority level out of range", lambda c: setting(c, {"class": "IOPRIO_CLASS_BE", "priority": 9},
                                                         "process", "ioPriority"),
     "process.ioPriority.priority", "must be from 0 to 7"),
    ("personality flags", lambda c: setting(c, {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]},
                                            "linux", "personality"),
     "linux.personality.flags", "no flags are defined"),
    ("memory policy nodes for MPOL_DEFAULT", lambda c: setting(c, {"mode": "MPOL_DEFAULT", "nodes": "0"},
                                                               "linux", "memoryPolicy"),
     "linux.memoryPolicy.nodes", "must be empty for MPOL_DEFAULT"),
    ("memory policy node list", lambda c: setting(c, {"mode": "MPOL_BIND", "nodes": "3-1"},
                                                  "linux", "memoryPolicy"),
     "linux.memoryPolicy.nodes", "'3-1' is not a list of nodes"),
    ("intelRdt unsupported", lambda c: setting(c, {"closID": "x"}, "linux", "intelRdt"),
     "linux.intelRdt", "is not supported by minioci"),
    ("seccomp unknown default action", lambda c: setting(c, {"defaultAction": "SCMP_ACT_FOO"}, "linux", "seccomp"),
     "linux.seccomp.defaultAction", "unknown action 'SCMP_ACT_FOO'"),
    ("seccomp unknown action", lambda c: setting(c, seccomp(action="SCMP_ACT_BAR"), "linux", "seccomp"),
     "linux.seccomp.syscalls[0].action", "unknown action 'SCMP_ACT_BAR'"),
    ("seccomp unknown operator", lambda c: setting(c, seccomp(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]),
                                                    "linux", "seccomp"),
     "linux.seccomp.syscalls[0].args[0].op", "unknown operator 'SCMP_CMP_XX'"),
    ("seccomp unknown architecture", lambda c: setting(c, seccomp(architectures=["SCMP_ARCH_PDP11"]),
                                                        "linux", "seccomp"),
     "linux.seccomp.architectures[0]", "unknown architecture 'SCMP_ARCH_PDP11'"),
    ("seccomp names not strings", lambda c: setting(c, seccomp(names=["getpid", 39]), "linux", "seccomp"),
     "linux.seccomp.syscalls[0].names", "must be an array of strings"),
    ("seccomp arg value negative", lambda c: setting(c, seccomp(args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]),
                                                      "linux", "seccomp"),
     "linux.seccomp.syscalls[0].args[0].value", "must be an integer from 0 to 18446744073709551615"),
    ("seccomp not an object", lambda c: setting(c, ["SCMP_ACT_ALLOW"], "linux", "seccomp"),
     "linux.seccomp", "must be an object"),
    ("seccomp NOTIFY without listener", lambda c: setting(c, seccomp(action="SCMP_ACT_NOTIFY"), "linux", "seccomp"),
     "linux.seccomp.listenerPath", "is required: linux.seccomp.syscalls[0] uses SCMP_ACT_NOTIFY"),
    ("seccomp arch libseccomp lacks", lambda c: setting(c, seccomp(architectures=["SCMP_ARCH_S390X"]),
                                                         "linux", "seccomp"),
     "linux.seccomp.architectures[0]", "SCMP_ARCH_S390X cannot be added"),
    ("seccomp BPF annotation not base64", lambda c: setting(c, {"run.oci.seccomp_bpf_data": "%%%"}, "annotations"),
     "annotations.run.oci.seccomp_bpf_data", "invalid base64"),
]


@pytest.mark.parametrize("name,change,path,message", CASES, ids=[c[0] for c in CASES])
def test_bad_config_gets_one_clear_error_and_leaves_nothing(rt, tmp_path, name, change, path, message):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if change is not None:
        text = change if isinstance(change, str) else json.dumps(change(base_config()))
        (bundle / "config.json").write_text(text)
    r = rt.call("run", "-b", bundle, rt.new_id())
    assert r.returncode != 0
    where = f"{path}: " if path else ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"minioci: {bundle}/config.json: {where}"), r.stderr
    assert message in lines[0]
    assert not os.path.exists(os.path.join(rt.root, SECCOMP_CACHE))     # not even a cache entry


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name,cgroups_path,message", [
    ("escaping with ..", "/minioci/../../etc", "must not contain '..'"),
    ("systemd form", "system.slice:minioci:x", "systemd's slice:prefix:name form"),
])
def test_bad_cgroups_path(rt, tmp_path, name, cgroups_path, message):
    r = rt.run(setting(base_config(), cgroups_path, "linux", "cgroupsPath"))
    assert r.returncode != 0 and message in r.stderr and "linux.cgroupsPath" in r.stderr


@pytest.mark.parametrize("name,change,message", [
    ("command not found", lambda c: setting(c, ["nope"], "process", "args"),
     'exec: "nope": executable file not found in $PATH'),
    ("exec of a directory", lambda c: setting(c, ["/tmp"], "process", "args"), "exec /tmp: permission denied"),
    ("unknown filesystem", lambda c: setting(c, c["mounts"] + [{"destination": "/x", "type": "nofs",
                                                                 "source": "none"}], "mounts"),
     "mount none on /x: no such device"),
    ("cwd under a file", lambda c: setting(c, "/etc/passwd/x", "process", "cwd"), "create cwd /etc/passwd/x"),
])
def test_failures_inside_the_child_are_reported_and_cleaned_up(rt, name, change, message):
    r = rt.run(change(base_config()))
    assert r.returncode != 0
    assert r.stderr.startswith("minioci: ") and message in r.stderr and r.stderr.count("\n") == 1
