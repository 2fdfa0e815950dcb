# The native parts are declared here because `cffi_modules` and build steps
# are setuptools features pyproject.toml cannot carry; everything else is in
# pyproject.toml.  Two products: the cffi module minioci._shim (the parent's
# side) and minioci/bin/minioci, the static executable that runs in a
# container's process (native/build_exe.py).
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build_exe  # noqa: E402


class BuildNative(build_ext):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "minioci", "bin", "minioci")
        build_exe.build(target)
        if self.inplace:
            build_exe.build(os.path.join("minioci", "bin", "minioci"))


setup(cffi_modules=["native/build_shim.py:ffibuilder"], cmdclass={"build_ext": BuildNative})
