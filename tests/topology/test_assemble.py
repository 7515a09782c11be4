"""assemble: defaults, inferred ranges and segments, dual-stack, scheduling, service addresses."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import load_text
from overlaynet.topology.system import is_system

CLUSTER = "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: t}\nspec:\n"


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def pod(name: str, node: str | None = None, ips: tuple[str, ...] = (), labels: str = "{app: web}", extra: str = "") -> str:
    spec = f"nodeName: {node}, " if node else ""
    status = ""
    if ips:
        status = "status: {podIPs: [" + ", ".join(f"{{ip: '{i}'}}" for i in ips) + "]}\n"
    return (f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {labels}}}\n"
            f"spec: {{{spec}containers: [{{name: c, image: i, ports: [{{name: http, containerPort: 8080}}]}}]{extra}}}\n{status}")


def test_defaults() -> None:
    c = load_text(CLUSTER + "  nodes: [{name: n1, ip: 192.168.0.11}]\n").cluster
    assert c.domain == "cluster.local"
    assert c.pod_cidrs == (net("10.244.0.0/16"),) and c.service_cidrs == (net("10.96.0.0/12"),)
    assert c.dns_ip == ip("10.96.0.10") and c.node_port_range == (30000, 32767)
    assert c.underlay.mtu == 1500 and [s.cidr for s in c.underlay.segments] == [net("192.168.0.0/24")]
    assert c.kv.backend == "memory" and c.kube_proxy.mode == "iptables"
    assert c.nodes[0].pod_cidrs == (net("10.244.0.0/24"),) and c.nodes[0].pod_cidrs_allocated


def test_segment_inferred_from_node_ips_and_routers_for_far_apart_nodes() -> None:
    text = "".join(
        f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: n{i}}}\nstatus: {{addresses: [{{type: InternalIP, address: {a}}}]}}\n"
        for i, a in enumerate(["10.0.1.5", "10.0.2.5"])
    )
    c = load_text(text).cluster
    assert [s.cidr for s in c.underlay.segments] == [net("10.0.0.0/22")]
    far = text.replace("10.0.2.5", "172.31.0.5")
    c = load_text(far).cluster
    assert [s.cidr for s in c.underlay.segments] == [net("10.0.1.0/24"), net("172.31.0.0/24")]
    (router,) = c.underlay.routers
    assert set(router.interfaces) == {s.name for s in c.underlay.segments}


def test_ranges_are_inferred_from_addresses_outside_the_defaults() -> None:
    text = pod("a", "n1", ("100.64.3.7",)) + (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 172.20.5.1, ports: [{port: 80}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: t}\nspec: {ports: [{port: 80}]}\n"
    )
    c = load_text(text).cluster
    assert c.pod_cidrs == (net("100.64.0.0/16"),)
    assert c.service_cidrs == (net("172.20.0.0/16"),)
    assert c.service("default", "t").cluster_ips[0] in net("172.20.0.0/16")
    assert c.pod("default", "a").ips == (ip("100.64.3.7"),)


def test_dual_stack() -> None:
    text = CLUSTER + (
        "  podCIDR: [10.244.0.0/16, 'fd00:10:244::/56']\n"
        "  serviceCIDR: [10.96.0.0/12, 'fd00:10:96::/112']\n"
        "  nodes: [{name: n1, ip: 192.168.0.11}, {name: n2, ip: 192.168.0.12, podCIDRs: [10.244.9.0/24, 'fd00:10:244:9::/64']}]\n"
    ) + pod("a") + pod("b", "n2", ("10.244.9.20", "fd00:10:244:9::20")) + (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {ipFamilyPolicy: PreferDualStack, selector: {app: web}, ports: [{port: 80, targetPort: http}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: v6}\n"
        "spec: {ipFamilies: [IPv6], selector: {app: web}, ports: [{port: 80}]}\n"
    )
    c = load_text(text).cluster
    n1 = c.node("n1")
    assert [p.prefixlen for p in n1.pod_cidrs] == [24, 64]
    a = c.pod("default", "a")
    assert [x.version for x in a.ips] == [4, 6]
    assert a.ips[0] in n1.pod_cidrs[0] and a.ips[1] in n1.pod_cidrs[1]
    web = c.service("default", "web")
    assert web.ip_families == ("IPv4", "IPv6") and [x.version for x in web.cluster_ips] == [4, 6]
    fams = sorted(s.address_type for s in c.slices_for(web))
    assert fams == ["IPv4", "IPv6"]
    assert all(len(s.endpoints) == 2 for s in c.slices_for(web))
    v6 = c.service("default", "v6")
    assert v6.cluster_ips[0].version == 6 and [s.address_type for s in c.slices_for(v6)] == ["IPv6"]


def test_scheduler_spreads_and_respects_node_selector() -> None:
    text = CLUSTER + (
        "  nodes: [{name: n1, ip: 192.168.0.11, labels: {disk: ssd}}, {name: n2, ip: 192.168.0.12}, {name: n3, ip: 192.168.0.13}]\n"
    ) + pod("a") + pod("b") + pod("c") + pod("db", labels="{app: db}", extra=", nodeSelector: {disk: ssd}")
    c = load_text(text).cluster
    assert [p.node for p in c.pods[:3]] == ["n1", "n2", "n3"]
    assert c.pod("default", "db").node == "n1"


def test_cluster_ip_allocation_skips_dns_and_taken_addresses() -> None:
    svcs = "".join(
        f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec: {{{cip}ports: [{{port: 80}}]}}\n"
        for i, cip in enumerate(["", "clusterIP: 10.96.0.2, ", "", "clusterIP: None, "])
    )
    c = load_text(CLUSTER + "  dns: {clusterIP: 10.96.0.5}\n" + svcs).cluster
    # default/kubernetes holds the first address, kube-system/kube-dns the DNS IP
    assert [(s.name, s.cluster_ips) for s in c.services] == [
        ("kubernetes", (ip("10.96.0.1"),)), ("kube-dns", (ip("10.96.0.5"),)),
        ("s0", (ip("10.96.0.3"),)), ("s1", (ip("10.96.0.2"),)), ("s2", (ip("10.96.0.4"),)), ("s3", ()),
    ]
    assert c.services[5].headless


def test_node_ports_and_health_check_port() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
        "spec: {type: NodePort, ports: [{name: x, port: 80}, {name: y, port: 81, nodePort: 30000}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: lb}\n"
        "spec: {type: LoadBalancer, externalTrafficPolicy: Local, ports: [{port: 443}]}\n"
    )
    c = load_text(text).cluster
    a, lb = (s for s in c.services if not is_system(s))
    assert [p.node_port for p in a.ports] == [30001, 30000]
    assert lb.ports[0].node_port == 30002 and lb.health_check_node_port == 30003


def test_host_network_pod_uses_node_address() -> None:
    c = load_text(CLUSTER + "  nodes: [{name: n1, ip: 192.168.0.11}]\n" + pod("h", "n1", extra=", hostNetwork: true")).cluster
    p = c.pod("default", "h")
    assert p.ips == (ip("192.168.0.11"),) and p.host_network and not p.allocated


def test_pod_address_exhaustion_is_a_clear_error() -> None:
    text = CLUSTER + "  podCIDR: 10.244.0.0/30\n  nodes: [{name: n1, ip: 192.168.0.11}]\n" + pod("a") + pod("b")
    with pytest.raises(TopologyError, match="no free address left in pod CIDR 10.244.0.0/30"):
        load_text(text)


def test_node_cidr_exhaustion_is_a_clear_error() -> None:
    text = CLUSTER + "  podCIDR: 10.244.0.0/24\n  nodes: [{name: n1, ip: 192.168.0.11}, {name: n2, ip: 192.168.0.12}]\n"
    with pytest.raises(TopologyError, match="no free /24 left in pod CIDR 10.244.0.0/24 for node n2"):
        load_text(text)


def test_creation_index_shares_one_counter() -> None:
    text = pod("first", "n1") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n" + pod("second", "n1")
    c = load_text(text).cluster
    assert [c.pod("default", "first").creation_index, c.service("default", "s").creation_index,
            c.pod("default", "second").creation_index] == [2, 3, 4]  # kubernetes and kube-dns came first


def test_workload_pods_are_not_generated_again_for_a_live_dump() -> None:
    text = (
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-abc}\n"
        "spec: {replicas: 1, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-abc-xyz12, labels: {app: web}, ownerReferences: [{kind: ReplicaSet, name: web-abc}]}\n"
        "spec: {nodeName: n1, containers: [{name: c, image: i}]}\n"
    )
    c = load_text(text).cluster
    assert [p.name for p in c.pods if not is_system(p)] == ["web-abc-xyz12"]
    assert [w.name for w in c.workloads if not is_system(w)] == ["web-abc"]


def test_terminating_and_not_ready_pods() -> None:
    text = pod("a", "n1", ("10.244.0.5",)) + (
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, labels: {app: web}, deletionTimestamp: '2024-01-01T00:00:00Z'}\n"
        "spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}\n"
        "status: {podIP: 10.244.0.6, conditions: [{type: Ready, status: 'True'}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, labels: {app: web}}\n"
        "spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}\n"
        "status: {podIP: 10.244.0.7, conditions: [{type: Ready, status: 'False'}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}\n"
    )
    c = load_text(text).cluster
    eps = {str(e.addresses[0]): (e.ready, e.serving, e.terminating) for s in c.endpoint_slices if s.service == "web" for e in s.endpoints}
    assert eps == {"10.244.0.5": (True, True, False), "10.244.0.6": (False, True, True), "10.244.0.7": (False, False, False)}


def test_deployment_of_a_dump_without_its_replica_set_makes_no_pods() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec: {replicas: 1, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-7d4b9c6f8d-abcde, labels: {app: web, pod-template-hash: 7d4b9c6f8d},"
        " ownerReferences: [{kind: ReplicaSet, name: web-7d4b9c6f8d}]}\n"
        "spec: {nodeName: n1, containers: [{name: c, image: i}]}\n"
    )
    c = load_text(text).cluster
    assert [p.name for p in c.pods if not is_system(p)] == ["web-7d4b9c6f8d-abcde"]


def test_every_namespace_an_object_names_exists() -> None:
    # a namespace holding only a NetworkPolicy, a Deployment with 0 replicas, a quota or
    # an EndpointSlice still exists (DNS answers NODATA, not NXDOMAIN, below it)
    from overlaynet.topology import load_text

    text = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: polns}
spec: {podSelector: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: depns}
spec: {replicas: 0, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: quotans}
spec: {hard: {pods: "2"}}
---
apiVersion: v1
kind: Endpoints
metadata: {name: e, namespace: epns}
subsets: [{addresses: [{ip: 192.0.2.1}], ports: [{port: 80}]}]
"""
    c = load_text(text).cluster
    assert {n.name for n in c.namespaces} == {"default", "kube-system", "polns", "depns", "quotans", "epns"}
    assert dict(next(n for n in c.namespaces if n.name == "polns").labels) == {"kubernetes.io/metadata.name": "polns"}


