"""`events --stats`: a container's usage, read from its cgroup, in the shape
runc prints (runc's types/events.go: cpu, cpuset, memory, pids, blkio,
hugetlb).  Each controller is read where it lives on this host: v1 files for
a v1 controller, v2 files otherwise (cpu.stat and the memory, pids, io and
hugetlb files of the unified hierarchy)."""
import os

from . import fs

UINT64_MAX = 2**64 - 1


def collect(cgroup):
    data = {"cpu": _cpu(cgroup), "cpuset": _cpuset(cgroup), "memory": _memory(cgroup),
            "pids": _pids(cgroup), "blkio": _blkio(cgroup), "hugetlb": _hugetlb(cgroup),
            "intel_rdt": {}, "network_interfaces": None}
    return data


def oom_kills(cgroup):
    """How many processes the OOM killer has killed in the container's
    memory cgroup (v1 memory.oom_control, v2 memory.events)."""
    part = cgroup.part_for("memory")
    if part is None:
        return 0
    return _keyed(part, "memory.oom_control" if part.version == 1 else "memory.events").get("oom_kill", 0)


def _dropped(d, *keys):
    """runc's `omitempty`: leave out zero values."""
    return {k: v for k, v in d.items() if not (k in keys and not v)}


def _read(part, name, default=None):
    try:
        return fs.read(part.directory, name)
    except OSError:
        return default


def _num(part, name):
    text = _read(part, name)
    if text is None:
        return 0
    text = text.strip()
    return UINT64_MAX if text == "max" else int(text)


def _keyed(part, name):
    try:
        return fs.read_keyed(part.directory, name)
    except OSError:
        return {}


def _cpu(cg):
    usage, throttling = {}, {}
    acct = cg.part_for("cpuacct")
    if acct is not None and acct.version == 1:
        ns_per_tick = 10**9 // os.sysconf("SC_CLK_TCK")
        stat = _keyed(acct, "cpuacct.stat")
        usage = {"total": _num(acct, "cpuacct.usage"),
                 "percpu": [int(x) for x in (_read(acct, "cpuacct.usage_percpu") or "").split()],
                 "percpu_kernel": [int(x) for x in (_read(acct, "cpuacct.usage_percpu_sys") or "").split()],
                 "percpu_user": [int(x) for x in (_read(acct, "cpuacct.usage_percpu_user") or "").split()],
                 "kernel": stat.get("system", 0) * ns_per_tick, "user": stat.get("user", 0) * ns_per_tick}
    elif cg.v2 is not None:
        stat = _keyed(cg.v2, "cpu.stat")
        usage = {"total": stat.get("usage_usec", 0) * 1000, "kernel": stat.get("system_usec", 0) * 1000,
                 "user": stat.get("user_usec", 0) * 1000}
    cpu = cg.part_for("cpu")
    if cpu is not None or cg.v2 is not None:
        stat = _keyed(cpu or cg.v2, "cpu.stat")
        throttled = stat["throttled_time"] if "throttled_time" in stat else stat.get("throttled_usec", 0) * 1000
        throttling = {"periods": stat.get("nr_periods", 0), "throttledPeriods": stat.get("nr_throttled", 0),
                      "throttledTime": throttled}
    return {"usage": _dropped(usage, "total", "percpu", "percpu_kernel", "percpu_user"),
            "throttling": _dropped(throttling, "periods", "throttledPeriods", "throttledTime")}


def _cpu_list(text):
    out = []
    for item in (text or "").strip().split(","):
        if item:
            lo, _, hi = item.partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    return out


def _cpuset(cg):
    part = cg.part_for("cpuset")
    if part is None:
        return {}
    effective = ("cpuset.effective_cpus", "cpuset.effective_mems") if part.version == 1 else \
        ("cpuset.cpus.effective", "cpuset.mems.effective")
    out = {"cpus": _cpu_list(_read(part, effective[0])), "mems": _cpu_list(_read(part, effective[1]))}
    if part.version == 1:
        for key in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page",
                    "memory_spread_slab", "memory_pressure", "sched_load_balance", "sched_relax_domain_level"):
            text = _read(part, "cpuset." + key)
            if text is not None:
                out[key] = int(text)
    return _dropped(out, "cpus", "mems")


