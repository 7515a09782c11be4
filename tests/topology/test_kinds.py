"""Readers of each kind: what is read from Service, Endpoints, EndpointSlice, NetworkPolicy,
workloads and our Cluster kind; lenient with live-object noise, strict with misspellings."""

from __future__ import annotations

import ipaddress

import pytest

from overlaynet.errors import TopologyError
from overlaynet.model import IPBlock
from overlaynet.topology import load_text
from overlaynet.topology.system import is_system


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_cluster_kind_every_field() -> None:
    text = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: full}
spec:
  domain: example.local.
  podCIDR: 10.32.0.0/12
  serviceCIDR: 10.0.0.0/16
  serviceNodePortRange: 31000-31999
  dns: {clusterIP: 10.0.0.53, legacyNames: false, pods: verified, upstreams: [1.1.1.1]}
  kubeProxy: {mode: iptables, masqueradeAll: true, clusterCIDR: 10.32.0.0/12, nodePortAddresses: [192.168.10.0/24]}
  network: {driver: calico, options: {mode: ipip, pools: [{cidr: 10.32.0.0/12}]}}
  kv: {backend: etcd, endpoints: ["http://127.0.0.1:2379"], prefix: /overlaynet}
  underlay:
    mtu: 9000
    segments:
      - {name: rack-a, cidr: 192.168.10.0/24}
      - {name: rack-b, cidr: 192.168.20.0/24, mtu: 1500}
    routers:
      - {name: core, interfaces: {rack-a: 192.168.10.1, rack-b: 192.168.20.1}}
  nodes:
    - {name: node-1, ip: 192.168.10.11, labels: {zone: a}, podCIDR: 10.32.1.0/24}
    - {name: node-2, ip: 192.168.20.12, segment: rack-b}
"""
    c = load_text(text).cluster
    assert c.name == "full" and c.domain == "example.local"
    assert c.node_port_range == (31000, 31999)
    assert c.dns.cluster_ip == ip("10.0.0.53") and not c.dns.legacy_names and c.dns.pods == "verified"
    assert c.dns.upstreams == ("1.1.1.1",)
    assert c.kube_proxy.masquerade_all and [str(x) for x in c.kube_proxy.nodeport_addresses] == ["192.168.10.0/24"]
    assert c.network.driver == "calico" and c.network.options["pools"][0]["cidr"] == "10.32.0.0/12"
    hash(c.network.options)  # frozen all the way down
    assert c.kv.backend == "etcd" and c.kv.endpoints == ("http://127.0.0.1:2379",) and c.kv.prefix == "/overlaynet"
    assert [s.mtu for s in c.underlay.segments] == [9000, 1500]
    assert c.node("node-1").pod_cidrs == (ipaddress.ip_network("10.32.1.0/24"),) and not c.node("node-1").pod_cidrs_allocated
    assert c.node("node-2").segment == "rack-b" and c.node("node-1").labels["zone"] == "a"


def test_driver_options_are_not_validated_here_but_the_driver_name_is() -> None:
    base = "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: x}\nspec:\n  network: "
    assert load_text(base + "{driver: weave, options: {anything: [1, 2]}}\n").cluster.network.driver == "weave"
    with pytest.raises(TopologyError, match="expected a driver name such as flannel, found an integer 5"):
        load_text(base + "{driver: 5}\n")


def test_service_fields() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: lb, labels: {tier: edge}}
spec:
  type: LoadBalancer
  selector: {app: web}
  clusterIP: 10.96.0.50
  ports:
    - {name: https, port: 443, targetPort: 8443, protocol: TCP, appProtocol: https}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  externalIPs: [198.51.100.7]
  loadBalancerIP: 198.51.100.8
  loadBalancerSourceRanges: [203.0.113.0/24]
  healthCheckNodePort: 32001
  publishNotReadyAddresses: true
  trafficDistribution: PreferClose
status:
  loadBalancer: {ingress: [{ip: 198.51.100.9}, {hostname: lb.example.com}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: db.example.com}
"""
    c = load_text(text).cluster
    lb = c.service("default", "lb")
    assert lb.cluster_ips == (ip("10.96.0.50"),) and lb.session_affinity_timeout == 600
    assert lb.ports[0].app_protocol == "https" and lb.ports[0].target_port == 8443
    assert lb.external_traffic_policy == "Local" and lb.internal_traffic_policy == "Local"
    assert lb.load_balancer_ips == (ip("198.51.100.8"), ip("198.51.100.9"))
    assert lb.health_check_node_port == 32001 and lb.publish_not_ready_addresses
    assert lb.labels["tier"] == "edge" and lb.external_ips == (ip("198.51.100.7"),)
    db = c.service("default", "db")
    assert db.headless and db.cluster_ips == () and db.ip_families == ("IPv4",)
    ext = c.service("default", "ext")
    assert ext.type == "ExternalName" and ext.external_name == "db.example.com" and ext.cluster_ips == ()
    assert c.slices_for(ext) == ()


