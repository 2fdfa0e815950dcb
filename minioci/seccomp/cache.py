"""The compiled-filter cache: `<root>/seccomp-cache/`, one file per key.

An entry is `<key>.bpf`: a header (magic, the key, the program's length and
its SHA-256) followed by the BPF program.  It is written to a temporary file,
fsynced and renamed into place, so a reader sees a whole entry or none; and it
is verified before use (length, checksum, a well-formed program), so a
truncated or corrupt one is recompiled and replaced, never loaded.

Beside the entries: `<key>.hits`, an 8-byte counter whose mtime is the
entry's last use (hits are counted without a lock: concurrent starts may
undercount), and `libseccomp`, the identity of the library that compiled them
(see key.library_identity).  The directory is bounded in size: storing an
entry evicts the least recently used ones until the total fits.

The directory holds code the kernel will run for every container: it is used
only if it (and the state root holding it) belongs to the caller (root, or a
user in their own state root) and is not writable by group or others.
Otherwise minioci compiles every time and warns (once per process).
"""
import os
import stat

from .. import log
from ..errors import MiniociError, strerror
from ..state import SECCOMP_CACHE as DIR_NAME
from ..state import make_root
from ..state import untrusted as _untrusted
from . import bpf as bpf_mod
from .key import checksum, library_identity

MAX_BYTES = 4 << 20            # ~450 entries of podman's default profile
LIBRARY_STAMP = "libseccomp"
MAGIC = b"minioci-seccomp\x01"
HEADER_SIZE = len(MAGIC) + 32 + 4 + 32
MAX_ENTRY = HEADER_SIZE + bpf_mod.MAX_INSNS * bpf_mod.INSN_SIZE
_TMP_PREFIX = ".tmp-"

_warned = set()           # cache directories warned about, once per command


def forget_warnings():
    """The next command warns again (a resident worker, between requests)."""
    _warned.clear()


def encode(key, bpf):
    """An entry's bytes."""
    return MAGIC + bytes.fromhex(key) + len(bpf).to_bytes(4, "little") + checksum(bpf) + bpf


def verify(data, key):
    """(bpf, None) if `data` is a sound entry for `key`, else (None, why)."""
    if len(data) < HEADER_SIZE:
        return None, f"truncated: {len(data)} bytes, shorter than the header"
    m = len(MAGIC)
    if data[:m] != MAGIC:
        return None, "not a minioci seccomp cache entry"
    if data[m:m + 32] != bytes.fromhex(key):
        return None, "the entry is for another key"
    length = int.from_bytes(data[m + 32:m + 36], "little")
    if len(data) != HEADER_SIZE + length:
        return None, f"length {len(data) - HEADER_SIZE} bytes, the header says {length}"
    bpf = data[HEADER_SIZE:]
    if checksum(bpf) != data[m + 36:HEADER_SIZE]:
        return None, "checksum mismatch"
    problem = bpf_mod.problem(bpf, from_libseccomp=True)
    if problem:
        return None, f"malformed BPF: {problem}"
    return bpf, None


class Entry:
    def __init__(self, key, size, hits, last_used):
        self.key, self.size, self.hits, self.last_used = key, size, hits, last_used


