"""linux.resources → cgroup files, for v1 and v2 alike.

`plan()` checks a resources object (types, ranges, cross-field rules) and
turns each setting into a `Setting`: the controller that holds it, its JSON
path, and what to write where that controller is on v1 and on v2.  `route()`
then finds each controller's hierarchy on this host, so that a setting this
host cannot hold is an error naming the field, before anything is created.
`apply()` writes.

A write is a (file, value) pair, a `First` (the first of several files that
exists, such as blkio.weight or blkio.bfq.weight), an `IfExists`, or a
function of the container's directory for writes whose order depends on the
values already there (memory and memory+swap, CFS quota and period).

`update` plans only what it was given, with the container's current
resources (`current`) supplying the other half of settings that go together.
"""
from ..errors import ConfigError, strerror

MAX = "max"
INT64_MAX = 2**63 - 1
PID_MAX_LIMIT = 4194304           # the kernel's ceiling for pids.max (64-bit)


class Setting:
    """One setting: v1 and v2 are lists of writes, or None where that cgroup
    version has no such setting."""
    __slots__ = ("controller", "path", "v1", "v2")

    def __init__(self, controller, path, v1, v2):
        self.controller, self.path, self.v1, self.v2 = controller, path, v1, v2


class First(tuple):
    """Alternatives ((file, value), ...): write the first whose file exists."""


class IfExists(tuple):
    """(file, value), written only where the kernel has the file."""


class Plan:
    """What one resources object asks for.  `routed` is filled by route():
    [(part, writes, setting)] in write order."""

    def __init__(self, file):
        self.file = file
        self.settings = []
        self.devices = None       # devices.Rules, or None when not given (update)
        self.routed = []

    def add(self, controller, path, v1=None, v2=None):
        self.settings.append(Setting(controller, path, v1, v2))


def plan(resources, file="config.json", prefix="linux.resources", linux_devices=(), current=None,
         with_devices=True):
    """Check `resources` and turn it into a Plan, before anything is created.

    `prefix` is the JSON path of `resources` in `file` (empty for an update
    file).  `current`: the container's resources so far (update)."""
    c = _Check(file, prefix)
    p = Plan(file)
    r = c.obj(resources, "")
    cur = current or {}
    if with_devices:
        from . import devices
        p.devices = devices.rules(r.get("devices"), linux_devices, file, c.path("devices"))
    _memory(c, p, c.obj(r.get("memory"), "memory"), cur.get("memory") or {})
    _cpu(c, p, c.obj(r.get("cpu"), "cpu"), cur.get("cpu") or {})
    _pids(c, p, c.obj(r.get("pids"), "pids"))
    _block_io(c, p, c.obj(r.get("blockIO"), "blockIO"))
    _hugepages(c, p, c.arr(r.get("hugepageLimits"), "hugepageLimits"))
    _network(c, p, c.obj(r.get("network"), "network"))
    _rdma(c, p, c.obj(r.get("rdma"), "rdma"))
    _unified(c, p, c.obj(r.get("unified"), "unified"))
    return p


# Fields where 0 means "not set" (runc reads them so): an update that sends
# 0 keeps the value in force.
ZERO_IS_UNSET = {"memory": {"limit", "swap", "kernel", "kernelTCP"},
                 "cpu": {"shares", "quota", "period", "realtimeRuntime", "realtimePeriod"},
                 "pids": {"limit"}, "blockIO": {"weight", "leafWeight"}}


