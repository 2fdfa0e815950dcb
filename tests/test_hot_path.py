"""The warm `run` path loads only what it needs: a sys.modules check, as the
launcher starts Python (-I -S), never a timer."""
import json
import os
import subprocess
import sys

import pytest

from conftest import IS_ROOT, REPO
from minioci.cli import HOST_CONFIG

SITE = [p for p in sys.path if p.endswith("site-packages")]

# Standard-library modules a warm run may import beyond the interpreter's own
# start: os and what it needs, the C halves of json and hashlib, fcntl (locks),
# gc (built in: to turn the collector off) and cffi's backend.  Everything heavy (re, enum, json, subprocess, ctypes,
# signal, typing, logging, argparse, pyseccomp, pyroute2...) must stay out.
ALLOWED_STDLIB = {"os", "os.path", "posixpath", "genericpath", "stat", "_stat", "_collections_abc",
                  "_json", "_sha256", "fcntl", "gc", "_cffi_backend"}
# minioci modules that serve other paths only
FORBIDDEN_MINIOCI = ("minioci.bench", "minioci.network", "minioci.terminal", "minioci.seccomp.compile",
                     "minioci.seccomp.commands", "minioci.specgen",
                     "minioci.seccomp.profile")    # a cache hit does not parse the profile again

PROBE = """
import sys
sys.path += {site!r}
before = set(sys.modules)
from minioci.cli import main
code = main(["--root", {root!r}, "run", {bundle!r}])
print("MODULES", sorted(set(sys.modules) - before), code)
"""


def loaded_by_run(root, bundle):
    code = PROBE.format(site=SITE, root=str(root), bundle=str(bundle))
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    line = next(line for line in r.stdout.splitlines() if line.startswith("MODULES "))
    modules, status = line[len("MODULES "):].rsplit(" ", 1)
    assert status == "0", r.stderr
    return set(json.loads(modules.replace("'", '"')))


@pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root")
@pytest.mark.parametrize("bundle", ["busybox", "podman-default"])
def test_warm_run_loads_only_the_lean_set(tmp_path, bundle):
    root = tmp_path / "root"
    loaded_by_run(root, REPO / "bundles" / bundle)            # fills the seccomp cache
    modules = loaded_by_run(root, REPO / "bundles" / bundle)  # the warm run
    stdlib = {m for m in modules if not m.startswith("minioci")}
    assert stdlib <= ALLOWED_STDLIB, sorted(stdlib - ALLOWED_STDLIB)
    assert not [m for m in modules if m.startswith(FORBIDDEN_MINIOCI)]
    assert "minioci.shim" in modules and "minioci.plan" in modules    # the probe saw the real path
    # seccomp's package only where the config has a filter
    assert ("minioci.seccomp" in modules) == (bundle == "podman-default")
    # the host's config file: a host without one pays one failed open(), no import
    if not os.path.exists(HOST_CONFIG) and "MINIOCI_CONFIG" not in os.environ:
        assert "minioci.hostconfig" not in modules


SERVED_PROBE = """
import os, sys
sys.path += {site!r}
from minioci import server
from minioci.cli import main
server.warm_up()
pid = os.fork()
if pid == 0:                       # a worker, as the server forks one: what it imports, every request pays
    before = set(sys.modules)
    code = main(["--root", {root!r}, "run", {bundle!r}])
    print("MODULES", sorted(set(sys.modules) - before), code, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not IS_ROOT, reason="starts real containers: needs root")
@pytest.mark.parametrize("bundle", ["busybox", "podman-default"])
def test_a_served_run_imports_nothing_the_server_could_have(tmp_path, bundle):
    """A server imports what a request needs before it forks the worker
    (server.WARM_MODULES): an import in the worker costs every request
    ~0.5 ms, a fork's page copies included."""
    root = tmp_path / "root"
    loaded_by_run(root, REPO / "bundles" / bundle)            # fills the seccomp cache
    code = SERVED_PROBE.format(site=SITE, root=str(root), bundle=str(REPO / "bundles" / bundle))
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    line = next(line for line in r.stdout.splitlines() if line.startswith("MODULES "))
    modules, status = line[len("MODULES "):].rsplit(" ", 1)
    assert status == "0", r.stderr
    assert json.loads(modules.replace("'", '"')) == []
