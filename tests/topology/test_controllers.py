"""controllers: endpoints, IPAM, scheduling and service allocators on hand-built clusters."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.model import (
    Cluster,
    ContainerPort,
    Endpoint,
    EndpointSlice,
    FrozenDict,
    Node,
    Pod,
    Service,
    ServicePort,
)
from overlaynet.topology.controllers import (
    MAX_ENDPOINTS_PER_SLICE,
    allocate_default,
    allocate_service_addresses,
    reconcile_endpoints,
    schedule,
)
from overlaynet.topology.endpoints import ZONE_LABEL


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def web_pod(i: int, **kw: object) -> Pod:
    fields: dict[str, object] = {
        "name": f"web-{i}", "labels": FrozenDict({"app": "web"}), "node": "n1",
        "ips": (ipaddress.ip_address(f"10.244.0.{i + 2}") if i < 250 else ipaddress.ip_address(f"10.244.1.{i - 248}"),),
        "ports": (ContainerPort(8080, "TCP", "http"),),
    }
    fields.update(kw)
    return Pod(**fields)  # type: ignore[arg-type]


SVC = Service("web", selector=FrozenDict({"app": "web"}), ports=(ServicePort(80, name="http", target_port="http"),),
              cluster_ips=(ip("10.96.0.5"),), ip_families=("IPv4",))
NODES = (Node("n1", ip("192.168.0.11"), "default"), Node("n2", ip("192.168.0.12"), "default"))


def test_reconcile_is_pure_and_idempotent() -> None:
    c = Cluster(nodes=NODES, pods=tuple(web_pod(i) for i in range(3)), services=(SVC,))
    once = reconcile_endpoints(c)
    assert c.endpoint_slices == ()
    assert reconcile_endpoints(once) == once
    (sl,) = once.endpoint_slices
    assert sl.name.startswith("web-") and len(sl.name) == len("web-") + 5
    assert [e.target_ref.name for e in sl.endpoints if e.target_ref] == ["web-0", "web-1", "web-2"]
    assert sl.ports[0].port == 8080 and sl.ports[0].name == "http"


def test_moved_pod_ips_are_followed() -> None:
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=(web_pod(0),), services=(SVC,)))
    moved = replace(c, pods=(replace(c.pods[0], ips=(ip("10.244.7.9"),)),))
    assert reconcile_endpoints(moved).endpoint_slices[0].endpoints[0].addresses == (ip("10.244.7.9"),)



def test_reconciling_unchanged_inputs_again_returns_the_cluster_and_changes_are_seen() -> None:
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=(web_pod(0), web_pod(1)), services=(SVC,)))
    same_pods = replace(c, nodes=tuple(replace(n, pod_cidrs=(net("10.244.9.0/24"),)) for n in NODES), pods=tuple(c.pods))
    assert reconcile_endpoints(same_pods) is same_pods  # a driver's IPAM that moved no pod
    not_ready = replace(c, pods=(c.pods[0], replace(c.pods[1], ready=False)))
    assert [e.ready for e in reconcile_endpoints(not_ready).endpoint_slices[0].endpoints] == [True, False]
    zoned = replace(c, nodes=(replace(NODES[0], labels=FrozenDict({ZONE_LABEL: "z1"})), NODES[1]))
    assert reconcile_endpoints(zoned).endpoint_slices[0].endpoints[0].zone == "z1"
    forged = replace(c, endpoint_slices=c.endpoint_slices[:0] + tuple(c.endpoint_slices))
    assert reconcile_endpoints(forged).endpoint_slices == c.endpoint_slices

def test_slices_hold_at_most_100_endpoints() -> None:
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=tuple(web_pod(i) for i in range(230)), services=(SVC,)))
    sizes = [len(s.endpoints) for s in c.endpoint_slices]
    assert sizes == [MAX_ENDPOINTS_PER_SLICE, MAX_ENDPOINTS_PER_SLICE, 30]
    assert len({s.name for s in c.endpoint_slices}) == 3


def test_named_target_ports_resolve_per_pod() -> None:
    other = web_pod(1, ports=(ContainerPort(9090, "TCP", "http"),))
    noport = web_pod(2, ports=())
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=(web_pod(0), other, noport), services=(SVC,)))
    by_port = {tuple(p.port for p in s.ports): [e.target_ref.name for e in s.endpoints if e.target_ref] for s in c.endpoint_slices}
    assert by_port == {(8080,): ["web-0"], (9090,): ["web-1"], (): ["web-2"]}


def test_publish_not_ready_addresses_and_conditions() -> None:
    pods = (web_pod(0, ready=False), web_pod(1, terminating=True), web_pod(2, phase="Succeeded"))
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=pods, services=(SVC,)))
    conds = {e.target_ref.name: (e.ready, e.serving, e.terminating) for s in c.endpoint_slices for e in s.endpoints if e.target_ref}
    assert conds == {"web-0": (False, False, False), "web-1": (False, True, True)}
    pna = replace(SVC, publish_not_ready_addresses=True)
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=pods, services=(pna,)))
    conds = {e.target_ref.name: (e.ready, e.serving, e.terminating) for s in c.endpoint_slices for e in s.endpoints if e.target_ref}
    assert conds == {"web-0": (True, True, False), "web-1": (True, True, True)}


def test_hostname_only_for_the_matching_subdomain_and_zone_from_node() -> None:
    nodes = (replace(NODES[0], labels=FrozenDict({"topology.kubernetes.io/zone": "z1"})),)
    pods = (web_pod(0, hostname="h0", subdomain="web"), web_pod(1, hostname="h1", subdomain="other"))
    c = reconcile_endpoints(Cluster(nodes=nodes, pods=pods, services=(SVC,)))
    eps = {e.target_ref.name: (e.hostname, e.zone) for e in c.endpoint_slices[0].endpoints if e.target_ref}
    assert eps == {"web-0": ("h0", "z1"), "web-1": (None, "z1")}


def test_selector_less_services_keep_given_slices() -> None:
    given = EndpointSlice("ext-abcde", "default", "ext", "IPv4", (Endpoint((ip("203.0.113.10"),)),), managed_by="user")
    ext = Service("ext", ports=(ServicePort(80),), cluster_ips=(ip("10.96.0.9"),))
    stale = EndpointSlice("web-old", "default", "web", "IPv4", (Endpoint((ip("10.9.9.9"),)),))
    c = reconcile_endpoints(Cluster(nodes=NODES, pods=(web_pod(0),), services=(SVC, ext), endpoint_slices=(given, stale)))
    assert given in c.endpoint_slices and stale not in c.endpoint_slices


def test_allocate_default_is_idempotent_and_marks_what_it_chose() -> None:
    nodes = (NODES[0], replace(NODES[1], pod_cidrs=(net("10.244.0.0/24"),)))
    pods = (Pod("a", node="n1"), Pod("b", node="n2"), Pod("c", node="n2", ips=(ip("10.244.0.2"),)))
    c = allocate_default(Cluster(pod_cidrs=(net("10.244.0.0/16"),), nodes=nodes, pods=pods))
    assert c.nodes[0].pod_cidrs == (net("10.244.1.0/24"),) and c.nodes[0].pod_cidrs_allocated
    assert not c.nodes[1].pod_cidrs_allocated
    assert [p.ips for p in c.pods] == [(ip("10.244.1.2"),), (ip("10.244.0.3"),), (ip("10.244.0.2"),)]
    assert [p.allocated for p in c.pods] == [True, True, False]
    assert allocate_default(c) == c


def test_allocate_default_exhaustion() -> None:
    pods = tuple(Pod(f"p{i}", node="n1") for i in range(3))
    with pytest.raises(AddressExhausted, match="no free address left in pod CIDR 10.244.0.0/30 of node n1 for pod default/p1"):
        allocate_default(Cluster(pod_cidrs=(net("10.244.0.0/16"),), nodes=(replace(NODES[0], pod_cidrs=(net("10.244.0.0/30"),)),), pods=pods))


def test_schedule_is_deterministic() -> None:
    pods = tuple(Pod(f"p{i}", owner="ReplicaSet/x") for i in range(4))
    c = Cluster(nodes=NODES, pods=pods)
    assert [p.node for p in schedule(c).pods] == ["n1", "n2", "n1", "n2"]
    assert schedule(schedule(c)) == schedule(c)


def test_service_allocation_is_deterministic_and_idempotent() -> None:
    svc = Service("a", type="NodePort", ports=(ServicePort(80),), ip_families=("IPv4",))
    c = Cluster(service_cidrs=(net("10.96.0.0/28"),), services=(svc, replace(svc, name="b")))
    done = allocate_service_addresses(c)
    # 10.96.0.1 is the apiserver's (default/kubernetes), as kube-apiserver reserves it
    assert [s.cluster_ips for s in done.services] == [(ip("10.96.0.2"),), (ip("10.96.0.3"),)]
    assert [s.ports[0].node_port for s in done.services] == [30000, 30001]
    assert allocate_service_addresses(done) == done


def test_service_cidr_exhaustion() -> None:
    svcs = tuple(Service(f"s{i}", ports=(ServicePort(80),), ip_families=("IPv4",)) for i in range(3))
    with pytest.raises(AddressExhausted, match="no free ClusterIP left in service CIDR 10.96.0.0/30 for service default/s1"):
        allocate_service_addresses(Cluster(service_cidrs=(net("10.96.0.0/30"),), dns=Cluster().dns, services=svcs))


def test_slices_managed_by_another_controller_stay_beside_the_controllers() -> None:
    # The EndpointSlice controller only owns slices labelled managed-by itself; a slice
    # another controller manages keeps serving the service (kube-proxy and CoreDNS read
    # every slice of the service), while a stale controller slice is recomputed.
    from overlaynet.topology import load_text

    text = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  clusterIP: None
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec: {containers: [{name: c}]}
status: {podIP: 10.244.0.7}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-extra
  labels: {kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: staff}
addressType: IPv4
endpoints: [{addresses: [192.0.2.50]}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-old
  labels: {kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints: [{addresses: [10.244.0.99]}]
ports: [{name: http, port: 8080}]
"""
    c = load_text(text).cluster
    slices = c.slices_for(c.service("default", "web"))
    addrs = sorted(str(a) for sl in slices for e in sl.endpoints for a in e.addresses)
    assert addrs == ["10.244.0.7", "192.0.2.50"]
    assert "web-extra" in {sl.name for sl in slices} and "web-old" not in {sl.name for sl in slices}
    again = reconcile_endpoints(c)
    assert sorted(sl.name for sl in again.endpoint_slices) == sorted(sl.name for sl in c.endpoint_slices)


