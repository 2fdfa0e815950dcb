"""Whom minioci trusts, and where (docs/security.md, "The served path's
trust model").

- A state root must be a directory of the caller's own (its effective uid)
  that nobody else can write in, reached through directories that only root
  or the caller can change, and through no symlink anybody else could have
  planted (`open_dir`).  Whoever could write in it, or swap it for another
  on its way, could plant entries that root's commands then act on.
- A server (`minioci serve`) is trusted only in such a directory, reached
  without any symlink at all, holding a socket of the caller's, and only if
  it runs as the caller's own uid (`connect`: SO_PEERCRED).  The front end
  (native/frontend.c) makes the same checks before a byte of a request
  leaves it, and the server serves no other uid than its own.

Everything is checked on fds (O_PATH, one component at a time, no symlink
followed by the kernel), and what is used afterwards is what was checked.
"""
import os
import stat

MAX_SYMLINKS = 40               # the kernel's own limit on a path's symlinks


class Untrusted(Exception):
    """A directory not to be trusted.  `problem` says what is wrong with it,
    `on_the_way` whether that is a directory on the way to it."""

    def __init__(self, problem, on_the_way=False):
        super().__init__(problem)
        self.problem, self.on_the_way = problem, on_the_way


def owners():
    """Who may own the directories (and symlinks) on the way to a trusted
    one: root, and the caller."""
    return {0, os.geteuid()}


def may_own(uid):
    """Whether `uid` may own a directory (or symlink) on the way: root, the
    caller, and in a user namespace the host's root, which shows there as
    the overflow uid (rootless podman's runtime sees / and /tmp so).  Any
    other host user the namespace does not map shows as that uid too, and
    there cannot be told from root (runc and crun make no such check at
    all).  Asked only once owners() has refused: root's path pays nothing."""
    if uid in owners():
        return True
    from . import rootless
    return rootless.in_user_namespace() and uid == rootless.overflow_uid()


def describe(what, path, e):
    """`what` ("state root") at `path`, and what is wrong with it."""
    return f"{what} {path}: {e.problem}" if e.on_the_way else f"{what} {path} {e.problem}"


def refusal(what, path, e):
    """One line: `what` at `path` is not used, and why."""
    if e.on_the_way:
        return f"{describe(what, path, e)}: refusing to use it (only root or its owner may change the directories on its way)"
    return f"{describe(what, path, e)}: refusing to use it (only its owner may write in it)"


def _mode(st):
    return f"mode {stat.S_IMODE(st.st_mode):o}"


def _may_look_in(where, st):
    """A directory on the way: nobody but root and the caller may change
    what its names lead to (in a sticky one, others may add names, but not
    rename or remove ours)."""
    if not may_own(st.st_uid):
        raise Untrusted(f"{where} on its way belongs to uid {st.st_uid}", True)
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise Untrusted(f"{where} on its way is writable by group or others ({_mode(st)})", True)


def open_dir(path, symlinks=True):
    """An O_PATH fd of the directory `path` if it may be trusted (see the
    module's docstring), or None if it does not exist (everything on the way
    to where it would be being trustworthy: it can be made safely).
    `symlinks`: whether a symlink on the way is followed at all (only one
    owned by root or the caller, in a directory checked as above); without,
    any symlink is refused.  Untrusted if not to be trusted; OSError if it
    cannot be looked at."""
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    todo = [c for c in reversed(path.split("/")) if c not in ("", ".")]
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    top = os.open("/", flags)
    walked = [(top, os.fstat(top), "/")]            # the directories so far
    hops = 0
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if len(walked) > 1:
                    os.close(walked.pop()[0])
                continue
            fd, st, where = walked[-1]
            _may_look_in(where, st)
            try:
                child = os.open(name, flags, dir_fd=fd)
            except FileNotFoundError:
                return None
            cst = os.fstat(child)
            cwhere = os.path.join(where, name)
            if stat.S_ISLNK(cst.st_mode):
                os.close(child)
                if not symlinks:
                    raise Untrusted(f"{cwhere} on its way is a symlink", True)
                if not may_own(cst.st_uid):
                    raise Untrusted(f"{cwhere} on its way is a symlink of uid {cst.st_uid}'s", True)
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise Untrusted(f"is reached through more than {MAX_SYMLINKS} symlinks")
                target = os.readlink(name, dir_fd=fd)
                if target.startswith("/"):
                    while len(walked) > 1:
                        os.close(walked.pop()[0])
                todo.extend(c for c in reversed(target.split("/")) if c not in ("", "."))
                continue
            walked.append((child, cst, cwhere))
            if not stat.S_ISDIR(cst.st_mode):
                raise Untrusted("is not a directory" if not todo else f"{cwhere} on its way is not a directory",
                                bool(todo))
        fd, st, _ = walked.pop()
        if st.st_uid != os.geteuid():
            os.close(fd)
            raise Untrusted(f"belongs to uid {st.st_uid}, not {os.geteuid()}")
        if st.st_mode & 0o022:
            os.close(fd)
            raise Untrusted(f"is writable by group or others ({_mode(st)})")
        return fd
    finally:
        for fd, _, _ in walked:
            os.close(fd)


def peer_uid(sock):
    """The uid a connected unix socket's peer had when it listened or
    connected (SO_PEERCRED: set by the kernel, not by the peer)."""
    import socket
    import struct
    return struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]


def connect(path, timeout):
    """A connection to the server listening at `path`, authenticated: its
    directory trusted (open_dir, without symlinks), the socket the caller's,
    its listener running as the caller's uid.  None if no server listens
    there; Untrusted if one may not be trusted (nothing was sent to it)."""
    import socket
    directory, name = os.path.split(path)
    try:
        fd = open_dir(directory or ".", symlinks=False)
    except Untrusted as e:
        raise Untrusted(f"{describe('the directory', directory, e)}: not using a server there") from None
    if fd is None:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            s.close()
            return None
        s.settimeout(timeout)
        s.connect(f"/proc/self/fd/{fd}/{name}")       # the directory checked, whatever its path now
    except OSError:
        s.close()
        return None
    finally:
        os.close(fd)
    uid = peer_uid(s)
    if uid != os.geteuid():
        s.close()
        raise Untrusted(f"the server on {path} runs as uid {uid}, not as this caller (uid {os.geteuid()}): "
                        "not using it")
    return s
