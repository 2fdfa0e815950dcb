"""CVE-2023-27561 / CVE-2019-19921 class: procfs (and the kernel's other
filesystems) mounted through a symlink in the rootfs.

An image whose /proc is a symlink would have procfs land where the symlink
points, and the masked and read-only paths, laid over /proc/... by path,
would then cover something else while the real procfs stays open.  Like
runc ("must be mounted on ordinary directory"), minioci refuses to mount
proc, sysfs, mqueue, cgroup and devpts anywhere but on an ordinary
directory reached without a symlink.
"""
import os

import pytest

from conftest import base_config, small_rootfs

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)


def rootfs_with(tmp_path, links):
    """A minimal rootfs (busybox) with these (path, target) symlinks."""
    rootfs = small_rootfs(tmp_path / "rootfs")
    for path, target in links:
        (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, rootfs / path)
    (rootfs / "elsewhere").mkdir()
    return rootfs


@pytest.mark.parametrize("fstype, dest, links", [
    ("proc", "/proc", [("proc", "elsewhere")]),
    ("proc", "/proc", [("proc", "/elsewhere")]),
    ("proc", "/x/proc", [("x", "elsewhere")]),               # a symlink on the way
    ("sysfs", "/sys", [("sys", "elsewhere")]),
    ("mqueue", "/dev/mqueue", [("dev/mqueue", "../elsewhere")]),
    ("devpts", "/dev/pts", [("dev/pts", "/elsewhere")]),
], ids=["proc", "proc-absolute", "proc-under-a-symlink", "sysfs", "mqueue", "devpts"])
def test_kernel_filesystems_are_not_mounted_through_a_symlink(rt, tmp_path, fstype, dest, links):
    cfg = base_config(["sh", "-c", "cat /proc/self/mountinfo"], rootfs=rootfs_with(tmp_path, links))
    cfg["root"]["readonly"] = False
    cfg["mounts"] = [{"destination": dest, "type": fstype, "source": fstype}]
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    r = rt.run(cfg)
    assert r.returncode != 0, r.stdout
    assert r.stderr.startswith("minioci: ") and r.stderr.count("\n") == 1
    assert r.stderr.endswith(f"config.json: mounts[0]: mount {fstype} on {dest}: it must be mounted on an "
                             "ordinary directory, not through a symlink\n"), r.stderr
    assert list((tmp_path / "rootfs" / "elsewhere").iterdir()) == []


def test_with_a_symlinked_proc_the_masked_paths_are_never_left_open(rt, tmp_path):
    """The attack itself: /proc -> /fakeproc, where the image has decoys at
    the masked paths.  minioci refuses the container rather than mounting
    procfs at /fakeproc and masking the decoys."""
    rootfs = rootfs_with(tmp_path, [("proc", "fakeproc")])
    (rootfs / "fakeproc").mkdir()
    cfg = base_config(["sh", "-c", "cat /fakeproc/kcore | head -c 1 | wc -c"], rootfs=rootfs)
    cfg["root"]["readonly"] = False
    r = rt.run(cfg)
    assert r.returncode != 0 and "ordinary directory" in r.stderr, (r.stdout, r.stderr)
