"""Planning a sweep: which source classes, which Service ports, through which addresses."""

from __future__ import annotations

import pytest

from overlaynet.sweep import FlowFilter, plan
from overlaynet.topology import load, load_text

DEMO = load(["topologies/demo.yaml"]).cluster


def test_demo_classes_group_alike_pods_on_alike_nodes() -> None:
    p = plan(DEMO)
    pods = {c.name: c.members for c in p.classes if c.kind == "pod"}
    # node-1 and node-2 share rack-a and their labels; node-3 is alone on rack-b
    backend_a = [k for k in pods if k.startswith("pod default {app=backend") and "@node-1+1" in k]
    assert len(backend_a) == 1
    assert len(pods[backend_a[0]]) == 2  # the two backend pods of rack-a, traced once
    assert sorted(c.source for c in p.classes if c.kind == "node") == ["node-1", "node-3"]
    assert [c.source for c in p.classes if c.kind == "external"] == ["203.0.113.10"]


def test_demo_targets_every_service_port_through_each_address_kind() -> None:
    p = plan(DEMO)
    web = [f for f in p.flows if f.service == "default/web"]
    front = [f for f in p.flows if f.service == "default/frontend"]
    assert {f.kind for f in web} == {"ClusterIP"}
    assert len(web) == 8  # 4 pod classes, the CoreDNS pods' class, 2 node classes... as planned
    nodeports = sorted(f.target for f in front if f.kind == "NodePort")
    assert nodeports == ["192.168.10.11:30080", "192.168.20.13:30080"]
    assert all(f.source == "203.0.113.10" for f in front if f.kind == "NodePort")
    assert len(p.flows) == 50  # with the ports of default/kubernetes and kube-system/kube-dns


def test_filters_by_service_namespace_and_port() -> None:
    assert {f.service for f in plan(DEMO, flow_filter=FlowFilter(services=("web",))).flows} == {"default/web"}
    assert plan(DEMO, flow_filter=FlowFilter(namespaces=("kube-system-nope",))).flows == ()
    by_nodeport = plan(DEMO, flow_filter=FlowFilter(ports=(30080,))).flows
    assert {f.service for f in by_nodeport} == {"default/frontend"}


def test_exact_nodes_makes_every_node_its_own_class() -> None:
    p = plan(DEMO, exact_nodes=True)
    assert sorted(c.source for c in p.classes if c.kind == "node") == ["node-1", "node-2", "node-3"]
    assert len([f for f in p.flows if f.kind == "NodePort"]) == 3


TRAFFIC_LOCAL = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: t}
spec:
  underlay:
    segments: [{name: lan, cidr: 192.168.1.0/24}]
    routers: [{name: gw, interfaces: {lan: 192.168.1.1}}]
  nodes:
    - {name: n1, ip: 192.168.1.11}
    - {name: n2, ip: 192.168.1.12}
    - {name: n3, ip: 192.168.1.13}
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: a, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  internalTrafficPolicy: Local
  externalTrafficPolicy: Local
  selector: {app: a}
  ports: [{port: 80, nodePort: 30001}]
---
apiVersion: v1
kind: Service
metadata: {name: sctp}
spec:
  selector: {app: a}
  ports: [{port: 80, protocol: SCTP}]
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  selector: {app: a}
  ports: [{port: 80}]
"""


def test_local_traffic_policies_are_swept_from_every_node() -> None:
    c = load_text(TRAFFIC_LOCAL).cluster
    p = plan(c)
    local = [f for f in p.flows if f.service == "default/local"]
    assert sorted(f.source for f in local if f.kind == "ClusterIP" and f.source.startswith("n")) == ["n1", "n2", "n3"]
    assert sorted(f.address for f in local if f.kind == "NodePort") == ["192.168.1.11", "192.168.1.12", "192.168.1.13"]
    assert "default/sctp:80: SCTP is not traced (TCP and UDP only)" in p.skipped
    assert "default/headless:80: headless (no virtual IP to sweep)" in p.skipped


def test_a_bad_external_address_is_refused() -> None:
    with pytest.raises(ValueError, match="--external 'nope': expected an IP address"):
        plan(DEMO, externals=("nope",))
