"""`minioci serve`: pay for the interpreter and the imports once.

A long-lived process with minioci imported and warm listens on the caller's
socket (wire.server_socket: serve.sock in its default state root, mode
0600), or on a socket systemd passes it (LISTEN_FDS).  The `minioci` command
(native/frontend.c) sends each request there, whatever its state root: its
argv (with its --root), environment, working directory, umask and fds.  Per
request the server checks the peer (this server's own uid, in its
namespaces, the same build), looks the bundle's config up in its cache of
validated configs (parsing it only if it is new), and forks a worker
(worker.py), which runs the same command code as the direct path, checks of
the state root included.  The front end stays the container's parent: see
parent.py and remote.py.

Anything the server cannot serve it refuses, and the front end runs the
direct path instead; nothing is ever done twice (wire.py: the claim).
Workers do not depend on the server once forked: stopping or killing it
leaves every request in flight to finish.
"""
import collections
import gc
import os
import select
import signal
import socket
import struct
import time

from . import __version__, control, log, state, trust, wire
from .errors import MiniociError, strerror

# Namespaces a client must share with the server: the worker acts in the
# server's (mounts, cgroups, network, /proc, clock).
SHARED_NAMESPACES = ("mnt", "net", "pid", "ipc", "uts", "cgroup", "user", "time")
REQUEST_WAIT = 5.0          # seconds a connection may take to send its request
VALIDATED_CONFIGS = 64      # kept by spec.load (the most recently used)
SPARE_WHILE_FEWER_WORKERS = 2


def build_id():
    """What the installed files were built as (setup.py writes
    minioci/build_info.py); a front end of another build is refused."""
    try:
        from .build_info import BUILD_ID
    except ImportError:
        return f"{__version__}+source"
    return BUILD_ID


def installed_build_id():
    """The build id of the files installed now, read afresh (a server that
    predates them is stale)."""
    try:
        from . import build_info
        with open(build_info.__file__) as f:
            for line in f:
                if line.startswith("BUILD_ID = "):
                    return line.split("=", 1)[1].strip().strip("\"'")
    except (ImportError, OSError):
        pass
    return build_id()


