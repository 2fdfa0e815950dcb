"""CVE-2025-52565 class: /dev/console bound from a path the container controls.

With `process.terminal`, the pty is also the container's /dev/console.
Bound from its /dev/pts/N path, a /dev/pts volume (its `ptmx` a symlink to
a devpts elsewhere, its `N` a symlink to /proc/sys/kernel/core_pattern) made
/dev/console a bind of core_pattern.  minioci opens /dev/pts/ptmx without
following a symlink, checks it is a devpts's ptmx (inode 2, device 5:2), and
binds the pty by its fd onto a plain file it made at /dev/console; for
`exec -t` too.
"""
import subprocess

from conftest import base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

REFUSED = "minioci: open /dev/pts/ptmx: it is not the ptmx of a devpts filesystem"


def planted_pts(tmp_path):
    """The /dev/pts volume: ptmx leads to a real devpts (mounted at
    /dev/realpts), its first ptys' numbers to core_pattern."""
    pts = tmp_path / "pts"
    pts.mkdir()
    (pts / "ptmx").symlink_to("/dev/realpts/ptmx")
    for n in range(8):
        (pts / str(n)).symlink_to("/proc/sys/kernel/core_pattern")
    return pts


def config(tmp_path, script):
    cfg = base_config(["sh", "-c", script])
    cfg["process"]["terminal"] = True
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev/pts"]
    cfg["mounts"] += [
        {"destination": "/dev/realpts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/pts", "type": "bind", "source": str(planted_pts(tmp_path)), "options": ["bind"]},
    ]
    return cfg


def in_a_terminal(cmd):
    """Run `cmd` (argv) in a terminal of its own (script(1)): (status, output)."""
    p = subprocess.Popen(["script", "-qec", " ".join(map(str, cmd)), "/dev/null"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    p.stdin.close()
    return p.wait(60), out.replace("\r", "")


def test_a_dev_pts_volume_cannot_make_the_console_another_file(rt, tmp_path):
    status, out = in_a_terminal(rt.cmd("run", "-b", rt.bundle(config(tmp_path, "stat -c %F /dev/console")),
                                       rt.new_id()))
    assert "regular" not in out                   # core_pattern: "regular empty file"
    assert status != 0 and out == REFUSED + "\n", out


def test_exec_with_a_terminal_checks_the_ptmx_too(rt, tmp_path):
    cfg = config(tmp_path, "exec sleep 300")
    cfg["process"]["terminal"] = False
    cid = rt.new_id()
    try:
        with open(tmp_path / "stderr", "w") as err:
            r = subprocess.run(rt.cmd("run", "-d", "-b", rt.bundle(cfg), cid), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        assert r.returncode == 0, (tmp_path / "stderr").read_text()
        status, out = in_a_terminal(rt.cmd("exec", "-t", cid, "tty"))
        assert status != 0 and out == REFUSED + "\n", out
    finally:
        rt.call("delete", "--force", cid)
