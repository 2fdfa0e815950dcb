"""The org.minioci.net.* annotations: parsing, address maths and the errors
for bad values (no root, nothing started; tests/test_network.py runs them)."""
import pytest

from minioci import leanjson, network
from minioci.errors import ConfigError
from minioci.network import config

FILE = "b/config.json"
NEW_NET = {"mount": "", "network": ""}


def ann(**values):
    return {f"org.minioci.net.{k.replace('_', '-')}": v for k, v in values.items()}


def parse(namespaces=NEW_NET, **values):
    return config.parse(ann(**values), namespaces, FILE)


def test_veth_with_everything():
    cfg = parse(mode="veth", address="10.88.0.2/24", gateway="10.88.0.1", mtu="1400", bridge="br-x",
                host_ifname="vh-x")
    assert (cfg.mode, str(cfg.address.ip), cfg.address.network.prefixlen) == ("veth", "10.88.0.2", 24)
    assert (str(cfg.gateway), cfg.mtu, cfg.bridge, cfg.host_ifname) == ("10.88.0.1", 1400, "br-x", "vh-x")
    assert cfg.host_netns == "" and cfg.parent is None


def test_defaults():
    cfg = parse(mode="veth", address="10.88.0.2/16")
    assert (cfg.bridge, cfg.gateway, cfg.mtu, cfg.host_ifname) == ("minioci0", None, None, None)
    assert parse(mode="ipvlan", address="10.1.2.3/8", parent="p0").ipvlan_mode == "l2"
    assert parse(mode="ipvlan", address="10.1.2.3/8", parent="p0", ipvlan_mode="L3").ipvlan_mode == "l3"
    macvlan = parse(mode="macvlan", address="fd00::5/64", parent="p0", gateway="fd00::1")
    assert (macvlan.address.version, str(macvlan.gateway), macvlan.bridge) == (6, "fd00::1", None)


def test_loopback_needs_no_setup_by_the_parent():
    assert parse(mode="loopback").mode == "loopback"

    class Spec:
        annotations = ann(mode="loopback")
        namespaces = NEW_NET
        file = FILE

    class Container:
        dir = "/run/minioci/x"
    assert network.from_spec(Spec, Container) is None
    Spec.annotations = {"org.other": "1"}
    assert network.from_spec(Spec, Container) is None
    Spec.annotations = ann(mode="veth", address="10.0.0.2/24")
    cfg = network.from_spec(Spec, Container)
    assert cfg.netns == "/run/minioci/x/netns"
    assert cfg.host_ifname == config.default_host_ifname("/run/minioci/x")
    # container.py spells the prefix out so as not to import this package on
    # a plain run: the same annotations reach the same settings through it
    from minioci import container
    assert container.network_settings(Spec, Container).record() == cfg.record()
    Spec.annotations = {"org.other": "1"}
    assert container.network_settings(Spec, Container) is None


def test_default_host_ifname_fits_ifnamsiz_and_differs_per_container():
    a, b = config.default_host_ifname("/run/minioci/a"), config.default_host_ifname("/run/other/a")
    assert a != b and len(a) <= 15 and a.startswith("mo")
    assert a == config.default_host_ifname("/run/minioci/a")


def test_the_record_is_plain_json_for_state():
    cfg = parse(mode="veth", address="10.88.0.2/24", gateway="10.88.0.1")
    cfg.netns, cfg.host_ifname = "/run/minioci/x/netns", "mo123"
    rec = leanjson.loads(leanjson.dumps(cfg.record()))
    assert rec["address"] == "10.88.0.2/24" and rec["gateway"] == "10.88.0.1"
    assert rec["host_link"] is False and rec["bridge"] == "minioci0" and rec["netns"] == "/run/minioci/x/netns"