class Server:
    def __init__(self, listener, owns_path, run):
        self.socket = listener.getsockname()     # where front ends find it
        self.run_command = run              # cli.main, for workers
        self.listener = listener
        self.owns_path = owns_path          # (dev, inode) of the socket file we made; None: systemd's
        self.build = build_id()
        self.started = time.time()
        self.requests = 0
        self.refused = 0
        self.workers = {}                   # pid → its connection (WORKER_EXIT goes there)
        self.pending = {}                   # fd → (connection, deadline): no request yet
        self.stopping = False
        self.stale = False
        self.loaded = set()                 # heavy modules imported after a first use
        self.own_namespaces = namespace_ids("self")
        # A worker forked ahead (worker.spare): (pid, its socket, what it knows).
        self.spare = None
        self.recent = collections.deque(maxlen=2)    # (argv, cwd) of requests that loaded a config
        self.cgroup_hold = None             # cgroups.hold_default_parent()'s

    # ---- the loop ---------------------------------------------------------

    def run(self):
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)      # the wakeup fd says which
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while not self.stopping:
            timeout = None
            if self.pending:
                timeout = max(0, min(d for _, d in self.pending.values()) - time.monotonic()) * 1000
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == wake_r:
                    self._signals(wake_r)
                elif fd == self.listener.fileno():
                    self._accept(poller)
                elif fd in self.pending:
                    conn, _ = self.pending.pop(fd)
                    poller.unregister(fd)
                    self._serve_one(conn)
                if self.stopping:
                    break
            now = time.monotonic()
            for fd, (conn, deadline) in list(self.pending.items()):
                if deadline < now:
                    poller.unregister(fd)
                    del self.pending[fd]
                    conn.close()
            # A spare is worth it while requests come one at a time; in a
            # burst, workers fork directly (a spare's rehearsal is CPU they need).
            if self.spare is None and not self.stopping and len(self.workers) < SPARE_WHILE_FEWER_WORKERS:
                self._fork_spare()
        self.close()

    def close(self):
        if self.owns_path:
            # Ours, unless another server has replaced it meanwhile.
            try:
                st = os.stat(self.socket)
                if (st.st_dev, st.st_ino) == self.owns_path:
                    os.unlink(self.socket)
            except OSError:
                pass
        self.listener.close()
        self._retire_spare()
        if self.cgroup_hold is not None:
            from . import cgroups
            try:
                cgroups.release_parent(self.cgroup_hold)
            except MiniociError as e:
                log.warning(f"serve: {e}")
        for conn, _ in self.pending.values():
            conn.close()
        for conn in self.workers.values():
            conn.close()

    def hold_cgroup_parent(self):
        """Keep the default cgroup parent while serving (containers then make
        and remove only their own directories)."""
        from . import cgroups
        try:
            self.cgroup_hold = cgroups.hold_default_parent(cgroups.detect())
        except MiniociError as e:
            log.debug(f"serve: no hold on the cgroup parent: {e}")

    # ---- the spare: a worker forked before the request that needs it --------

    def _knows(self):
        """What a worker inherits that changes: configs kept, modules loaded."""
        from . import spec
        return spec.validated_generation(), frozenset(self.loaded)

    def _fork_spare(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        gc.freeze()                      # a worker's collections leave the server's objects (and pages) alone
        try:
            pid = os.fork()
        except OSError as e:
            log.warning(f"serve: cannot fork a spare worker: {strerror(e.errno)}")
            mine.close()
            theirs.close()
            return
        if pid == 0:
            try:
                mine.detach()
                from . import worker
                worker.spare(self, theirs, self.run_command)
            finally:
                os._exit(255)            # not reached
        theirs.close()
        self.spare = (pid, mine, self._knows())

    def _retire_spare(self):
        if self.spare is not None:
            self.spare[1].close()        # it sees EOF, and exits
            self.spare = None

    def _hand_over(self, conn, req, peer_pid, marks):
        """Give the request to the spare, if it knows all the server knows;
        its pid, or None."""
        if self.spare is None or self.spare[2] != self._knows():
            self._retire_spare()
            return None
        pid, sock, _ = self.spare
        self.spare = None
        try:
            wire.send(sock, wire.JOB, wire.encode_job(peer_pid, marks, req.payload),
                      [conn.fileno()] + req.received)
        except OSError:
            return None                  # it died: fork instead
        finally:
            sock.close()
        return pid

    def _signals(self, wake_r):
        try:
            got = os.read(wake_r, 256)
        except BlockingIOError:
            return
        if any(s in got for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)):
            self.stopping = True
        self._reap()

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.workers.pop(pid, None)
            if conn is not None:
                # Read only if the worker ended without EXIT (killed, crashed).
                try:
                    wire.send(conn, wire.WORKER_EXIT, struct.pack("<i", status))
                except OSError:
                    pass
                conn.close()

    def _accept(self, poller):
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning(f"serve: accept: {strerror(e.errno)}")
                return
            conn.setblocking(False)
            try:
                self._serve_one(conn)
            except BlockingIOError:        # connected, nothing sent yet
                self.pending[conn.fileno()] = (conn, time.monotonic() + REQUEST_WAIT)
                poller.register(conn, select.POLLIN)

    # ---- one request -------------------------------------------------------

    def _serve_one(self, conn):
        """One connection's request; whatever goes wrong with it ends it (the
        front end runs the direct path), never the server."""
        try:
            self._request(conn)
        except BlockingIOError:
            raise
        except Exception as e:
            log.warning(f"serve: a request failed: {e!r}")
            try:
                conn.close()
            except OSError:
                pass

    def _request(self, conn):
        try:
            kind, payload, fds = wire.receive(conn)
        except BlockingIOError:
            raise
        except (OSError, wire.ProtocolError):
            conn.close()
            return
        conn.setblocking(True)
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.geteuid():
            for fd in fds:
                os.close(fd)
            return self._refuse(conn, f"the client runs as uid {uid}: this server serves uid {os.geteuid()} only")
        if kind == wire.CONTROL:
            for fd in fds:
                os.close(fd)
            return self._control(conn, payload.decode(errors="replace"))
        if kind != wire.REQUEST:
            for fd in fds:
                os.close(fd)
            return self._refuse(conn, f"message {kind} is not a request")
        try:
            req = wire.Request(payload, fds)
        except (wire.ProtocolError, struct.error, ValueError) as e:
            for fd in fds:
                os.close(fd)
            return self._refuse(conn, f"bad request: {e}")
        try:
            why = self._cannot_serve(req, pid)
            if why:
                return self._refuse(conn, why)
            self.requests += 1
            marks = [(time.monotonic_ns(), "server")]
            heavy = self._warm(req)
            if heavy is not None:
                marks.append((time.monotonic_ns(), "config"))
            child = self._hand_over(conn, req, pid, marks)
            if child is None:
                gc.freeze()
                try:
                    child = os.fork()
                except OSError as e:
                    return self._refuse(conn, f"the server cannot fork: {strerror(e.errno)}")
                if child == 0:
                    try:
                        from . import worker
                        worker.forked(self, conn, req, pid, marks, self.run_command)
                    finally:
                        os._exit(255)          # not reached: the worker exits
            self.workers[child] = conn
            self._load_later(heavy)
        finally:
            req.close_fds()
            if self.stale:
                self.stopping = True

    def _refuse(self, conn, why):
        log.debug(f"serve: refused: {why}")
        self.refused += 1
        try:
            wire.send(conn, wire.REFUSED, why.encode())
        except OSError:
            pass
        conn.close()

    def _cannot_serve(self, req, pid):
        """Why this request must take the direct path, or None."""
        if req.build_id != self.build:
            if installed_build_id() != self.build:
                self.stale = True
                return (f"the server (build {self.build}) is older than the installed files "
                        f"(build {req.build_id}): it stops; start it again")
            return f"the front end is build {req.build_id}, the server build {self.build}"
        theirs = namespace_ids(pid)
        for name in SHARED_NAMESPACES:
            if theirs.get(name) != self.own_namespaces.get(name):
                return f"the client is in another {name} namespace than the server"
        if theirs.get("root") != self.own_namespaces.get("root"):
            return "the client has another root directory than the server"
        if req.cwd_fd is None:
            return "the request lacks its working directory"
        return None

    def _warm(self, req):
        """Before forking: the bundle's config validated (or found in the
        cache), so that the worker inherits it.  Returns what the config will
        need that is heavy to import (loaded after the fork, see
        _load_later), or None if the command loads no config.  A config with
        errors is left for the worker to report."""
        from . import commands, spec
        try:
            g, rest = commands.parse_globals(req.argv[1:], req.environ())
            if not rest or not req.cwd.startswith("/"):
                return None
            cmd, args = commands.parse_command(rest)
            where = commands.config_to_load(g, cmd.name, args, req.cwd) if args is not None else None
            if where is None:
                return None
            loaded = spec.load(*where, cwd=req.cwd, quiet=True)       # the worker says them
        except (MiniociError, OSError, ValueError):
            return ()
        if not any(cwd == req.cwd and argv == req.argv for argv, cwd in self.recent):
            self.recent.appendleft((req.argv, req.cwd))
        heavy = []
        if any(k.startswith("org.minioci.net.") and v != "loopback" for k, v in loaded.annotations.items()):
            heavy.append("network")
        if loaded.seccomp is not None:
            heavy.append("seccomp")
            root = os.path.join(req.cwd, g.root)
            from . import seccomp
            try:
                state.check_root(root, remember=False)    # before reading anything under it
                seccomp.warm(loaded, root)                 # its cache key, once
            except (MiniociError, OSError):
                pass                          # the worker finds out, and refuses as the direct path does
        return heavy

    def _load_later(self, heavy):
        """Import what a config needed once its worker is on its way: the
        next worker inherits it (pyroute2 ~170 ms, pyseccomp ~30 ms)."""
        for what in heavy or ():
            if what not in self.loaded:
                self.loaded.add(what)
                preload(what)

    def _control(self, conn, what):
        if what == "stop":
            self.stopping = True
            reply = f"stopping {os.getpid()}"
        else:
            reply = self.status()
        try:
            wire.send(conn, wire.STATUS, reply.encode())
        except OSError:
            pass
        conn.close()

    def status(self):
        from . import spec
        alive = len(self.workers)
        return (f"pid {os.getpid()}\nsocket {self.socket}\nbuild {self.build}\n"
                f"up {time.time() - self.started:.0f} s\nrequests {self.requests}\nrefused {self.refused}\n"
                f"workers {alive}\nspare {self.spare[0] if self.spare else '-'}\n"
                f"configs {spec.validated_count()}\n")

    def forget(self):
        """In a worker: let go of the server's sockets without closing what
        their fd numbers will hold next (the worker closes the numbers)."""
        self.listener.detach()
        if self.spare is not None:
            self.spare[1].detach()
            self.spare = None
        for conn, _ in self.pending.values():
            conn.detach()
        for conn in self.workers.values():
            conn.detach()
        self.pending.clear()
        self.workers.clear()


