# What pyproject.toml cannot carry: the native shim (`cffi_modules` is a
# setuptools keyword) and the native executable, which is the `minioci`
# command and lives in the package too (native/build_exe.py).
import os
import sys
import time

from setuptools import setup
from setuptools.command.build_py import build_py

from distutils.command.build_scripts import build_scripts  # setuptools provides it

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "native"))
import build_exe  # noqa: E402

EXE = os.path.join("minioci", "_exe", "minioci")      # inside the package


class BuildPy(build_py):
    """The package, plus its build id and the native executable."""

    def run(self):
        super().run()
        build_id = f"{self.distribution.get_version()}+{time.time_ns():x}.{os.urandom(3).hex()}"
        info = os.path.join(self.build_lib, "minioci", "build_info.py")
        with open(info, "w") as f:
            f.write('"""Written by setup.py: which build these files are (see minioci/server.py)."""\n'
                    f'BUILD_ID = "{build_id}"\n')
        build_exe.build(os.path.join(self.build_lib, EXE), build_id)


class BuildScripts(build_scripts):
    """The `minioci` command is the native executable, not a script."""

    def run(self):
        self.run_command("build_py")
        lib = self.get_finalized_command("build_py").build_lib
        self.mkpath(self.build_dir)
        self.copy_file(os.path.join(lib, EXE), os.path.join(self.build_dir, "minioci"))


setup(cffi_modules=["native/build_shim.py:ffibuilder"],
      cmdclass={"build_py": BuildPy, "build_scripts": BuildScripts},
      scripts=["native/main.c"])       # a stand-in: BuildScripts installs the executable as `minioci`
