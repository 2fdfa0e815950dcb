"""The words of minioci's error messages that engines read."""
import errno

from minioci.errors import SysError, strerror


def test_strerror_is_worded_as_runc_prints_it():
    # The docker CLI looks for these exact words to exit 127 / 126.
    assert strerror(errno.ENOENT) == "no such file or directory"
    assert strerror(errno.EACCES) == "permission denied"
    assert strerror(errno.EPERM) == "operation not permitted"
    assert strerror(errno.EIO) == "input/output error"


def test_strerror_keeps_an_acronym():
    assert strerror(errno.EDOTDOT) == "RFS specific error"


def test_a_system_call_error_reads_like_runcs():
    assert str(SysError("open /x", errno.ENOENT)) == "open /x: no such file or directory"