def merge(current, request):
    """The resources in force after an update: `request` over `current`,
    key by key (lists are replaced whole; devices are not changed by update,
    as in runc)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (current or {}).items()}
    for section, value in (request or {}).items():
        if section == "devices":
            continue
        if isinstance(value, dict):
            unset = ZERO_IS_UNSET.get(section, ())
            merged = out.setdefault(section, {})
            for key, v in value.items():
                if v is not None and not (v == 0 and key in unset):
                    merged[key] = v
        elif value is not None:
            out[section] = value
    memory = (request or {}).get("memory") or {}
    if memory.get("limit") == -1 and memory.get("swap") is None:
        out["memory"]["swap"] = -1        # as plan() writes it
    return out


def route(cgroup, p):
    """Find the hierarchy of each setting's controller on this host; a
    setting it cannot hold is a ConfigError naming the field."""
    p.routed = []
    for s in p.settings:
        if s.controller == "unified":
            part = _unified_part(cgroup, s, p.file)
        else:
            part = cgroup.part_for(s.controller)
            if part is None:
                raise ConfigError(p.file, s.path, cgroup.left_out_because(s.controller)
                                  or _unavailable(cgroup.layout, s))
        writes = s.v1 if part.version == 1 else s.v2
        if writes is None:
            raise ConfigError(p.file, s.path, f"is not supported on cgroup v{part.version} "
                                              f"(the {s.controller} controller is on v{part.version} here)")
        p.routed.append((part, writes, s))
    return p


def _unified_part(cgroup, s, file):
    name = s.v2[0][0]
    if cgroup.v2 is None:
        raise ConfigError(file, s.path, cgroup.left_out_because("unified")
                          or "needs cgroup v2, and this host has only cgroup v1")
    controller = name.split(".", 1)[0]
    if controller != "cgroup" and controller not in cgroup.v2.controllers:
        where = cgroup.layout.where(controller)
        why = "it is on cgroup v1 here" if where == "v1" else \
            "this host's cgroup v2 does not offer it" if controller not in cgroup.layout.v2_controllers() else \
            f"the cgroup this user was given does not pass it down ({cgroup.v2.directory})"
        raise ConfigError(file, s.path, f"the {controller} controller is not available on cgroup v2 ({why})")
    return cgroup.v2


def _unavailable(layout, s):
    from . import kernel_controllers
    known = kernel_controllers()
    if layout.kind == "v2" and s.v2 is None:
        return "is cgroup v1 only, and this host has only cgroup v2"
    if s.controller not in known:
        return f"needs the {s.controller} controller, which this kernel does not have"
    if not known[s.controller]:
        return f"needs the {s.controller} controller, which is disabled on this host"
    return f"needs the {s.controller} controller, which is not mounted on this host"


def apply(p):
    """Write a routed Plan into the container's cgroup directories."""
    for part, writes, s in p.routed:
        for w in writes:
            if callable(w):
                w(part, p.file, s.path)
            else:
                _write(part, w, p.file, s.path)


_MISSING = "is not available here (an older kernel, or a controller not enabled for this cgroup)"


def _write(part, w, file, path):
    import os
    if isinstance(w, IfExists):
        if not os.path.exists(os.path.join(part.directory, w[0])):
            return
    elif isinstance(w, First):
        found = [x for x in w if os.path.exists(os.path.join(part.directory, x[0]))]
        if not found:
            names = " or ".join(x[0] for x in w)
            raise ConfigError(file, path, f"{_MISSING}: {part.directory} has no {names}")
        w = found[0]
    name, value = w
    try:
        part.write(name, value)
    except FileNotFoundError:
        raise ConfigError(file, path, f"{_MISSING}: {part.directory}/{name} does not exist") from None
    except OSError as e:
        error = ConfigError(file, path, f"write {value!r} to {part.directory}/{name}: {strerror(e.errno)}")
        error.errno = e.errno
        raise error from None


class _Check:
    def __init__(self, file, prefix):
        self.file = file
        self.prefix = prefix

    def path(self, *keys):
        return ".".join(k for k in (self.prefix,) + keys if k)

    def fail(self, path, msg):
        raise ConfigError(self.file, path, msg)

    def obj(self, v, *keys):
        """v, an object (absent or null: empty)."""
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.fail(self.path(*keys) or "(top level)", "must be an object")
        return v

    def arr(self, v, *keys):
        """v, an array (absent or null: empty)."""
        if v is None:
            return []
        if not isinstance(v, list):
            self.fail(self.path(*keys), "must be an array")
        return v

    def int(self, d, key, where, lo=0, hi=INT64_MAX, zero_unset=False):
        """d[key] as an int in [lo, hi], or None when absent (or 0, where 0
        means "not set", as runc reads it)."""
        v = d.get(key)
        if v is None:
            return None
        path = f"{where}.{key}"
        if not isinstance(v, int) or isinstance(v, bool):
            self.fail(path, "must be an integer")
        if zero_unset and v == 0:
            return None
        if v < lo or v > hi:
            rng = f"from {lo} to {hi}" if hi != INT64_MAX else f"at least {lo}" if v < lo else f"at most {hi}"
            self.fail(path, f"must be {rng}, not {v}")
        return v

    def str(self, d, key, where):
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            self.fail(f"{where}.{key}", "must be a string")
        return v

    def bool(self, d, key, where):
        v = d.get(key)
        if v is not None and not isinstance(v, bool):
            self.fail(f"{where}.{key}", "must be true or false")
        return v


