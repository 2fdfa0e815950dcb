"""config.json → Spec: parsing and validation, no root needed."""
import copy
import json

import pytest

from minioci import spec
from minioci.errors import ConfigError
from conftest import base_config


def parse(cfg, tmp_path):
    cfg = copy.deepcopy(cfg)
    cfg["root"]["path"] = str(tmp_path)
    return spec.parse(cfg, "b/config.json", str(tmp_path))


def test_runc_default_config_parses(tmp_path):
    s = parse(base_config(["sh", "-c", "echo hi"]), tmp_path)
    assert s.process.args == ["sh", "-c", "echo hi"]
    assert s.namespaces == {"pid": "", "network": "", "ipc": "", "uts": "", "mount": "", "cgroup": ""}
    caps = s.process.capabilities
    want = (1 << spec.CAP_NUMBERS["CAP_AUDIT_WRITE"]) | (1 << 5) | (1 << 10)
    assert caps.bounding == caps.effective == caps.permitted == caps.ambient == want
    assert caps.inheritable == 0
    assert s.process.rlimits == [(7, "RLIMIT_NOFILE", 1024, 1024)]
    assert s.root.readonly is True


def test_mount_options_become_flags_propagation_and_data(tmp_path):
    cfg = base_config()
    cfg["mounts"] = [{"destination": "/a/../data", "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", "ro", "rw", "rshared", "mode=755", "size=1m"]},
                     {"destination": "/b", "type": "bind", "source": str(tmp_path), "options": ["rbind", "ro"]}]
    m, b = parse(cfg, tmp_path).mounts
    assert m.destination == "/data"
    assert m.flags == spec.MS_NOSUID | spec.MS_NODEV          # rw clears ro
    assert m.propagation == spec.MS_SHARED | spec.MS_REC
    assert m.data == "mode=755,size=1m"
    assert b.bind and b.flags == spec.MS_BIND | spec.MS_REC | spec.MS_RDONLY


def test_relative_bind_source_is_relative_to_the_bundle(tmp_path):
    (tmp_path / "data").mkdir()
    cfg = base_config()
    cfg["mounts"] = [{"destination": "/d", "type": "bind", "source": "data"}]
    assert parse(cfg, tmp_path).mounts[0].source == str(tmp_path / "data")


def test_load_reads_the_bundle(tmp_path):
    cfg = base_config()
    cfg["root"]["path"] = "rootfs"
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    s = spec.load(str(tmp_path))
    assert s.root.path == str(tmp_path / "rootfs")
    assert s.file == str(tmp_path / "config.json")


@pytest.mark.parametrize("key,value,path", [
    ("net.ipv4.ip_forward", "1", None),
    ("kernel.shmmax", "1", None),
    ("fs.mqueue.queues_max", "1", None),
    ("vm.swappiness", "1", "linux.sysctl.vm.swappiness"),
    ("net/../../etc", "1", "linux.sysctl.net/../../etc"),
])
def test_sysctls_must_belong_to_a_namespace_of_the_container(tmp_path, key, value, path):
    cfg = base_config()
    cfg["linux"]["sysctl"] = {key: value}
    if path is None:
        assert parse(cfg, tmp_path).sysctl == {key: value}
    else:
        with pytest.raises(ConfigError) as e:
            parse(cfg, tmp_path)
        assert e.value.path == path


def test_sysctl_path():
    assert spec.sysctl_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert spec.sysctl_path("net/ipv4/conf/eth0.1/forwarding") == "/proc/sys/net/ipv4/conf/eth0.1/forwarding"


def test_uid_mappings_need_a_user_namespace_and_must_not_overlap(tmp_path):
    cfg = base_config()
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000}]
    assert parse(cfg, tmp_path).uid_mappings == [(0, 100000, 1000)]
    cfg["linux"]["uidMappings"].append({"containerID": 999, "hostID": 300000, "size": 5})
    with pytest.raises(ConfigError, match=r"linux.uidMappings\[1\]: containerID range overlaps"):
        parse(cfg, tmp_path)


def test_every_error_names_file_and_json_path(tmp_path):
    cfg = base_config()
    cfg["process"]["args"] = []
    with pytest.raises(ConfigError) as e:
        parse(cfg, tmp_path)
    assert str(e.value) == "b/config.json: process.args: must be a non-empty array of strings"


def test_unknown_fields_are_ignored(tmp_path):
    cfg = base_config()
    cfg["somethingNew"] = {"x": 1}
    cfg["process"]["alsoNew"] = True
    parse(cfg, tmp_path)


