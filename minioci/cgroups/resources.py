"""linux.resources → cgroup files, for v1 and v2 alike.

Each setting names the controller that holds it and how it is written on v1
and on v2; the container's Cgroup routes it to the hierarchy where that
controller lives on this host (on a hybrid host, some on each side).  A setting
no hierarchy here can hold is an error naming the field.
"""
from ..errors import ConfigError

MAX = "max"


class Writes:
    """The writes one resources object turns into, per controller:
    [(controller, {1: [(file, value)], 2: [(file, value)]}, json path)],
    and the device rules (see devices.py)."""

    def __init__(self, file):
        self.file = file
        self.items = []
        self.devices = []

    def add(self, controller, path, v1=None, v2=None):
        self.items.append((controller, {1: v1 or [], 2: v2 or []}, path))


def plan_writes(resources, linux_devices=(), file="config.json"):
    """Turn linux.resources into Writes, validating types and ranges, before
    anything is created."""
    from . import devices
    c = _Check(file)
    w = Writes(file)
    r = c.obj(resources or {}, "linux.resources")
    w.devices = devices.rules(r.get("devices"), linux_devices, file)
    _memory(c, w, c.obj(r.get("memory") or {}, "linux.resources.memory"))
    _cpu(c, w, c.obj(r.get("cpu") or {}, "linux.resources.cpu"))
    _pids(c, w, c.obj(r.get("pids") or {}, "linux.resources.pids"))
    _block_io(c, w, c.obj(r.get("blockIO") or {}, "linux.resources.blockIO"))
    _hugepages(c, w, c.arr(r.get("hugepageLimits") or [], "linux.resources.hugepageLimits"))
    _network(c, w, c.obj(r.get("network") or {}, "linux.resources.network"))
    _rdma(c, w, c.obj(r.get("rdma") or {}, "linux.resources.rdma"))
    _unified(c, w, c.obj(r.get("unified") or {}, "linux.resources.unified"))
    return w


def apply(cgroup, writes):
    """Write planned Writes into the container's cgroup directories."""
    from . import devices
    file = writes.file
    by_controller = {}
    for part in cgroup.parts:
        for ctrl in part.controllers:
            by_controller.setdefault(ctrl, part)
    v2 = next((p for p in cgroup.parts if p.version == 2), None)
    for controller, files, path in writes.items:
        part = by_controller.get(controller)
        if part is None and controller == "unified":
            part = v2
        if part is None:
            raise ConfigError(file, path, f"the {controller} controller is not available on this host")
        todo = files[part.version]
        if not todo and (files[1] or files[2]):
            raise ConfigError(file, path, f"is not supported on cgroup v{part.version}")
        for name, value in todo:
            try:
                part.write(name, value)
            except OSError as e:
                raise ConfigError(file, path, f"write {value!r} to {part.directory}/{name}: "
                                              f"{e.strerror}") from None
    devices.apply(cgroup, writes.devices, file)


