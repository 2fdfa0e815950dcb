"""Whom minioci trusts (minioci/trust.py): the state root, and the server.

The state root must be the caller's alone, and so must everything on its way
that could swap it for another: a directory of another user's, or a symlink
another user planted, on the way is refused; root's own symlinks (/var/run)
are followed.

The served path (issue 15, item 1):

The attack: a local user who can write a directory that root passes as
`--root` (or anywhere root's front end might look for a server) listens
there as a server would, and waits for root's commands.  The old front end
sent it root's argv, environment, stdio and an fd of its working directory,
took its forged answers as the command's result, and spawned whatever plan
it sent, as uid 0.

Here that user is real (useradd, removed afterwards), its listener runs as
that user, and it records everything it receives.  It must receive nothing;
the command must behave as the direct path does on the same root (which
refuses it); and a server must refuse to start where the direct path would
refuse to work.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, MINIOCI, SERVE_SOCKET, Server
from minioci import wire
from users import plain_user

from .conftest import sh

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="makes a user and runs as root against it")

# A listener that answers as minioci's server would (wire.py): STARTED, a
# forged `state` on the caller's stdout, EXIT 0.  It logs each connection and
# what came with it.
IMPOSTOR = r'''
import array, os, socket, struct, sys
path, log = sys.argv[1], sys.argv[2]
out = open(log, "a", buffering=1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen(16)
print("listening", file=out)
while True:
    c, _ = s.accept()
    print("connected", file=out)
    try:
        data, anc, _, _ = c.recvmsg(1 << 22, socket.CMSG_SPACE(253 * 4))
    except OSError as e:
        print(f"error {e}", file=out)
        c.close()
        continue
    fds = array.array("i")
    for _, _, blob in anc:
        fds.frombytes(blob[:len(blob) - len(blob) % 4])
    if not data and not fds:
        print("nothing", file=out)
        c.close()
        continue
    if data == b"probe":
        print("probe", file=out)
        c.close()
        continue
    print(f"received {len(data)} bytes and {len(fds)} fds: {data[:300]!r}", file=out)
    try:
        nfds = struct.unpack_from("<IqqqIiIII", data, 4)[6]
        numbers = struct.unpack_from(f"<{nfds}i", data, 4 + struct.calcsize("<IqqqIiIII"))
        stdout = dict(zip(numbers, fds)).get(1)
        c.send(struct.pack("<Ii", 3, os.getpid()))
        if stdout is not None:
            os.write(stdout, b'{"ociVersion":"forged","id":"x","status":"running","pid":1}\n')
        c.send(struct.pack("<Ii", 5, 0))
    except Exception as e:
        print(f"answer failed: {e!r}", file=out)
    for fd in fds:
        os.close(fd)
    c.close()
'''


class Impostor:
    """A listener of `user`'s at `path`, logging what reaches it."""

    def __init__(self, user, path, workdir):
        self.path = path
        self.log = os.path.join(workdir, "impostor.log")
        script = os.path.join(workdir, "impostor.py")
        with open(script, "w") as f:
            f.write(IMPOSTOR)
        self.proc = subprocess.Popen(user.cmd("/usr/bin/python3", "-I", "-S", script, path, self.log),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while "listening" not in self.received():
                assert self.proc.poll() is None, f"the impostor ended: {self.proc.stderr.read()}"
                assert time.monotonic() < deadline, "the impostor did not listen"
                time.sleep(0.01)
        except BaseException:
            self.stop()
            raise

    def settled(self, until=("nothing", "received", "error")):
        """What it received once it has read what the connection it
        accepted brought (the front end may hang up before it accepts)."""
        deadline = time.monotonic() + 30
        while not any(w in self.received() for w in until):
            assert time.monotonic() < deadline, f"the impostor never read its connection: {self.received()}"
            time.sleep(0.01)
        return self.received()

    def before_probe(self):
        """What reached it before now: a probe connection of the test's,
        accepted after any earlier one, marks the log."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(self.path)
            s.send(b"probe")
        log = self.settled(until=("connected\nprobe\n",))
        return log[:log.index("connected\nprobe\n")]

    def received(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def intruder():
    with plain_user("intruder") as user:
        yield user


def user_dir(user, prefix):
    """A directory of the user's own, where the user can reach it."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chown(d, user.uid, user.gid)
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def users_root(intruder):
    """(the intruder's directory, passed to root's minioci as --root; its
    impostor listening there as a server would)."""
    root = user_dir(intruder, "minioci-users-root-")
    work = user_dir(intruder, "minioci-impostor-")
    try:
        impostor = Impostor(intruder, os.path.join(root, SERVE_SOCKET), work)
        try:
            yield root, impostor
        finally:
            impostor.stop()
    finally:
        shutil.rmtree(root)
        shutil.rmtree(work)


def minioci(root, *args, mode, socket=None, **kw):
    """root's `minioci --root ROOT ARGS...` with MINIOCI_SERVE=mode (and the
    server looked for at `socket`, if given)."""
    env = {**os.environ, "MINIOCI_SERVE": mode, **({"MINIOCI_SERVE_SOCKET": socket} if socket else {})}
    return subprocess.run([MINIOCI, "--root", root, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=60, **kw)


def refusal(root, uid, caller=0):
    return (f"minioci: state root {root} belongs to uid {uid}, not {caller}: refusing to use it (only its owner may "
            "write in it)")


def command(rt, box, name):
    """run, exec (in a running container of rt's) or state."""
    if name == "run":
        return "run", "-b", rt.bundle(sh("echo ran; id -u")), rt.new_id()
    if name == "exec":
        return "exec", box.detached(sh("exec sleep 300")), "id", "-u"
    return "state", rt.new_id()


@pytest.mark.parametrize("mode", ["auto", "always"])
@pytest.mark.parametrize("name", ["run", "exec", "state"])
def test_a_listener_in_a_root_another_user_owns_gets_nothing(rt, box, users_root, intruder, name, mode):
    """The attack as it was found: root's minioci is given the user's
    directory as --root.  Nothing reaches the impostor listening there (no
    connection: no argv, environment or fd); root's own server serves the
    command (one for every root), and its worker refuses that root in the
    direct path's words, as the direct path does."""
    root, impostor = users_root
    server = rt.server = Server(rt.socket).start()
    args = command(rt, box, name)
    direct = minioci(root, *args, mode="never")
    assert direct.returncode != 0 and (direct.stdout, direct.stderr) == ("", refusal(root, intruder.uid) + "\n")
    r = minioci(root, *args, mode=mode)
    assert impostor.before_probe() == "listening\n"
    assert (r.returncode, r.stdout, r.stderr) == (direct.returncode, "", direct.stderr)
    assert (server.status()["requests"], server.status()["refused"]) == ("1", "0")
    assert os.listdir(root) == [SERVE_SOCKET]


@pytest.mark.parametrize("mode", ["auto", "always"])
@pytest.mark.parametrize("name", ["run", "exec", "state"])
def test_a_listener_where_the_front_end_looks_gets_nothing_if_the_place_is_another_users(rt, box, users_root,
                                                                                         intruder, name, mode):
    """The impostor where root's front end looks for its server (here named
    by MINIOCI_SERVE_SOCKET; a user's default state root would be the same):
    a directory of another uid's holds no server of root's.  Nothing reaches
    it; the command runs as on the direct path (auto) or fails saying why
    (always)."""
    root, impostor = users_root
    args = command(rt, box, name)
    direct = minioci(rt.root, *args, mode="never")
    args = args[:-1] + (rt.new_id(),) if name == "run" else args
    r = minioci(rt.root, *args, mode=mode, socket=impostor.path)
    assert impostor.before_probe() == "listening\n"
    if mode == "auto":
        assert (r.returncode, r.stdout, r.stderr) == (direct.returncode, direct.stdout, direct.stderr)
    else:
        assert (r.returncode, r.stdout, r.stderr) == (1, "", f"minioci: MINIOCI_SERVE=always: the directory {root} "
                                                             f"belongs to uid {intruder.uid}, not 0: not using a "
                                                             "server there\n")


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_a_listener_of_another_uid_gets_nothing_even_in_roots_directory(rt, users_root, intruder, mode):
    """The directory and the socket file given to root since: the listener
    is still the user's (SO_PEERCRED, set by the kernel when it listened).
    The front end connects, reads that and hangs up before a byte of the
    request leaves."""
    root, impostor = users_root
    for path in (root, impostor.path):
        os.chown(path, 0, 0)
    os.chmod(root, 0o700)
    cid = rt.new_id()
    r = minioci(rt.root, "--debug", "state", cid, mode=mode, socket=impostor.path)
    assert impostor.settled() == "listening\nconnected\nnothing\n"
    why = f"the server on {impostor.path} runs as uid {intruder.uid}, not as this caller (uid 0): not using it"
    if mode == "auto":
        assert (r.returncode, r.stderr) == (1, f"minioci: debug: direct path: {why}\n"
                                               f"minioci: container {cid!r} does not exist\n")
    else:
        assert (r.returncode, r.stderr) == (1, f"minioci: MINIOCI_SERVE=always: {why}\n")


def test_control_requests_and_features_do_not_ask_an_untrusted_server(rt, users_root, intruder):
    """`serve --status`, `serve --stop` and `features` talk to a server too."""
    root, impostor = users_root
    env = {**os.environ, "MINIOCI_SERVE_SOCKET": impostor.path}
    why = f"the directory {root} belongs to uid {intruder.uid}, not 0: not using a server there"
    for args in (("serve", "--status"), ("serve", "--stop")):
        r = subprocess.run([MINIOCI, *args], capture_output=True, text=True, env=env)
        assert (r.returncode, r.stderr) == (1, f"minioci: serve: {why}\n")
    r = subprocess.run([MINIOCI, "features"], capture_output=True, text=True, env=env)
    assert json.loads(r.stdout)["annotations"]["org.minioci.serve"] == f"serve: {why}"
    assert impostor.before_probe() == "listening\n"


def test_a_server_refuses_to_listen_where_the_direct_path_refuses_a_root(intruder):
    theirs = user_dir(intruder, "minioci-users-root-")
    try:
        r = subprocess.run([MINIOCI, "serve", "--socket", os.path.join(theirs, SERVE_SOCKET)], capture_output=True,
                           text=True, timeout=60)
        assert (r.returncode, r.stderr) == (1, f"minioci: serve: the server's directory {theirs} belongs to uid "
                                               f"{intruder.uid}, not 0: refusing to use it (only its owner may write "
                                               "in it)\n")
        assert os.listdir(theirs) == []
    finally:
        shutil.rmtree(theirs)


# ---- the state root's way --------------------------------------------------------

def test_a_state_root_below_another_users_directory_is_refused(intruder):
    """The user could rename root's directory away and put anything in its
    place (a symlink to another root of root's, say)."""
    mine = user_dir(intruder, "minioci-users-dir-")
    try:
        root = os.path.join(mine, "root")
        os.mkdir(root, 0o700)                       # root's own, 0700: fine by itself
        r = minioci(root, "list", mode="never")
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == (f"minioci: state root {root}: {mine} on its way belongs to uid {intruder.uid}: refusing "
                            "to use it (only root or its owner may change the directories on its way)\n")
    finally:
        shutil.rmtree(mine)


def test_a_symlink_another_user_planted_on_the_way_is_refused_and_roots_own_are_followed(intruder, tmp_path):
    target = tmp_path / "root"
    target.mkdir(mode=0o700)
    planted = tempfile.mktemp(prefix="minioci-planted-", dir="/tmp")      # /tmp: anyone may add a name
    subprocess.run(intruder.cmd("ln", "-s", target, planted), check=True)
    try:
        r = minioci(planted, "list", mode="never")
        assert (r.returncode, r.stderr) == (1, f"minioci: state root {planted}: {planted} on its way is a symlink of "
                                               f"uid {intruder.uid}'s: refusing to use it (only root or its owner "
                                               "may change the directories on its way)\n")
        roots = tmp_path / "link"
        roots.symlink_to(target)                   # root's, in root's directory
        r = minioci(roots, "list", "-q", mode="never")
        assert (r.returncode, r.stdout, r.stderr) == (0, "\n", "")
    finally:
        os.unlink(planted)


@pytest.mark.skipif(not os.path.islink("/var/run"), reason="/var/run is no symlink here")
def test_a_root_under_var_run_works(rt):
    """docker's shim passes --root /var/run/docker/runtime-runc/moby by
    default: /var/run is root's symlink to /run."""
    root = "/var" + rt.root
    r = minioci(root, "run", "-b", rt.bundle(sh("echo ok")), rt.new_id(), mode="never")
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")


def test_a_root_made_now_is_the_callers_alone_whatever_the_umask(rt, tmp_path):
    """With umask 0, what `create` makes on the way is still writable by
    nobody else (else the next command would refuse it, rightly)."""
    root = tmp_path / "a" / "b" / "root"
    r = subprocess.run([MINIOCI, "--root", root, "run", "-b", rt.bundle(sh("echo ok")), rt.new_id()],
                       capture_output=True, text=True, env={**os.environ, "MINIOCI_SERVE": "never"},
                       preexec_fn=lambda: os.umask(0), timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", "")
    modes = [oct(os.stat(d).st_mode & 0o777) for d in (root.parent.parent, root.parent, root)]
    assert modes == ["0o755", "0o755", "0o700"]
    assert os.listdir(root) == []


# ---- a plain user's own (issue 16, items 2 and 6) ------------------------------------

@pytest.fixture
def plain():
    """A new user with a runtime directory, as a login session has one
    (/run/user/<uid>, 0700, the user's); both go afterwards."""
    with plain_user("plain") as user:
        made = not os.path.exists("/run/user")
        os.makedirs("/run/user", 0o755, exist_ok=True)
        user.runtime = f"/run/user/{user.uid}"
        os.mkdir(user.runtime, 0o700)
        os.chown(user.runtime, user.uid, user.gid)
        try:
            yield user
        finally:
            shutil.rmtree(user.runtime)
            if made:
                try:
                    os.rmdir("/run/user")
                except OSError:
                    pass                     # someone else's runtime directory is there now


def as_user(user, *args, mode="never", **env):
    """minioci ARGS as `user`, in a login-like environment of its own."""
    return subprocess.run(user.cmd(MINIOCI, *args), capture_output=True, text=True, timeout=60, cwd="/",
                          env={"PATH": os.environ["PATH"], "MINIOCI_SERVE": mode, **env})


def test_a_users_state_root_is_in_their_runtime_directory_and_theirs_alone(plain, tmp_path):
    """Without --root, a user's containers live in $XDG_RUNTIME_DIR/minioci,
    else /run/user/<uid>/minioci; the front end looks for the user's server
    there too; and that root must be the user's (not root's)."""
    xdg = tempfile.mkdtemp(prefix="minioci-xdg-", dir="/tmp")
    os.chown(xdg, plain.uid, plain.gid)
    try:
        for env, root in (({}, f"{plain.runtime}/minioci"), ({"XDG_RUNTIME_DIR": xdg}, f"{xdg}/minioci")):
            r = as_user(plain, "serve", "--status", **env)
            assert (r.returncode, r.stdout) == (3, f"not running (no server on {root}/{SERVE_SOCKET})\n")
            r = as_user(plain, "list", "-q", mode="always", **env)        # the front end's twin agrees
            assert (r.returncode, r.stderr) == (1, f"minioci: MINIOCI_SERVE=always: no server on {root}/{SERVE_SOCKET} "
                                                   "(No such file or directory)\n")
            r = as_user(plain, "list", "-q", **env)
            assert (r.returncode, r.stdout, r.stderr) == (0, "\n", "")
            os.mkdir(root, 0o700)                                         # root's, in the user's directory
            r = as_user(plain, "list", **env)
            assert (r.returncode, r.stderr) == (1, refusal(root, 0, plain.uid) + "\n")
            os.chown(root, plain.uid, plain.gid)
            r = as_user(plain, "list", "-q", **env)
            assert (r.returncode, r.stdout, r.stderr) == (0, "\n", "")
    finally:
        shutil.rmtree(xdg)


def test_a_users_own_server_serves_that_user_alone(plain, rt):
    """A plain user's `minioci serve` listens in the user's own runtime
    directory and serves that user's commands; root's front end does not use
    it, and it refuses root; the user's front end does not use root's."""
    server = subprocess.Popen(plain.cmd(MINIOCI, "serve"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd="/", env={"PATH": os.environ["PATH"]})
    sock = f"{plain.runtime}/minioci/{SERVE_SOCKET}"
    try:
        deadline = time.monotonic() + 30
        while as_user(plain, "serve", "--status").returncode != 0:
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the user's server did not answer"
            time.sleep(0.02)
        st = os.stat(sock)
        assert (st.st_uid, oct(st.st_mode & 0o777)) == (plain.uid, "0o600")

        def counts():
            fields = dict(line.split(" ", 1) for line in as_user(plain, "serve", "--status").stdout.splitlines())
            return fields["requests"], fields["refused"]

        # the user's commands, served, as on the direct path
        for args in (("list",), ("state", "x"), ("--root", f"{plain.runtime}/other", "list", "-q")):
            direct, served = as_user(plain, *args), as_user(plain, *args, mode="always")
            assert (served.returncode, served.stdout, served.stderr) == (direct.returncode, direct.stdout, direct.stderr)
        assert counts() == ("3", "0")

        # root's front end: not its server
        r = minioci(rt.root, "list", mode="always", socket=sock)
        assert (r.returncode, r.stderr) == (1, f"minioci: MINIOCI_SERVE=always: the directory {plain.runtime}/minioci "
                                               f"belongs to uid {plain.uid}, not 0: not using a server there\n")
        assert minioci(rt.root, "list", mode="auto", socket=sock).returncode == 0         # the direct path
        # root, connecting anyway: refused
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(sock)
            s.send(struct.pack("<I", wire.CONTROL) + b"status")
            assert s.recv(4096) == struct.pack("<I", wire.REFUSED) + (f"the client runs as uid 0: this server "
                                                                      f"serves uid {plain.uid} only").encode()
        assert counts() == ("3", "1")

        # the user's front end: not root's server
        roots = rt.server = Server(rt.socket).start()
        r = as_user(plain, "list", mode="always", MINIOCI_SERVE_SOCKET=rt.socket)
        assert r.returncode == 1 and r.stderr.startswith("minioci: MINIOCI_SERVE=always: "), r.stderr
        assert (roots.status()["requests"], roots.status()["refused"]) == ("0", "0")

        r = as_user(plain, "serve", "--stop")
        assert r.returncode == 0 and server.wait(10) == 0, server.stderr.read()
        assert not os.path.exists(sock)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
