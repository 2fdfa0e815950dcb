# The native parts are declared here because `cffi_modules` and build steps
# are setuptools features pyproject.toml cannot carry; everything else is in
# pyproject.toml.  Two products: the cffi module minioci._shim (the parent's
# side) and minioci/bin/minioci, the static executable that runs in a
# container's process (native/build_exe.py).  build_py also records the
# source commit, which `minioci --version` prints on its `commit:` line
# (runc's layout, read by dockerd and podman).
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "native"))
import build_exe  # noqa: E402


class BuildNative(build_ext):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "minioci", "bin", "minioci")
        build_exe.build(target)
        if self.inplace:
            build_exe.build(os.path.join("minioci", "bin", "minioci"))


def source_commit():
    try:
        r = subprocess.run(["git", "-C", HERE, "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    if r.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", HERE, "diff", "--quiet", "HEAD", "--"], capture_output=True)
    return r.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


class BuildPyWithCommit(build_py):
    def run(self):
        super().run()
        path = os.path.join(self.build_lib, "minioci", "_commit.py")
        with open(path, "w") as f:
            f.write(f"COMMIT = {source_commit()!r}\n")


setup(cffi_modules=["native/build_shim.py:ffibuilder"],
      cmdclass={"build_ext": BuildNative, "build_py": BuildPyWithCommit})
