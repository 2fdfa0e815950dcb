"""minioci's static executable: the `minioci` command (the front end,
frontend.c) and, run as `minioci-init`, a container's process on its way to
exec (init.c).

It is copied into a sealed memfd and exec'ed by every container's process
before that process joins anything of the container (native/spawn.c), so it
must be small (the copy is per start) and static (no host library mapped in
a container's process).  musl-gcc gives ~130 KB that exec in ~0.2 ms here;
`gcc -static` with glibc works too but is six times larger and execs slower.
The same file is installed as the venv's bin/minioci (setup.py).

Beside it, minioci-timewrap (timewrap.c): the thin wrapper `minioci bench
engine` puts in front of every runtime an engine calls, to time each call.
"""
import os
import pathlib
import shutil
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = ["main.c", "init.c", "child.c", "plan.c", "io.c", "procfs.c", "frontend.c", "spawn.c"]
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11", "-static", "-s"]


def compiler():
    """[cc, extra flags]: musl-gcc if installed, else the system compiler
    (static glibc).  MINIOCI_EXE_CC overrides."""
    cc = os.environ.get("MINIOCI_EXE_CC")
    if cc:
        return [cc]
    if shutil.which("musl-gcc"):
        # musl's headers first; the kernel's (linux/, asm/) from the system.
        multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
        extra = ["-idirafter", "/usr/include"]
        if multiarch:
            extra += ["-idirafter", f"/usr/include/{multiarch}"]
        return ["musl-gcc"] + extra
    return [os.environ.get("CC", "cc")]


def build(output, build_id="dev"):
    """Compile the executable to `output` (a path).  `build_id` names this
    build: a server (minioci/server.py) of another build is not used."""
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = compiler() + CFLAGS + [f'-DMO_BUILD_ID="{build_id}"', "-I", str(HERE), "-o", str(output)] + \
        [str(HERE / s) for s in SOURCES]
    subprocess.run(cmd, check=True)
    output.chmod(0o755)


def build_timewrap(output):
    """Compile minioci-timewrap to `output`, static as the executable is
    (the same cost to exec whatever runtime it stands for)."""
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(compiler() + CFLAGS + ["-o", str(output), str(HERE / "timewrap.c")], check=True)
    output.chmod(0o755)


if __name__ == "__main__":
    import sys
    build(sys.argv[1] if len(sys.argv) > 1 else "minioci")
