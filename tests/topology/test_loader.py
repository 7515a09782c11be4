"""loader: files, directories, the example topologies, kubectl List dumps, determinism."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import LoadResult, load, load_cluster, load_text
from overlaynet.topology.system import is_system

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "topologies"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_demo() -> None:
    result = load([TOPOLOGIES / "demo.yaml"])
    assert isinstance(result, LoadResult) and result.warnings == ()
    c = result.cluster
    assert c.name == "demo" and c.network.driver == "flannel" and dict(c.network.options) == {"backend": "vxlan"}
    assert [s.name for s in c.underlay.segments] == ["rack-a", "rack-b"]
    assert dict(c.underlay.routers[0].interfaces) == {"rack-a": ip("192.168.10.1"), "rack-b": ip("192.168.20.1")}
    assert [(n.name, n.segment) for n in c.nodes] == [("node-1", "rack-a"), ("node-2", "rack-a"), ("node-3", "rack-b")]
    rack = {n.name: n.segment for n in c.nodes}
    for app, count in (("frontend", 2), ("backend", 3)):
        pods = [p for p in c.pods if p.labels.get("app") == app]
        assert len(pods) == count
        assert {rack[p.node] for p in pods if p.node} == {"rack-a", "rack-b"}
        assert all(p.owner == f"Deployment/{app}" and p.ready for p in pods)
    web = c.service("default", "web")
    (sl,) = c.slices_for(web)
    assert [p.port for p in sl.ports] == [8080] and len(sl.endpoints) == 3
    frontend = c.service("default", "frontend")
    assert frontend.type == "NodePort" and frontend.ports[0].node_port == 30080
    assert c.dns_ip == ip("10.96.0.10")
    assert all(ip("10.96.0.10") not in s.cluster_ips for s in c.services if s.name != "kube-dns")
    # every object knows where it was written
    assert c.nodes[2].source is not None and c.nodes[2].source.line == 30
    assert all(p.source is not None and p.source.file.endswith("demo.yaml") for p in c.pods if p.namespace != "kube-system")
    # what every cluster has: the apiserver's Service on the first node, kube-dns on CoreDNS
    api = c.service("default", "kubernetes")
    assert api.cluster_ips == (ip("10.96.0.1"),) and api.selector is None
    assert [(e.addresses, sl.ports[0].port) for sl in c.slices_for(api) for e in sl.endpoints] == [((ip("192.168.10.11"),), 6443)]
    dns = c.service("kube-system", "kube-dns")
    assert dns.cluster_ips == (c.dns_ip,)
    coredns = [p for p in c.pods if p.owner == "Deployment/coredns"]
    assert len(coredns) == 2 and all(is_system(p) and p.namespace == "kube-system" for p in coredns)
    assert sorted(a for sl in c.slices_for(dns) for e in sl.endpoints for a in e.addresses) == sorted(p.ip for p in coredns)


def test_demo_names_are_stable() -> None:
    a = load_cluster([TOPOLOGIES / "demo.yaml"])
    b = load_cluster([str(TOPOLOGIES / "demo.yaml")])
    assert a == b
    assert [p.name for p in a.pods] == [p.name for p in b.pods]
    assert a.pods[0].name == "frontend-dtz8lffdhv-blt7m"
    assert [s.name for s in a.endpoint_slices] == [s.name for s in b.endpoint_slices]


def test_node_js() -> None:
    c = load_cluster([TOPOLOGIES / "node-js.yaml"])
    pods = [p for p in c.pods if not is_system(p)]
    assert len(pods) == 3 and all(p.name.startswith("node-js-") and len(p.name) == len("node-js-") + 5 for p in pods)
    svc = c.service("default", "node-js")
    assert svc.type == "LoadBalancer"
    assert svc.ports[0].port == 80 and svc.ports[0].target_port == 8080
    assert svc.ports[0].node_port is not None and 30000 <= svc.ports[0].node_port <= 32767
    assert sorted(a for sl in c.slices_for(svc) for e in sl.endpoints for a in e.addresses) == sorted(p.ip for p in pods)


def test_ab_test() -> None:
    c = load_cluster([TOPOLOGIES / "ab-test.yaml"])
    assert {w.name for w in c.workloads} == {"node-js-scale-a", "node-js-scale-b", "coredns"}
    svc = c.service("default", "node-js-scale")
    assert svc.session_affinity == "ClientIP" and svc.session_affinity_timeout == 10800
    eps = [e for sl in c.slices_for(svc) for e in sl.endpoints]
    assert len(eps) == 4


def test_custom_service() -> None:
    c = load_cluster([TOPOLOGIES / "custom-service.yaml"])
    svc = c.service("default", "custom-service")
    assert svc.selector is None
    (sl,) = c.slices_for(svc)
    assert sl.managed_by == "endpointslicemirroring-controller.k8s.io"
    assert [e.addresses[0] for e in sl.endpoints] == [ip("203.0.113.10"), ip("203.0.113.11")]
    assert [(p.name, p.port) for p in sl.ports] == [("http", 80)]


def test_multitenancy() -> None:
    c = load_cluster([TOPOLOGIES / "multitenancy.yaml"])
    (quota,) = c.resource_quotas
    assert quota.namespace == "test" and quota.hard["pods"] == "3"
    assert c.namespace("test").labels["tenant"] == "test"
    assert len([p for p in c.pods if p.namespace == "test"]) <= 3
    assert c.service("test", "node-js").cluster_ip != c.service("default", "node-js").cluster_ip


@pytest.mark.parametrize("name", sorted(p.name for p in TOPOLOGIES.glob("*.yaml")))
def test_every_example_loads_without_errors(name: str) -> None:
    assert load([TOPOLOGIES / name]).cluster.nodes


def test_kubectl_list_dump() -> None:
    result = load([FIXTURES / "kubectl-list.yaml"])
    c = result.cluster
    # pods in creation order: kube-dns (2024-02-20) before the web pods (2024-03-01), each
    # pair of equal timestamps in file order
    assert [p.name for p in c.pods] == ["kube-dns-5b8c6b8d9f-q8rzt", "web-7d4b9c6f8d-x2x9q", "web-7d4b9c6f8d-mt5lk"]
    assert c.pod_cidrs == (ipaddress.ip_network("10.4.0.0/16"),)
    assert c.service_cidrs == (ipaddress.ip_network("10.8.0.0/16"),)
    assert c.dns_ip == ip("10.8.0.10")  # taken from kube-system/kube-dns
    assert {n.name: str(n.ip) for n in c.nodes} == {"gke-pool-1-a1b2": "10.128.0.12", "gke-pool-1-c3d4": "10.128.0.13"}
    assert c.underlay.segments[0].cidr == ipaddress.ip_network("10.128.0.0/24")
    # pods keep their addresses; node subnets follow them
    assert c.pod("default", "web-7d4b9c6f8d-mt5lk").ips == (ip("10.4.2.9"),)
    assert c.node("gke-pool-1-c3d4").pod_cidrs == (ipaddress.ip_network("10.4.2.0/24"),)
    web = c.service("default", "web")
    assert web.load_balancer_ips == (ip("34.123.45.67"),) and web.ports[0].node_port == 31380
    eps = {str(e.addresses[0]): e.ready for sl in c.slices_for(web) for e in sl.endpoints}
    assert eps == {"10.4.1.17": True, "10.4.2.9": False}
    (k8s,) = c.slices_for(c.service("default", "kubernetes"))
    assert k8s.endpoints[0].addresses == (ip("172.16.0.2"),)
    dns = c.service("kube-system", "kube-dns")
    ports = {(p.protocol, p.port) for sl in c.slices_for(dns) for p in sl.ports}
    assert ports == {("UDP", 53), ("TCP", 53)}
    # creation order from creationTimestamp: kubernetes svc, kube-dns pod+svc, then web
    order = sorted([*c.pods, *c.services], key=lambda o: o.creation_index)
    assert order[0].name == "kubernetes" and order[-1].name.startswith("web-")


def test_directory_loads_every_yaml_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 80}]}\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n")
    (tmp_path / "notes.txt").write_text("not yaml")
    c = load_cluster([tmp_path])
    a, b = (s for s in c.services if not is_system(s))
    assert [a.name, b.name] == ["a", "b"]
    assert a.creation_index < b.creation_index


def test_errors_of_all_files_are_collected(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("apiVersion: v1\nkind: Servise\n")
    (tmp_path / "two.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [], nodeName: Bad_Node}\n")
    with pytest.raises(TopologyError) as info:
        load([tmp_path / "one.yaml", tmp_path / "two.yaml"])
    files = [Path(d.file).name for d in info.value.diagnostics]
    assert files == ["one.yaml", "two.yaml"]
    assert "did you mean 'Service'" in info.value.diagnostics[0].message


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read topology file"):
        load([tmp_path / "nope.yaml"])
    with pytest.raises(TopologyError, match="found none"):
        load([tmp_path])


def test_huge_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overlaynet.topology import loader

    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 100 + "\n")
    with pytest.raises(TopologyError, match="file too large"):
        load([path])


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Pod\nname: caf\xe9\n")
    with pytest.raises(TopologyError, match="expected UTF-8"):
        load([path])


def test_load_text_and_warnings() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
"""
    result = load_text(text, "mem.yaml")
    messages = [w.message for w in result.warnings]
    assert any("matches no pod" in m for m in messages)
    assert any("ConfigMap is not part of the network model" in m for m in messages)
    assert all(w.severity == "warning" and w.file == "mem.yaml" for w in result.warnings)
    # a selector that matches nothing still gets its (empty) slice
    (sl,) = (s for s in result.cluster.endpoint_slices if not is_system(s))
    assert sl.service == "lonely" and sl.endpoints == ()


