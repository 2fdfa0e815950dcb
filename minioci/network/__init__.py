"""Container networking for experiments: loopback, veth, ipvlan, macvlan.

Chosen by `org.minioci.net.*` annotations in config.json (docs/network.md).
Without them, or with mode `loopback`, the child makes its own network
namespace and brings `lo` up (plan.py): nothing here runs and nothing heavy
is imported.  For veth, ipvlan and macvlan the parent makes the namespace
first, as a file bind-mounted in the container's state directory, puts the
links in it through pyroute2, and the child joins it by path, as podman's
netavark hands a runtime its namespace.

  config.py   the annotations → NetConfig, checked before anything is made
  netns.py    the namespace file: create, enter, remove (thin shim calls)
  links.py    veth + bridge, ipvlan, macvlan and addresses (pyroute2)

container.py imports this package only when the config has org.minioci.net.*
annotations: a plain run loads none of it (tests/test_hot_path.py).
"""
import os

from . import config
from .config import PREFIX

NETNS_FILE = "netns"      # in the container's state directory


def from_spec(spec, container):
    """The container's network settings, validated (ConfigError naming the
    annotation), or None when the parent has nothing to set up."""
    if not any(k.startswith(PREFIX) for k in spec.annotations):
        return None
    cfg = config.parse(spec.annotations, spec.namespaces, spec.file)
    if cfg.mode == "loopback":
        return None                # the child's unshare and loopback_up do it
    cfg.netns = os.path.join(container.dir, NETNS_FILE)
    if cfg.mode == "veth" and not cfg.host_ifname:
        cfg.host_ifname = config.default_host_ifname(container.dir)
    return cfg


def setup(cfg, record, save, tl):
    """Make the namespace and its links (timed as `network.import` and
    `network`); `record` (in state.json) is updated, and saved through
    `save`, before each thing that teardown() must know about is made."""
    from . import links
    tl.mark("network.import")
    links.setup(cfg, record, save)
    tl.mark("network")


def teardown(record):
    """Remove what setup() made, as far as it got; safe to repeat.  Only the
    veth mode left anything outside the namespace (its host end, perhaps a
    bridge): the others' links go with the namespace."""
    if not record:
        return
    if record.get("mode") == "veth":
        from . import links
        links.teardown_host_side(record)
    from . import netns
    netns.remove(record["netns"])
