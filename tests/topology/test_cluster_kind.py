"""The Cluster kind's kubeProxy section and node addresses: KubeProxyConfiguration's
fields, and bad values reported at their line and column."""

from __future__ import annotations

import ipaddress

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import load_text

HEAD = "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: x}\nspec:\n"
NODES = "  nodes:\n    - {name: node-1, ip: 192.168.10.11, addresses: [10.0.0.5, 192.168.10.11]}\n"


def _kube_proxy(text: str):  # type: ignore[no-untyped-def]
    return load_text(HEAD + f"  kubeProxy: {text}\n" + NODES).cluster


def test_detect_local_modes_and_their_parameters() -> None:
    c = _kube_proxy("{detectLocalMode: BridgeInterface, detectLocal: {bridgeInterface: cbr0}}")
    assert (c.kube_proxy.detect_local_mode, c.kube_proxy.bridge_interface) == ("BridgeInterface", "cbr0")
    c = _kube_proxy("{detectLocalMode: InterfaceNamePrefix, detectLocal: {interfaceNamePrefix: veth}}")
    assert (c.kube_proxy.detect_local_mode, c.kube_proxy.interface_name_prefix) == ("InterfaceNamePrefix", "veth")
    assert _kube_proxy("{detectLocalMode: NodeCIDR}").kube_proxy.detect_local_mode == "NodeCIDR"
    default = load_text(HEAD + NODES).cluster.kube_proxy
    assert (default.detect_local_mode, default.cluster_cidrs) == ("ClusterCIDR", None)  # None: the pod CIDRs


def test_cluster_cidr_configured_empty_means_no_detection() -> None:
    assert _kube_proxy('{clusterCIDR: ""}').kube_proxy.cluster_cidrs == ()
    assert _kube_proxy("{clusterCIDR: []}").kube_proxy.cluster_cidrs == ()
    assert _kube_proxy("{clusterCIDR: 10.0.0.0/8}").kube_proxy.cluster_cidrs == (ipaddress.ip_network("10.0.0.0/8"),)


def test_node_port_addresses_primary() -> None:
    kp = _kube_proxy("{nodePortAddresses: [primary]}").kube_proxy
    assert kp.nodeport_primary and kp.nodeport_addresses == ()


def test_node_addresses_are_the_hosts_other_addresses() -> None:
    node = load_text(HEAD + NODES).cluster.node("node-1")
    assert node.ip == ipaddress.ip_address("192.168.10.11")
    assert node.extra_ips == (ipaddress.ip_address("10.0.0.5"),)  # the node IP is not repeated


@pytest.mark.parametrize(
    ("kube_proxy", "where", "message"),
    [
        ("{detectLocalMode: NodeCidr}", "5:32", "expected one of: ClusterCIDR, NodeCIDR, BridgeInterface, "
                                                "InterfaceNamePrefix, found 'NodeCidr'; did you mean 'NodeCIDR'?"),
        ("{detectLocalMode: BridgeInterface}", "5:32", "detectLocalMode BridgeInterface needs detectLocal.bridgeInterface"),
        ("{detectLocalMode: InterfaceNamePrefix, detectLocal: {bridgeInterface: cbr0}}", "5:32",
         "detectLocalMode InterfaceNamePrefix needs detectLocal.interfaceNamePrefix"),
        ("{detectLocal: {bridge: cbr0}}", "5:29", "bridge"),
        ("{nodePortAddresses: [primary, 10.0.0.0/8]}", "5:35", "(or the word primary)"),
    ],
)
def test_bad_kube_proxy_settings_are_reported_where_they_are(kube_proxy: str, where: str, message: str) -> None:
    with pytest.raises(TopologyError) as info:
        _kube_proxy(kube_proxy)
    text = str(info.value)
    assert f"<string>:{where}" in text and message in text, text


def test_dual_stack_segment_and_its_errors() -> None:
    seg = '  underlay: {segments: [{name: rack, cidr: [192.168.10.0/24, "fd00:1::/64"]}]}\n'
    node = '  nodes: [{name: node-1, ip: 192.168.10.11, addresses: ["fd00:1::11"]}]\n'
    c = load_text(HEAD + seg + node).cluster
    (s,) = c.underlay.segments
    assert (str(s.cidr), tuple(map(str, s.extra_cidrs))) == ("192.168.10.0/24", ("fd00:1::/64",))
    bad = '  underlay: {segments: [{name: rack, cidr: [192.168.10.0/24, 192.168.20.0/24]}]}\n'
    with pytest.raises(TopologyError) as err:
        load_text(HEAD + bad + node)
    assert "expected one segment CIDR or two of different families (dual stack), found 2" in str(err.value)
    assert ":5:" in str(err.value)  # the line of the cidr list
