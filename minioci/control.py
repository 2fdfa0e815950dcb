"""Talking to a running server (`minioci serve`, server.py) from outside
it: `serve --status`, `serve --stop`, and the status line of `features`."""
import socket

from . import wire
from .errors import MiniociError

# In a worker: the server it was forked from ("pid N, <socket>").
served_by = None


def ask(root, what, timeout=2.0):
    """Send CONTROL `what` ("status", "stop") to the server on `root`; its
    answer, or None if none is listening."""
    path = wire.socket_path(root)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    s.settimeout(timeout)
    try:
        s.connect(path)
        wire.send(s, wire.CONTROL, what.encode())
        kind, payload, _ = wire.receive(s)
    except (OSError, wire.ProtocolError):
        return None
    finally:
        s.close()
    if kind == wire.REFUSED:
        raise MiniociError(f"serve: the server refused: {payload.decode(errors='replace')}")
    return payload.decode(errors="replace")


def status_line(root):
    """One line for `minioci features`: is a server running on `root`?"""
    if served_by is not None:
        return f"running: this request was served by {served_by}"
    try:
        answer = ask(root, "status", timeout=0.5)
    except MiniociError as e:
        return str(e)
    if answer is None:
        return f"not running (no server on {wire.socket_path(root)})"
    fields = dict(line.split(" ", 1) for line in answer.splitlines() if " " in line)
    return f"running: pid {fields.get('pid')}, {fields.get('socket')}, build {fields.get('build')}"
