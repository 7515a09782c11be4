from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.analysis.reach import ReachAnalyzer, ReachQuery, diff, reach
from overlaynet.model import (
    Cluster,
    ContainerPort,
    FrozenDict,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
from overlaynet.model.netpol import connection_allowed

NAMESPACES = ("ns-a", "ns-b", "ns-c")
APPS = ("web", "api", "db")


def grid_cluster(*policies: NetworkPolicy) -> Cluster:
    pods = []
    for n, ns in enumerate(NAMESPACES):
        for a, app in enumerate(APPS):
            pods.append(
                Pod(f"{app}", ns, FrozenDict({"app": app}), node=f"node-{a}",
                    ips=(ipaddress.ip_address(f"10.244.{n}.{a + 2}"),), ports=(ContainerPort(8080, name="http"),))
            )
    nss = tuple(Namespace(ns, FrozenDict({"kubernetes.io/metadata.name": ns, "team": ns[-1]})) for ns in NAMESPACES)
    return Cluster(namespaces=nss, pods=tuple(pods), network_policies=policies)


def test_default_deny_ingress_in_one_namespace_gives_expected_matrix() -> None:
    deny = NetworkPolicy("default-deny-ingress", "ns-b", LabelSelector(), ("Ingress",))
    m = reach(grid_cluster(deny), ReachQuery(port=8080))
    keys = [p.key for p in m.pods]
    for i, src in enumerate(keys):
        for j, dst in enumerate(keys):
            expected = src == dst or not dst.startswith("ns-b/")
            assert bool(m.allowed[i, j]) == expected, (src, dst)
    assert m.to_dict()["pods"] == keys


def test_incremental_update_equals_full_rebuild() -> None:
    c = grid_cluster()
    an = ReachAnalyzer(c, ReachQuery(port=8080))
    allow = NetworkPolicy(
        "allow-web", "ns-a", LabelSelector(FrozenDict({"app": "db"})), ("Ingress",),
        ingress=(PolicyRule((PolicyPeer(pod_selector=LabelSelector(FrozenDict({"app": "api"}))),), (PolicyPort("TCP", "http"),)),),
    )
    an.replace_policy(None, allow)
    fresh = reach(grid_cluster(allow), ReachQuery(port=8080))
    assert (an.matrix().allowed == fresh.allowed).all()
    changes = diff(reach(c, ReachQuery(port=8080)), fresh)
    assert changes and all(ch.dst == "ns-a/db" and ch.before and not ch.after for ch in changes)
    assert {ch.src for ch in changes} == {p.key for p in c.pods} - {"ns-a/api", "ns-a/db"}


def test_routing_callable_is_asked_per_node_pair() -> None:
    asked: list[tuple[str | None, str | None]] = []

    def route(a: Pod, b: Pod) -> bool:
        asked.append((a.node, b.node))
        return not (a.node == "node-0" and b.node == "node-2")

    m = ReachAnalyzer(grid_cluster(), routing=route).matrix()
    assert len(set(asked)) == len(asked) <= 9
    i = m.index("ns-a/web")  # on node-0
    j = m.index("ns-c/db")  # on node-2
    assert not m.allowed[i, j] and m.allowed[j, i]


selectors = st.sampled_from([LabelSelector(), *(LabelSelector(FrozenDict({"app": a})) for a in APPS)])
ns_selectors = st.sampled_from([LabelSelector(), LabelSelector(FrozenDict({"team": "a"})), LabelSelector(FrozenDict({"team": "c"}))])
peers = st.one_of(
    st.builds(PolicyPeer, pod_selector=selectors),
    st.builds(PolicyPeer, namespace_selector=ns_selectors),
    st.builds(PolicyPeer, pod_selector=selectors, namespace_selector=ns_selectors),
    st.just(PolicyPeer(ip_block=IPBlock(ipaddress.ip_network("10.244.0.0/22"), (ipaddress.ip_network("10.244.1.0/24"),)))),
)
ports = st.lists(st.sampled_from([PolicyPort("TCP", 8080), PolicyPort("TCP", "http"), PolicyPort("TCP", 9000, 9100), PolicyPort("UDP", 53)]), max_size=2)
rules = st.builds(PolicyRule, peers=st.lists(peers, max_size=2).map(tuple), ports=ports.map(tuple))


@st.composite
def policies(draw: st.DrawFn) -> NetworkPolicy:
    types = draw(st.sampled_from([("Ingress",), ("Egress",), ("Ingress", "Egress")]))
    return NetworkPolicy(
        f"p{draw(st.integers(0, 999))}",
        draw(st.sampled_from(NAMESPACES)),
        draw(selectors),
        types,
        ingress=tuple(draw(st.lists(rules, max_size=2))) if "Ingress" in types else (),
        egress=tuple(draw(st.lists(rules, max_size=2))) if "Egress" in types else (),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(policies(), max_size=4, unique_by=lambda p: (p.namespace, p.name)), st.sampled_from([8080, 9050, 53]))
def test_matrix_agrees_with_pairwise_semantics(pols: list[NetworkPolicy], port: int) -> None:
    c = grid_cluster(*pols)
    m = reach(c, ReachQuery(port=port))
    for i, src in enumerate(m.pods):
        for j, dst in enumerate(m.pods):
            if i == j:
                continue
            expected = connection_allowed(c, src, src.ips[0], dst, dst.ips[0], "TCP", port).allowed
            assert bool(m.allowed[i, j]) == expected, (src.key, dst.key)


@settings(max_examples=40, deadline=None)
@given(st.lists(policies(), max_size=4, unique_by=lambda p: (p.namespace, p.name)), policies(), st.sampled_from([8080, 53]))
def test_any_single_policy_change_incremental_equals_rebuild(pols: list[NetworkPolicy], new: NetworkPolicy, port: int) -> None:
    analyzer = ReachAnalyzer(grid_cluster(*pols), ReachQuery(port=port))
    old = next((p for p in pols if p.key == new.key), None)
    analyzer.replace_policy(old, new)
    rest = [p for p in pols if p.key != new.key]
    fresh = reach(grid_cluster(*rest, new), ReachQuery(port=port))
    assert [p.key for p in analyzer.matrix().pods] == [p.key for p in fresh.pods]
    assert (analyzer.matrix().allowed == fresh.allowed).all()


def test_traced_routing_asks_the_tracer() -> None:
    from pathlib import Path

    from overlaynet.network import assemble, traced_routing
    from overlaynet.topology import load_cluster

    topologies = Path(__file__).resolve().parents[2] / "topologies"
    net = assemble(load_cluster([topologies / "calico-native.yaml"]))
    route = traced_routing(net, port=8080)
    a1, a2, b1 = (net.cluster.find_pod(f"default/{n}") for n in ("a1", "a2", "b1"))
    assert a1 is not None and a2 is not None and b1 is not None
    assert route(a1, a2) and not route(a1, b1)  # native routing needs L2 adjacency
    m = reach(net.cluster, ReachQuery(port=8080), route)
    assert m.allowed[m.index("default/a1"), m.index("default/a2")]
    assert not m.allowed[m.index("default/a1"), m.index("default/b1")]
