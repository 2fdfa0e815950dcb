"""Where startup time goes: one CLOCK_MONOTONIC timeline for the whole start.

The parent marks its phases as they end (Python, time.monotonic_ns); the
child's steps are stamped by the shim in shared memory (same clock).  The
marks are merged in time order and each phase is the time since the mark
before it, so the phases add up to the total exactly and none is counted
twice, even where parent and child run at once.

A phase may be broken into parts (`mark_part`): cgroup into cgroup.create,
cgroup.resources and cgroup.devices.  Parts are shown under their phase and
do not change the phases' sums.
"""
import os
import time

from . import T_IMPORT, T_START


class Timeline:
    def __init__(self, start=T_START, pid=None):
        # Whose run this is, in the names of timing files: this process, or
        # a served request's front end (a resident worker serves many).
        self.pid = pid or os.getpid()
        self.marks = [(start, None)]
        self.part_marks = []            # [(t, part)] inside the phase that ends next
        self.after_exit = []            # teardown phases, not part of startup
        self.ahead = []                 # work done before the request (a sandbox), not part of it

    def mark(self, phase, t=None):
        """`phase` ended at t (default: now)."""
        self.marks.append((time.monotonic_ns() if t is None else t, phase))

    def mark_part(self, part, t=None):
        """`part` of the phase being timed ended at t (default: now)."""
        self.part_marks.append((time.monotonic_ns() if t is None else t, part))

    def parts(self):
        """{phase: [(part, ns)]}: each part's time since the phase began or
        the part before it (summed where a phase occurs more than once)."""
        marks = sorted(self.marks, key=lambda m: m[0])
        out = {}
        for (t0, _), (t1, phase) in zip(marks, marks[1:]):
            prev = t0
            for t, part in sorted(self.part_marks):
                if t0 < t <= t1:
                    got = out.setdefault(phase, {})
                    got[part] = got.get(part, 0) + t - prev
                    prev = t
        return {phase: list(got.items()) for phase, got in out.items()}

    def mark_after_exit(self, phase, start, end=None):
        self.after_exit.append((phase, (time.monotonic_ns() if end is None else end) - start))

    def mark_ahead(self, phase, ns):
        """`phase` was done ahead of this start, in `ns` (a sandbox made by
        a server's spare worker): shown apart, not in the total."""
        self.ahead.append((phase, ns))

    def phases(self):
        """[(phase, ns)] in order of first occurrence; a phase marked more
        than once (several mounts' devices) is summed."""
        marks = sorted(self.marks, key=lambda m: m[0])
        total, order = {}, []
        for (t0, _), (t1, phase) in zip(marks, marks[1:]):
            if phase not in total:
                order.append(phase)
                total[phase] = 0
            total[phase] += t1 - t0
        return [(p, total[p]) for p in order]

    def total(self):
        times = [t for t, _ in self.marks]
        return max(times) - min(times)

    def as_dict(self, **extra):
        total = self.total()
        parts = self.parts()
        phases = []
        for p, ns in self.phases():
            phases.append({"phase": p, "ms": ns / 1e6, "share": ns / total if total else 0.0})
            if p in parts:
                phases[-1]["parts"] = [{"phase": q, "ms": q_ns / 1e6} for q, q_ns in parts[p]]
        out = dict(extra, total_ms=total / 1e6, phases=phases,
                   after_exit=[{"phase": p, "ms": ns / 1e6} for p, ns in self.after_exit])
        if self.ahead:
            out["ahead"] = [{"phase": p, "ms": ns / 1e6} for p, ns in self.ahead]
        return out


def start_of_main(timeline):
    """The two phases before main(): interpreter start-up and our imports."""
    timeline.mark("interpreter", T_IMPORT)
    timeline.mark("imports")


def format_table(d):
    """The phase table --timing prints (phase, ms, share of total)."""
    head = ("phase", "ms", "share")
    body = []
    for p in d["phases"]:
        body.append((p["phase"], f"{p['ms']:.3f}", f"{100 * p['share']:.1f}%"))
        body += [(f"  {q['phase']}", f"{q['ms']:.3f}", "") for q in p.get("parts", ())]
    total = ("total (start to exec)", f"{d['total_ms']:.3f}", "100.0%")
    after = [(f"after exit: {p['phase']}", f"{p['ms']:.3f}", "") for p in d["after_exit"]]
    ahead = [(f"made ahead: {p['phase']}", f"{p['ms']:.3f}", "") for p in d.get("ahead", ())]
    width = max(len(r[0]) for r in [head, total] + body + after + ahead)

    def row(r):
        return f"{r[0]:<{width}}  {r[1]:>9}  {r[2]:>6}".rstrip()

    rule = "-" * (width + 19)
    lines = [row(head), rule] + [row(r) for r in body] + [rule, row(total)]
    if after:
        lines += [""] + [row(r) for r in after]
    if ahead:
        lines += [""] + [row(r) for r in ahead]
    return "\n".join(lines) + "\n"


def report(timeline, mode, timing_dir=None, **extra):
    """Print or write the timing: mode "table" or "json" goes to stderr;
    MINIOCI_TIMING=/path.json also writes the JSON there, and
    MINIOCI_TIMING=/dir/ a file per run in that directory (benchmarks);
    `timing_dir` (the host's config file: minioci/hostconfig.py) gets a file
    per command, <id>.<command>.<pid>.json.  `extra` has id and command."""
    path = os.environ.get("MINIOCI_TIMING")
    if not (mode or path or timing_dir):
        return None
    d = timeline.as_dict(**extra)
    from . import leanjson
    text = leanjson.dumps(d) + "\n"
    if path and path.endswith("/"):
        path = f"{path}{extra.get('command', 'minioci')}-{timeline.pid}.json"
    if path:
        _write("MINIOCI_TIMING", path, text)
    if timing_dir and _may_write_host_timing_dir(timing_dir):
        if not os.path.isdir(timing_dir):
            try:
                os.makedirs(timing_dir, 0o700, exist_ok=True)
            except OSError:
                pass                    # said by _write
        _write("timing_dir", os.path.join(timing_dir, f"{extra['id']}.{extra['command']}.{timeline.pid}.json"), text)
    if mode == "json":
        os.write(2, text.encode())
    elif mode:
        os.write(2, format_table(d).encode())
    return d


def _may_write_host_timing_dir(timing_dir):
    """Whether to write in the host config's timing_dir.  It is the host
    root's setting: a rootless caller (a plain user, or rootless podman's
    runtime) writes there only if the directory lets it, and otherwise says
    nothing, since its warning would land in every rootless container's
    output (conmon passes create's stderr on) for a setting the user did
    not make.  Root is told of a directory it cannot write (_write)."""
    from . import rootless
    if not rootless.active():
        return True
    where = timing_dir if os.path.isdir(timing_dir) else os.path.dirname(timing_dir.rstrip("/"))  # or makes it
    if os.access(where, os.W_OK | os.X_OK):
        return True
    from . import log
    log.debug(f"timing_dir {timing_dir}: not writable by this rootless caller: no timing file")
    return False


def _write(what, path, text):
    """The container's work is done: a file that cannot be written is a
    warning, not a failure."""
    from . import safefile
    try:
        safefile.replace(path, text)
    except OSError as e:
        from . import log
        from .errors import strerror
        log.warning(f"{what} {path}: {strerror(e.errno)}")
