"""The served path's wire protocol: the front end (native/frontend.c), the
server (minioci/server.py) and its workers (minioci/worker.py,
minioci/remote.py) talk over one SOCK_SEQPACKET unix socket per request.

Each message is one packet: a u32 type, then the type's payload; file
descriptors travel with it (SCM_RIGHTS).  Integers are little-endian; strings
are NUL-terminated.  A payload larger than INLINE_MAX (a plan with thousands
of mounts, a huge environment, the step times of such a plan) travels in a
sealed memfd instead, the message's last fd, its type marked BIG: any size
goes both ways, as on the direct path.  native/wire.h holds the same numbers (a unit test keeps
the two equal).  The exchange, front end (F), server (S), worker (W):

    F→S  REQUEST      argv, environment, cwd, umask, times; fds: cwd, the claim, stdio, preserved fds
    S→F  REFUSED      why (not root, another version, namespaces): F runs the direct path
    W→F  STARTED      the worker's pid and flags (RESIDENT), once it has claimed the request
    W→F  EXIT         the command's exit status: the end
    S→F  WORKER_EXIT  the worker's wait status, when it ended without EXIT

Nothing runs twice: the request carries the read end of a pipe holding one
byte, the claim.  The worker takes it before it does anything; a front end
that gives up waiting takes it instead, and runs the direct path only if it
got it.  A worker refuses (REFUSED) only before it has run anything.  (The
server hands a request to its spare worker, or to a resident one, with JOB,
on a socket of their own: the REQUEST as it came, the connection and its
fds, and a sandbox made ahead; a resident worker answers DONE there once the
request is done, and the spare sends the sandboxes it makes, SANDBOX.)

For a command that starts a process, F is the container's parent and W
drives it (remote.Child mirrors shim.Child call for call):

    W→F  FOREGROUND   run/exec in the foreground: F becomes a subreaper, signals are the container's
    W→F  ATTACH       the container runs: signals held back so far go to it now
    W→F  SPAWN        the plan (shim.encode), spawn args, the plan's fds   F→W  SPAWNED  pid or -errno
                      (the fds go to numbers F set aside: REQUEST's fd_window; without one,
                       SPAWN_FDS first, and F answers FD_NUMBERS)
    W→F  GO, LISTENER_STATE, KILL_REAP                   F→W  RESULT   0 or -errno
    W→F  WAIT_REPORT                                     F→W  REPORT   what, pid, times, error
    W→F  SUPERVISE    relay the terminal, reap         F→W  EXITED   the container's status
    W→F  RELEASE      close the child's sync socket

`minioci serve --stop|--status` send CONTROL and get STATUS.
"""
import array
import os
import socket
import struct

VERSION = 3                 # REQUEST's first field: bumped when any layout changes
SOCKET_NAME = "serve.sock"  # in the caller's default state root (server_socket)

REQUEST = 1
REFUSED = 2
STARTED = 3
EXIT = 5
WORKER_EXIT = 6
FOREGROUND = 7
SPAWN_FDS = 8
FD_NUMBERS = 9
SPAWN = 10
SPAWNED = 11
GO = 12
RESULT = 13
LISTENER_STATE = 14
WAIT_REPORT = 15
REPORT = 16
RELEASE = 17
KILL_REAP = 18
SUPERVISE = 19
EXITED = 20
CONTROL = 21
STATUS = 22
ATTACH = 23
JOB = 24                    # server → its spare or a resident worker only: a request to take over
DONE = 25                   # a resident worker → the server: that request is done, the next may come
SANDBOX = 26                # the spare → the server: a sandbox made ahead (minioci/sandbox.py);
                            # the server → a spare: make this many

RESIDENT = 1                # STARTED's flags: the worker lives on after the request (signal it never)

FD_WINDOW = 64              # numbers a front end sets aside for a plan's fds (Request.fd_window)
INLINE_MAX = 65536          # the largest payload a packet carries (a socket's buffer takes ~200 KB)
MAX_PACKET = INLINE_MAX + 4
BIG = 2147483648            # in a type: the payload is in the last fd, a sealed memfd
MAX_BIG = 268435456         # the most a BIG payload may hold
MAX_FDS = 253               # the kernel's SCM_MAX_FD


