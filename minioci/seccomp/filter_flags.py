"""seccomp(2)'s SECCOMP_FILTER_FLAG_*: the names a profile's `flags` use,
and the flags a filter is loaded with on this kernel."""
import os

from .. import log

TSYNC = 1
LOG = 2
SPEC_ALLOW = 4
NEW_LISTENER = 8
TSYNC_ESRCH = 16
WAIT_KILLABLE_RECV = 32
# The ones a profile may name.
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": TSYNC, "SECCOMP_FILTER_FLAG_LOG": LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": WAIT_KILLABLE_RECV,
}
# ... by the kernel release that brought them.
SINCE = {"SECCOMP_FILTER_FLAG_TSYNC": (3, 17), "SECCOMP_FILTER_FLAG_LOG": (4, 14),
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 17), "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (5, 19)}


def supported():
    """The names this kernel takes (`minioci features`)."""
    kernel = kernel_version()
    return sorted(f for f, since in SINCE.items() if kernel >= since)


def for_load(raw, uses_notify):
    """seccomp(2) flags for a valid seccomp object, as this kernel takes them."""
    flags = 0
    for name in raw.get("flags") or []:
        flags |= FLAGS[name]
    if uses_notify:
        flags |= NEW_LISTENER
        if flags & TSYNC:
            # The kernel refuses TSYNC with a listener unless told to report
            # a thread it cannot sync as ESRCH (there is only one thread).
            flags |= TSYNC_ESRCH
    if flags & WAIT_KILLABLE_RECV:
        if not uses_notify:
            log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no SCMP_ACT_NOTIFY rule")
            flags &= ~WAIT_KILLABLE_RECV
        elif kernel_version() < SINCE["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]:
            log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: kernel older than 5.19")
            flags &= ~WAIT_KILLABLE_RECV
    return flags


def kernel_version():
    """(major, minor) of the running kernel."""
    parts = []
    for p in os.uname().release.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)
