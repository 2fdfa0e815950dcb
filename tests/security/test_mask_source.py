"""CVE-2025-31133 class: masked paths bound from whatever /dev/null is.

linux.maskedPaths files are covered by binding /dev/null over them.  Bound
by path, a /dev volume whose `null` is a symlink made /proc/keys a view of
/proc/sys/kernel/core_pattern, or of a host file the container could then
write.  minioci opens the container's /dev/null once, checks that it is the
null device (character device 1:3) and binds that fd, as runc does; a
/dev/null that is anything else refuses the container.
"""
import os

import pytest

from conftest import base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

VICTIM = "the host's file, untouched\n"


def with_dev_volume(dev, script, *extra_mounts):
    """The busybox config running `script`, with the host directory `dev`
    as its /dev."""
    cfg = base_config(["sh", "-c", script])
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]
    cfg["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": str(dev), "options": ["rbind"]})
    cfg["mounts"] += list(extra_mounts)
    return cfg


@pytest.mark.parametrize("target", ["/proc/sys/kernel/core_pattern", "/victim"])
def test_a_dev_null_symlink_refuses_the_container(rt, tmp_path, target):
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "null").symlink_to(target)
    victim = tmp_path / "victim"
    victim.write_text(VICTIM)
    cfg = with_dev_volume(dev, "cat /proc/keys; echo pwned > /proc/keys",
                          {"destination": "/victim", "type": "bind", "source": str(victim), "options": ["bind"]})
    r = rt.run(cfg)
    assert r.returncode != 0, r.stdout
    assert r.stdout == ""
    assert r.stderr == "minioci: mask paths: the container's /dev/null is not the null device (1:3)\n"
    assert victim.read_text() == VICTIM


def test_a_dev_volume_with_the_null_device_masks_as_before(rt, tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    os.mknod(dev / "null", 0o20666, os.makedev(1, 3))
    cfg = with_dev_volume(dev, "stat -c %t:%T /proc/keys; cat /proc/keys | wc -c")
    assert rt.output(cfg).split() == ["1:3", "0"]