class ProtocolError(Exception):
    pass


def server_socket(environ=None):
    """Where this caller's server listens and its front ends look (the
    front end's twin: native/frontend.c, server_socket): $MINIOCI_SERVE_SOCKET
    (a test's own server), else serve.sock in the caller's default state
    root.  One server serves every state root: each request names its own."""
    env = os.environ if environ is None else environ
    if env.get("MINIOCI_SERVE_SOCKET"):
        return env["MINIOCI_SERVE_SOCKET"]
    from .state import default_root
    return os.path.join(default_root(env), SOCKET_NAME)


def send(sock, kind, payload=b"", fds=()):
    big = None
    if len(payload) > INLINE_MAX:
        big = _sealed(payload)
        kind, payload, fds = kind | BIG, b"", [*fds, big]
    try:
        data = struct.pack("<I", kind) + payload
        if fds:
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        else:
            sock.sendmsg([data])
    finally:
        if big is not None:
            os.close(big)


def _sealed(payload):
    """A memfd holding `payload`, sealed: nobody can change it any more."""
    import fcntl
    fd = os.memfd_create("minioci-wire", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_big(fd):
    """A BIG message's payload, from its memfd."""
    size = os.fstat(fd).st_size
    if size > MAX_BIG:
        raise ProtocolError(f"a payload of {size} bytes, more than {MAX_BIG}")
    chunks, at = [], 0
    while at < size:
        chunk = os.pread(fd, size - at, at)
        if not chunk:
            raise ProtocolError("a payload shorter than its memfd said")
        chunks.append(chunk)
        at += len(chunk)
    return b"".join(chunks)


# Where packets are received, one buffer per process: recvmsg() with a
# MAX_PACKET buffer of its own costs an mmap and munmap of 4 MiB per packet
# (~20 us here, a served run receives half a dozen).
_buffer = None


def receive(sock, want=None):
    """(type, payload, [fds]) of the next packet; ProtocolError on EOF or on
    a type other than `want` (one type or a tuple).  Received fds are
    close-on-exec."""
    global _buffer
    if _buffer is None:
        import mmap
        # Private: a process forked from this one writes into its own copy.
        _buffer = mmap.mmap(-1, MAX_PACKET, flags=mmap.MAP_PRIVATE)    # pages come as packets need them
    n, ancillary, flags, _ = sock.recvmsg_into([_buffer], socket.CMSG_SPACE(MAX_FDS * 4),
                                               socket.MSG_CMSG_CLOEXEC)
    data = _buffer[:n]
    fds = array.array("i")
    for level, kind, blob in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(blob[:len(blob) - len(blob) % fds.itemsize])
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise ProtocolError("a packet or its fds did not fit")
    if len(data) < 4:
        for fd in fds:
            os.close(fd)
        raise ProtocolError("the other side closed the connection" if not data else "a short packet")
    kind = struct.unpack_from("<I", data)[0]
    payload, fds = data[4:], list(fds)
    if kind & BIG:
        kind &= ~BIG
        if payload or not fds:
            for fd in fds:
                os.close(fd)
            raise ProtocolError("a large payload without its memfd")
        big = fds.pop()
        try:
            payload = _read_big(big)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        finally:
            os.close(big)
    if want is not None and kind not in (want if isinstance(want, tuple) else (want,)):
        for fd in fds:
            os.close(fd)
        raise ProtocolError(f"unexpected message {kind} (wanted {want})")
    return kind, payload, fds


# ---- payloads ----------------------------------------------------------------

def strings(values):
    """Each value (str or bytes) NUL-terminated, one after the other."""
    return b"".join((v.encode(errors="surrogateescape") if isinstance(v, str) else v) + b"\0" for v in values)


class Reader:
    """Fields of a payload, in order."""

    def __init__(self, data):
        self.data = data
        self.at = 0

    def ints(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def int(self, fmt="i"):
        return self.ints(fmt)[0]

    def string(self):
        end = self.data.index(b"\0", self.at)
        value = self.data[self.at:end].decode(errors="surrogateescape")
        self.at = end + 1
        return value

    def rest(self):
        value = self.data[self.at:]
        self.at = len(self.data)
        return value


CWD_FD = -1                 # REQUEST's fd numbers: the working directory (O_PATH)
CLAIM_FD = -2               # ... and the claim (see above)


class Request:
    """A front end's REQUEST, decoded.  `fds` maps each fd number the client
    holds (0, 1, 2, preserved fds) to the fd received for it; `cwd_fd` is its
    working directory (O_PATH), `claim_fd` the claim; `fd_window` the first
    of the numbers the front end keeps free for a plan's fds (-1: none)."""

    # u32 version, i64 t_start, t_connect, t_sent, u32 umask, i32 fd_window, u32 nfds, u32 argc,
    # u32 envc, then i32 fd numbers; strings: build id, cwd, argv..., env...
    HEAD = "IqqqIiIII"

    def __init__(self, payload, fds):
        r = Reader(payload)
        (self.version, self.t_start, self.t_connect, self.t_sent, self.umask, self.fd_window, nfds, argc,
         envc) = r.ints(self.HEAD)
        if self.version != VERSION:
            raise ProtocolError(f"wire version {self.version}, this server speaks {VERSION}")
        numbers = list(r.ints(f"{nfds}i"))
        if len(fds) != nfds:
            raise ProtocolError(f"{len(fds)} fds came with a request that lists {nfds}")
        self.build_id = r.string()
        self.cwd = r.string()
        self.argv = [r.string() for _ in range(argc)]
        self.env = [r.string() for _ in range(envc)]
        self.payload = payload
        self.received = list(fds)            # in the order they came
        self.cwd_fd = self.claim_fd = None
        self.fds = {}
        for number, fd in zip(numbers, fds):
            if number == CWD_FD:
                self.cwd_fd = fd
            elif number == CLAIM_FD:
                self.claim_fd = fd
            else:
                self.fds[number] = fd

    @staticmethod
    def encode(build_id, cwd, argv, env, numbers, umask=0o022, t_start=0, t_connect=0, t_sent=0, fd_window=-1):
        """The payload, as the front end builds it (for tests and tools)."""
        head = struct.pack("<" + Request.HEAD, VERSION, t_start, t_connect, t_sent, umask, fd_window,
                           len(numbers), len(argv), len(env))
        return head + struct.pack(f"<{len(numbers)}i", *numbers) + strings([build_id, cwd, *argv, *env])

    def environ(self):
        """The client's environment, as a dict."""
        return dict(e.split("=", 1) for e in self.env if "=" in e)

    def claim(self):
        """Take the claim: True if this process may run the request (nothing
        else will), False if the front end took it (it runs the direct path)."""
        if self.claim_fd is None:
            return False
        try:
            return os.read(self.claim_fd, 1) == b"C"
        except BlockingIOError:
            return False
        finally:
            os.close(self.claim_fd)
            self.claim_fd = None

    def close_fds(self):
        for fd in self.received:
            try:
                os.close(fd)
            except OSError:
                pass


def encode_job(peer_pid, marks, request, sandbox_ns=-1):
    """JOB: the client's pid, the server's timeline marks so far, how long
    the sandbox that comes with it took to make (-1: none comes), and the
    REQUEST payload as it came.  Its fds: the connection, the sandbox's
    (three, sandbox.KINDS), the request's."""
    out = [struct.pack("<iiq", peer_pid, len(marks), sandbox_ns)]
    for t, phase in marks:
        out.append(struct.pack("<q", t) + phase.encode() + b"\0")
    return b"".join(out) + request


def decode_job(payload):
    """(peer pid, marks, sandbox ns or -1, request payload)."""
    r = Reader(payload)
    peer_pid, n, sandbox_ns = r.ints("iiq")
    marks = []
    for _ in range(n):
        t = r.int("q")
        marks.append((t, r.string()))
    return peer_pid, marks, sandbox_ns, r.rest()
