# The native shim is declared here because `cffi_modules` is a setuptools
# keyword that pyproject.toml cannot carry; everything else is in pyproject.toml.
# build_py also records the source commit, which `minioci --version` prints
# on its `commit:` line (runc's layout, read by dockerd and podman).
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


def source_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        r = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    if r.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", here, "diff", "--quiet", "HEAD", "--"], capture_output=True)
    return r.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


class build_py_with_commit(build_py):
    def run(self):
        super().run()
        path = os.path.join(self.build_lib, "minioci", "_commit.py")
        with open(path, "w") as f:
            f.write(f"COMMIT = {source_commit()!r}\n")


setup(cffi_modules=["native/build_shim.py:ffibuilder"], cmdclass={"build_py": build_py_with_commit})