def bundle_with(tmp_path, name, cfg):
    b = tmp_path / name
    (b / "rootfs").mkdir(parents=True, exist_ok=True)
    cfg = copy.deepcopy(cfg)
    cfg["root"]["path"] = "rootfs"
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def test_every_load_is_the_callers_own_and_checks_the_host_again(tmp_path):
    """A resident worker loads a config for each request: what one
    request's start() changes in its Spec (capabilities it cannot grant, a
    network namespace) is never another's, and the host is checked again."""
    cfg = base_config()
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(tmp_path / "data")})
    (tmp_path / "data").mkdir()
    b = bundle_with(tmp_path, "b", cfg)
    first = spec.load(str(b))
    first.process.capabilities.bounding = 0
    first.namespaces["network"] = "/proc/1/ns/net"
    second = spec.load(str(b))
    assert second.process.capabilities.bounding != 0 and second.namespaces["network"] == ""
    (tmp_path / "data").rmdir()
    with pytest.raises(ConfigError, match=r"mounts\[\d+\]\.source: .*/data does not exist"):
        spec.load(str(b))


def test_mount_label_without_selinux_is_ignored_as_runc_and_crun_do(tmp_path, monkeypatch, capfd):
    cfg = base_config()
    cfg["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    monkeypatch.setattr(spec, "selinux_enabled", lambda: False)
    assert parse(cfg, tmp_path).mounts                   # parses, the label plays no part
    # ... with a warning a user sees (no --debug needed), in runc's form
    err = capfd.readouterr().err
    assert err.endswith(' level=warning msg="b/config.json: linux.mountLabel: ignored, SELinux is not enabled on this host"\n'), err
    monkeypatch.setattr(spec, "selinux_enabled", lambda: True)
    with pytest.raises(ConfigError, match="linux.mountLabel: applying SELinux labels is not supported"):
        parse(cfg, tmp_path)


def test_process_labels_are_applied_or_refused_never_ignored(tmp_path, monkeypatch):
    """An SELinux label is refused (minioci applies none); an AppArmor
    profile is applied where the host has AppArmor (test_plan), else refused."""
    cfg = base_config()
    cfg["process"]["selinuxLabel"] = "some-label"
    for on, why in ((False, "SELinux is not enabled on this host"),
                    (True, "applying SELinux .* is not supported by minioci")):
        monkeypatch.setattr(spec, "selinux_enabled", lambda: on)
        with pytest.raises(ConfigError, match=f"process.selinuxLabel: {why}"):
            parse(cfg, tmp_path)
    cfg = base_config()
    cfg["process"]["apparmorProfile"] = "docker-default"
    monkeypatch.setattr(spec, "apparmor_enabled", lambda: False)
    with pytest.raises(ConfigError, match="process.apparmorProfile: AppArmor is not enabled on this host"):
        parse(cfg, tmp_path)
    monkeypatch.setattr(spec, "apparmor_enabled", lambda: True)
    assert parse(cfg, tmp_path).process.apparmor_profile == "docker-default"
    cfg["process"]["apparmorProfile"] = "docker-default\nchangeprofile unconfined"
    with pytest.raises(ConfigError, match="process.apparmorProfile: .* a profile name has no control characters"):
        parse(cfg, tmp_path)


def test_a_relative_mount_destination_is_taken_from_the_root(tmp_path):
    """runtime-spec (Linux): it "MAY be a relative path, in which case it
    MUST be interpreted as relative to "/"."""
    cfg = base_config()
    cfg["mounts"][0]["destination"] = "proc"
    assert parse(cfg, tmp_path).mounts[0].destination == "/proc"


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.2.0", "1.1.0-rc.3+meta"])
def test_oci_versions_accepted(tmp_path, version):
    cfg = base_config()
    cfg["ociVersion"] = version
    assert parse(cfg, tmp_path).oci_version == version


def test_recursive_options_become_mount_attributes(tmp_path):
    cfg = base_config()
    cfg["mounts"] = [{"destination": "/b", "type": "bind", "source": str(tmp_path),
                      "options": ["rbind", "rro", "rnosuid", "rnoatime", "rexec", "rstrictatime"]}]
    (m,) = parse(cfg, tmp_path).mounts
    assert m.attr_set == spec.MOUNT_ATTR_RDONLY | spec.MOUNT_ATTR_NOSUID | spec.MOUNT_ATTR_STRICTATIME
    assert m.attr_clr == spec.MOUNT_ATTR_NOEXEC | spec.MOUNT_ATTR__ATIME     # one atime mode: the last
