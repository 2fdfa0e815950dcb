"""Masked and read-only paths stay so through every alias a container can
name them by (the CVE-2019-16884 class: a protection applied to one path
that another path to the same file escapes).

linux.maskedPaths are covered (/dev/null bound over a file, an empty
read-only tmpfs over a directory) and linux.readonlyPaths bound read-only
in the container's mount namespace.  Mounts belong to the dentry, so every
way to the file must meet them: through /proc/thread-self and
/proc/<pid>/task/<tid> (walking back up with ..), through /proc/<pid>/root
(the container's own processes', including its init's), for `run` and for
`exec`, and with CAP_SYS_PTRACE, which lets a process follow any other
process's /proc links.

Nothing here writes: a write check opens the file for appending and writes
nothing (`: >> file`), which is refused on a read-only mount and harmless
where it is not (sysrq-trigger does nothing until a byte is written).
"""
import os

import pytest

from .conftest import CAPS, base_config

BOTH_PATHS = True        # each test that uses rt runs direct and served (conftest.py)

MASKED = [p for p in base_config()["linux"]["maskedPaths"] if os.path.exists(p)]
# A file under each read-only path that root may open for writing on the host.
READONLY_FILES = [f for f in ("/proc/sys/kernel/printk_ratelimit", "/proc/sysrq-trigger",
                              "/proc/irq/default_smp_affinity") if os.path.exists(f)]


def aliases(path):
    """Other names for `path` inside the container."""
    out = [path, f"/proc/self/root{path}", f"/proc/1/root{path}", f"/proc/thread-self/root{path}"]
    if path.startswith("/proc/"):
        rest = path[len("/proc"):]
        # (thread-self is whichever process resolves it; $$ the shell's own task)
        out += [f"/proc/thread-self/../../..{rest}", f"/proc/$$/task/$$/../../..{rest}",
                f"/proc/1/task/1/../../..{rest}"]
    return out


def script():
    """Shell lines printing `<path> <verdict>` for every alias: masked | ro
    when protected, UNMASKED | WRITABLE | MISSING when not."""
    lines = []
    for p in MASKED:
        for a in aliases(p):
            if os.path.isdir(p):
                # an empty tmpfs, which nothing can be created in
                lines.append(f'if [ ! -e "{a}" ]; then echo "{a} MISSING"; '
                             f'elif [ -z "$(ls -A "{a}")" ] && [ "$(stat -f -c %T "{a}")" = tmpfs ] '
                             f'&& ! ( : > "{a}/x" ) 2>/dev/null; then echo "{a} masked"; else echo "{a} UNMASKED"; fi')
            else:
                lines.append(f'if [ ! -e "{a}" ]; then echo "{a} MISSING"; '
                             f'elif [ "$(stat -L -c %t:%T "{a}")" = 1:3 ] && [ -z "$(cat "{a}")" ]; '
                             f'then echo "{a} masked"; else echo "{a} UNMASKED"; fi')
    for f in READONLY_FILES:
        for a in aliases(f):
            lines.append(f'if [ ! -e "{a}" ]; then echo "{a} MISSING"; '
                         f'elif ( : >> "{a}" ) 2>/dev/null; then echo "{a} WRITABLE"; else echo "{a} ro"; fi')
    return "\n".join(lines) + "\n"


def verdicts(output):
    """[(path, verdict)], one per line."""
    return [tuple(line.rsplit(" ", 1)) for line in output.splitlines()]


def config(ptrace, script_text="exec sleep 300"):
    cfg = base_config(["sh", "-c", script_text])
    if ptrace:
        cfg["process"]["capabilities"] = {k: CAPS + ["CAP_SYS_PTRACE"] for k in ("bounding", "effective", "permitted")}
    return cfg


def check(output):
    got = verdicts(output)
    assert len(got) == sum(len(aliases(p)) for p in MASKED + READONLY_FILES) > 0, output
    bad = [(p, v) for p, v in got if v not in ("masked", "ro")]
    assert not bad, bad


def test_this_host_has_paths_to_check():
    assert MASKED and READONLY_FILES, "this host has none of the default masked or read-only paths"


@pytest.mark.parametrize("ptrace", [False, True], ids=["default caps", "CAP_SYS_PTRACE"])
def test_masked_and_readonly_paths_hold_through_every_alias_in_run(rt, ptrace):
    check(rt.output(config(ptrace, script())))


@pytest.mark.parametrize("ptrace", [False, True], ids=["default caps", "CAP_SYS_PTRACE"])
def test_masked_and_readonly_paths_hold_through_every_alias_in_exec(box, ptrace):
    cid = box.detached(config(ptrace))
    r = box.exec(cid, "sh", "-c", script())
    assert r.returncode == 0, r.stderr
    check(r.stdout)


def test_without_masks_the_same_script_sees_through(rt):
    """The check can fail: otherwise the tests above could pass by never
    looking."""
    cfg = config(False, script())
    cfg["linux"]["maskedPaths"] = []
    cfg["linux"]["readonlyPaths"] = []
    got = verdicts(rt.output(cfg))
    assert got and {v for _, v in got} <= {"UNMASKED", "WRITABLE"}, got


WATCH = r"""
n=0
while [ ! -e /dev/shm/stop ]; do
  for p in /proc/[0-9]*; do
    [ "$p" = /proc/$$ ] && continue
    t=$(stat -L -c %t:%T "$p/root/proc/keys" 2>/dev/null) || continue
    [ "$t" = 1:3 ] || echo "BYPASS $p $(cat $p/cmdline | tr '\0' ' ')"
  done
  n=$((n+1))
done
echo "rounds $n"
"""


def test_masks_hold_for_processes_joining_by_exec_with_cap_sys_ptrace(box, rt):
    """While `exec` joins, its process appears in the container's PID
    namespace: through its /proc/<pid>/root (CAP_SYS_PTRACE may follow it)
    the container must still find its own root, masked, never the host's."""
    import subprocess
    cid = box.detached(config(True))
    watcher = subprocess.Popen(rt.cmd("exec", cid, "sh", "-c", WATCH), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(30):
            assert box.exec(cid, "true").returncode == 0
    finally:
        box.exec(cid, "touch", "/dev/shm/stop")
        out, err = watcher.communicate(timeout=60)
    assert out.splitlines()[-1].startswith("rounds "), (out, err)
    assert "BYPASS" not in out, out