def namespace_ids(pid):
    """{namespace: (dev, inode)} of a process, and its root directory's."""
    out = {}
    for name in SHARED_NAMESPACES:
        try:
            st = os.stat(f"/proc/{pid}/ns/{name}")
            out[name] = (st.st_dev, st.st_ino)
        except OSError:
            out[name] = None
    try:
        st = os.stat(f"/proc/{pid}/root")
        out["root"] = (st.st_dev, st.st_ino)
    except OSError:
        out["root"] = None
    return out


def preload(what):
    """Import a heavy part once, in the server (it is shared with every
    worker forked afterwards)."""
    try:
        if what == "network":
            from .network import links  # noqa: F401  (pyroute2)
        elif what == "seccomp":
            from .seccomp import compile as seccomp_compile
            seccomp_compile.library()    # pyseccomp and libseccomp
    except (ImportError, OSError, MiniociError) as e:
        log.debug(f"serve: cannot preload {what}: {e}")


# What requests need, imported once in the server: minioci's modules, and
# what its commands import where they use it (json pulls in re, ~10 ms).
WARM_MODULES = (
    "minioci.cgroups", "minioci.cgroups.devices", "minioci.cgroups.freezer", "minioci.cgroups.resources",
    "minioci.cgroups.stats", "minioci.commands", "minioci.container", "minioci.hooks", "minioci.hostconfig",
    "minioci.parent", "minioci.plan", "minioci.remote", "minioci.seccomp", "minioci.seccomp.notify",
    "minioci.shim", "minioci.spec", "minioci.state", "minioci.terminal", "minioci.timing", "minioci.worker",
    "fcntl", "json", "prctl", "re", "subprocess", "termios", "traceback", "tty",
)


