"""Policy as ACLs, end to end: traces name the deciding policy and rule, and the all-pairs
matrix agrees with a trace of every pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overlaynet.analysis.reach import ReachQuery, reach
from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster

HERE = Path(__file__).resolve().parent
TOPOLOGIES = HERE.parents[2] / "topologies"


@pytest.fixture(scope="module")
def policy_net() -> Any:
    return assemble(load_cluster([TOPOLOGIES / "calico-policy.yaml"]))


def _comments(report: Any) -> list[str]:
    return [
        s.comment or s.text
        for h in report.forward.trace.hops
        for s in h.steps
        if s.kind in ("netfilter", "policy", "drop") and (getattr(s, "comment", None) or getattr(s, "text", None))
    ]


def test_denied_trace_names_the_policies_that_select_the_pod(policy_net: Any) -> None:
    report = run(policy_net, TraceRequest("qa/frontend", "prod/api", port=8080))
    t = report.forward.trace
    assert t.disposition.value == "DENIED"
    assert "no policy allows it (prod/allow-frontend-to-api, prod/default-deny-ingress selects prod/api) ingress" in t.reason


def test_allowed_trace_names_the_rule_that_allowed_it(policy_net: Any) -> None:
    report = run(policy_net, TraceRequest("prod/frontend", "prod/api", port=8080))
    assert report.forward.trace.disposition.value == "DELIVERED"
    assert any("policy prod/allow-frontend-to-api ingress rule 1: Allow" in c for c in _comments(report))


def test_egress_ipblock_except_denies_at_the_source_node(policy_net: Any) -> None:
    report = run(policy_net, TraceRequest("qa/frontend", "staging/db", port=8080))
    t = report.forward.trace
    assert t.disposition.value == "DENIED" and "qa/egress-ipblock" in t.reason and "egress" in t.reason
    assert t.hops[-1].host == "node-1"  # dropped before it leaves qa/frontend's node


def test_reach_matrix_agrees_with_a_trace_of_every_pair(policy_net: Any) -> None:
    m = reach(policy_net.cluster, ReachQuery(port=8080))
    for i, src in enumerate(m.pods):
        for j, dst in enumerate(m.pods):
            if i == j:
                continue
            delivered = run(policy_net, TraceRequest(src.key, dst.key, port=8080)).forward.success
            assert delivered == bool(m.allowed[i, j]), (src.key, dst.key)


def test_calico_v3_global_policy_order_allow_then_deny() -> None:
    net = assemble(load_cluster([HERE / "data" / "v3-policy.yaml"]))
    ok = run(net, TraceRequest("default/client", "default/web", port=80))
    assert ok.forward.success
    assert any("GlobalNetworkPolicy deny-untrusted ingress rule 1: Allow" in c for c in _comments(ok))
    denied = run(net, TraceRequest("default/other", "default/web", port=80)).forward.trace
    assert denied.disposition.value == "DENIED" and "ingress rule 2: Deny" in denied.reason
    wrong_port = run(net, TraceRequest("default/client", "default/web", port=8080)).forward.trace
    assert wrong_port.disposition.value == "DENIED"


def test_reach_with_calico_v3_policies_agrees_with_traces() -> None:
    net = assemble(load_cluster([HERE / "data" / "v3-policy.yaml"]))
    m = reach(net.cluster, ReachQuery(port=80), policies="calico")
    for i, src in enumerate(m.pods):
        for j, dst in enumerate(m.pods):
            if i != j:
                delivered = run(net, TraceRequest(src.key, dst.key, port=80)).forward.success
                assert delivered == bool(m.allowed[i, j]), (src.key, dst.key)
    k8s_only = reach(net.cluster, ReachQuery(port=80))  # ignores the GlobalNetworkPolicy
    assert (k8s_only.allowed != m.allowed).any()


def test_reach_without_a_port_means_some_port_passes_both_directions() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "calico-policy.yaml"]))
    m = reach(net.cluster, ReachQuery(), policies="calico")  # no --port
    k = reach(net.cluster, ReachQuery())  # the Kubernetes evaluation agrees here
    api = m.index("prod/api")
    assert m.allowed[m.index("prod/frontend"), api]  # allowed on the named port http (8080)
    assert not m.allowed[m.index("qa/frontend"), api]
    assert (m.allowed == k.allowed).all()
