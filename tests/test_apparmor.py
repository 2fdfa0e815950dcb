"""process.apparmorProfile on a host with AppArmor: the profile is entered
at the container's execve (and an exec'd process's), as with runc; a
profile the kernel does not know fails the start, naming the field.

These machines have no AppArmor (no securityfs, the module not built):
every test here checks what the host offers and skips without it.  On such
a host a profile is refused, naming the field (test_bad_input.py).
"""
import shutil
import subprocess
import uuid

import pytest

from conftest import base_config
from minioci import spec

pytestmark = pytest.mark.skipif(not spec.apparmor_enabled() or not shutil.which("apparmor_parser"),
                                reason="needs AppArmor enabled and apparmor_parser")


@pytest.fixture
def profile():
    """A profile of the test's own, loaded for the test: it lets everything
    but writing below /tmp."""
    name = f"minioci-test-{uuid.uuid4().hex[:8]}"
    text = (f"profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
            "  file,\n  capability,\n  network,\n  mount,\n  umount,\n  signal,\n  ptrace,\n  unix,\n"
            "  deny /tmp/** w,\n}\n")
    subprocess.run(["apparmor_parser", "-r"], input=text, text=True, check=True)
    yield name
    subprocess.run(["apparmor_parser", "-R"], input=text, text=True, check=False)


def sh(script):
    return base_config(["/bin/busybox", "sh", "-c", script])


def test_the_container_runs_confined_by_its_profile(rt, profile):
    cfg = sh("cat /proc/self/attr/current; touch /tmp/x 2>/dev/null && echo written || echo denied")
    cfg["process"]["apparmorProfile"] = profile
    assert rt.output(cfg).splitlines() == [f"{profile} (enforce)", "denied"]
    del cfg["process"]["apparmorProfile"]
    assert rt.output(cfg).splitlines()[1] == "written"          # the same without the profile


def test_an_exec_takes_the_containers_profile(rt, profile):
    cfg = sh("sleep 100")
    cfg["process"]["apparmorProfile"] = profile
    cid = rt.new_id()
    r = rt.call("run", "-d", "-b", rt.bundle(cfg), cid, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                capture_output=False)
    assert r.returncode == 0, r.stderr
    r = rt.call("exec", cid, "cat", "/proc/self/attr/current")
    assert (r.returncode, r.stdout) == (0, f"{profile} (enforce)\n"), r.stderr
    assert rt.call("delete", "--force", cid).returncode == 0


def test_a_profile_the_kernel_does_not_know_fails_naming_the_field(rt):
    cfg = sh("true")
    cfg["process"]["apparmorProfile"] = f"minioci-no-such-{uuid.uuid4().hex[:8]}"
    r = rt.run(cfg)
    assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
    assert "process.apparmorProfile" in r.stderr, r.stderr     # the rt fixture checks nothing is left
