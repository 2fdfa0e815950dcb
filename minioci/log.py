"""Messages for the user and for --log, without the logging module.

Errors go to stderr as `minioci: <message>` and, with --log, to the log file:
with --log-format json exactly one line {"level":"error","msg":...,"time":...}
per message, because podman parses the whole file as one object.  Warnings
and debug lines appear only with --debug (in the log, or on stderr without
one): under conmon our stderr is the container's, and a second line in the
log would break podman's parse of the error.
"""
import os

_path = None
_json = False
_debug = False


def configure(path=None, fmt="text", debug=False):
    """Log to `path` (none if empty) in `fmt`.  A log that cannot be opened
    is an error, as in runc: the caller would look there for our messages."""
    global _path, _json, _debug
    _json, _debug = fmt == "json", debug
    if path:
        try:
            os.close(_open_log(path))
        except OSError as e:
            from .errors import MiniociError, strerror
            raise MiniociError(f"--log {path}: {strerror(e.errno)}") from None
    _path = path or None


def _line(level, msg):
    from . import rfc3339_now
    if _json:
        from . import leanjson
        return leanjson.dumps({"level": level, "msg": msg, "time": rfc3339_now()}) + "\n"
    escaped = _one_line(msg.replace("\\", "\\\\").replace('"', '\\"'))
    return f'time="{rfc3339_now()}" level={level} msg="{escaped}"\n'


def _open_log(path):
    """The log, for appending.  Its directory may be writable by others: a
    symlink at the path is followed only if it is our own (/dev/stderr is
    root's), never one another user planted there (the kernel's
    protected_symlinks rule, for every directory)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        import errno
        if e.errno != errno.ELOOP or os.lstat(path).st_uid != os.geteuid():
            raise
        return os.open(path, flags, 0o644)


def _to_log(level, msg):
    if not _path:
        return False
    try:
        fd = _open_log(_path)
        try:
            os.write(fd, _line(level, msg).encode())
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def _one_line(msg):
    """A message is one line, whatever its input held (a path or an
    argument with a newline in it): engines read the first line."""
    return msg.replace("\r", "\\r").replace("\n", "\\n")


def error(msg):
    _to_log("error", msg)
    try:
        os.write(2, f"minioci: {_one_line(msg)}\n".encode())
    except OSError:
        pass


def _verbose(level, msg):
    if _debug and not _to_log(level, msg):
        os.write(2, f"minioci: {level}: {_one_line(msg)}\n".encode())


def warning(msg):
    _verbose("warning", msg)


def debug(msg):
    _verbose("debug", msg)
