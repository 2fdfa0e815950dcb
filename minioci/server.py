"""`minioci serve`: pay for the interpreter and the imports once.

A long-lived process with minioci imported and warm listens on the caller's
socket (wire.server_socket: serve.sock in its default state root, mode
0600), or on a socket systemd passes it (LISTEN_FDS).  The `minioci` command
(native/frontend.c) sends each request there, whatever its state root: its
argv (with its --root), environment, working directory, umask and fds.  Per
request the server checks the peer (the server's own uid, in this server's
namespaces, the same build) and hands the request to a resident worker
(worker.resident): a warm process forked once, which serves one request
after another with the same command code as the direct path (checks of the
state root included), with a sandbox made ahead (sandbox.py) if the command
may start a container.  Only what runs for long whatever happens (a
streaming `events`, `bench`) gets a worker of its own: the spare, forked
ahead, or a fork now.  The front end stays the container's parent: see
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

from . import __version__, commands, control, log, state, trust, wire
from .errors import MiniociError, strerror

# Namespaces a client must share with the server: the worker acts in the
# server's (mounts, cgroups, network, /proc, clock).
SHARED_NAMESPACES = ("mnt", "net", "pid", "ipc", "uts", "cgroup", "user", "time")
REQUEST_WAIT = 5.0          # seconds a connection may take to send its request
SPARE_WHILE_FEWER_WORKERS = 2
IDLE_EXIT_WAIT = 5.0        # seconds a stopping server waits for its idle workers to exit
RESIDENTS = 4               # resident workers at most (more, each on a long request, are retired)
STUCK = 0.1                 # seconds on one request after which a resident worker may be retired
RESIDENT_REQUESTS = 10000   # served by one before it is retired (and a fresh one forked)


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
        self.own_namespaces = namespace_ids("self")
        # Workers forked ahead (worker.spare), oldest first.
        self.spares = []
        self.cgroup_hold = None             # cgroups.hold_default_parent()'s
        self.residents = {}                 # pid → Resident: workers that serve one request after another
        self.waiting = collections.deque()  # requests waiting for a resident worker (Waiting)
        self.sandboxes = collections.deque()  # sandboxes made ahead (by the spare): (fds, ns it took)
        self.poller = None
        self.retired_served = 0             # requests served by resident workers that have ended

    # ---- the loop ---------------------------------------------------------

    def run(self):
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)      # the wakeup fd says which
        poller = self.poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while not self.stopping:
            deadlines = [d for _, d in self.pending.values()]
            if self.waiting:
                deadlines.append(self._stuck_at())
            timeout = max(0, min(deadlines) - time.monotonic()) * 1000 if deadlines else None
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            residents = self.resident_fds
            spares = {sp.sock.fileno(): sp for sp in self.spares}
            # Residents first: one that said DONE is free for a request that came meanwhile.
            events.sort(key=lambda e: e[0] not in residents)
            for fd, ev in events:
                if fd == wake_r:
                    self._signals(wake_r)
                elif fd == self.listener.fileno():
                    self._accept(poller)
                elif fd in residents:
                    self._resident_said(residents[fd], ev)
                elif fd in spares and spares[fd] in self.spares:
                    self._spare_said(spares[fd], ev)
                elif fd in self.pending:
                    conn, _ = self.pending.pop(fd)
                    poller.unregister(fd)
                    self._serve_one(conn)
                if self.stopping:
                    break
            self._dispatch()
            now = time.monotonic()
            for fd, (conn, deadline) in list(self.pending.items()):
                if deadline < now:
                    poller.unregister(fd)
                    del self.pending[fd]
                    conn.close()
            # A spare is worth it while requests come one at a time; in a
            # burst, workers fork directly (a spare's rehearsal is CPU they need).
            if not self.spares and not self.stopping and len(self.workers) < SPARE_WHILE_FEWER_WORKERS:
                self._fork_spare()
            if not self.residents and not self.stopping:
                self._fork_resident()
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
        # Idle workers exit on EOF: the stopped server reaps them.  Those on a
        # request (a foreground run may last) finish it on their own.
        self._take_dones()
        idle = [sp.pid for sp in self.spares] + [pid for pid, r in self.residents.items() if r.job is None]
        while self.spares:
            self._retire_spare(self.spares[0])
        while self.sandboxes:
            for fd in self.sandboxes.popleft()[0]:
                os.close(fd)
        for r in self.residents.values():
            r.retire()                   # it ends what it serves, sees EOF and exits
            r.done()
        for item in self.waiting:         # the front end takes the claim back: the direct path
            item.req.close_fds()
            item.conn.close()
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
        _reap_within(idle, IDLE_EXIT_WAIT)

    def _take_dones(self):
        """Read the DONEs resident workers said before the stop: they are idle."""
        for r in self.residents.values():
            if r.job is None or r.sock is None or not select.select([r.sock], [], [], 0)[0]:
                continue
            try:
                wire.receive(r.sock, wire.DONE)
            except (OSError, wire.ProtocolError):
                continue
            r.done()

    def hold_cgroup_parent(self):
        """Keep the default cgroup parent while serving (containers then make
        and remove only their own directories)."""
        from . import cgroups
        try:
            self.cgroup_hold = cgroups.hold_default_parent(cgroups.detect())
        except MiniociError as e:
            log.debug(f"serve: no hold on the cgroup parent: {e}")

    # ---- the spare: a worker forked before the request that needs it --------

    def _fork_ahead(self, what, start):
        """Fork a worker that runs start(server, its socket to the server,
        cli.main) and never returns; (pid, the server's end), or None."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        gc.freeze()                      # a worker's collections leave the server's objects (and pages) alone
        try:
            pid = os.fork()
        except OSError as e:
            log.warning(f"serve: cannot fork a {what}: {strerror(e.errno)}")
            mine.close()
            theirs.close()
            return None
        if pid == 0:
            try:
                mine.detach()
                start(self, theirs, self.run_command)
            finally:
                os._exit(255)            # not reached
        theirs.close()
        self.poller.register(mine, select.POLLIN)
        return pid, mine

    def _fork_spare(self):
        from . import worker
        forked = self._fork_ahead("spare worker", worker.spare)
        if forked is not None:
            self.spares.append(Spare(*forked))

    def sandboxes_wanted(self):
        """How many sandboxes a spare forked now is to make: what the pool
        lacks, if no other spare makes them."""
        from . import sandbox
        return 0 if self.spares else max(0, sandbox.SANDBOXES - len(self.sandboxes))

    def _ask_for_sandboxes(self, sp):
        """Have spare `sp` make what the pool lacks (wire.SANDBOX: how many)."""
        from . import sandbox
        try:
            wire.send(sp.sock, wire.SANDBOX, struct.pack("<i", sandbox.SANDBOXES - len(self.sandboxes)))
        except OSError:
            self._retire_spare(sp)

    def _spare_said(self, sp, ev):
        """A sandbox spare `sp` made (wire.SANDBOX), or its end."""
        if ev & select.POLLIN:
            try:
                _, payload, fds = wire.receive(sp.sock, wire.SANDBOX)
            except (OSError, wire.ProtocolError):
                fds = None
            if fds is not None and len(fds) == 3 and len(payload) == 8:
                self.sandboxes.append((fds, struct.unpack("<q", payload)[0]))
                return
            for fd in fds or ():
                os.close(fd)
        self._retire_spare(sp)

    # ---- resident workers: no fork per request ----

    @property
    def resident_fds(self):
        return {r.sock.fileno(): r for r in self.residents.values() if r.sock is not None}

    def _fork_resident(self):
        from . import worker
        forked = self._fork_ahead("resident worker", worker.resident)
        if forked is None:
            return None
        r = self.residents[forked[0]] = Resident(*forked)
        return r

    def _idle_resident(self):
        """A resident worker with nothing to do: one that is, or a new one
        if fewer than RESIDENTS serve (a worker on one request for more than
        STUCK seconds, a `run` in the foreground or one that hangs, is
        retired to make room: it ends with that request); or None."""
        r = next((r for r in self.residents.values() if r.idle()), None)
        if r is not None or self.stopping:
            return r
        serving = [r for r in self.residents.values() if r.sock is not None]
        if len(serving) >= RESIDENTS:
            now = time.monotonic()
            long = [r for r in serving if now - r.since > STUCK]
            if not long:
                return None
            min(long, key=lambda r: r.since).retire()
        return self._fork_resident()

    def _stuck_at(self):
        """When the resident worker that has been on its request longest
        will have been for STUCK seconds."""
        return min((r.since for r in self.residents.values() if r.sock is not None and r.job is not None),
                   default=0) + STUCK

    def _dispatch(self):
        """Hand the requests waiting, oldest first, to idle resident workers.
        A request never waits behind another one in a worker (that one may
        hang, or serve a container in the foreground): it waits here while
        the resident workers make progress, or for a new one
        (_idle_resident); if none can be had, a worker of its own."""
        while self.waiting:
            item = self.waiting[0]
            r = self._idle_resident()
            if r is None and time.monotonic() < self._stuck_at():
                return
            self.waiting.popleft()
            now = time.monotonic()
            marks = item.marks + ([(time.monotonic_ns(), "queued")] if now - item.since > 0.0005 else [])
            if r is not None and self._to_resident(r, item, marks):
                continue                 # its fds are kept until DONE (see _reap)
            try:
                self._start_worker(item.conn, item.req, item.peer_pid, marks, container=item.container)
            finally:
                item.req.close_fds()

    def _to_resident(self, r, item, marks):
        """Send `item` to resident worker `r`, with a sandbox made ahead if
        it may start a container; False if `r` is gone."""
        made = self.sandboxes.popleft() if item.container and self.sandboxes else None
        fds, ns = made if made is not None else ([], -1)
        try:
            wire.send(r.sock, wire.JOB, wire.encode_job(item.peer_pid, marks, item.req.payload, ns),
                      [item.conn.fileno()] + fds + item.req.received)
        except OSError:
            r.retire()
            if made is not None:
                self.sandboxes.appendleft(made)
            return False
        for fd in fds:
            os.close(fd)                 # the worker has them
        if made is not None and self.spares:
            self._ask_for_sandboxes(self.spares[-1])
        r.job = item
        r.since = time.monotonic()
        r.served += 1
        if r.served >= RESIDENT_REQUESTS:
            r.retire()                   # a fresh one takes over; this one ends with what it has
        return True

    def _resident_said(self, r, ev):
        if ev & select.POLLIN:
            try:
                kind, _, fds = wire.receive(r.sock, wire.DONE)
            except (OSError, wire.ProtocolError):
                kind = None
            if kind == wire.DONE:
                r.done()
                self._dispatch()
                return
        # EOF (it ended) or nonsense: no more requests go there; reaped in _reap
        self.poller.unregister(r.sock)
        r.retire()

    def _retire_spare(self, sp):
        self.spares.remove(sp)
        self.poller.unregister(sp.sock)
        sp.sock.close()                  # it sees EOF, and exits

    def _hand_over(self, conn, req, peer_pid, marks, made):
        """Give the request (and the sandbox `made`, if any) to the oldest
        spare; its pid, or None."""
        if not self.spares:
            return None
        sp = self.spares[0]
        fds, ns = made if made is not None else ([], -1)
        try:
            wire.send(sp.sock, wire.JOB, wire.encode_job(peer_pid, marks, req.payload, ns),
                      [conn.fileno()] + fds + req.received)
        except OSError:
            return None                  # it died: fork instead
        finally:
            self._retire_spare(sp)       # (it has the request, or is gone)
        return sp.pid

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
            r = self.residents.pop(pid, None)
            if r is not None:
                self.retired_served += r.served
                if r.job is not None and r.job.unclaimed():
                    # It died before it took the request: another worker will.
                    self.waiting.appendleft(r.job)
                    r.job = None
                elif r.job is not None:          # it died serving a request: the client ends as it did
                    try:
                        wire.send(r.job.conn, wire.WORKER_EXIT, struct.pack("<i", status))
                    except OSError:
                        pass
                    r.done()
                if r.sock is not None:
                    try:
                        self.poller.unregister(r.sock)
                    except (KeyError, ValueError):
                        pass
                    r.retire()
                continue
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
            parsed = _parse(req)
            if not (parsed and commands.own_process(parsed[1].name, parsed[2])):
                self.waiting.append(Waiting(conn, req, pid, marks,
                                        bool(parsed) and commands.starts_a_container(parsed[1].name)))
                req = None                     # its fds go with it
                self._dispatch()
                return
            self._start_worker(conn, req, pid, marks, container=False)     # events, bench: none
        finally:
            if req is not None:
                req.close_fds()
            if self.stale:
                self.stopping = True

    def _start_worker(self, conn, req, pid, marks, container):
        """A worker for this request alone: the spare, or a fork now; with a
        sandbox made ahead if it may start a `container`."""
        made = self.sandboxes.popleft() if container and self.sandboxes else None
        if made is not None and len(self.spares) > 1:
            self._ask_for_sandboxes(self.spares[-1])
        try:
            child = self._hand_over(conn, req, pid, marks, made)
            if child is None:
                gc.freeze()
                try:
                    child = os.fork()
                except OSError as e:
                    return self._refuse(conn, f"the server cannot fork: {strerror(e.errno)}")
                if child == 0:
                    try:
                        from . import worker
                        worker.forked(self, conn, req, pid, marks, self.run_command, made)
                    finally:
                        os._exit(255)          # not reached: the worker exits
            self.workers[child] = conn
        finally:
            for fd in made[0] if made is not None else ():
                os.close(fd)                   # the worker has them

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
        served = sum(r.served for r in self.residents.values()) + self.retired_served
        return (f"pid {os.getpid()}\nsocket {self.socket}\nbuild {self.build}\n"
                f"up {time.time() - self.started:.0f} s\nrequests {self.requests}\nrefused {self.refused}\n"
                f"workers {len(self.workers)}\nspares {' '.join(str(sp.pid) for sp in self.spares) or '-'}\n"
                f"residents {' '.join(str(pid) for pid in self.residents) or '-'}\n"
                f"resident-requests {served}\nsandboxes {len(self.sandboxes)}\n")

    def forget(self):
        """In a worker: let go of the server's sockets without closing what
        their fd numbers will hold next (the worker closes the numbers)."""
        self.listener.detach()
        for sp in self.spares:
            sp.sock.detach()
        self.spares.clear()
        for conn, _ in self.pending.values():
            conn.detach()
        for conn in self.workers.values():
            conn.detach()
        for r in self.residents.values():
            if r.sock is not None:
                r.sock.detach()
            if r.job is not None:
                r.job.conn.detach()
        for item in self.waiting:
            item.conn.detach()
        self.pending.clear()
        self.workers.clear()
        self.residents.clear()
        self.waiting.clear()
        self.sandboxes.clear()          # their fds are closed with the server's others


def _reap_within(pids, seconds):
    """Reap `pids` as they exit, for `seconds` at most: a server stopped
    leaves none of them behind (one that takes longer exits on its own)."""
    deadline = time.monotonic() + seconds
    pids = set(pids)
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                pids.discard(pid)
        if pids:
            time.sleep(0.005)


def _parse(req):
    """(global flags, Command, its Args or None for --help) of a request's
    command line, or None if it names no command or does not parse (the
    worker says so, as the direct path would)."""
    try:
        g, rest = commands.parse_globals(req.argv[1:])
        if not rest or g.help or g.version:
            return None
        cmd, args = commands.parse_command(rest)
    except (MiniociError, ValueError):
        return None
    return g, cmd, args


class Spare:
    """A worker forked ahead, waiting for a request (worker.spare)."""

    def __init__(self, pid, sock):
        self.pid, self.sock = pid, sock


class Resident:
    """A resident worker, as the server sees it: its socket (None once
    retired), and the request it serves (a Waiting, its fds kept until it is
    done), if any."""

    def __init__(self, pid, sock):
        self.pid = pid
        self.sock = sock
        self.job = None
        self.since = 0.0              # when it got the request it serves
        self.served = 0

    def idle(self):
        return self.sock is not None and self.job is None

    def done(self):
        if self.job is not None:
            self.job.req.close_fds()
            self.job.conn.close()
            self.job = None

    def retire(self):
        """No more requests: it ends what it serves, sees EOF and exits."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Waiting:
    """A request for a resident worker, waiting for one; `container`: it may
    start a container (create, run: it gets a sandbox made ahead)."""

    def __init__(self, conn, req, peer_pid, marks, container):
        self.conn, self.req, self.peer_pid, self.marks = conn, req, peer_pid, marks
        self.container = container
        self.since = time.monotonic()

    def unclaimed(self):
        """Whether the claim is still in its pipe: no worker took the
        request (and the front end did not take it back)."""
        import array
        import fcntl
        import termios
        if self.req.claim_fd is None:
            return False
        n = array.array("i", [0])
        try:
            fcntl.ioctl(self.req.claim_fd, termios.FIONREAD, n)
        except OSError:
            return False
        return n[0] > 0


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
    "minioci.cgroups.stats", "minioci.cgroups.v1", "minioci.cgroups.v2", "minioci.commands",
    "minioci.container", "minioci.hooks", "minioci.hostconfig", "minioci.parent", "minioci.plan",
    "minioci.remote", "minioci.sandbox", "minioci.seccomp", "minioci.seccomp.bpf", "minioci.seccomp.cache",
    "minioci.seccomp.key", "minioci.seccomp.notify", "minioci.seccomp.profile", "minioci.shim", "minioci.spec",
    "minioci.state", "minioci.terminal", "minioci.timing", "minioci.worker",
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
    warm_up()
    server = Server(listener, owns_path, run)
    server.hold_cgroup_parent()
    if a.preload:
        for what in ("network", "seccomp"):
            preload(what)
    log.debug(f"serve: listening on {server.socket} (pid {os.getpid()}, build {server.build})")
    server.run()
    return 0