def test_headless_service_endpoints_carry_hostnames() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec: {hostname: db-0, subdomain: db, nodeName: n1, containers: [{name: c, image: postgres}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
"""
    c = load_text(text).cluster
    (sl,) = c.slices_for(c.service("default", "db"))
    assert sl.endpoints[0].hostname == "db-0" and sl.endpoints[0].node_name == "n1"


def test_endpoint_slice_object() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-1
  labels: {kubernetes.io/service-name: ext, endpointslice.kubernetes.io/managed-by: staff}
addressType: IPv6
endpoints:
  - addresses: ["2001:db8::10"]
    conditions: {ready: false, terminating: true}
    zone: z1
  - addresses: ["2001:db8::11"]
ports: [{name: http, port: 8080, protocol: TCP}]
"""
    c = load_text(text).cluster
    (sl,) = c.slices_for(c.service("default", "ext"))
    assert sl.address_type == "IPv6" and sl.managed_by == "staff"
    first, second = sl.endpoints
    assert (first.ready, first.serving, first.terminating, first.zone) == (False, False, True, "z1")
    assert (second.ready, second.serving) == (True, True)  # nil conditions read as ready


def test_given_endpoint_slices_win_over_mirrored_endpoints() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets: [{addresses: [{ip: 203.0.113.1}], ports: [{port: 80}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-abcde, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [203.0.113.2]}]
ports: [{port: 80}]
"""
    c = load_text(text).cluster
    assert [str(e.addresses[0]) for sl in c.endpoint_slices for e in sl.endpoints] == ["203.0.113.2"]


def test_network_policy_full_shape_and_defaults() -> None:
    text = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}, matchExpressions: [{key: tier, operator: In, values: [back]}]}
  ingress:
    - from:
        - podSelector: {matchLabels: {app: web}}
          namespaceSelector: {matchLabels: {team: a}}
        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
      ports: [{port: http}, {protocol: UDP, port: 5000, endPort: 5100}]
  egress:
    - to: [{namespaceSelector: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: prod}
spec: {podSelector: {}}
"""
    c = load_text(text).cluster
    api, deny = c.network_policies
    assert api.policy_types == ("Ingress", "Egress") and deny.policy_types == ("Ingress",)
    assert api.pod_selector.matches({"app": "api", "tier": "back"}) and not api.pod_selector.matches({"app": "api"})
    both, block = api.ingress[0].peers
    assert both.pod_selector is not None and both.namespace_selector is not None
    assert block.ip_block == IPBlock(ipaddress.ip_network("10.0.0.0/8"), (ipaddress.ip_network("10.1.0.0/16"),))
    assert [(p.protocol, p.port, p.end_port) for p in api.ingress[0].ports] == [("TCP", "http", None), ("UDP", 5000, 5100)]
    assert api.egress[0].peers[0].namespace_selector is not None and api.egress[0].peers[0].namespace_selector.empty
    assert deny.pod_selector.empty


def test_live_object_noise_is_ignored_but_misspellings_are_not() -> None:
    noisy = """
apiVersion: v1
kind: Pod
metadata: {name: p, uid: abc, resourceVersion: "1", managedFields: [{manager: x}], annotations: {a: b}}
spec: {nodeName: n1, containers: [{name: c, image: i, resources: {limits: {cpu: 1}}}], futureField: {x: 1}}
status: {phase: Running, qosClass: BestEffort, somethingNew: true}
"""
    assert load_text(noisy).cluster.pods[0].name == "p"
    with pytest.raises(TopologyError, match="unknown field 'nodeNmae'; did you mean 'nodeName'"):
        load_text(noisy.replace("nodeName", "nodeNmae"))


def test_workloads() -> None:
    text = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: ns1}
spec:
  replicas: 2
  selector: {matchExpressions: [{key: app, operator: Exists}]}
  template:
    metadata: {labels: {app: x}}
    spec: {containers: [{name: c, image: i, ports: [{containerPort: 53, protocol: UDP, name: dns}]}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  template:
    metadata: {labels: {app: y}}
    spec: {containers: [{name: c, image: i}]}
"""
    c = load_text(text).cluster
    rs, rc = (w for w in c.workloads if not is_system(w))
    assert (rs.kind, rs.replicas, rs.namespace) == ("ReplicaSet", 2, "ns1")
    assert (rc.kind, rc.replicas) == ("ReplicationController", 1) and rc.selector.matches({"app": "y"})
    rs_pods = [p for p in c.pods if p.owner == "ReplicaSet/rs"]
    assert len(rs_pods) == 2 and all(p.port_named("dns", "UDP") == 53 for p in rs_pods)
    assert c.namespace("ns1").labels["kubernetes.io/metadata.name"] == "ns1"


def test_probes_and_pod_fields() -> None:
    text = """
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: a}}
spec:
  nodeName: n1
  hostname: host
  subdomain: sub
  containers:
    - name: c
      image: i
      ports: [{name: http, containerPort: 80, hostPort: 8080}]
      readinessProbe: {httpGet: {path: /ready, port: http}, initialDelaySeconds: 3, periodSeconds: 5}
      livenessProbe: {tcpSocket: {port: 80}}
status: {phase: Pending}
"""
    p = load_text(text).cluster.pods[0]
    assert p.readiness_probe is not None and (p.readiness_probe.kind, p.readiness_probe.port, p.readiness_probe.path) == ("httpGet", "http", "/ready")
    assert p.readiness_probe.initial_delay_seconds == 3 and p.readiness_probe.period_seconds == 5
    assert p.liveness_probe is not None and p.liveness_probe.kind == "tcpSocket"
    assert (p.hostname, p.subdomain, p.phase, p.ready) == ("host", "sub", "Pending", False)
    assert p.ports[0].host_port == 8080


def test_resource_quota_within_limits_and_quantities() -> None:
    text = """
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: t}
spec: {hard: {pods: "5", requests.cpu: "2", limits.memory: 2Gi}}
"""
    (q,) = load_text(text).cluster.resource_quotas
    assert dict(q.hard) == {"pods": "5", "requests.cpu": "2", "limits.memory": "2Gi"}


def test_named_target_ports_resolve_on_sidecars_and_first_container_wins() -> None:
    # FindPort: app containers first, then init containers with restartPolicy Always
    # (native sidecars); a plain init container's ports serve nothing. A port name used in
    # two containers is legal (the API server only warns); the first wins.
    result = load_text("""
apiVersion: v1
kind: Service
metadata: {name: mesh}
spec:
  selector: {app: a}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: proxy, port: 15001, targetPort: proxy}
  - {name: init, port: 9999, targetPort: initp}
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
spec:
  initContainers:
  - {name: setup, ports: [{name: initp, containerPort: 9999}]}
  - name: envoy
    restartPolicy: Always
    ports: [{name: proxy, containerPort: 15001}, {name: http, containerPort: 15080}]
  containers:
  - {name: app, ports: [{name: http, containerPort: 8080}]}
  - {name: side, ports: [{name: http, containerPort: 8081}]}
