"""The device cgroup: which device nodes the container may use.

Rules are linux.resources.devices in order, then an allow rule for each
linux.devices entry, then runc's default allow-list (null, zero, full,
random, urandom, tty, ptmx, pts, tun, and mknod of anything).  So podman's
deny-all config still gets a usable /dev.

The rules are replayed once, at validation, through an emulation of the v1
devices controller (as runc's devices emulator does): the result is a
default (allow or deny) and the exceptions to it, in the order the rules
made them.  v1 gets that as
devices.allow/devices.deny writes; v2, which has no devices controller, gets
it as an eBPF program (devices_bpf.py) attached to the container's cgroup.
Both therefore behave the same, including v1's refusal to punch a hole in a
wildcard rule.
"""
from ..errors import ConfigError, strerror

WILDCARD = -1

# (type, major, minor, access) as runc's specconv.AllowedDevices.
DEFAULT_ALLOW = (
    ("c", WILDCARD, WILDCARD, "m"), ("b", WILDCARD, WILDCARD, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, WILDCARD, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
)

ACCESS = "rwm"


class Rules:
    """The effect of a list of rules on a devices cgroup: default_allow, and
    {(type, major, minor): access} exceptions to it (allowed devices in a
    deny-by-default cgroup, denied ones in an allow-by-default one)."""

    def __init__(self):
        self.default_allow = False     # a cgroup we configure starts from deny-all
        self.exceptions = {}

    def apply(self, allow, dtype, major, minor, access, where, file):
        if dtype == "a":
            # "a" (whatever numbers follow) resets the cgroup, as in the kernel.
            self.default_allow = allow
            self.exceptions = {}
        elif allow != self.default_allow:
            key = (dtype, major, minor)
            self.exceptions[key] = _union(self.exceptions.get(key, ""), access)
        else:
            self._remove(dtype, major, minor, access, where, file)

    def _remove(self, dtype, major, minor, access, where, file):
        # The kernel silently ignores removing part of a wildcard exception;
        # refuse instead, as runc does, rather than leave access the config
        # meant to take away.
        for key in ((dtype, WILDCARD, minor), (dtype, major, WILDCARD), (dtype, WILDCARD, WILDCARD)):
            if key != (dtype, major, minor) and set(self.exceptions.get(key, "")) & set(access):
                raise ConfigError(file, where, f"cannot {'allow' if self.default_allow else 'deny'} "
                                               f"{line(dtype, major, minor, access)}: it is part of the "
                                               f"wildcard rule {line(*key, self.exceptions[key])}")
        key = (dtype, major, minor)
        left = "".join(a for a in self.exceptions.get(key, "") if a not in access)
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    def ordered(self):
        """The exceptions in the order the rules made them, as the kernel's
        v1 list keeps them: the runtime-spec wants the entries applied in
        the listed order (crun does; runc 1.1 sorts them)."""
        return list(self.exceptions.items())

    def allows(self, dtype, major, minor, access):
        """Whether the emulated cgroup lets `access` to the device through
        (the kernel's match_exception and match_exception_partial)."""
        for (t, ma, mi), acc in self.exceptions.items():
            if t == dtype and ma in (WILDCARD, major) and mi in (WILDCARD, minor):
                if self.default_allow and set(acc) & set(access):
                    return False
                if not self.default_allow and set(access) <= set(acc):
                    return True
        return self.default_allow

    def v1_writes(self):
        """(file, line) writes that turn a new v1 devices cgroup into this:
        the reset first, then each exception."""
        out = [("devices.allow" if self.default_allow else "devices.deny", "a")]
        verb = "devices.deny" if self.default_allow else "devices.allow"
        out += [(verb, line(t, ma, mi, acc)) for (t, ma, mi), acc in self.ordered()]
        return out


def _union(a, b):
    return "".join(x for x in ACCESS if x in a or x in b)


def line(dtype, major, minor, access):
    """A rule as devices.allow/devices.list writes it: `c 1:3 rwm`."""
    def num(n):
        return "*" if n == WILDCARD else str(n)
    if dtype == "a":
        return "a"
    return f"{dtype} {num(major)}:{num(minor)} {access}"


def rules(resource_devices, linux_devices, file="config.json", where="linux.resources.devices"):
    """Check the rules and replay them: a Rules."""
    out = Rules()
    if resource_devices is not None and not isinstance(resource_devices, list):
        raise ConfigError(file, where, "must be an array")
    for i, d in enumerate(resource_devices or []):
        at = f"{where}[{i}]"
        if not isinstance(d, dict):
            raise ConfigError(file, at, "must be an object")
        allow = d.get("allow")
        if not isinstance(allow, bool):
            raise ConfigError(file, f"{at}.allow", "is required and must be a boolean")
        dtype = d.get("type", "a") or "a"
        if dtype not in ("a", "c", "b"):
            raise ConfigError(file, f"{at}.type", f"unknown device type {dtype!r} (one of a, c, b)")
        access = d.get("access", ACCESS) or ACCESS
        if not isinstance(access, str) or not set(access) <= set(ACCESS):
            raise ConfigError(file, f"{at}.access", f"{access!r} must be made of r, w and m")
        nums = []
        for key in ("major", "minor"):
            v = d.get(key, WILDCARD)
            if v is None:
                v = WILDCARD
            if not isinstance(v, int) or isinstance(v, bool) or not WILDCARD <= v < 2**32:
                raise ConfigError(file, f"{at}.{key}", "must be a device number (or absent for all)")
            nums.append(v)
        out.apply(allow, dtype, nums[0], nums[1], _union(access, ""), at, file)
    for i, dev in enumerate(linux_devices or ()):
        if dev.type in ("c", "u", "b"):       # u: unbuffered character device
            out.apply(True, "b" if dev.type == "b" else "c", dev.major, dev.minor, ACCESS,
                      f"linux.devices[{i}]", file)
    for rule in DEFAULT_ALLOW:
        out.apply(True, *rule, "default devices", file)
    return out


def route(cgroup, todo, file="config.json"):
    """Where the rules go on this host: the v1 devices hierarchy, or the v2
    cgroup (eBPF).  Returns (part, program or None); the eBPF program is
    built here, at validation."""
    part = cgroup.part_for("devices")
    if part is not None:
        return part, None
    if cgroup.v2 is None:
        raise ConfigError(file, "linux.resources.devices", "this host has no devices cgroup: the devices "
                                                           "controller is not mounted and there is no cgroup v2")
    from . import devices_bpf
    return cgroup.v2, devices_bpf.program(todo)


def apply(part, program, todo, file="config.json"):
    """Enforce the rules on the container's cgroup."""
    if program is None:
        for name, value in todo.v1_writes():
            try:
                part.write(name, value)
            except OSError as e:
                raise ConfigError(file, "linux.resources.devices",
                                  f"write {value!r} to {part.directory}/{name}: {strerror(e.errno)}") from None
        return
    from . import devices_bpf
    devices_bpf.attach(part.directory, program)
