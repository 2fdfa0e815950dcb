"""The device cgroup: which device nodes the container may use.

Rules are linux.resources.devices in order, then an allow rule for each
linux.devices entry, then runc's default allow-list (null, zero, full, random,
urandom, tty, ptmx, pts, tun, and mknod of anything).  So podman's deny-all
config still gets a usable /dev.
"""
from ..errors import ConfigError

WILDCARD = -1

# (type, major, minor, access) as runc's specconv.AllowedDevices.
DEFAULT_ALLOW = (
    ("c", WILDCARD, WILDCARD, "m"), ("b", WILDCARD, WILDCARD, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, WILDCARD, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
)


def rules(resource_devices, linux_devices, file="config.json"):
    """[(allow, type, major, minor, access)] in the order they apply."""
    out = []
    for i, d in enumerate(resource_devices or []):
        where = f"linux.resources.devices[{i}]"
        if not isinstance(d, dict):
            raise ConfigError(file, where, "must be an object")
        allow = d.get("allow")
        if not isinstance(allow, bool):
            raise ConfigError(file, f"{where}.allow", "is required and must be a boolean")
        dtype = d.get("type", "a") or "a"
        if dtype not in ("a", "c", "b"):
            raise ConfigError(file, f"{where}.type", f"unknown device type {dtype!r} (one of a, c, b)")
        access = d.get("access", "rwm") or "rwm"
        if not isinstance(access, str) or not set(access) <= set("rwm"):
            raise ConfigError(file, f"{where}.access", f"{access!r} must be made of r, w and m")
        nums = []
        for key in ("major", "minor"):
            v = d.get(key, WILDCARD)
            if v is None:
                v = WILDCARD
            if not isinstance(v, int) or isinstance(v, bool) or v < WILDCARD:
                raise ConfigError(file, f"{where}.{key}", "must be a device number (or absent for all)")
            nums.append(v)
        out.append((allow, dtype, nums[0], nums[1], access))
    for dev in linux_devices or []:
        if dev.type in ("c", "b"):
            out.append((True, dev.type, dev.major, dev.minor, "rwm"))
    out += [(True,) + rule for rule in DEFAULT_ALLOW]
    return out


def v1_line(dtype, major, minor, access):
    def num(n):
        return "*" if n == WILDCARD else str(n)
    if dtype == "a":
        return "a"
    return f"{dtype} {num(major)}:{num(minor)} {access}"


def apply(cgroup, todo, file="config.json"):
    """Enforce the rules from rules() on the container's cgroup."""
    part = next((p for p in cgroup.parts if "devices" in p.controllers), None)
    if part is not None:
        # Start from deny-all, then replay the rules in order.
        part.write("devices.deny", "a")
        for allow, dtype, major, minor, access in todo:
            part.write("devices.allow" if allow else "devices.deny", v1_line(dtype, major, minor, access))
        return
    v2 = next((p for p in cgroup.parts if p.version == 2), None)
    if v2 is None:
        raise ConfigError(file, "linux.resources.devices", "no devices cgroup is available on this host")
    from . import devices_bpf
    devices_bpf.attach(v2.directory, todo)
