"""ProxierConfig derivations and the per-node config built from a topology."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from overlaynet.errors import KubeProxyError
from overlaynet.kubeproxy import ProxierConfig
from overlaynet.kubeproxy.node import config_for_node, parse_nodeport_addresses
from overlaynet.model import Cluster, KubeProxySpec, Node

NODE = ip_address("192.168.0.2")


def test_defaults_match_kube_proxy() -> None:
    cfg = ProxierConfig("n1", (NODE,))
    assert cfg.mark == "0x004000"
    assert cfg.nodeport_match_all and cfg.effective_localhost_nodeports
    assert cfg.local_cidr is None


def test_nodeport_cidrs_without_loopback_turn_localhost_nodeports_off() -> None:
    cfg = ProxierConfig("n1", (NODE,), nodeport_addresses=(ip_network("192.168.0.0/24"),))
    assert not cfg.nodeport_match_all and not cfg.effective_localhost_nodeports
    assert cfg.nodeport_ips() == (NODE,)
    loop = ProxierConfig("n1", (NODE,), nodeport_addresses=(ip_network("127.0.0.0/8"),))
    assert loop.effective_localhost_nodeports and loop.nodeport_ips() == (ip_address("127.0.0.1"),)


def test_other_family_cidrs_mean_match_all() -> None:
    cfg = ProxierConfig("n1", (NODE,), nodeport_addresses=(ip_network("fd00::/64"),))
    assert cfg.nodeport_match_all


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        ProxierConfig("", (NODE,))
    with pytest.raises(ValueError):
        ProxierConfig("n1", (NODE,), masquerade_bit=40)


def test_primary_nodeport_addresses() -> None:
    assert parse_nodeport_addresses(["primary"], [NODE]) == (ip_network("192.168.0.2/32"),)
    with pytest.raises(KubeProxyError):
        parse_nodeport_addresses(["nope"], [NODE])


def test_config_for_node_uses_the_topology() -> None:
    cluster = Cluster(
        nodes=(Node("node-1", NODE, "lan"),),
        pod_cidrs=(ip_network("10.244.0.0/16"),),
        kube_proxy=KubeProxySpec(masquerade_all=True),
    )
    cfg = config_for_node(cluster, "node-1")
    assert cfg.node_ips == (NODE,) and cfg.masquerade_all
    assert cfg.local_cidr == ip_network("10.244.0.0/16")
    assert config_for_node(cluster, "node-1", cluster_cidrs=[]).local_cidr is None
    with pytest.raises(KubeProxyError, match="--node-ip"):
        config_for_node(cluster, "node-9")


def test_primary_is_the_first_node_ip_of_each_family() -> None:
    ips = [NODE, ip_address("192.168.0.3"), ip_address("fd00::2"), ip_address("fd00::3")]
    assert parse_nodeport_addresses(["primary"], ips) == (ip_network("192.168.0.2/32"), ip_network("fd00::2/128"))


INTERFACES = (NODE, ip_address("10.0.0.5"), ip_address("10.0.9.1"), ip_address("172.17.0.1"), ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("cidrs", "tail"),
    [
        ((), ["-m addrtype --dst-type LOCAL"]),  # iptables mode's default: every local address
        ((ip_network("0.0.0.0/0"),), ["-m addrtype --dst-type LOCAL"]),
        ((ip_network("10.0.0.0/8"),), ["-d 10.0.0.5", "-d 10.0.9.1"]),  # every interface address inside
        ((ip_network("10.0.0.0/24"), ip_network("127.0.0.0/8")), ["-d 10.0.0.5", "-d 127.0.0.1"]),
        ((ip_network("192.168.0.2/32"),), ["-d 192.168.0.2"]),  # = primary
        ((ip_network("203.0.113.0/24"),), []),  # no address inside: NodePorts answer nowhere
    ],
)
def test_nodeports_answer_on_every_interface_address_inside_the_cidrs(
    cidrs: tuple[object, ...], tail: list[str]
) -> None:
    from overlaynet.kubeproxy import generate

    cfg = ProxierConfig("n1", (NODE,), nodeport_addresses=cidrs, interface_ips=INTERFACES)  # type: ignore[arg-type]
    lines = [line for line in generate([], [], cfg).splitlines() if line.endswith("-j KUBE-NODEPORTS")]
    comment = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
    assert lines == [f"{comment} {t} -j KUBE-NODEPORTS" for t in tail]


def test_config_for_node_reads_detect_local_mode_and_primary_from_the_topology() -> None:
    node = Node("node-1", NODE, "lan", pod_cidrs=(ip_network("10.244.1.0/24"),), extra_ips=(ip_address("10.0.0.5"),))
    cluster = Cluster(nodes=(node,), pod_cidrs=(ip_network("10.244.0.0/16"),),
                      kube_proxy=KubeProxySpec(detect_local_mode="NodeCIDR", nodeport_primary=True))
    cfg = config_for_node(cluster, "node-1")
    assert cfg.local_cidr == ip_network("10.244.1.0/24")  # the node's podCIDR, not the cluster's
    assert cfg.nodeport_addresses == (ip_network("192.168.0.2/32"),)
    bridge = config_for_node(cluster, "node-1", detect_local_mode="BridgeInterface", bridge_interface="cbr0")
    assert bridge.local_detector is not None and bridge.local_detector.if_not_local.render() == "! -i cbr0"
    with pytest.raises(KubeProxyError, match="--pod-interface-name-prefix"):
        config_for_node(cluster, "node-1", detect_local_mode="InterfaceNamePrefix")
    none = Cluster(nodes=(node,), pod_cidrs=(ip_network("10.244.0.0/16"),), kube_proxy=KubeProxySpec(cluster_cidrs=()))
    assert config_for_node(none, "node-1").local_detector is None  # clusterCIDR configured empty


def test_nodeport_addresses_golden() -> None:
    """A NodePort service on a host with several addresses, --nodeport-addresses holding two
    of them and loopback (localhost NodePorts, KUBE-FIREWALL); test_restore.py loads it."""
    from overlaynet.kubeproxy import generate

    from .golden import check_golden
    from .proxier_cases import ep, eps, svc

    services = [svc("ns1", "svc1", "172.30.0.41", type="NodePort", node_port=30080)]
    slices = [eps("ns1", "svc1", ep("10.180.0.1"))]
    cfg = ProxierConfig("n1", (NODE,), (ip_network("10.0.0.0/8"),), random_fully=True, interface_ips=INTERFACES,
                        nodeport_addresses=(ip_network("10.0.0.0/24"), ip_network("192.168.0.0/24"),
                                            ip_network("127.0.0.0/8")))
    text = generate(services, slices, cfg)
    check_golden("nodeport_addresses.rules", text)
    assert [line.rsplit(" -d ", 1)[1] for line in text.splitlines() if line.endswith("-j KUBE-NODEPORTS")] == [
        "10.0.0.5 -j KUBE-NODEPORTS", "127.0.0.1 -j KUBE-NODEPORTS", "192.168.0.2 -j KUBE-NODEPORTS"]