def _limit(v):
    return MAX if v == -1 else str(v)


# ---- memory -------------------------------------------------------------------

def _memory(c, p, m, cur):
    where = c.path("memory")
    limit = c.int(m, "limit", where, lo=-1, zero_unset=True)
    swap = c.int(m, "swap", where, lo=-1, zero_unset=True)
    reservation = c.int(m, "reservation", where, lo=-1)
    if limit is not None and 0 <= limit < 4096 * 64:
        # The kernel rounds to pages and a container cannot start in less.
        c.fail(f"{where}.limit", f"{limit} bytes is too small (at least 262144)")
    if limit == -1 and swap is None:
        swap = -1                     # runc: unlimited memory means unlimited swap too
        swap_implied = True
    else:
        swap_implied = False
    # The values in force once this is applied (update changes one of them).
    eff_limit = limit if limit is not None else cur.get("limit") or None
    eff_swap = swap if swap is not None else cur.get("swap") or None
    if eff_swap not in (None, -1):
        if eff_limit in (None, -1):
            c.fail(f"{where}.swap", "needs memory.limit too (swap is memory plus swap)")
        if eff_swap < eff_limit:
            path = f"{where}.swap" if swap is not None else f"{where}.limit"
            c.fail(path, f"memory.swap ({eff_swap}) must be at least memory.limit ({eff_limit}): "
                         "it counts memory plus swap")
    check = c.bool(m, "checkBeforeUpdate", where) or False
    if limit is not None or swap is not None:
        path = f"{where}.limit" if limit is not None else f"{where}.swap"
        v1 = [_v1_memory_and_swap(limit, swap, swap_implied, check)]
        v2 = []
        if limit is not None:
            v2.append(_check_usage("memory.current", limit, check))
            v2.append(("memory.max", _limit(limit)))
        # v2's swap.max is swap alone; the spec's (and v1's) swap is memory+swap,
        # so a new limit changes it too.
        if swap is not None or (limit is not None and eff_swap is not None):
            v2_swap = MAX if eff_swap == -1 else str(eff_swap - eff_limit)
            v2.append(IfExists(("memory.swap.max", v2_swap)) if swap_implied else ("memory.swap.max", v2_swap))
        p.add("memory", path, v1, v2)
    if reservation is not None:
        p.add("memory", f"{where}.reservation", [("memory.soft_limit_in_bytes", str(reservation))],
              [("memory.low", _limit(reservation))])
    swappiness = c.int(m, "swappiness", where, lo=0, hi=100)
    if swappiness is not None:
        p.add("memory", f"{where}.swappiness", [("memory.swappiness", str(swappiness))])
    no_oom_kill = c.bool(m, "disableOOMKiller", where)
    if no_oom_kill is not None:
        p.add("memory", f"{where}.disableOOMKiller", [("memory.oom_control", str(int(no_oom_kill)))],
              None if no_oom_kill else [])
    kernel = c.int(m, "kernel", where, lo=-1, zero_unset=True)
    if kernel is not None:
        p.add("memory", f"{where}.kernel", [("memory.kmem.limit_in_bytes", str(kernel))])
    tcp = c.int(m, "kernelTCP", where, lo=-1, zero_unset=True)
    if tcp is not None:
        p.add("memory", f"{where}.kernelTCP", [("memory.kmem.tcp.limit_in_bytes", str(tcp))])


def _check_usage(usage_file, limit, check):
    """checkBeforeUpdate: refuse a limit below what the container uses now."""
    def write(part, file, path):
        if check and limit != -1:
            usage = int(part.read(usage_file))
            if usage > limit:
                raise ConfigError(file, path, f"{limit} is below the container's current memory use "
                                              f"({usage} bytes) and checkBeforeUpdate is set")
    return write


