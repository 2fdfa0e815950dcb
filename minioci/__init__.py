"""minioci: a lightweight OCI container runtime that times its own startup."""
import time as _time

# The first thing this process does in minioci's code: the end of interpreter
# start-up and the start of minioci's own imports (see minioci/timing.py).
T_IMPORT = _time.monotonic_ns()


def _process_start():
    """When this process started, on CLOCK_MONOTONIC: now minus the CPU time
    it has used and the time it has waited for a CPU.  /proc's starttime is
    only in 10 ms ticks; this is exact for a process that has not slept, as
    an interpreter reading cached files has not."""
    try:
        cpu = _time.clock_gettime_ns(_time.CLOCK_PROCESS_CPUTIME_ID)
        with open("/proc/self/schedstat", "rb") as f:
            run_delay = int(f.read().split()[1])
        return T_IMPORT - cpu - run_delay
    except (OSError, ValueError, IndexError):
        return T_IMPORT


T_START = _process_start()


def rfc3339_now():
    """The wall-clock time, as runc writes it (state's `created`, log lines)."""
    ns = _time.time_ns()
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


__version__ = "0.1.0"
OCI_VERSION = "1.2.0"
