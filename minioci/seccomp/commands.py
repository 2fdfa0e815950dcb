"""`minioci seccomp`: compile profiles ahead of time and look after the cache.

    minioci seccomp compile FILE    FILE: a config.json (its linux.seccomp) or a bare profile
    minioci seccomp cache           the entries: key, size, hits, last use
    minioci seccomp cache clear     remove them all
"""
import sys
import time

from ..errors import ConfigError, MiniociError
from ..spec import read_json

USAGE = "compile FILE | cache [clear]"


def run(root, args):
    if args[:1] == ["compile"] and len(args) == 2:
        return compile_file(root, args[1])
    if args == ["cache"]:
        return show(root)
    if args == ["cache", "clear"]:
        return clear(root)
    raise MiniociError(f"minioci seccomp: usage: minioci seccomp {USAGE}", status=2)


def compile_file(root, path):
    """Pre-warm the cache with the profile in `path`."""
    from . import compile_and_store, key, profile
    from .cache import Cache
    doc = read_json(path)
    if isinstance(doc, dict) and "defaultAction" in doc:
        raw, where = doc, ""
    elif isinstance(doc, dict) and isinstance(doc.get("linux"), dict) and doc["linux"].get("seccomp") is not None:
        raw, where = doc["linux"]["seccomp"], "linux.seccomp"
    else:
        raise ConfigError(path, "", "is neither a seccomp profile (it has no defaultAction) "
                                    "nor a config with linux.seccomp")
    prof = profile.parse(raw, path, where)
    cache = Cache(root)
    problem = cache.distrust()
    if problem:
        raise MiniociError(f"seccomp cache {problem}: refusing to store in it")
    library = cache.library()
    k = key.compute(raw, library) if library else None
    bpf = cache.load(k, count_hit=False) if k else None
    status = "already cached"
    if bpf is None:
        bpf, k = compile_and_store(raw, prof, cache)
        status = "compiled and cached"
    sys.stdout.write(f"{k}  {len(bpf) // 8} instructions  {len(bpf)} bytes  {status} in {cache.dir}\n")
    return 0


def show(root):
    from .cache import Cache
    cache = Cache(root)
    problem = cache.distrust()
    entries = cache.entries()
    rows = [("KEY", "BYTES", "HITS", "LAST USED")]
    rows += [(e.key, str(e.size), str(e.hits),
              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.last_used // 10**9))) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = ["  ".join(v.rjust(w) if i in (1, 2) else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
           for r in rows]
    total = sum(e.size for e in entries)
    out.append(f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}, {total} bytes of at most {cache.max_bytes}, in {cache.dir}")
    if problem:
        out.append(f"not trusted, so not used: {problem}")
    library = cache.library()
    if library:
        out.append("compiled by " + " ".join(library.split("\t")[:3]))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def clear(root):
    from .cache import Cache
    cache = Cache(root)
    n = cache.clear()
    sys.stdout.write(f"removed {n} entries from {cache.dir}\n")
    return 0