def test_kubernetes_and_kube_dns_services_get_their_reserved_addresses() -> None:
    # kube-apiserver gives default/kubernetes the first service address and kubeadm gives
    # kube-system/kube-dns the cluster DNS IP; they were allocated .3 and .4 instead, so the
    # pods' nameserver (10.96.0.10) was no Service at all.
    from overlaynet.topology import load_text

    text = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {ports: [{name: https, port: 443, targetPort: 6443}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {ports: [{name: dns, port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: other}
spec: {ports: [{port: 443}]}
"""
    c = load_text(text).cluster
    ips = {s.key: [str(i) for i in s.cluster_ips] for s in c.services}
    assert ips == {"default/web": ["10.96.0.2"], "default/kubernetes": ["10.96.0.1"],
                   "kube-system/kube-dns": ["10.96.0.10"], "other/kubernetes": ["10.96.0.3"]}
    assert str(c.dns_ip) == "10.96.0.10"


def test_node_selectors_see_the_kubelets_well_known_node_labels() -> None:
    # The CoreDNS Deployment selects kubernetes.io/os: linux; every kubelet sets it, and
    # kubernetes.io/hostname and kubernetes.io/arch. Nodes of our Cluster kind declare no
    # labels, so such pods were "unschedulable". A node's own label still wins.
    from overlaynet.topology import load_text

    text = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: x}
spec:
  nodes:
  - {name: n1, ip: 192.168.0.11}
  - {name: n2, ip: 192.168.0.12}
  - {name: pi, ip: 192.168.0.13, labels: {kubernetes.io/arch: arm64}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  replicas: 2
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      nodeSelector: {kubernetes.io/os: linux, kubernetes.io/arch: amd64}
      containers: [{name: coredns}]
---
apiVersion: v1
kind: Pod
metadata: {name: pinned}
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers: [{name: c}]
"""
    c = load_text(text).cluster
    assert c.pod("default", "pinned").node == "n2"
    assert sorted(p.node or "" for p in c.pods if p.namespace == "kube-system") == ["n1", "n2"]
    with pytest.raises(TopologyError, match="found none among n1, n2, pi"):
        load_text(text.replace("kubernetes.io/hostname: n2", "kubernetes.io/hostname: n9"))