""")
    c = result.cluster
    (sl,) = c.slices_for(c.service("default", "mesh"))
    assert [(p.name, p.port) for p in sl.ports] == [("http", 8080), ("proxy", 15001)]
    warned = sorted(w.path for w in result.warnings if "duplicate port name 'http'" in w.message)
    assert warned == ["spec.containers[1].ports[0].name", "spec.initContainers[1].ports[1].name"]


def test_a_dump_with_endpoints_and_their_mirrored_slice_counts_each_endpoint_once() -> None:
    # kubectl get svc,ep,endpointslices: the mirroring controller's slice is the mirror of
    # the Endpoints; converting the Endpoints again doubled every endpoint (SRV weight 50).
    text = """
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{name: pg, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-mzl7q
  labels:
    kubernetes.io/service-name: ext
    endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io
addressType: IPv4
endpoints: [{addresses: [192.0.2.10], conditions: {ready: true}}]
ports: [{name: pg, port: 5432, protocol: TCP}]
"""
    c = load_text(text).cluster
    assert [sl.name for sl in c.slices_for(c.service("default", "ext"))] == ["ext-mzl7q"]
    # without the mirrored slice the Endpoints are converted, once
    alone = load_text(text.split("---\napiVersion: discovery.k8s.io/v1")[0]).cluster
    (sl,) = alone.slices_for(alone.service("default", "ext"))
    assert [str(a) for e in sl.endpoints for a in e.addresses] == ["192.0.2.10"]
