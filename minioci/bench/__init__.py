"""Benchmarks (`minioci bench ...`): each is a module with one entry point,
main(g, argv), and its FLAGS; this package dispatches to them, prints their
help, and holds what they share."""
import os
import shutil
import sys

from ..errors import MiniociError
from ..flags import flag_line

# name: (usage after `minioci bench NAME`, summary); each is minioci/bench/NAME.py
BENCHMARKS = {
    "startup": ("[flags]", "container startup side by side with crun and runc, phase by phase (the default)"),
    "density": ("N [flags]", "N containers created and started at once, per runtime: time, memory, leftovers"),
    "net": ("[flags]", "each network mode's latency, throughput and setup cost"),
    "engine": ("podman|docker|containerd [flags]", "`run --rm` under a real engine, per runtime: the engine's "
               "total, the runtime's calls in it, minioci's phases in those"),
}


def _module(name):
    import importlib
    return importlib.import_module(f"{__name__}.{name}")


def command(name):
    """`minioci bench NAME` as a Command: its usage, summary and flags."""
    from ..flags import Command
    usage, summary = BENCHMARKS[name]
    return Command(f"bench {name}", None, _module(name).FLAGS, usage, summary)


def overview():
    """What `minioci bench --help` adds to the bench command's usage line:
    the benchmarks, and the default one's flags."""
    lines = ["", "Benchmarks (`minioci bench NAME --help` shows each one's flags):"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in BENCHMARKS.items()]
    lines += ["", "Flags of startup:"] + [flag_line(f) for f in _module("startup").FLAGS]
    return "\n".join(lines) + "\n"


def main(g, argv):
    """`minioci bench [NAME] [flags]`: NAME defaults to startup."""
    name = "startup"
    if argv and not argv[0].startswith("-"):
        name, argv = argv[0], argv[1:]
    if name not in BENCHMARKS:
        raise MiniociError(f"minioci bench: unknown benchmark {name!r} ({', '.join(BENCHMARKS)})")
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(command(name).help())
        return 0
    return _module(name).main(g, argv)

# The ways minioci runs in the startup benchmark: the direct path, served,
# and the shell launcher before the front end; each with the MINIOCI_SERVE
# it runs under (the launcher has no front end to read it).
WAYS = {"minioci": "never", "minioci-served": "always", "minioci-sh": None}


def served_socket(root):
    """Where the server of a served way listens: in its own state root, a
    server of the benchmark's own (`serve --socket`, which its commands name
    in MINIOCI_SERVE_SOCKET), not whichever the caller may run."""
    return os.path.join(root, "serve.sock")


def minioci_path():
    """The installed launcher next to this interpreter (what users run)."""
    path = os.path.join(os.path.dirname(sys.executable), "minioci")
    if not os.access(path, os.X_OK):
        raise MiniociError(f"bench: no minioci launcher at {path}")
    return path


def find_peers(given):
    """(name, path) of each peer runtime: those given, or crun and runc if found."""
    if given:
        for p in given:
            if not shutil.which(p):
                raise MiniociError(f"bench: runtime {p!r} not found")
        return [(os.path.basename(p), shutil.which(p)) for p in given]
    return [(name, shutil.which(name)) for name in ("crun", "runc") if shutil.which(name)]


def hides_unified():
    """crun 1.8.1 refuses a hybrid host that holds a controller on the v2 side
    ("cgroups in hybrid mode not supported"): the session then runs in a
    private mount namespace without /sys/fs/cgroup/unified, for every runtime
    alike, and the report says so."""
    from ..cgroups import detect
    layout = detect()
    return layout.kind == "hybrid" and bool(layout.v2_controllers())


# How a session hides it, in its own mount namespace: an empty tmpfs over
# it, not the directory under the mount (the host's /sys/fs/cgroup tmpfs),
# where crun 1.8.1 would make its "0::" cgroup directories for good.
HIDE_UNIFIED = ("umount /sys/fs/cgroup/unified && mount -t tmpfs -o mode=0755,nosuid,nodev,noexec "
                "minioci-bench /sys/fs/cgroup/unified")


def write_report(result, out, suffix, markdown, draw=None):
    """`result` as JSON, as markdown and (given `draw`) as a chart in `out`,
    named by its time and `suffix`: predictable names in a directory the
    user chose, so written through safefile, never through a symlink
    planted there.  Returns the paths written."""
    import json
    from .. import safefile
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, result["when"].replace(":", "").replace("-", "") + suffix)
    safefile.replace(base + ".json", json.dumps(result, indent=2))
    safefile.replace(base + ".md", markdown(result))
    paths = [base + ".json", base + ".md"]
    png = draw(result, base + ".png") if draw else None
    if png:
        paths.append(png)
    return paths


def rmdir_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass
