"""Build minioci's native executable: one static binary (native/main.c and
what it dispatches to), installed as the `minioci` command and inside the
package (minioci/_exe/minioci).  musl-gcc when it is installed (a smaller
binary that starts faster), else gcc -static.  setup.py calls build()."""
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ["main.c", "frontend.c"]
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]


def compiler():
    return shutil.which("musl-gcc") or shutil.which("gcc") or "cc"


def build(out, build_id):
    """Compile into `out`; `build_id` names this build (a server of another
    build is not used: see minioci/server.py)."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [compiler(), "-static", *CFLAGS, f'-DMO_BUILD_ID="{build_id}"', "-o", out,
           *[os.path.join(HERE, s) for s in SOURCES]]
    subprocess.run(cmd, check=True)
    os.chmod(out, 0o755)
    return out


if __name__ == "__main__":
    import sys
    print(build(sys.argv[1] if len(sys.argv) > 1 else "build/native/minioci", "dev"))
