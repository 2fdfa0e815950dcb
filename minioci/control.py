"""Talking to a running server (`minioci serve`, server.py) from outside
it: `serve --status`, `serve --stop`, and the status line of `features`."""
from . import wire
from .errors import MiniociError

# In a worker: the server it was forked from ("pid N, <socket>").
served_by = None


def ask(path, what, timeout=2.0):
    """Send CONTROL `what` ("status", "stop") to the server listening at
    `path`; its answer, or None if none is listening.  Only a server of the
    caller's own is asked (trust.connect); MiniociError if the one there is
    not."""
    from . import trust
    try:
        s = trust.connect(path, timeout)
    except trust.Untrusted as e:
        raise MiniociError(f"serve: {e}") from None
    except OSError as e:
        raise MiniociError(f"serve: {path}: {e.strerror}") from None
    if s is None:
        return None
    try:
        wire.send(s, wire.CONTROL, what.encode())
        kind, payload, _ = wire.receive(s)
    except (OSError, wire.ProtocolError):
        return None
    finally:
        s.close()
    if kind == wire.REFUSED:
        raise MiniociError(f"serve: the server refused: {payload.decode(errors='replace')}")
    return payload.decode(errors="replace")


def status_line():
    """One line for `minioci features`: is this caller's server running?"""
    if served_by is not None:
        return f"running: this request was served by {served_by}"
    path = wire.server_socket()
    try:
        answer = ask(path, "status", timeout=0.5)
    except MiniociError as e:
        return str(e)
    if answer is None:
        return f"not running (no server on {path})"
    fields = dict(line.split(" ", 1) for line in answer.splitlines() if " " in line)
    return f"running: pid {fields.get('pid')}, {fields.get('socket')}, build {fields.get('build')}"
