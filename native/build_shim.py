"""cffi API-mode build of minioci's native shim (minioci._shim).

The parent's side lives in native/spawn.c, io.c and host.c (and plan.c, the
decoder minioci-init uses, for tests), declared in
native/minioci_shim.h, which doubles as the cdef once its preprocessor lines
are dropped.  The child's side is the static executable native/build_exe.py
builds.  setup.py hands `ffibuilder` to setuptools through `cffi_modules`,
so `pip install .` compiles it.
"""
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = HERE / "minioci_shim.h"

ffibuilder = FFI()
ffibuilder.cdef("\n".join(line for line in HEADER.read_text().splitlines()
                          if not line.lstrip().startswith("#")))
ffibuilder.set_source(
    "minioci._shim",
    '#include "minioci_shim.h"',
    # Relative to the project root, where setuptools runs the build.
    sources=["native/spawn.c", "native/io.c", "native/host.c", "native/plan.c", "native/procfs.c"],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
