"""The `org.minioci.net.*` annotations → NetConfig, checked before anything
is made.  Errors name the file and the annotation's JSON path:
`config.json: annotations.org.minioci.net.mode: unknown mode 'foo' (...)`.

Pure: nothing here touches the system except checking that a
`host-netns` file is a network namespace.
"""
import ipaddress

from ..errors import ConfigError

PREFIX = "org.minioci.net."          # every annotation this package reads
MODES = ("loopback", "veth", "ipvlan", "macvlan")
IPVLAN_MODES = ("l2", "l3")
DEFAULT_BRIDGE = "minioci0"
CONTAINER_IFNAME = "eth0"

# What each mode takes besides `mode`; the first of each tuple is required.
_LINKS = ("address", "gateway", "mtu", "host-netns")
OPTIONS = {
    "loopback": ((), ()),
    "veth": (("address",), _LINKS + ("bridge", "host-ifname")),
    "ipvlan": (("address", "parent"), _LINKS + ("parent", "ipvlan-mode")),
    "macvlan": (("address", "parent"), _LINKS + ("parent",)),
}
KNOWN = ("mode",) + tuple(sorted({k for _, opts in OPTIONS.values() for k in opts}))


class NetConfig:
    """A container's network, as plain values.  `netns` (the namespace
    file) and a default `host_ifname` are filled in by network.from_spec."""

    def __init__(self, file, mode, address=None, gateway=None, mtu=None, host_netns="", parent=None,
                 ipvlan_mode="l2", bridge=None, host_ifname=None, netns=None):
        self.file = file                # config.json, for errors found on the live system
        self.mode = mode
        self.address = address          # ipaddress.IPv4Interface / IPv6Interface
        self.gateway = gateway          # ipaddress.IPv4Address / IPv6Address, or None
        self.mtu = mtu
        self.host_netns = host_netns    # "" for minioci's own network namespace
        self.parent = parent
        self.ipvlan_mode = ipvlan_mode
        self.bridge = bridge
        self.host_ifname = host_ifname
        self.netns = netns

    def record(self):
        """What state.json keeps: everything teardown needs, and what an
        experiment wants to know afterwards.  `host_link` turns true just
        before the host end of a veth is made (only then is it ours)."""
        return {"mode": self.mode, "netns": self.netns, "host_netns": self.host_netns,
                "address": str(self.address), "gateway": str(self.gateway) if self.gateway else None,
                "mtu": self.mtu, "parent": self.parent, "ipvlan_mode": self.ipvlan_mode,
                "bridge": self.bridge, "host_ifname": self.host_ifname, "host_link": False}


def parse(annotations, namespaces, file):
    """NetConfig from a config's annotations and its {namespace type: path}."""
    values = {k[len(PREFIX):]: v for k, v in annotations.items() if k.startswith(PREFIX)}

    def fail(key, message):
        raise ConfigError(file, f"annotations.{PREFIX}{key}", message)

    for key in values:
        if key not in KNOWN:
            fail(key, f"unknown network annotation (known: {', '.join(KNOWN)})")
    mode = values.get("mode")
    if mode is None:
        fail("mode", "is required with any other org.minioci.net.* annotation")
    if mode not in MODES:
        fail("mode", f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    if "network" not in namespaces:
        fail("mode", "needs a network namespace (linux.namespaces has no 'network')")
    if namespaces["network"]:
        fail("mode", f"the network namespace is joined by path ({namespaces['network']}); "
                     "minioci leaves a joined namespace as it is")
    required, allowed = OPTIONS[mode]
    for key in values:
        if key != "mode" and key not in allowed:
            fail(key, f"does not apply to mode {mode!r}")
    for key in required:
        if key not in values:
            fail(key, f"is required with mode {mode!r}")
    if mode == "loopback":
        return NetConfig(file, mode)
    if "user" in namespaces:
        fail("mode", f"mode {mode!r} cannot be used with a user namespace: minioci makes the "
                     "network namespace outside it, where the container's root may not join it")

    address = parse_address(values["address"], lambda m: fail("address", m))
    gateway = None
    if "gateway" in values:
        gateway = parse_gateway(values["gateway"], address, lambda m: fail("gateway", m))
    mtu = None
    if "mtu" in values:
        mtu = parse_mtu(values["mtu"], address.version, lambda m: fail("mtu", m))
    host_netns = values.get("host-netns", "")
    if "host-netns" in values:
        from ..spec import Checker, check_namespace_file
        check_namespace_file(Checker(file), f"annotations.{PREFIX}host-netns", host_netns, "network")
    names = {}
    for key in ("parent", "bridge", "host-ifname"):
        if key in values:
            check_ifname(values[key], lambda m, key=key: fail(key, m))
            names[key] = values[key]
    bridge = names.get("bridge", DEFAULT_BRIDGE) if mode == "veth" else None
    if mode == "veth" and names.get("host-ifname") == bridge:
        fail("host-ifname", f"{bridge!r} is also the bridge's name")
    ipvlan_mode = values.get("ipvlan-mode", "l2").lower()
    if ipvlan_mode not in IPVLAN_MODES:
        fail("ipvlan-mode", f"unknown ipvlan mode {values['ipvlan-mode']!r} (l2 or l3)")
    return NetConfig(file, mode, address=address, gateway=gateway, mtu=mtu, host_netns=host_netns,
                     parent=names.get("parent"), ipvlan_mode=ipvlan_mode, bridge=bridge,
                     host_ifname=names.get("host-ifname"))


def parse_address(text, fail):
    """An address with its prefix length, `10.88.0.2/24` or `fd00::2/64`,
    usable as a host's own address."""
    if "/" not in text:
        fail(f"malformed address {text!r}: needs a prefix length, as in 10.88.0.2/24")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as e:
        fail(f"malformed address {text!r}: {e}")
    ip, net = iface.ip, iface.network
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        fail(f"{text!r} cannot be an interface's address (it is "
             f"{'unspecified' if ip.is_unspecified else 'multicast' if ip.is_multicast else 'loopback'})")
    if ip.version == 4 and net.prefixlen <= 30:
        if ip == net.network_address:
            fail(f"{text!r} is the network address of {net}")
        if ip == net.broadcast_address:
            fail(f"{text!r} is the broadcast address of {net}")
    return iface


def parse_gateway(text, address, fail):
    """A gateway on the address's own subnet, other than the address."""
    try:
        gw = ipaddress.ip_address(text)
    except ValueError:
        fail(f"malformed address {text!r}")
    if gw.version != address.version:
        fail(f"{text!r} is IPv{gw.version}, the address is IPv{address.version}")
    if gw not in address.network:
        fail(f"{text!r} is not in the address's subnet {address.network}")
    if gw == address.ip:
        fail(f"{text!r} is the container's own address")
    return gw


def parse_mtu(text, version, fail):
    low = 1280 if version == 6 else 68        # the least IPv6 / IPv4 allow
    if not text.isdigit() or not low <= int(text) <= 65535:
        fail(f"must be a number from {low} to 65535, not {text!r}")
    return int(text)


def check_ifname(name, fail):
    """The kernel's rules for an interface name (dev_valid_name)."""
    if not name or len(name) > 15:
        fail(f"interface name {name!r} must be 1 to 15 characters")
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        fail(f"interface name {name!r} must not be . or .., nor hold '/', ':' or spaces")


def default_host_ifname(container_dir):
    """The host end of a veth: `mo` and a hash of the state directory, so
    containers of different --roots never share a name."""
    import hashlib
    return "mo" + hashlib.sha256(container_dir.encode()).hexdigest()[:11]
