"""scripts/setup and `make install`: setup installs again exactly when a
build input changed (a reinstall makes a running server stale), and the
installed command works from PATH through the link `make install` makes."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

INPUTS = ["minioci", "native", "scripts", "setup.py", "pyproject.toml", "README.md", ".gitignore"]


def _copy_of_the_sources(dest, with_git):
    for name in INPUTS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "bin"))
        else:
            shutil.copy(src, dest / name)
    (dest / "docs").mkdir()
    (dest / "docs" / "notes.md").write_text("notes\n")
    if with_git:
        for argv in (["init", "-q"], ["add", "-A"]):
            subprocess.run(["git", "-C", dest, *argv], check=True, capture_output=True)
    return dest


def _inputs(tree, **env):
    r = subprocess.run([tree / "scripts" / "build-inputs"], capture_output=True, text=True,
                       env={**os.environ, **env}, check=True)
    return r.stdout.strip()


@pytest.mark.parametrize("with_git", [True, False])
def test_build_inputs_change_with_what_the_install_is_built_from(tmp_path, with_git):
    if with_git and not shutil.which("git"):
        pytest.skip("needs git")
    tree = _copy_of_the_sources(tmp_path, with_git)
    first = _inputs(tree)
    assert _inputs(tree) == first
    (tree / "docs" / "notes.md").write_text("other notes\n")           # not a build input
    (tree / "minioci" / "__pycache__").mkdir()
    (tree / "minioci" / "__pycache__" / "x.pyc").write_bytes(b"generated")
    assert _inputs(tree) == first
    seen = {first}
    for change in (lambda: (tree / "native" / "io.c").write_text((tree / "native" / "io.c").read_text() + "\n"),
                   lambda: (tree / "minioci" / "new_module.py").write_text("# new\n"),
                   lambda: (tree / "minioci" / "log.py").unlink(),
                   lambda: (tree / "pyproject.toml").write_text((tree / "pyproject.toml").read_text() + "\n")):
        change()
        now = _inputs(tree)
        assert now not in seen
        seen.add(now)
    assert _inputs(tree, MINIOCI_EXE_CC="gcc") not in seen


def test_setup_does_not_install_again_when_nothing_changed():
    stamp = REPO / ".venv" / "minioci-build-inputs"
    if not stamp.exists() or stamp.read_text().strip() != _inputs(REPO):
        pytest.skip("the sources changed since the last setup (make test runs setup first)")
    build_info = next((REPO / ".venv" / "lib").glob("python3*/site-packages/minioci/build_info.py"))
    before = build_info.read_text()
    r = subprocess.run([REPO / "scripts" / "setup"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout and "installing minioci" not in r.stdout, r.stdout
    assert build_info.read_text() == before


def test_make_install_links_a_command_that_finds_its_venv(tmp_path):
    if not shutil.which("make"):
        pytest.skip("needs make")
    r = subprocess.run(["make", "-s", "-C", REPO, "-o", "setup", "install", f"PREFIX={tmp_path}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    link = tmp_path / "bin" / "minioci"
    assert os.readlink(link) == str(REPO / ".venv" / "bin" / "minioci")
    r = subprocess.run([link, "--version"], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})        # no venv on PATH: found through the link
    assert r.returncode == 0 and "shim: cffi API mode" in r.stdout, r.stdout + r.stderr
    subprocess.run(["make", "-s", "-C", REPO, "uninstall", f"PREFIX={tmp_path}"], check=True)
    assert not link.exists()
