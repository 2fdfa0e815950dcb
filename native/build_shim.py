"""cffi API-mode build of minioci's native shim (minioci._shim).

The C lives in native/shim.c and native/minioci_shim.h; the header doubles as
the cdef once its preprocessor lines are dropped.  setup.py hands `ffibuilder`
to setuptools through `cffi_modules`, so `pip install .` compiles it.
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
    sources=["native/shim.c"],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