BAD = [
    # (annotations, namespaces, annotation key in the JSON path, message part)
    (ann(mode="foo"), NEW_NET, "mode", "unknown mode 'foo' (one of loopback, veth, ipvlan, macvlan)"),
    (ann(address="10.0.0.2/24"), NEW_NET, "mode", "is required with any other"),
    (ann(mode="veth", adress="10.0.0.2/24"), NEW_NET, "adress", "unknown network annotation"),
    (ann(mode="veth", address="10.0.0.2/24"), {"mount": ""}, "mode", "needs a network namespace"),
    (ann(mode="veth", address="10.0.0.2/24"), {"network": "/proc/1/ns/net"}, "mode",
     "joined by path (/proc/1/ns/net)"),
    (ann(mode="loopback"), {"network": "/proc/1/ns/net"}, "mode", "leaves a joined namespace as it is"),
    (ann(mode="veth", address="10.0.0.2/24"), dict(NEW_NET, user=""), "mode",
     "cannot be used with a user namespace"),
    (ann(mode="veth"), NEW_NET, "address", "is required with mode 'veth'"),
    (ann(mode="macvlan", address="10.0.0.2/24"), NEW_NET, "parent", "is required with mode 'macvlan'"),
    (ann(mode="veth", address="10.0.0.2/24", parent="p0"), NEW_NET, "parent", "does not apply to mode 'veth'"),
    (ann(mode="macvlan", address="10.0.0.2/24", parent="p0", bridge="b"), NEW_NET, "bridge",
     "does not apply to mode 'macvlan'"),
    (ann(mode="macvlan", address="10.0.0.2/24", parent="p0", ipvlan_mode="l3"), NEW_NET, "ipvlan-mode",
     "does not apply"),
    (ann(mode="loopback", address="10.0.0.2/24"), NEW_NET, "address", "does not apply to mode 'loopback'"),
    (ann(mode="veth", address="10.0.0.2"), NEW_NET, "address", "needs a prefix length"),
    (ann(mode="veth", address="10.0.0.300/24"), NEW_NET, "address", "malformed address '10.0.0.300/24'"),
    (ann(mode="veth", address="10.0.0.2/33"), NEW_NET, "address", "malformed address"),
    (ann(mode="veth", address="eth0/24"), NEW_NET, "address", "malformed address"),
    (ann(mode="veth", address="10.0.0.0/24"), NEW_NET, "address", "is the network address of 10.0.0.0/24"),
    (ann(mode="veth", address="10.0.0.255/24"), NEW_NET, "address", "is the broadcast address"),
    (ann(mode="veth", address="224.0.0.5/24"), NEW_NET, "address", "(it is multicast)"),
    (ann(mode="veth", address="127.0.0.2/8"), NEW_NET, "address", "(it is loopback)"),
    (ann(mode="veth", address="10.0.0.2/24", gateway="10.0.1.1"), NEW_NET, "gateway",
     "not in the address's subnet 10.0.0.0/24"),
    (ann(mode="veth", address="10.0.0.2/24", gateway="fd00::1"), NEW_NET, "gateway", "is IPv6, the address is IPv4"),
    (ann(mode="veth", address="10.0.0.2/24", gateway="10.0.0.2"), NEW_NET, "gateway", "the container's own address"),
    (ann(mode="veth", address="10.0.0.2/24", gateway="gw"), NEW_NET, "gateway", "malformed address 'gw'"),
    (ann(mode="veth", address="10.0.0.2/24", mtu="20"), NEW_NET, "mtu", "from 68 to 65535"),
    (ann(mode="veth", address="fd00::2/64", mtu="1000"), NEW_NET, "mtu", "from 1280 to 65535"),
    (ann(mode="veth", address="10.0.0.2/24", mtu="1.5k"), NEW_NET, "mtu", "not '1.5k'"),
    (ann(mode="veth", address="10.0.0.2/24", bridge="a-bridge-name-too-long"), NEW_NET, "bridge",
     "must be 1 to 15 characters"),
    (ann(mode="veth", address="10.0.0.2/24", host_ifname="a/b"), NEW_NET, "host-ifname", "must not be . or .."),
    (ann(mode="macvlan", address="10.0.0.2/24", parent="my parent"), NEW_NET, "parent", "nor hold"),
    (ann(mode="veth", address="10.0.0.2/24", bridge="same", host_ifname="same"), NEW_NET, "host-ifname",
     "is also the bridge's name"),
    (ann(mode="ipvlan", address="10.0.0.2/24", parent="p0", ipvlan_mode="l4"), NEW_NET, "ipvlan-mode",
     "unknown ipvlan mode 'l4' (l2 or l3)"),
    (ann(mode="veth", address="10.0.0.2/24", host_netns="run/netns/x"), NEW_NET, "host-netns",
     "must be an absolute path"),
    (ann(mode="veth", address="10.0.0.2/24", host_netns="/nonexistent/netns"), NEW_NET, "host-netns",
     "no such file or directory"),
    (ann(mode="veth", address="10.0.0.2/24", host_netns="/proc/self/ns/uts"), NEW_NET, "host-netns",
     "/proc/self/ns/uts is not a network namespace"),
]


@pytest.mark.parametrize("annotations,namespaces,key,message", BAD,
                         ids=[f"{b[2]}:{b[3][:30]}" for b in BAD])
def test_bad_annotations_name_the_file_and_json_path(annotations, namespaces, key, message):
    with pytest.raises(ConfigError) as e:
        config.parse(annotations, namespaces, FILE)
    assert str(e.value).startswith(f"{FILE}: annotations.org.minioci.net.{key}: "), str(e.value)
    assert message in str(e.value)