def _entry(limit, usage, peak, failcnt):
    return _dropped({"limit": limit, "usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")


def _memory(cg):
    part = cg.part_for("memory")
    if part is None:
        return {}
    raw = _keyed(part, "memory.stat")
    if part.version == 1:
        def entry(prefix):
            return _entry(_num(part, prefix + "limit_in_bytes"), _num(part, prefix + "usage_in_bytes"),
                          _num(part, prefix + "max_usage_in_bytes"), _num(part, prefix + "failcnt"))
        out = {"cache": raw.get("cache", 0), "usage": entry("memory."), "swap": entry("memory.memsw."),
               "kernel": entry("memory.kmem."), "kernelTCP": entry("memory.kmem.tcp.")}
    else:
        usage, events = _num(part, "memory.current"), _keyed(part, "memory.events")
        # runc reports v2's swap as memory plus swap, like v1's memsw.
        swap_limit = _num(part, "memory.swap.max")
        out = {"cache": raw.get("file", 0),
               "usage": _entry(_num(part, "memory.max"), usage, _num(part, "memory.peak"), events.get("max", 0)),
               "swap": _entry(UINT64_MAX if swap_limit == UINT64_MAX else swap_limit + _num(part, "memory.max"),
                              usage + _num(part, "memory.swap.current"), 0, events.get("max", 0)),
               "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0}}
    out["raw"] = raw
    return _dropped(out, "cache", "raw")


def _pids(cg):
    part = cg.part_for("pids")
    if part is None:
        return {}
    limit = _num(part, "pids.max")
    return _dropped({"current": _num(part, "pids.current"), "limit": 0 if limit == UINT64_MAX else limit},
                    "current", "limit")


def _blkio(cg):
    part = cg.part_for("blkio")
    if part is None:
        return {}
    if part.version == 1:
        def entries(name):
            out = []
            for line in (_read(part, name) or "").splitlines():
                fields = line.split()
                if len(fields) == 3 and ":" in fields[0]:
                    major, minor = fields[0].split(":")
                    out.append({"major": int(major), "minor": int(minor), "op": fields[1],
                                "value": int(fields[2])})
            return out
        out = {"ioServiceBytesRecursive": entries("blkio.throttle.io_service_bytes_recursive"),
               "ioServicedRecursive": entries("blkio.throttle.io_serviced_recursive")}
    else:
        out = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
        for line in (_read(part, "io.stat") or "").splitlines():
            dev, *pairs = line.split()
            major, minor = (int(x) for x in dev.split(":"))
            values = dict(p.split("=", 1) for p in pairs if "=" in p)
            for key, op, kind in (("rbytes", "Read", "ioServiceBytesRecursive"),
                                  ("wbytes", "Write", "ioServiceBytesRecursive"),
                                  ("rios", "Read", "ioServicedRecursive"),
                                  ("wios", "Write", "ioServicedRecursive")):
                if key in values:
                    out[kind].append({"major": major, "minor": minor, "op": op, "value": int(values[key])})
    return {k: v for k, v in out.items() if v}


def _hugetlb(cg):
    part = cg.part_for("hugetlb")
    if part is None:
        return {}
    sizes = sorted({f.split(".")[1] for f in os.listdir(part.directory) if f.startswith("hugetlb.")})
    out = {}
    for size in sizes:
        if part.version == 1:
            usage, peak = _num(part, f"hugetlb.{size}.usage_in_bytes"), _num(part, f"hugetlb.{size}.max_usage_in_bytes")
            failcnt = _num(part, f"hugetlb.{size}.failcnt")
        else:
            usage, peak = _num(part, f"hugetlb.{size}.current"), 0
            failcnt = _keyed(part, f"hugetlb.{size}.events").get("max", 0)
        out[size] = _dropped({"usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")
    return out
