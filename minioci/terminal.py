"""`run` with process.terminal: relay between the caller's terminal and the
pty the container made in its own devpts (the shim hands us the master)."""
import os
import select

TIOCGWINSZ, TIOCSWINSZ = 0x5413, 0x5414


def window_size(fd):
    """(rows, cols) of the terminal on fd, or None."""
    import fcntl
    import struct
    try:
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8))[:2]
        return rows, cols
    except OSError:
        return None


def copy_window_size(src_fd, dst_fd):
    import fcntl
    try:
        size = fcntl.ioctl(src_fd, TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst_fd, TIOCSWINSZ, size)
    except OSError:
        pass             # not a terminal: nothing to copy


class Relay:
    """Copies stdin -> master and master -> stdout until the master closes.
    While it runs, the caller's terminal (if stdin is one) is in raw mode, so
    keys such as ^C reach the container's terminal rather than minioci."""

    def __init__(self, master):
        self.master = master
        self.saved = None

    def __enter__(self):
        if os.isatty(0):
            import termios
            import tty
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            copy_window_size(0, self.master)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)

    def resize(self):
        copy_window_size(0, self.master)

    def run(self):
        """Relay until the container side hangs up."""
        fds = [self.master, 0]
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:          # EIO: every slave fd is closed
                    data = b""
                if not data:
                    return
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    fds.remove(0)        # our stdin ended; keep relaying output
                else:
                    _write_all(self.master, data)


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]
