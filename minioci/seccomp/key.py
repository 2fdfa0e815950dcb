"""The cache key: what a compiled filter depends on, hashed.

A filter is a function of the whole seccomp object (every field, including
each rule's errnoRet: crun's key missed it and served a stale filter), of the
libseccomp that compiled it, and of the machine and kernel it was made for.
The object is serialized canonically (leanjson.dumps sorts keys and writes no
spaces), so the same profile with its keys in another order has the same key,
and a profile that differs in any value has another.

Cheap on purpose, since it runs on every start: `_sha2`/`_sha256` directly
(hashlib imports OpenSSL's bindings, ~10 ms), and no libseccomp: its identity
comes from the stamp the last compile left (see cache.Cache.library).
"""
import os
import sys

from .. import __version__, leanjson

try:
    if sys.version_info >= (3, 12):
        from _sha2 import sha256
    else:
        from _sha256 import sha256
except ImportError:                   # a Python built without them
    from hashlib import sha256

FORMAT = b"minioci-seccomp-key/1"


def canonical(seccomp):
    """The seccomp object as canonical bytes."""
    return leanjson.dumps(seccomp).encode()


def compute(seccomp, library):
    """The hex key for `seccomp` (decoded JSON) compiled by `library` (the
    libseccomp identity string) on this machine and kernel."""
    u = os.uname()
    h = sha256(b"\0".join([FORMAT, __version__.encode(), library.encode(), u.machine.encode(),
                           u.release.encode(), u.version.encode(), b""]))
    h.update(canonical(seccomp))
    return h.hexdigest()


def checksum(data):
    return sha256(data).digest()


def library_identity(version, path):
    """libseccomp as a key ingredient: its version, and its file as it is
    now (a rebuilt library of the same version is another identity)."""
    st = os.stat(path)
    return "\t".join(["libseccomp", version, path, f"{st.st_dev}:{st.st_ino}", str(st.st_size),
                      str(st.st_mtime_ns)])
