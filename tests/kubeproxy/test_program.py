"""program_node: the node's netfilter holds exactly kube-proxy's ruleset, merged with others'."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address, ip_network

from overlaynet.dataplane.ir import Address, Interface, NsRef
from overlaynet.dataplane.netfilter import parse_rule, parse_save, render_save
from overlaynet.dataplane.netfilter.rules import ChainRole
from overlaynet.kubeproxy import ProxierConfig, generate_full
from overlaynet.kubeproxy.program import KubeProxyCache, program_node
from overlaynet.model import Cluster, KubeProxySpec, Node

from .proxier_cases import ep, eps, node_dataplane, svc


def _cluster() -> Cluster:
    nodes = (
        Node(name="node-1", ip=ip_address("192.168.0.11"), segment="lan"),
        Node(name="node-2", ip=ip_address("192.168.0.12"), segment="lan"),
    )
    services = (
        svc("default", "web", "10.96.0.20", type="NodePort", node_port=30080),
        svc("default", "local", "10.96.0.21", type="NodePort", node_port=30081, external_traffic_policy="Local"),
    )
    slices = (
        eps("default", "web", ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")),
        eps("default", "local", ep("10.244.1.3", "node-1")),
    )
    return Cluster(
        nodes=nodes,
        services=services,
        endpoint_slices=slices,
        pod_cidrs=(ip_network("10.244.0.0/16"),),
        kube_proxy=KubeProxySpec(),
    )


def test_program_node_equals_full_ruleset() -> None:
    cluster = _cluster()
    dp = node_dataplane(cluster)
    node = cluster.nodes[0]
    program_node(dp, cluster, node)
    cfg = ProxierConfig(node.name, node.ips, cluster.pod_cidrs)
    expected = render_save(parse_save(generate_full(cluster.services, cluster.endpoint_slices, cfg)))
    assert render_save(dp.namespace(NsRef(node.name)).netfilter) == expected
    assert dp.namespace(NsRef(node.name)).sysctls["net.ipv4.conf.all.route_localnet"] == "1"


def test_other_writers_rules_stay_and_jumps_go_first() -> None:
    cluster = _cluster()
    dp = node_dataplane(cluster)
    ruleset = dp.namespace(NsRef("node-1")).netfilter
    cni = parse_rule(["-s", "10.244.0.0/16", "-j", "ACCEPT"])
    ruleset.append("filter", "FORWARD", cni)
    program_node(dp, cluster, cluster.nodes[0])
    forward = ruleset.tables["filter"].chains["FORWARD"].rules
    assert forward[-1] == cni
    assert render_save(ruleset).count("-j KUBE-FORWARD") == 1
    program_node(dp, cluster, cluster.nodes[0])  # a resync changes nothing
    assert ruleset.tables["filter"].chains["FORWARD"].rules == forward


def test_second_node_shares_rules_and_differs_where_local() -> None:
    cluster = _cluster()
    dp = node_dataplane(cluster)
    cache = KubeProxyCache()
    program_node(dp, cluster, cluster.nodes[0], cache=cache)
    program_node(dp, cluster, cluster.nodes[1], cache=cache)
    nat1 = dp.namespace(NsRef("node-1")).netfilter.tables["nat"].chains
    nat2 = dp.namespace(NsRef("node-2")).netfilter.tables["nat"].chains
    svc_chain = next(c for c in nat1 if c.startswith("KUBE-SVC-") and nat1[c].rules and "web" in (nat1[c].rules[0].comment or ""))
    assert all(a is b for a, b in zip(nat1[svc_chain].rules, nat2[svc_chain].rules, strict=True))
    assert any(c.startswith("KUBE-SVL-") for c in nat1)  # node-1 hosts the Local endpoint
    assert not any(c.startswith("KUBE-SVL-") for c in nat2)


def test_resync_removes_stale_service_chains() -> None:
    import dataclasses

    cluster = _cluster()
    dp = node_dataplane(cluster)
    program_node(dp, cluster, cluster.nodes[0])
    smaller = dataclasses.replace(cluster, services=cluster.services[:1], endpoint_slices=cluster.endpoint_slices[:1])
    program_node(dp, smaller, cluster.nodes[0])
    cfg = ProxierConfig("node-1", cluster.nodes[0].ips, cluster.pod_cidrs)
    expected = render_save(parse_save(generate_full(smaller.services, smaller.endpoint_slices, cfg)))
    assert render_save(dp.namespace(NsRef("node-1")).netfilter) == expected


def test_without_a_shared_cache_nodes_build_their_own_rules() -> None:
    cluster = _cluster()
    dp = node_dataplane(cluster)
    program_node(dp, cluster, cluster.nodes[0])
    program_node(dp, cluster, cluster.nodes[1])
    nat1 = dp.namespace(NsRef("node-1")).netfilter.tables["nat"].chains
    nat2 = dp.namespace(NsRef("node-2")).netfilter.tables["nat"].chains
    chain = next(c for c in nat1 if c.startswith("KUBE-SVC-"))
    assert nat1[chain].rules == nat2[chain].rules
    assert not any(a is b for a, b in zip(nat1[chain].rules, nat2[chain].rules, strict=True))


def test_every_chain_kube_proxy_writes_names_its_origin_and_role() -> None:
    cluster = _cluster()
    dp = node_dataplane(cluster)
    program_node(dp, cluster, cluster.nodes[0])
    tables = dp.namespace(NsRef("node-1")).netfilter.tables
    nat, filt = tables["nat"].chains, tables["filter"].chains
    expected = {
        "KUBE-SERVICES": ChainRole.SERVICE_DISPATCH,
        "KUBE-NODEPORTS": ChainRole.NODEPORTS,
        "KUBE-MARK-MASQ": ChainRole.MASQUERADE,
        "KUBE-POSTROUTING": ChainRole.MASQUERADE,
    }
    for name, role in expected.items():
        assert (nat[name].origin, nat[name].role) == ("kube-proxy", role)
    roles = {name[:9]: nat[name].role for name in nat if name.startswith("KUBE-") and name[9:10] != ""}
    assert roles["KUBE-SVC-"] is ChainRole.SERVICE
    assert roles["KUBE-SVL-"] is ChainRole.SERVICE
    assert roles["KUBE-EXT-"] is ChainRole.SERVICE_EXTERNAL
    assert roles["KUBE-SEP-"] is ChainRole.ENDPOINT
    for name in ("KUBE-FORWARD", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL"):
        assert (filt[name].origin, filt[name].role) == ("kube-proxy", ChainRole.FILTER)
    assert filt["KUBE-SERVICES"].role is ChainRole.SERVICE_DISPATCH
    assert nat["PREROUTING"].origin is None  # built-in chains belong to the kernel


def test_programming_parses_no_text(no_text_parsing: None) -> None:
    """kube-proxy builds typed rules: no tokenizer or parser runs while programming."""
    cluster = _cluster()
    dp = node_dataplane(cluster)
    for node in cluster.nodes:
        program_node(dp, cluster, node)
    # every rule, those of the chains built on first use too
    assert "-j DNAT --to-destination 10.244.1.3:80" in render_save(dp.namespace(NsRef("node-1")).netfilter)


def test_programming_leaves_the_garbage_collector_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gc

    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    cluster = _cluster()
    program_node(node_dataplane(cluster), cluster, cluster.nodes[0])
    assert calls == [] and gc.isenabled()


def test_nodeports_answer_on_the_hosts_other_addresses_inside_nodeport_addresses() -> None:
    from ipaddress import IPv4Address

    from overlaynet.dataplane.netfilter import HookContext, NetfilterState, run_hook
    from overlaynet.dataplane.packet import Packet

    cluster = _cluster()
    cluster = dataclasses.replace(cluster, kube_proxy=KubeProxySpec(nodeport_addresses=(ip_network("10.0.0.0/8"),)))
    dp = node_dataplane(cluster)
    ns = dp.namespace(NsRef("node-1"))
    ns.add_interface(Interface("eth1", "phys", addresses=[Address(ip_address("10.0.0.5"), 24)]))
    program_node(dp, cluster, cluster.nodes[0])
    local = frozenset(ns.local_ips())

    def dnat(dst: str) -> bool:
        ctx = HookContext("PREROUTING", "eth1", None, local, lambda _i, _v: IPv4Address("10.0.0.5"),
                          NetfilterState(), namespace="node-1")
        out = run_hook(ns.netfilter, Packet(ip_address("203.0.113.9"), ip_address(dst), "tcp", 40000, 30080), ctx)
        return out[0].packet.dst != ip_address(dst)

    assert dnat("10.0.0.5")  # the second interface's address is inside --nodeport-addresses
    assert not dnat("192.168.0.11")  # the node IP is not