def warm_up():
    """Import what every request needs, and read the cgroup layout once."""
    import importlib
    for name in WARM_MODULES:
        importlib.import_module(name)
    from . import cgroups
    try:
        cgroups.detect()
    except MiniociError:
        pass


# ---- the listening socket ---------------------------------------------------

def inherited_listener():
    """The socket systemd passed (LISTEN_FDS, fd 3), or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or not os.environ.get("LISTEN_FDS"):
        return None
    n = int(os.environ["LISTEN_FDS"])
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if n != 1:
        raise MiniociError(f"serve: systemd passed {n} sockets; expected one (ListenSequentialPacket=)")
    s = socket.socket(fileno=3)
    if s.family != socket.AF_UNIX or s.type != socket.SOCK_SEQPACKET:
        raise MiniociError("serve: the socket systemd passed is not a unix SOCK_SEQPACKET socket")
    s.set_inheritable(False)
    s.setblocking(False)
    return s


def listen(path):
    """A new socket at `path`, mode 0600, in a directory that passes the
    state root's checks (made 0700 if missing) and that front ends reach
    without a symlink (they trust no other); a stale socket (its server gone)
    is replaced, a live one is an error."""
    directory = os.path.dirname(path)
    what = "the server's directory"
    try:
        state.make_root(directory, what)
        os.close(trust.open_dir(directory, symlinks=False))
    except trust.Untrusted as e:
        raise MiniociError(f"serve: {trust.describe(what, directory, e)}: front ends use a server only in a "
                           "directory reached without symlinks") from None
    except MiniociError as e:
        raise MiniociError(f"serve: {e}") from None
    if os.path.lexists(path):
        if control.ask(path, "status", timeout=1.0) is not None:
            raise MiniociError(f"serve: a server is already listening on {path}")
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    s.listen(4096)
    s.setblocking(False)
    return s


def main(g, a, run):
    """`minioci serve [--socket PATH] [--stop | --status | --preload]`: one
    server for every state root, on this caller's socket
    (wire.server_socket) or PATH; `run(argv, timeline)` runs a request's
    command line in its worker (cli.main)."""
    if g.root_given:
        raise MiniociError("serve: a server serves every state root (each request names its own): --root is not "
                           "its to take; --socket PATH says where it listens")
    path = os.path.abspath(a.socket) if a.socket else wire.server_socket()
    if a.stop:
        answer = control.ask(path, "stop")
        if answer is None:
            raise MiniociError(f"serve: no server is listening on {path}")
        # Done when the server is: its pid is in the answer.
        try:
            pidfd = os.pidfd_open(int(answer.split()[1]))
        except (IndexError, ValueError, OSError):
            return 0
        select.select([pidfd], [], [], 10)
        os.close(pidfd)
        return 0
    if a.status:
        answer = control.ask(path, "status")
        if answer is None:
            print(f"not running (no server on {path})")
            return 3                   # as `systemctl status` says "not running"
        print(answer, end="")
        return 0
    listener = inherited_listener()
    owns_path = None
    if listener is None:
        listener = listen(path)
        st = os.stat(path)
        owns_path = (st.st_dev, st.st_ino)
    from . import spec
    spec.keep_validated(VALIDATED_CONFIGS)
    warm_up()
    server = Server(listener, owns_path, run)
    server.hold_cgroup_parent()
    if a.preload:
        for what in ("network", "seccomp"):
            server.loaded.add(what)
            preload(what)
    log.debug(f"serve: listening on {server.socket} (pid {os.getpid()}, build {server.build})")
    server.run()
    return 0
