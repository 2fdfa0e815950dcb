"""tests/security: one module per class of runtime attack, each run the way
a container (or a local user beside minioci) would run it, on the real
kernel, and checked from inside and outside.

The fixtures of tests/conftest.py (`rt`, `config`) apply here too: every
test leaves nothing behind.  This package (it has an __init__.py, so its
modules are `security.test_*` and `conftest` below still names
tests/conftest.py) adds what the attacks share.
"""
import json
import subprocess

import pytest

from conftest import CAPS, base_config  # noqa: F401  (re-exported for the modules here)
from minioci.spec import CAP_NUMBERS

DEVNULL = subprocess.DEVNULL


def sh(script):
    """The busybox base config running `sh -c script`."""
    return base_config(["sh", "-c", script])


def status_fields(text):
    """/proc/<pid>/status as {field: value}."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def cap_mask(*names):
    """/proc/<pid>/status's hex form of a capability set."""
    return f"{sum(1 << CAP_NUMBERS[n] for n in names):016x}"


ZERO = cap_mask()
CAP_LINES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class Box:
    """Detached containers for attacks that need a second process (exec)."""

    def __init__(self, rt):
        self.rt = rt
        self.started = []

    def detached(self, cfg, cid=None):
        """`run -d` of `cfg`; its id.  The fixture `rt` deletes it afterwards."""
        cid = cid or self.rt.new_id()
        # The container inherits our stdio: a file, not a pipe we would wait
        # on until it exits.
        err = self.rt.tmp / f"{cid}.stderr"
        with open(err, "w") as f:
            r = subprocess.run(self.rt.cmd("run", "-d", "-b", self.rt.bundle(cfg), cid), stdout=DEVNULL,
                               stderr=f, timeout=60)
        assert r.returncode == 0, err.read_text()
        self.started.append(cid)
        return cid

    def exec(self, cid, *args, process=None, flags=()):
        """`exec` a command (or, with `process`, a process.json) in `cid`."""
        if process is not None:
            path = self.rt.tmp / f"process-{cid}-{len(list(self.rt.tmp.iterdir()))}.json"
            path.write_text(json.dumps(process))
            return self.rt.call("exec", *flags, "--process", path, cid)
        return self.rt.call("exec", *flags, cid, *args)

    def state(self, cid):
        r = self.rt.call("state", cid)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def delete(self, cid):
        r = self.rt.call("delete", "--force", cid)
        assert r.returncode == 0, r.stderr


@pytest.fixture
def box(rt):
    """A Box; its containers are deleted afterwards (before `rt` checks that
    nothing is left), so a failed assertion is all a failing test reports."""
    b = Box(rt)
    yield b
    for cid in b.started:
        rt.call("delete", "--force", cid)
