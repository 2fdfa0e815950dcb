# The native parts are declared here because `cffi_modules` and build steps
# are setuptools features pyproject.toml cannot carry; everything else is in
# pyproject.toml.  Two products: the cffi module minioci._shim (the parent's
# side) and minioci/bin/minioci, the static executable (native/build_exe.py),
# which is also the `minioci` command (its front end) and a container's
# process on its way to exec (minioci-init); and beside it
# minioci/bin/minioci-timewrap, the wrapper `minioci bench engine` times an
# engine's runtime calls with.
#
# build_py records the source commit, which `minioci --version` prints on its
# `commit:` line (runc's layout, read by dockerd and podman), and the build
# id, which the executable carries too: a server of another build is not
# used (minioci/server.py).
import os
import subprocess
import sys
import time

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

from distutils.command.build_scripts import build_scripts  # setuptools provides it

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "native"))
import build_exe  # noqa: E402

EXE = os.path.join("minioci", "bin", "minioci")
TIMEWRAP = os.path.join("minioci", "bin", "minioci-timewrap")
BUILD_ID = f"{time.time_ns():x}.{os.urandom(3).hex()}"


class BuildNative(build_ext):
    def run(self):
        super().run()
        build_exe.build(os.path.join(self.build_lib, EXE), BUILD_ID)
        build_exe.build_timewrap(os.path.join(self.build_lib, TIMEWRAP))
        if self.inplace:
            build_exe.build(EXE, BUILD_ID)
            build_exe.build_timewrap(TIMEWRAP)


def source_commit():
    try:
        r = subprocess.run(["git", "-C", HERE, "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    if r.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", HERE, "diff", "--quiet", "HEAD", "--"], capture_output=True)
    return r.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


class BuildPy(build_py):
    def run(self):
        super().run()
        with open(os.path.join(self.build_lib, "minioci", "_commit.py"), "w") as f:
            f.write(f"COMMIT = {source_commit()!r}\n")
        with open(os.path.join(self.build_lib, "minioci", "build_info.py"), "w") as f:
            f.write('"""Written by setup.py: which build these files are (see minioci/server.py)."""\n'
                    f'BUILD_ID = "{BUILD_ID}"\n')


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