def _v1_memory_and_swap(limit, swap, swap_implied, check):
    """v1 demands memory.memsw.limit_in_bytes >= memory.limit_in_bytes after
    every write, so the order depends on the limit in force (as runc does):
    raising, swap first; lowering, the limit first."""
    def write(part, file, path):
        _check_usage("memory.usage_in_bytes", limit if limit is not None else -1, check)(part, file, path)
        has_swap = part.has("memory.memsw.limit_in_bytes")
        if swap is not None and not has_swap and not swap_implied:
            raise ConfigError(file, path, "memory.swap is not supported here: the kernel does not "
                                          "account swap (memory.memsw.limit_in_bytes is missing)")
        todo = []
        if limit is not None:
            todo.append(("memory.limit_in_bytes", str(limit)))
        if swap is not None and has_swap:
            current = int(part.read("memory.limit_in_bytes"))
            swap_first = swap == -1 or (limit is not None and current < swap)
            todo.insert(0 if swap_first else len(todo), ("memory.memsw.limit_in_bytes", str(swap)))
        for w in todo:
            _write(part, w, file, path)
    return write


# ---- cpu and cpuset ---------------------------------------------------------

def shares_to_weight(shares):
    """cpu.shares (2..262144) → cpu.weight (1..10000), as runc converts since
    1.3 (opencontainers/cgroups): a quadratic in log2(shares) that maps the
    minimum, the default (1024 → 100) and the maximum onto each other.  The
    older linear formula, 1 + (shares - 2) * 9999 / 262142, made the default
    39."""
    import math
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    exp = math.log2(shares)
    return math.ceil(10 ** ((exp * exp + 125 * exp) / 612.0 - 7.0 / 34.0))


def _cpu(c, p, cpu, cur):
    where = c.path("cpu")
    shares = c.int(cpu, "shares", where, lo=2, hi=262144, zero_unset=True)
    if shares is not None:
        p.add("cpu", f"{where}.shares", [("cpu.shares", str(shares))],
              [("cpu.weight", str(shares_to_weight(shares)))])
    quota = c.int(cpu, "quota", where, lo=-1, hi=2**44 - 1, zero_unset=True)
    period = c.int(cpu, "period", where, lo=1000, hi=1000000, zero_unset=True)
    if quota is not None and 0 <= quota < 1000:
        c.fail(f"{where}.quota", f"must be -1 (no limit) or at least 1000 microseconds, not {quota}")
    if quota is not None or period is not None:
        # v2 holds both in cpu.max; an update of one keeps the other.
        q = quota if quota is not None else cur.get("quota") or -1
        v2 = f"{_limit(q)} {period}" if period else _limit(q)
        v1 = _v1_pair(("cpu.cfs_period_us", period), ("cpu.cfs_quota_us", quota))
        p.add("cpu", f"{where}.quota" if quota is not None else f"{where}.period", [v1], [("cpu.max", v2)])
    burst = c.int(cpu, "burst", where, lo=0)
    if burst is not None:
        p.add("cpu", f"{where}.burst", [("cpu.cfs_burst_us", str(burst))], [("cpu.max.burst", str(burst))])
    rt_runtime = c.int(cpu, "realtimeRuntime", where, lo=-1, zero_unset=True)
    rt_period = c.int(cpu, "realtimePeriod", where, lo=1, zero_unset=True)
    if rt_runtime is not None or rt_period is not None:
        path = f"{where}.realtimeRuntime" if rt_runtime is not None else f"{where}.realtimePeriod"
        p.add("cpu", path, [_v1_realtime(rt_period, rt_runtime)])
    idle = c.int(cpu, "idle", where, lo=0, hi=1)
    if idle == 1 and shares is not None:
        # The kernel runs an idle cgroup at the lowest weight, overriding shares.
        c.fail(f"{where}.idle", "1 (SCHED_IDLE) sets the lowest weight itself: it cannot go with cpu.shares")
    if idle is not None:
        p.add("cpu", f"{where}.idle", [("cpu.idle", str(idle))], [("cpu.idle", str(idle))])
    for key in ("cpus", "mems"):
        v = c.str(cpu, key, where)
        if v:
            if not _is_cpu_list(v):
                c.fail(f"{where}.{key}", f"{v!r} is not a list like 0-3,5")
            p.add("cpuset", f"{where}.{key}", [(f"cpuset.{key}", v)], [(f"cpuset.{key}", v)])


def _is_cpu_list(text):
    for item in text.split(","):
        lo, _, hi = item.strip().partition("-")
        if not lo.isdigit() or (hi and (not hi.isdigit() or int(hi) < int(lo))):
            return False
    return True