class _Check:
    def __init__(self, file):
        self.file = file

    def fail(self, path, msg):
        raise ConfigError(self.file, path, msg)

    def obj(self, v, path):
        if not isinstance(v, dict):
            self.fail(path, "must be an object")
        return v

    def arr(self, v, path):
        if not isinstance(v, list):
            self.fail(path, "must be an array")
        return v

    def int(self, d, key, path, lo=None, hi=None):
        v = d.get(key)
        if v is None:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            self.fail(f"{path}.{key}", "must be an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"at least {lo}" if hi is None else f"from {lo} to {hi}"
            self.fail(f"{path}.{key}", f"must be {rng}, not {v}")
        return v

    def str(self, d, key, path):
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            self.fail(f"{path}.{key}", "must be a string")
        return v


def _limit(v):
    return MAX if v == -1 else str(v)


def _memory(c, w, m):
    p = "linux.resources.memory"
    limit = c.int(m, "limit", p, lo=-1)
    swap = c.int(m, "swap", p, lo=-1)
    reservation = c.int(m, "reservation", p, lo=-1)
    if limit is not None and 0 <= limit < 4096 * 64:
        # The kernel rounds to pages and a container cannot start in less.
        c.fail(f"{p}.limit", f"{limit} bytes is too small (at least 262144)")
    if limit is not None and swap is not None and swap != -1 and limit != -1 and swap < limit:
        c.fail(f"{p}.swap", "must be at least memory.limit (it counts memory plus swap)")
    if limit is not None:
        w.add("memory", f"{p}.limit", [("memory.limit_in_bytes", str(limit))], [("memory.max", _limit(limit))])
    if swap is not None:
        # v2's swap.max is swap alone; the spec's (and v1's) swap is memory+swap.
        v2_swap = MAX if swap == -1 or limit in (None, -1) else str(swap - limit)
        w.add("memory", f"{p}.swap", [("memory.memsw.limit_in_bytes", str(swap))], [("memory.swap.max", v2_swap)])
    if reservation is not None:
        w.add("memory", f"{p}.reservation", [("memory.soft_limit_in_bytes", str(reservation))],
              [("memory.low", _limit(reservation))])
    swappiness = c.int(m, "swappiness", p, lo=0, hi=100)
    if swappiness is not None:
        w.add("memory", f"{p}.swappiness", [("memory.swappiness", str(swappiness))])
    if m.get("disableOOMKiller") is True:
        w.add("memory", f"{p}.disableOOMKiller", [("memory.oom_control", "1")])
    kernel = c.int(m, "kernel", p, lo=-1)
    if kernel is not None:
        w.add("memory", f"{p}.kernel", [("memory.kmem.limit_in_bytes", str(kernel))])
    tcp = c.int(m, "kernelTCP", p, lo=-1)
    if tcp is not None:
        w.add("memory", f"{p}.kernelTCP", [("memory.kmem.tcp.limit_in_bytes", str(tcp))])


def shares_to_weight(shares):
    """cpu.shares (2..262144) → cpu.weight (1..10000), runc's conversion."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _cpu(c, w, cpu):
    p = "linux.resources.cpu"
    shares = c.int(cpu, "shares", p, lo=2, hi=262144)
    if shares is not None:
        w.add("cpu", f"{p}.shares", [("cpu.shares", str(shares))], [("cpu.weight", str(shares_to_weight(shares)))])
    quota = c.int(cpu, "quota", p, lo=-1)
    period = c.int(cpu, "period", p, lo=1000, hi=1000000)
    if quota is not None and 0 <= quota < 1000:
        c.fail(f"{p}.quota", f"must be -1 or at least 1000 microseconds, not {quota}")
    if quota is not None or period is not None:
        v1 = ([("cpu.cfs_period_us", str(period))] if period else []) + \
             ([("cpu.cfs_quota_us", str(quota))] if quota is not None else [])
        v2 = [("cpu.max", f"{_limit(quota if quota is not None else -1)} {period or 100000}")]
        w.add("cpu", f"{p}.quota", v1, v2)
    burst = c.int(cpu, "burst", p, lo=0)
    if burst is not None:
        w.add("cpu", f"{p}.burst", [("cpu.cfs_burst_us", str(burst))], [("cpu.max.burst", str(burst))])
    for key, v1file in (("realtimeRuntime", "cpu.rt_runtime_us"), ("realtimePeriod", "cpu.rt_period_us")):
        v = c.int(cpu, key, p, lo=-1 if key == "realtimeRuntime" else 1)
        if v is not None:
            w.add("cpu", f"{p}.{key}", [(v1file, str(v))])
    idle = c.int(cpu, "idle", p, lo=0, hi=1)
    if idle is not None:
        w.add("cpu", f"{p}.idle", [("cpu.idle", str(idle))], [("cpu.idle", str(idle))])
    for key in ("cpus", "mems"):
        v = c.str(cpu, key, p)
        if v:
            if not set(v) <= set("0123456789,- "):
                c.fail(f"{p}.{key}", f"{v!r} is not a list like 0-3,5")
            w.add("cpuset", f"{p}.{key}", [(f"cpuset.{key}", v)], [(f"cpuset.{key}", v)])


def _pids(c, w, pids):
    p = "linux.resources.pids"
    limit = c.int(pids, "limit", p)
    if limit is not None:
        v = MAX if limit <= 0 else str(limit)
        w.add("pids", f"{p}.limit", [("pids.max", v)], [("pids.max", v)])


def _device_entries(c, lst, path, key):
    out = []
    for i, e in enumerate(c.arr(lst, path)):
        where = f"{path}[{i}]"
        c.obj(e, where)
        major = c.int(e, "major", where, lo=0)
        minor = c.int(e, "minor", where, lo=0)
        if major is None or minor is None:
            c.fail(where, "needs major and minor")
        out.append((f"{major}:{minor}", c.int(e, key, where, lo=0)))
    return out


def _block_io(c, w, b):
    p = "linux.resources.blockIO"
    weight = c.int(b, "weight", p, lo=10, hi=1000)
    if weight is not None:
        w.add("blkio", f"{p}.weight", [("blkio.weight", str(weight))], [("io.weight", f"default {weight}")])
    leaf = c.int(b, "leafWeight", p, lo=10, hi=1000)
    if leaf is not None:
        w.add("blkio", f"{p}.leafWeight", [("blkio.leaf_weight", str(leaf))])
    wd = b.get("weightDevice")
    if wd:
        for dev, weight in _device_entries(c, wd, f"{p}.weightDevice", "weight"):
            if weight is not None:
                w.add("blkio", f"{p}.weightDevice", [("blkio.weight_device", f"{dev} {weight}")],
                      [("io.weight", f"{dev} {weight}")])
    for key, v1file, v2key in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
                               ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
                               ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
                               ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops")):
        for dev, rate in _device_entries(c, b.get(key) or [], f"{p}.{key}", "rate"):
            if rate is None:
                c.fail(f"{p}.{key}", "each entry needs a rate")
            w.add("blkio", f"{p}.{key}", [(v1file, f"{dev} {rate}")],
                  [("io.max", f"{dev} {v2key}={rate if rate else 'max'}")])


def _hugepages(c, w, limits):
    p = "linux.resources.hugepageLimits"
    for i, h in enumerate(limits):
        where = f"{p}[{i}]"
        c.obj(h, where)
        size = c.str(h, "pageSize", where)
        limit = c.int(h, "limit", where, lo=0)
        if not size or limit is None:
            c.fail(where, "needs pageSize (like 2MB) and limit")
        if not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")):
            c.fail(f"{where}.pageSize", f"{size!r} is not a page size like 2MB or 1GB")
        w.add("hugetlb", where, [(f"hugetlb.{size}.limit_in_bytes", str(limit))],
              [(f"hugetlb.{size}.max", str(limit))])


def _network(c, w, n):
    p = "linux.resources.network"
    cls = c.int(n, "classID", p, lo=0, hi=2**32 - 1)
    if cls is not None:
        w.add("net_cls", f"{p}.classID", [("net_cls.classid", str(cls))])
    for i, prio in enumerate(c.arr(n.get("priorities") or [], f"{p}.priorities")):
        where = f"{p}.priorities[{i}]"
        c.obj(prio, where)
        name = c.str(prio, "name", where)
        value = c.int(prio, "priority", where, lo=0)
        if not name or value is None:
            c.fail(where, "needs name and priority")
        w.add("net_prio", where, [("net_prio.ifpriomap", f"{name} {value}")])


def _rdma(c, w, rdma):
    p = "linux.resources.rdma"
    for dev, lim in rdma.items():
        where = f"{p}.{dev}"
        c.obj(lim, where)
        parts = []
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            v = c.int(lim, key, where, lo=0)
            if v is not None:
                parts.append(f"{name}={v}")
        if parts:
            line = f"{dev} {' '.join(parts)}"
            w.add("rdma", where, [("rdma.max", line)], [("rdma.max", line)])


def _unified(c, w, unified):
    p = "linux.resources.unified"
    for key, value in unified.items():
        if not isinstance(value, str):
            c.fail(f"{p}.{key}", "must be a string")
        if "/" in key or key.startswith(".") or "." not in key:
            c.fail(f"{p}.{key}", "is not a cgroup v2 file name like memory.high")
        w.add("unified", f"{p}.{key}", v2=[(key, value)])
