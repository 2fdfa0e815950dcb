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
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import IS_ROOT, MINIOCI, SERVE_SOCKET
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


def minioci(root, *args, mode):
    env = {**os.environ, "MINIOCI_SERVE": mode}
    return subprocess.run([MINIOCI, "--root", root, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=60)


def refusal(root, uid):
    return f"minioci: state root {root} belongs to uid {uid}, not 0: refusing to use it (only its owner may write in it)"


def commands(rt):
    cid = rt.new_id()
    return {"run": ("run", "-b", rt.bundle(sh("echo ran; id -u")), cid), "exec": ("exec", cid, "id", "-u"),
            "state": ("state", cid)}


@pytest.mark.parametrize("mode", ["auto", "always"])
@pytest.mark.parametrize("command", ["run", "exec", "state"])
def test_a_server_in_a_root_another_user_owns_gets_nothing(rt, users_root, intruder, command, mode):
    """The impostor receives nothing at all (no connection, so no argv,
    environment or fd), and the command ends as the direct path ends on that
    root: refused, in its words."""
    root, impostor = users_root
    args = commands(rt)[command]
    direct = minioci(root, *args, mode="never")
    assert direct.returncode != 0 and (direct.stdout, direct.stderr) == ("", refusal(root, intruder.uid) + "\n")
    r = minioci(root, *args, mode=mode)
    assert impostor.received() == "listening\n"
    assert r.stdout == ""
    if mode == "auto":
        assert (r.returncode, r.stderr) == (direct.returncode, direct.stderr)
    else:
        assert (r.returncode, r.stderr) == (1, refusal(root, intruder.uid).replace(": ", ": MINIOCI_SERVE=always: ", 1)
                                            + "\n")
    assert os.listdir(root) == [SERVE_SOCKET]


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_a_server_that_is_not_the_callers_uid_gets_nothing(rt, users_root, intruder, tmp_path, mode):
    """Even in a root-owned directory, from a root-owned socket file (the
    user's listener, its directory and socket given to root since): the
    listener's uid (SO_PEERCRED, which only the kernel sets) is not the
    caller's, so the front end hangs up before a byte of the request
    leaves."""
    root, impostor = users_root
    for path in (root, os.path.join(root, SERVE_SOCKET)):
        os.chown(path, 0, 0)
    os.chmod(root, 0o700)
    cid = rt.new_id()
    r = minioci(root, "--debug", "state", cid, mode=mode)
    log = impostor.received()
    assert "received" not in log and log.count("connected") <= 1, log
    if mode == "auto":
        assert r.returncode == 1 and r.stderr.splitlines() == [
            f"minioci: debug: direct path: the server on {root}/{SERVE_SOCKET} runs as uid {intruder.uid}, "
            "not as this caller (uid 0): not using it",
            f"minioci: container {cid!r} does not exist"]
    else:
        assert (r.returncode, r.stderr) == (1, f"minioci: MINIOCI_SERVE=always: the server on {root}/{SERVE_SOCKET} "
                                               f"runs as uid {intruder.uid}, not as this caller (uid 0): not using it\n")


def test_control_requests_and_features_do_not_ask_an_untrusted_server(users_root):
    """`serve --status`, `serve --stop` and `features` talk to a server too."""
    root, impostor = users_root
    for args in (("serve", "--status"), ("serve", "--stop"), ("features",)):
        minioci(root, *args, mode="never")
    assert impostor.received() == "listening\n"


def test_a_server_refuses_to_start_where_the_direct_path_refuses(intruder):
    root = user_dir(intruder, "minioci-users-root-")
    try:
        r = minioci(root, "serve", mode="never")
        assert (r.returncode, r.stderr) == (1, refusal(root, intruder.uid) + "\n")
        assert os.listdir(root) == []
    finally:
        shutil.rmtree(root)


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
