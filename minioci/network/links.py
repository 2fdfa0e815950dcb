"""The links of veth, ipvlan and macvlan containers, through pyroute2.

Imported only for those modes (pyroute2 costs ~170 ms to import).  The
"host" side is minioci's own network namespace, or the one the
`host-netns` annotation names: it holds the bridge and the host end of a
veth, and the parent of an ipvlan or macvlan link.  Every container link is
created straight into the container's namespace (IFLA_NET_NS_FD), so a
failure never leaves a half-moved link on the host.
"""
import errno
import os
import socket

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import ConfigError, MiniociError, strerror
from . import netns
from .config import CONTAINER_IFNAME, PREFIX

# ifalias of the bridges minioci made: only those it removes, once no port is left.
BRIDGE_MARK = "made by minioci"
MACVLAN_MODE_BRIDGE = 4                       # linux/if_link.h
IPVLAN_MODE = {"l2": 0, "l3": 1}
IFA_F_NODAD = 0x02
# Bridges are shared by containers (of any --root): making one, and removing
# one that has just lost its last port, are serialized by this lock.
# In /run, which only root can write (not /run/lock, which anyone can: a
# file planted there could be followed, or held locked by its owner).
BRIDGE_LOCK = "/run/minioci-network.lock"


def setup(cfg, record, save):
    """Make cfg's namespace (cfg.netns) and links; `record` tells teardown
    what to remove if this fails half-way or the process dies."""
    where = _where(cfg.host_netns)
    with netns.entered(cfg.host_netns):
        host = IPRoute()
    with host:
        parent = _check_host_side(cfg, host, where)
        if cfg.mode == "veth":
            record["host_link"] = True       # the name is free: from now on it is ours
            save()
        netns.create(cfg.netns)
        fd = os.open(cfg.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if cfg.mode == "veth":
                _add_veth(cfg, host, fd, where)
            else:
                _add_vlan(cfg, host, parent, fd, where)
        finally:
            os.close(fd)
    with netns.entered(cfg.netns):
        inside = IPRoute()
    with inside:
        _configure_inside(cfg, inside)


def teardown_host_side(record):
    """Delete a veth's host end (its container end goes with it) and the
    bridge if minioci made it and no port is left.  Idempotent."""
    host_netns = record.get("host_netns") or ""
    if host_netns and not os.path.exists(host_netns):
        return                               # gone, and everything in it
    with netns.entered(host_netns):
        host = IPRoute()
    with host:
        if record.get("host_link"):
            index = _lookup(host, record["host_ifname"])
            if index is not None and _kind(host, index) == "veth":
                _ignoring(errno.ENODEV, host.link, "del", index=index)
        if record.get("bridge"):
            with _bridge_lock():
                _remove_bridge_if_unused(host, record["bridge"])


def _where(host_netns):
    return f"network namespace {host_netns}" if host_netns else "minioci's network namespace"


def _check_host_side(cfg, host, where):
    """Everything that can be checked before anything is made; the parent's
    index for ipvlan and macvlan."""
    if cfg.mode == "veth":
        if _lookup(host, cfg.host_ifname) is not None:
            raise ConfigError(cfg.file, f"annotations.{PREFIX}host-ifname",
                              f"interface {cfg.host_ifname!r} already exists in {where}")
        bridge = _lookup(host, cfg.bridge)
        if bridge is not None and _kind(host, bridge) != "bridge":
            raise ConfigError(cfg.file, f"annotations.{PREFIX}bridge",
                              f"{cfg.bridge!r} exists in {where} and is not a bridge")
        return None
    parent = _lookup(host, cfg.parent)
    if parent is None:
        raise ConfigError(cfg.file, f"annotations.{PREFIX}parent",
                          f"interface {cfg.parent!r} does not exist in {where}")
    return parent


def _add_veth(cfg, host, fd, where):
    peer = {"ifname": CONTAINER_IFNAME, "net_ns_fd": fd}
    extra = {}
    if cfg.mtu:
        peer["mtu"] = extra["mtu"] = cfg.mtu
    try:
        host.link("add", ifname=cfg.host_ifname, kind="veth", peer=peer, **extra)
    except NetlinkError as e:
        if e.code == errno.EEXIST:       # taken since the check: someone else's now
            raise MiniociError(f"add veth {cfg.host_ifname}: interface {cfg.host_ifname!r} "
                               f"already exists in {where}") from None
        raise _netlink_error(f"add veth {cfg.host_ifname} in {where}", e) from None
    with _bridge_lock():
        bridge = _ensure_bridge(cfg, host, where)
        index = _lookup(host, cfg.host_ifname)
        try:
            host.link("set", index=index, master=bridge, state="up")
        except NetlinkError as e:
            raise _netlink_error(f"attach {cfg.host_ifname} to bridge {cfg.bridge}", e) from None


def _ensure_bridge(cfg, host, where):
    """The bridge's index; made (marked, up) if missing.  A bridge minioci
    made gets the gateway's address, so the host side can reach the
    containers; a bridge someone else made is not changed."""
    index = _lookup(host, cfg.bridge)
    if index is None:
        try:
            host.link("add", ifname=cfg.bridge, kind="bridge")
        except NetlinkError as e:
            raise _netlink_error(f"add bridge {cfg.bridge} in {where}", e) from None
        index = _lookup(host, cfg.bridge)
        host.link("set", index=index, ifalias=BRIDGE_MARK, state="up")
    elif _kind(host, index) != "bridge":
        raise MiniociError(f"{cfg.bridge!r} in {where} is not a bridge")
    if cfg.gateway is not None and _alias(host, index) == BRIDGE_MARK:
        _ignoring(errno.EEXIST, host.addr, "add", index=index, address=str(cfg.gateway),
                  prefixlen=cfg.address.network.prefixlen, **_nodad(cfg))
    return index


def _remove_bridge_if_unused(host, name):
    index = _lookup(host, name)
    if index is None or _kind(host, index) != "bridge" or _alias(host, index) != BRIDGE_MARK:
        return
    if any(link.get("master") == index for link in host.get_links()):
        return
    _ignoring(errno.ENODEV, host.link, "del", index=index)


def _add_vlan(cfg, host, parent, fd, where):
    """An ipvlan or macvlan link on the parent, made in the container's
    namespace; it goes when that namespace goes."""
    kw = {"macvlan_mode": MACVLAN_MODE_BRIDGE} if cfg.mode == "macvlan" else \
         {"ipvlan_mode": IPVLAN_MODE[cfg.ipvlan_mode]}
    if cfg.mtu:
        kw["mtu"] = cfg.mtu
    try:
        host.link("add", ifname=CONTAINER_IFNAME, kind=cfg.mode, link=parent, net_ns_fd=fd, **kw)
    except NetlinkError as e:
        if e.code == errno.EOPNOTSUPP:
            raise ConfigError(cfg.file, f"annotations.{PREFIX}mode",
                              f"this kernel has no {cfg.mode} support (CONFIG_{cfg.mode.upper()})") from None
        raise _netlink_error(f"add {cfg.mode} link on {cfg.parent} in {where}", e) from None


def _configure_inside(cfg, ipr):
    """lo and eth0 up, eth0's address, and the default route via the gateway."""
    try:
        ipr.link("set", index=_lookup(ipr, "lo"), state="up")
        eth = _lookup(ipr, CONTAINER_IFNAME)
        ipr.addr("add", index=eth, address=str(cfg.address.ip), prefixlen=cfg.address.network.prefixlen,
                 **_nodad(cfg))
        ipr.link("set", index=eth, state="up")
        if cfg.gateway is not None:
            family = socket.AF_INET6 if cfg.address.version == 6 else socket.AF_INET
            ipr.route("add", family=family, dst="::/0" if family == socket.AF_INET6 else "0.0.0.0/0",
                      gateway=str(cfg.gateway), oif=eth)
    except NetlinkError as e:
        raise _netlink_error(f"configure {CONTAINER_IFNAME} ({cfg.address})", e) from None


def _nodad(cfg):
    # An IPv6 address is unusable for ~1 s of duplicate detection otherwise;
    # the addresses here are the experiment's own.
    return {"flags": IFA_F_NODAD} if cfg.address.version == 6 else {}


def _lookup(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _kind(ipr, index):
    return ipr.get_links(index)[0].get(("linkinfo", "kind"))


def _alias(ipr, index):
    return ipr.get_links(index)[0].get("ifalias")


def _ignoring(code, func, *args, **kw):
    try:
        func(*args, **kw)
    except NetlinkError as e:
        if e.code != code:
            raise


def _netlink_error(what, e):
    return MiniociError(f"{what}: {strerror(e.code) if e.code > 0 else e}")


class _bridge_lock:
    def __enter__(self):
        import fcntl
        self.fd = os.open(BRIDGE_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        os.close(self.fd)
