"""checks: cross-object validation; warnings do not fail a load, errors point at the field."""

from __future__ import annotations

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import load_text


def test_policy_selecting_nothing_is_a_warning() -> None:
    text = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
            "spec: {podSelector: {matchLabels: {app: ghost}}}\n")
    (w,) = load_text(text, "p.yaml").warnings
    assert w.severity == "warning" and "matches no pod" in w.message and w.path == "spec.podSelector"


def test_endpoints_without_a_service_warn() -> None:
    text = "apiVersion: v1\nkind: Endpoints\nmetadata: {name: ghost}\nsubsets: [{addresses: [{ip: 10.1.2.3}], ports: [{port: 80}]}]\n"
    (w,) = load_text(text).warnings
    assert "name no Service" in w.message


def test_quota_counts_services_and_nodeports() -> None:
    svc = "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{0}, namespace: t}}\nspec: {{type: NodePort, ports: [{{port: 80}}]}}\n"
    quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: t}\nspec: {hard: {services: '5', services.nodeports: '1'}}\n"
    with pytest.raises(TopologyError) as info:
        load_text(quota + svc.format(1) + svc.format(2), "q.yaml")
    (d,) = info.value.diagnostics
    assert d.path == "spec.hard.services.nodeports" and "expected at most 1 services.nodeports, found 2" in d.message


def test_dns_ip_may_not_be_used_by_another_service() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n"
    with pytest.raises(TopologyError, match="expected a ClusterIP other than the cluster DNS IP 10.96.0.10"):
        load_text(text)
    dump = text.replace("name: s}", "name: kube-dns, namespace: kube-system}")
    assert load_text(dump).cluster.dns_ip is not None


def test_all_errors_reported_together() -> None:
    text = ("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 80}]}\n"
            "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n")
    with pytest.raises(TopologyError) as info:
        load_text(text)
    assert len(info.value.diagnostics) == 2


def test_pods_outside_the_inferred_node_subnet_are_warned_about() -> None:
    # A live dump without node podCIDRs whose pods of one node sit in two /24s (Calico
    # blocks): IPAM can pin no single subnet, so the node gets a free one that holds none
    # of them. validate said OK while flannel refused the file at trace time.
    text = """
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.244.5.3, hostIP: 192.168.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.244.9.70, hostIP: 192.168.0.11}
"""
    result = load_text(text)
    (node,) = result.cluster.nodes
    assert node.pod_cidrs_allocated
    warned = [w for w in result.warnings if "the pod CIDR inferred for node n1" in w.message]
    assert [w.line for w in warned] == [6, 12]
    assert "10.244.5.3 is outside" in warned[0].message
    # one subnet holds them all: pinned, no warning
    one = load_text(text.replace("10.244.9.70", "10.244.5.70"))
    assert one.cluster.nodes[0].pod_cidrs[0].exploded == "10.244.5.0/24" and one.warnings == ()
