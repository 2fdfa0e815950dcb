"""Writing files where someone else may write too (a pid file in a shared
directory, MINIOCI_TIMING's path, `minioci spec`'s config.json, benchmark
results): never through a symlink someone planted, never into a file they
made.

- replace(path, data): a temporary file with an unpredictable name in the
  target's directory, made with O_CREAT|O_EXCL|O_NOFOLLOW, then rename(2)
  over the target.  rename replaces a symlink at the target instead of
  following it, and a reader sees the whole file or none (runc writes its
  pid file the same way).
- create(path, data): a new file, O_CREAT|O_EXCL|O_NOFOLLOW, which fails
  on anything already there, a dangling symlink included.

Errors are OSError, with the path, for the caller to report.
"""
import os

_TMP_PREFIX = ".minioci-"


def replace(path, data, mode=0o644):
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f"{_TMP_PREFIX}{os.urandom(8).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def create(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd, data):
    view = memoryview(data.encode() if isinstance(data, str) else data)
    while view:
        view = view[os.write(fd, view):]
