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