def _v1_pair(period, limit):
    """Write a (period, limit) pair such as CFS period and quota: the kernel
    may refuse the new period against the old limit (EINVAL), so then the
    limit goes first and the period is written again, as runc does."""
    import errno
    (period_file, period_v), (limit_file, limit_v) = period, limit

    def write(part, file, path):
        retry = False
        if period_v is not None:
            try:
                part.write(period_file, str(period_v))
            except OSError as e:
                if e.errno != errno.EINVAL or limit_v is None:
                    _write(part, (period_file, str(period_v)), file, path)
                retry = True
        if limit_v is not None:
            _write(part, (limit_file, str(limit_v)), file, path)
        if retry:
            _write(part, (period_file, str(period_v)), file, path)
    return write


def _v1_realtime(period_v, runtime_v):
    """cpu.rt_period_us and cpu.rt_runtime_us.  A realtime budget comes out
    of the parent's, and a new cgroup has none: the parents minioci made for
    its containers (/minioci, a cgroupsPath's missing parents) are given what
    this one needs first (see cgroups.grant_realtime_budget)."""
    pair = _v1_pair(("cpu.rt_period_us", period_v), ("cpu.rt_runtime_us", runtime_v))

    def write(part, file, path):
        if not part.has("cpu.rt_runtime_us"):
            raise ConfigError(file, path, f"{_MISSING}: {part.directory}/cpu.rt_runtime_us does not exist "
                                          "(the kernel has no real-time group scheduling, CONFIG_RT_GROUP_SCHED)")
        # EINVAL, where minioci granted the parents the budget, is waited out
        # for a while, granting again: a sibling deleted a moment ago keeps
        # its budget in the kernel until its group is freed after an RCU
        # grace period (up to ~0.7 s here), and a sibling started at the same
        # time may have written its own after we looked.
        import errno
        import time
        deadline = time.monotonic() + 3
        while True:
            granted = runtime_v is not None and runtime_v > 0 and grant(part, file, path)
            try:
                return pair(part, file, path)
            except ConfigError as e:
                if not granted or e.errno != errno.EINVAL or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def grant(part, file, path):
        from . import grant_realtime_budget
        period = period_v or int(part.read("cpu.rt_period_us"))
        try:
            return grant_realtime_budget(part.directory, runtime_v / period)
        except OSError as e:
            raise ConfigError(file, path, f"give the parent cgroup {e.filename} the realtime budget "
                                          f"this container needs: {strerror(e.errno)}") from None
    return write


# ---- pids, block I/O, huge pages, network, rdma, unified ----------------------

def _pids(c, p, pids):
    where = c.path("pids")
    limit = c.int(pids, "limit", where, lo=-1, hi=PID_MAX_LIMIT, zero_unset=True)
    if limit is not None:
        v = _limit(limit)
        p.add("pids", f"{where}.limit", [("pids.max", v)], [("pids.max", v)])


def blkio_to_io_weight(weight):
    """blkio.weight (10..1000) → io.weight (1..10000), runc's conversion."""
    return 1 + (weight - 10) * 9999 // 990


def _device_entries(c, lst, where):
    """[(JSON path, "major:minor", entry)] of a blockIO device list."""
    if lst is None:
        return []
    if not isinstance(lst, list):
        c.fail(where, "must be an array")
    out = []
    for i, e in enumerate(lst):
        at = f"{where}[{i}]"
        if not isinstance(e, dict):
            c.fail(at, "must be an object")
        major = c.int(e, "major", at, hi=2**32 - 1)
        minor = c.int(e, "minor", at, hi=2**32 - 1)
        if major is None or minor is None:
            c.fail(at, "needs major and minor")
        out.append((at, f"{major}:{minor}", e))
    return out