def test_a_nodes_explicit_pod_cidrs_are_kept_in_a_dual_stack_cluster() -> None:
    """Before, a node given only an IPv4 podCIDR got an IPv6 /64 forced on it."""
    text = CLUSTER + (
        "  podCIDR: [10.244.0.0/16, 'fd00:10:244::/56']\n  serviceCIDR: [10.96.0.0/12, 'fd00:10:96::/112']\n"
        "  nodes: [{name: n1, ip: 192.168.0.11, podCIDR: 10.244.7.0/24}, {name: n2, ip: 192.168.0.12}]\n"
    ) + pod("a", "n1") + pod("b", "n2")
    c = load_text(text).cluster
    n1, n2 = c.node("n1"), c.node("n2")
    assert n1.pod_cidrs == (net("10.244.7.0/24"),) and not n1.pod_cidrs_allocated
    assert [x.version for x in n2.pod_cidrs] == [4, 6] and n2.pod_cidrs_allocated
    assert [i.version for i in c.pod("default", "a").ips] == [4]
    assert [i.version for i in c.pod("default", "b").ips] == [4, 6]


@pytest.mark.parametrize("name", ['""', "''"])
def test_an_empty_port_name_on_a_single_port_is_no_name(name: str) -> None:
    c = load_text(f"apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {{ports: [{{name: {name}, port: 80}}]}}\n").cluster
    assert c.service("default", "web").ports[0].name is None


