"""CVE-2021-30465 class: a mount target swapped for a symlink between the
runtime's check and its mount(2).

runc resolved a mount's destination, checked it, then mounted on the path
again; a container sharing a volume with the rootfs could swap a directory
and a symlink (renameat2 RENAME_EXCHANGE) in between and land the mount on
the host.  minioci resolves each target once, inside the rootfs
(openat2 RESOLVE_IN_ROOT), and mounts on that fd's /proc/self/fd path: a
symlink, whenever it is swapped in, resolves against the rootfs.  Here a
thread swaps the directory and a symlink to a host directory as fast as it
can while containers start with mounts there.
"""
import ctypes
import os
import threading

from conftest import ROOTFS, base_config, small_rootfs

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def test_swapping_a_mount_target_for_a_symlink_never_mounts_outside_the_rootfs(rt, tmp_path):
    rootfs = small_rootfs(tmp_path / "rootfs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "a").mkdir()
    os.symlink(str(outside), rootfs / "b")

    libc = ctypes.CDLL(None, use_errno=True)
    stop = threading.Event()
    swaps = [0]

    def swap():
        a, b = str(rootfs / "a").encode(), str(rootfs / "b").encode()
        while not stop.is_set():
            if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
                swaps[0] += 1

    cfg = base_config(["sh", "-c", "true"], rootfs=rootfs)
    cfg["root"]["readonly"] = False
    cfg["mounts"] = [{"destination": "/proc", "type": "proc", "source": "proc"}] + \
        [{"destination": f"/a/m{i}", "type": "tmpfs", "source": "tmpfs"} for i in range(10)] + \
        [{"destination": f"/a/b{i}", "type": "bind", "source": str(ROOTFS / "etc"), "options": ["rbind", "ro"]}
         for i in range(5)]
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    bundle = rt.bundle(cfg)
    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        results = [rt.run(bundle) for _ in range(25)]
    finally:
        stop.set()
        thread.join()
    assert swaps[0] > 100                                # the race really ran
    # Whatever each start made of the moving target, it made it inside the
    # rootfs: the host directory is untouched (and the rt fixture checks
    # that no host mount was left), and each run succeeded or said why.
    assert list(outside.iterdir()) == []
    for r in results:
        assert r.returncode == 0 or r.stderr.count("\n") == 1, r.stderr