class Cache:
    def __init__(self, root, max_bytes=MAX_BYTES, owner=None):
        self.root = root
        self.dir = os.path.join(root, DIR_NAME)
        self.max_bytes = max_bytes
        self.owner = os.geteuid() if owner is None else owner     # the caller's, as the state root
        self._trusted = False

    # ---- trust -------------------------------------------------------------

    def distrust(self):
        """Why the directory must not be used, "" if it can be, or None if
        it does not exist."""
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            return None
        problem = _untrusted(self.dir, st, self.owner)
        if not problem:
            problem = _untrusted(self.root, os.stat(self.root), self.owner)
        if problem and self.dir not in _warned:
            _warned.add(self.dir)
            log.warning(f"seccomp cache {problem}: not using it, compiling every time")
        return problem

    def _usable(self, create):
        if self._trusted:
            return True
        problem = self.distrust()
        if problem is None and create:
            try:
                make_root(self.root)
                os.mkdir(self.dir, 0o700)
            except FileExistsError:
                pass
            except OSError as e:
                log.warning(f"seccomp cache {self.dir}: cannot create it: {strerror(e.errno)}")
                return False
            except MiniociError as e:
                log.warning(f"seccomp cache {self.dir}: not using it: {e}")
                return False
            problem = self.distrust()
        self._trusted = problem == ""
        return self._trusted

    # ---- the library stamp -------------------------------------------------

    def library(self):
        """The identity of the libseccomp that compiled the entries, if that
        library file is still the same; else None (every lookup misses)."""
        if not self._usable(create=False):
            return None
        try:
            with open(os.path.join(self.dir, LIBRARY_STAMP), "rb") as f:
                line = f.read().decode()
        except (OSError, UnicodeDecodeError):
            return None
        fields = line.split("\t")
        if len(fields) < 3:
            return None
        try:
            current = library_identity(fields[1], fields[2])
        except OSError:
            return None
        return line if current == line else None

    def set_library(self, identity):
        if self._usable(create=True):
            self._write(LIBRARY_STAMP, identity.encode())

    # ---- entries -----------------------------------------------------------

    def load(self, key, count_hit=True):
        """The verified program for `key`, or None (missing or unusable: the
        caller compiles and stores it again)."""
        if not self._usable(create=False):
            return None
        path = os.path.join(self.dir, key + ".bpf")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            log.debug(f"seccomp cache entry {path}: {strerror(e.errno)}: recompiling")
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY:
                data = b""
            else:
                data = os.read(fd, MAX_ENTRY + 1)
        finally:
            os.close(fd)
        bpf, problem = verify(data, key)
        if problem:
            log.debug(f"seccomp cache entry {path}: {problem}: recompiling")
            return None
        if count_hit:
            self._count_hit(key)
        return bpf

    def store(self, key, bpf):
        """Write the entry for `key` (replacing a bad one) and evict down to
        the bound.  Failing to cache is not fatal: it only costs a compile."""
        if not self._usable(create=True):
            return False
        try:
            self._write(key + ".bpf", encode(key, bpf))
        except OSError as e:
            log.warning(f"seccomp cache {self.dir}: cannot store {key}: {strerror(e.errno)}")
            return False
        self.evict(keep=key)
        return True

    def _write(self, name, data):
        tmp = os.path.join(self.dir, f"{_TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(self.dir, name))
        except BaseException:
            _unlink(tmp)
            raise
        dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _count_hit(self, key):
        try:
            fd = os.open(os.path.join(self.dir, key + ".hits"),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError:
            return
        try:
            n = int.from_bytes(os.pread(fd, 8, 0).ljust(8, b"\0"), "little")
            os.pwrite(fd, (n + 1).to_bytes(8, "little"), 0)
        except OSError:
            pass
        finally:
            os.close(fd)

    def entries(self):
        """[Entry], least recently used first."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            key, dot, ext = name.partition(".")
            if ext != "bpf" or not _is_key(key):
                continue
            try:
                st = os.lstat(os.path.join(self.dir, name))
            except FileNotFoundError:
                continue
            hits, last = 0, st.st_mtime_ns
            try:
                with open(os.path.join(self.dir, key + ".hits"), "rb") as f:
                    hits = int.from_bytes(f.read(8).ljust(8, b"\0"), "little")
                    last = max(last, os.fstat(f.fileno()).st_mtime_ns)
            except OSError:
                pass
            out.append(Entry(key, st.st_size, hits, last))
        out.sort(key=lambda e: e.last_used)
        return out

    def evict(self, keep=None):
        """Remove least recently used entries until the total size fits."""
        entries = self.entries()
        total = sum(e.size for e in entries)
        for e in entries:
            if total <= self.max_bytes:
                break
            if e.key == keep:
                continue
            self.remove(e.key)
            total -= e.size

    def remove(self, key):
        for ext in (".bpf", ".hits"):
            _unlink(os.path.join(self.dir, key + ext))

    def clear(self):
        """Remove every entry, the stamp and stray temporary files; the number
        of entries removed."""
        entries = self.entries()
        for e in entries:
            self.remove(e.key)
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return 0
        for name in names:
            if name == LIBRARY_STAMP or name.startswith(_TMP_PREFIX) or name.endswith(".hits"):
                _unlink(os.path.join(self.dir, name))
        return len(entries)


def _is_key(name):
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