def test_an_empty_port_name_on_a_multi_port_service_is_a_missing_name() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{name: '', port: 80}, {name: b, port: 81}]\n"
    with pytest.raises(TopologyError, match=r"<string>:5:11: spec.ports\[0\].name: expected a 'name' on every port of a multi-port service"):
        load_text(text)


STS = Path(__file__).parent / "fixtures" / "statefulset-daemonset.yaml"


def test_statefulset_pods_have_ordinal_names_and_dns_under_the_governing_service() -> None:
    """StatefulSets and DaemonSets were skipped as 'not part of the network model'."""
    from overlaynet.dns.resolver import Resolver
    from overlaynet.topology import load_cluster

    c = load_cluster([STS])
    db = [p for p in c.pods if p.owner == "StatefulSet/db"]
    assert [p.name for p in db] == ["db-0", "db-1", "db-2"]
    assert all(p.hostname == p.name and p.subdomain == "db" for p in db)
    assert all(p.labels["statefulset.kubernetes.io/pod-name"] == p.name for p in db)
    (sl,) = c.slices_for(c.service("default", "db"))
    assert sorted(e.hostname or "" for e in sl.endpoints) == ["db-0", "db-1", "db-2"]
    answer = Resolver(c).answer("db-1.db.default.svc.cluster.local", "A")
    assert [r.rdata().to_text() for r in answer.answer] == [str(c.pod("default", "db-1").ip)]


