# The native parts are declared here because `cffi_modules` and build steps
# are setuptools features pyproject.toml cannot carry; everything else is in
# pyproject.toml.  Two products: the cffi module minioci._shim (the parent's
# side) and minioci/bin/minioci, the static executable (native/build_exe.py),
# which is also the `minioci` command (its front end) and a container's
# process on its way to exec (minioci-init).  Each build has an id, in the
# executable and in minioci/build_info.py: a server of another build is not
# used (minioci/server.py).
import os
import sys
import time

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

from distutils.command.build_scripts import build_scripts  # setuptools provides it

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build_exe  # noqa: E402

EXE = os.path.join("minioci", "bin", "minioci")
BUILD_ID = f"{time.time_ns():x}.{os.urandom(3).hex()}"


class BuildPy(build_py):
    def run(self):
        super().run()
        with open(os.path.join(self.build_lib, "minioci", "build_info.py"), "w") as f:
            f.write('"""Written by setup.py: which build these files are (see minioci/server.py)."""\n'
                    f'BUILD_ID = "{BUILD_ID}"\n')


class BuildNative(build_ext):
    def run(self):
        super().run()
        build_exe.build(os.path.join(self.build_lib, EXE), BUILD_ID)
        if self.inplace:
            build_exe.build(EXE, BUILD_ID)


class BuildScripts(build_scripts):
    """The `minioci` command is the native executable, not a script."""

    def run(self):
        self.run_command("build_ext")
        lib = self.get_finalized_command("build_ext").build_lib
        self.mkpath(self.build_dir)
        self.copy_file(os.path.join(lib, EXE), os.path.join(self.build_dir, "minioci"))


setup(cffi_modules=["native/build_shim.py:ffibuilder"],
      cmdclass={"build_py": BuildPy, "build_ext": BuildNative, "build_scripts": BuildScripts},
      scripts=["native/main.c"])       # a stand-in: BuildScripts installs the executable as `minioci`
