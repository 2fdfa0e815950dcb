"""Messages for the user and for --log, without the logging module.

Errors go to stderr as `minioci: <message>` and, with --log, to the log file:
with --log-format json exactly one line {"level":"error","msg":...,"time":...}
per message, because podman parses the whole file as one object (with a
warning before it, podman falls back to our stderr, which has the error).
Warnings always show, where runc puts its own: in the --log file, or
without one on stderr, in the log's form (`time="..." level=warning
msg="..."`, or JSON); never both, since under conmon and containerd our
stderr is the container's.  Debug lines go there too, only with --debug.
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
    _stderr(f"minioci: {_one_line(msg)}\n")


def _stderr(line):
    try:
        os.write(2, line.encode())
    except OSError:
        pass


def warning(msg):
    """Always shown: in the log, or on stderr in the log's form (as runc)."""
    if not _to_log("warning", msg):
        _stderr(_line("warning", msg))


def debug(msg):
    """With --debug: in the log, or on stderr as the front end writes its
    own (native/frontend.c)."""
    if _debug and not _to_log("debug", msg):
        _stderr(f"minioci: debug: {_one_line(msg)}\n")