def _block_io(c, p, b):
    where = c.path("blockIO")
    weight = c.int(b, "weight", where, lo=10, hi=1000, zero_unset=True)
    if weight is not None:
        p.add("blkio", f"{where}.weight",
              [First([("blkio.weight", str(weight)), ("blkio.bfq.weight", str(weight))])],
              [First([("io.bfq.weight", str(weight)), ("io.weight", str(blkio_to_io_weight(weight)))])])
    leaf = c.int(b, "leafWeight", where, lo=10, hi=1000, zero_unset=True)
    if leaf is not None:
        p.add("blkio", f"{where}.leafWeight", [("blkio.leaf_weight", str(leaf))])
    for at, dev, e in _device_entries(c, b.get("weightDevice"), f"{where}.weightDevice"):
        w = c.int(e, "weight", at, lo=10, hi=1000, zero_unset=True)
        lw = c.int(e, "leafWeight", at, lo=10, hi=1000, zero_unset=True)
        if w is None and lw is None:
            c.fail(at, "needs weight or leafWeight")
        if w is not None:
            p.add("blkio", f"{at}.weight",
                  [First([("blkio.weight_device", f"{dev} {w}"), ("blkio.bfq.weight_device", f"{dev} {w}")])],
                  [First([("io.bfq.weight", f"{dev} {w}"), ("io.weight", f"{dev} {blkio_to_io_weight(w)}")])])
        if lw is not None:
            p.add("blkio", f"{at}.leafWeight", [("blkio.leaf_weight_device", f"{dev} {lw}")])
    for key, v1file, v2key in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
                               ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
                               ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
                               ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops")):
        for at, dev, e in _device_entries(c, b.get(key), f"{where}.{key}"):
            rate = e.get("rate")
            if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= 2**64 - 1:
                c.fail(f"{at}.rate", "is required: a number of bytes or operations per second (0: no limit)")
            p.add("blkio", at, [(v1file, f"{dev} {rate}")], [("io.max", f"{dev} {v2key}={rate or MAX}")])


def _hugepages(c, p, limits):
    where = c.path("hugepageLimits")
    for i, h in enumerate(limits):
        at = f"{where}[{i}]"
        if not isinstance(h, dict):
            c.fail(at, "must be an object")
        size = c.str(h, "pageSize", at)
        limit = c.int(h, "limit", at, lo=0, hi=2**64 - 1)
        if not size or limit is None:
            c.fail(at, "needs pageSize (like 2MB) and limit")
        if not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")):
            c.fail(f"{at}.pageSize", f"{size!r} is not a page size like 2MB or 1GB")
        p.add("hugetlb", f"{at}.pageSize",
              [_hugetlb(size, f"hugetlb.{size}.limit_in_bytes", f"hugetlb.{size}.rsvd.limit_in_bytes", limit)],
              [_hugetlb(size, f"hugetlb.{size}.max", f"hugetlb.{size}.rsvd.max", limit)])


def _hugetlb(size, name, rsvd, limit):
    """The limit, and the reservation limit where the kernel has one (as runc)."""
    def write(part, file, path):
        if not part.has(name):
            import os
            sizes = sorted({f.split(".")[1] for f in os.listdir(part.directory) if f.startswith("hugetlb.")})
            raise ConfigError(file, path, f"this host has no {size} huge pages "
                                          f"(it has: {', '.join(sizes) or 'none'})")
        _write(part, (name, str(limit)), file, path)
        _write(part, IfExists((rsvd, str(limit))), file, path)
    return write


def _network(c, p, n):
    where = c.path("network")
    cls = c.int(n, "classID", where, lo=0, hi=2**32 - 1)
    if cls is not None:
        p.add("net_cls", f"{where}.classID", [("net_cls.classid", str(cls))])
    for i, prio in enumerate(c.arr(n.get("priorities"), "network", "priorities")):
        at = f"{where}.priorities[{i}]"
        if not isinstance(prio, dict):
            c.fail(at, "must be an object")
        name = c.str(prio, "name", at)
        value = c.int(prio, "priority", at, lo=0, hi=2**32 - 1)
        if not name or value is None:
            c.fail(at, "needs name and priority")
        p.add("net_prio", at, [("net_prio.ifpriomap", f"{name} {value}")])


def _rdma(c, p, rdma):
    where = c.path("rdma")
    for dev, lim in rdma.items():
        at = f"{where}.{dev}"
        if not isinstance(lim, dict):
            c.fail(at, "must be an object")
        if not dev or any(ch.isspace() for ch in dev):
            c.fail(at, f"{dev!r} is not an RDMA device name")
        parts = []
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            v = c.int(lim, key, at, lo=0, hi=2**32 - 1)
            if v is not None:
                parts.append(f"{name}={v}")
        if parts:
            line = f"{dev} {' '.join(parts)}"
            p.add("rdma", at, [("rdma.max", line)], [("rdma.max", line)])


def _unified(c, p, unified):
    where = c.path("unified")
    for key, value in unified.items():
        if not isinstance(value, str):
            c.fail(f"{where}.{key}", "must be a string")
        if "/" in key or key.startswith(".") or "." not in key or key in (".", ".."):
            c.fail(f"{where}.{key}", "is not a cgroup v2 file name like memory.high")
        # Written last, over the settings above, as runc does.
        p.add("unified", f"{where}.{key}", v2=[(key, value)])
