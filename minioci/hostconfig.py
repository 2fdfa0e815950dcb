"""The host's config file: /etc/minioci/minioci.conf (MINIOCI_CONFIG names
another, for tests), set by whoever administers the host, never by a
container's config, annotations or bundle: whoever writes a pod spec must
not choose where root writes.

    # comments and blank lines are ignored
    timing_dir = "/var/log/minioci-timing"

Keys:
- timing_dir: an absolute path; every create, start, run, exec and delete
  writes its phase timeline there as JSON (minioci/timing.py), one file
  per command, named <container id>.<command>.<pid>.json.  This is how to
  see minioci's phases under an engine that passes it no environment
  (conmon drops MINIOCI_TIMING); `minioci timing DIR` summarizes them.

The file must be trusted as the state root is (minioci/state.py): a regular
file in a directory, both owned by root (or the caller) and writable by
nobody else.  A file that is not, or that does not parse, is refused with
one line naming the file and line at fault: the command fails before it
has done anything, so a mistake shows at once rather than as timings that
never appear.

A host without the file pays one failed open() per command and imports
nothing: that open is cli.host_config's, and this module is imported only
when there is a file to read.
"""
import os

from .errors import MiniociError, strerror

KEYS = {"timing_dir": "a directory for every command's phase timings (JSON)"}


def read(path, fd):
    """{key: value} from the open file `fd` at `path` (closed here)."""
    try:
        st = os.fstat(fd)
        _check_trusted(path, st)
        data = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 1 << 20:
                raise MiniociError(f"{path}: larger than 1 MiB: not a minioci config file")
    except OSError as e:
        raise MiniociError(f"{path}: {strerror(e.errno)}") from None
    finally:
        os.close(fd)
    return parse(path, data)


def _trusted_owner(uid):
    """Root, the caller, and in a user namespace the host's root, which shows
    there as the overflow uid (rootless podman's runtime sees the file so):
    trust.may_own."""
    from .trust import may_own
    return may_own(uid)


def _check_trusted(path, st):
    import stat
    problem = ""
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif not _trusted_owner(st.st_uid):
        problem = f"belongs to uid {st.st_uid}, not root"
    elif st.st_mode & 0o022:
        problem = f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    else:
        directory = os.path.dirname(os.path.realpath(path))
        dst = os.stat(directory)
        if not _trusted_owner(dst.st_uid) or dst.st_mode & 0o022:
            problem = f"is in {directory}, which someone other than root may write in"
    if problem:
        raise MiniociError(f"{path} {problem}: refusing to use it (only root may write it)")


def parse(path, data):
    """{key: value} from the file's bytes; MiniociError naming path:line."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise MiniociError(f"{path}: not UTF-8 text") from None
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        key, eq, value = (part.strip() for part in line.partition("="))
        if not eq or not key:
            raise MiniociError(f'{where}: expected key = "value", not {line[:60]!r}')
        if key not in KEYS:
            raise MiniociError(f"{where}: unknown key {key[:60]!r} (known: {', '.join(KEYS)})")
        if key in out:
            raise MiniociError(f"{where}: {key} is set twice")
        if len(value) < 2 or value[0] != '"' or value[-1] != '"' or '"' in value[1:-1] or "\\" in value:
            raise MiniociError(f'{where}: {key}: the value must be one double-quoted string without " or \\, '
                               f"not {value[:60]}")
        out[key] = value[1:-1]
        if key == "timing_dir" and not out[key].startswith("/"):
            raise MiniociError(f"{where}: timing_dir must be an absolute path, not {out[key][:60]!r}")
    return out