def test_calico_kinds_are_kept_raw() -> None:
    text = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec: {selector: all(), types: [Ingress]}
"""
    c = load_text(text).cluster
    ((kind, body, source),) = c.extra["calico"]
    assert kind == "GlobalNetworkPolicy" and body["spec"]["selector"] == "all()" and source.line == 2


def test_no_nodes_gives_one_default_node() -> None:
    c = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n").cluster
    assert [(n.name, str(n.ip), n.segment) for n in c.nodes] == [("node-1", "192.168.0.11", "default")]
    assert c.pods[0].node == "node-1" and str(c.pods[0].ip) == "10.244.0.2"


def test_empty_topology_is_an_empty_cluster() -> None:
    c = load_text("# nothing here\n").cluster
    assert c.nodes == () and c.pods == () and c.pod_cidrs


def test_creation_order_compares_instants_not_strings() -> None:
    # 02:00+02:00 is 00:00Z: the service existed an hour before the pod (01:00Z), although
    # its text sorts after the pod's. Timestamps are kept in UTC.
    c = load_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, creationTimestamp: 2024-01-01T01:00:00Z}\n"
        "spec: {containers: [{name: c}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: t, creationTimestamp: '2024-01-01T02:00:00+02:00'}\n"
        "spec: {ports: [{port: 80}]}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, creationTimestamp: '2024-01-01T05:00:00.250Z'}\n"
        "spec: {ports: [{port: 80}]}\n"
    ).cluster
    assert c.service("default", "t").creation_timestamp == "2024-01-01T00:00:00Z"
    assert c.service("default", "s").creation_timestamp == "2024-01-01T05:00:00.25Z"
    assert c.service("default", "t").creation_index < c.pod("default", "p").creation_index
    assert c.pod("default", "p").creation_index < c.service("default", "s").creation_index


def test_a_dump_with_custom_resources_loads_with_one_warning_per_kind() -> None:
    """A cert-manager Certificate in a live dump failed the load ('unknown kind')."""
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        f"  - {{apiVersion: {api}, kind: {kind}, metadata: {{name: {name}}}}}\n"
        for api, kind, name in [
            ("cert-manager.io/v1", "Certificate", "a"), ("cert-manager.io/v1", "Certificate", "b"),
            ("gateway.networking.k8s.io/v1", "Gateway", "g"), ("v1", "ConfigMap", "c"), ("v1", "ConfigMap", "d"),
        ]
    )
    result = load_text(text, "dump.yaml")
    assert [(w.line, w.message) for w in result.warnings] == [
        (4, "kind Certificate of API group cert-manager.io is not part of the network model; skipped (every Certificate of the files)"),
        (6, "kind Gateway of API group gateway.networking.k8s.io is not part of the network model; skipped (every Gateway of the files)"),
        (7, "kind ConfigMap is not part of the network model; ignored (every ConfigMap of the files)"),
    ]


def test_an_unknown_kind_of_a_builtin_group_stays_an_error() -> None:
    with pytest.raises(TopologyError, match="unknown kind 'Deploymnet'; did you mean 'Deployment'"):
        load_text("apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n")