def test_daemonset_runs_one_pod_on_every_fitting_node() -> None:
    from overlaynet.topology import load_cluster

    c = load_cluster([STS])
    agent = [p for p in c.pods if p.owner == "DaemonSet/agent"]
    assert [(p.namespace, p.node) for p in agent] == [("kube-system", "node-1")]  # nodeSelector disk: ssd
    everywhere = sorted((p.node, p.name) for p in c.pods if p.owner == "DaemonSet/everywhere")
    assert [n for n, _ in everywhere] == ["node-1", "node-2"]
    assert all(name.startswith("everywhere-") and len(name) == len("everywhere-") + 5 for _, name in everywhere)
    assert load_cluster([STS]).pods == c.pods  # stable names


def test_a_dumps_statefulset_and_daemonset_pods_are_not_made_again() -> None:
    text = (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n"
        "spec: {serviceName: db, replicas: 2, selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c}]}}}\n"
        "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\n"
        "spec: {selector: {matchLabels: {app: ds}}, template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: c}]}}}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: db-0, labels: {app: db}, ownerReferences: [{kind: StatefulSet, name: db}]}\n"
        "spec: {nodeName: n1, hostname: db-0, subdomain: db, containers: [{name: c}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ds-abcde, labels: {app: ds}, ownerReferences: [{kind: DaemonSet, name: ds}]}\n"
        "spec: {nodeName: n1, containers: [{name: c}]}\n"
    )
    c = load_text(text).cluster
    assert sorted(p.name for p in c.pods if not is_system(p)) == ["db-0", "db-1", "ds-abcde"]  # db-1 was missing


def test_a_daemonset_takes_no_replicas() -> None:
    text = ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\n"
            "spec:\n  replicas: 2\n  selector: {matchLabels: {app: ds}}\n  template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: c}]}}\n")
    with pytest.raises(TopologyError, match="<string>:5:3: spec.replicas: unknown field 'replicas' for a DaemonSet"):
        load_text(text)
