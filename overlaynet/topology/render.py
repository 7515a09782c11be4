"""``render(cluster)``: a model back to topology YAML, the inverse of ``load_text``.

One ``overlaynet/v1 Cluster`` document, then Kubernetes Namespaces, Nodes (only for extra
addresses), workloads, Pods (plain, with ``status.podIP`` and ``spec.nodeName``), Services,
EndpointSlices of selector-less services, NetworkPolicies, ResourceQuotas and raw Calico
documents. Everything is written explicitly, so loading the text gives the same model back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from overlaynet.model import (
    Cluster,
    EndpointSlice,
    Hook,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Node,
    Pod,
    PolicyPeer,
    PolicyRule,
    Probe,
    ResourceQuota,
    Service,
    Workload,
)
from overlaynet.topology.docker_kinds import render_docker
from overlaynet.topology.system import is_system

__all__ = ["render"]

PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
DELETION_TIMESTAMP = "1970-01-01T00:00:00Z"  # any value marks a pod terminating
MIRRORING = "endpointslicemirroring-controller.k8s.io"


def render(cluster: Cluster) -> str:
    """Render ``cluster`` as multi-document YAML in our topology format.

    EndpointSlices of services with a selector are left out: the loader's endpoints
    controller makes them again from the pods. Pods the default IPAM addressed
    (``allocated``) and nodes whose pod CIDR it chose are written without those addresses,
    so loading allocates them again the same way.
    """
    selected = {(s.namespace, s.name) for s in cluster.services if s.selector is not None and s.type != "ExternalName"}
    docs: list[Any] = [_cluster(cluster)]  # mappings, and one array of docker network inspect
    docs += [_namespace(n) for n in cluster.namespaces]
    docs += [_node_object(n) for n in cluster.nodes if n.extra_ips]
    docs += [_workload(w) for w in cluster.workloads if not is_system(w)]
    # Pods and Services share the creation counter: interleave them in creation order. What
    # every cluster has (kubernetes, kube-dns, CoreDNS) is left out: loading adds it again.
    made: list[Pod | Service] = sorted([*cluster.pods, *cluster.services], key=lambda o: o.creation_index)
    containers, inspected = render_docker(cluster.extra.get("docker", ()), cluster.pods)
    docs += [(containers.get(o.key) or _pod(o)) if isinstance(o, Pod) else _service(o) for o in made if not is_system(o)]
    docs += [_slice(s) for s in cluster.endpoint_slices if (s.namespace, s.service) not in selected and not is_system(s)]
    docs += [_policy(p) for p in cluster.network_policies]
    docs += [_quota(q) for q in cluster.resource_quotas]
    # Calico's own kinds are kept raw as (kind, document, source) for the Calico driver.
    docs += [_plain(entry[1]) for entry in cluster.extra.get("calico", ())]
    if inspected:  # networks pasted from `docker network inspect`, as it prints them
        docs.append(inspected)
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, allow_unicode=True)


# --- helpers -----------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """FrozenDict/tuple (as the model stores driver options) → dict/list for YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _strs(items: Any) -> list[str]:
    return [str(i) for i in items]


def _meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
          timestamp: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if timestamp:
        meta["creationTimestamp"] = timestamp
    return meta


def _selector(sel: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if sel.match_labels:
        out["matchLabels"] = dict(sel.match_labels)
    if sel.match_expressions:
        out["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
            for r in sel.match_expressions
        ]
    return out


# --- the Cluster document ----------------------------------------------------------------
def _cluster(c: Cluster) -> dict[str, Any]:
    dns: dict[str, Any] = {"legacyNames": c.dns.legacy_names, "pods": c.dns.pods}
    if c.dns.cluster_ip is not None:
        dns["clusterIP"] = str(c.dns.cluster_ip)
    if c.dns.upstreams:
        dns["upstreams"] = list(c.dns.upstreams)
    kp: dict[str, Any] = {"mode": c.kube_proxy.mode, "masqueradeAll": c.kube_proxy.masquerade_all}
    if c.kube_proxy.cluster_cidrs is not None:
        kp["clusterCIDR"] = _strs(c.kube_proxy.cluster_cidrs)
    if c.kube_proxy.nodeport_addresses:
        kp["nodePortAddresses"] = _strs(c.kube_proxy.nodeport_addresses)
    if c.kube_proxy.nodeport_primary:
        kp["nodePortAddresses"] = ["primary"]
    if c.kube_proxy.detect_local_mode != "ClusterCIDR":
        kp["detectLocalMode"] = c.kube_proxy.detect_local_mode
    detect = {k: v for k, v in (("bridgeInterface", c.kube_proxy.bridge_interface),
                                ("interfaceNamePrefix", c.kube_proxy.interface_name_prefix)) if v}
    if detect:
        kp["detectLocal"] = detect
    kv: dict[str, Any] = {"backend": c.kv.backend}
    if c.kv.endpoints:
        kv["endpoints"] = list(c.kv.endpoints)
    if c.kv.prefix:
        kv["prefix"] = c.kv.prefix
    spec: dict[str, Any] = {"domain": c.domain}
    if c.pod_cidrs:
        spec["podCIDR"] = _strs(c.pod_cidrs)
    if c.service_cidrs:
        spec["serviceCIDR"] = _strs(c.service_cidrs)
    spec["serviceNodePortRange"] = f"{c.node_port_range[0]}-{c.node_port_range[1]}"
    spec["dns"] = dns
    spec["kubeProxy"] = kp
    spec["network"] = {"driver": c.network.driver, "options": _plain(c.network.options)}
    spec["kv"] = kv
    spec["underlay"] = {
        "mtu": c.underlay.mtu,
        "segments": [{"name": s.name, "cidr": str(s.cidr) if not s.extra_cidrs else [str(x) for x in s.cidrs], "mtu": s.mtu} for s in c.underlay.segments],
        "routers": [{"name": r.name, "interfaces": {k: str(v) for k, v in r.interfaces.items()}}
                    for r in c.underlay.routers],
    }
    spec["nodes"] = [_node_entry(n) for n in c.nodes]
    return {"apiVersion": "overlaynet/v1", "kind": "Cluster", "metadata": {"name": c.name}, "spec": spec}


def _node_entry(n: Node) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": n.name, "ip": str(n.ip), "segment": n.segment}
    if n.labels:
        entry["labels"] = dict(n.labels)
    if n.pod_cidrs and not n.pod_cidrs_allocated:
        entry["podCIDRs"] = _strs(n.pod_cidrs)
    if n.taints:
        entry["taints"] = [{"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in n.taints]
    if n.unschedulable:
        entry["unschedulable"] = True
    return entry


def _node_object(n: Node) -> dict[str, Any]:
    """A Kubernetes Node carrying every InternalIP (the Cluster kind has one per node)."""
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": _meta(n.name),
        "status": {"addresses": [{"type": "InternalIP", "address": str(ip)} for ip in n.ips]},
    }


# --- Kubernetes objects --------------------------------------------------------------------
def _namespace(n: Namespace) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(n.name, labels=n.labels)}


def _workload(w: Workload) -> dict[str, Any]:
    api = "v1" if w.kind == "ReplicationController" else "apps/v1"
    selector: dict[str, Any] = dict(w.selector.match_labels) if w.kind == "ReplicationController" else _selector(w.selector)
    return {
        "apiVersion": api, "kind": w.kind, "metadata": _meta(w.name, w.namespace),
        "spec": {
            **({} if w.kind == "DaemonSet" else {"replicas": w.replicas}),  # one per fitting node
            **({"serviceName": w.service_name} if w.service_name else {}),
            **({"ordinals": {"start": w.first_ordinal}} if w.first_ordinal else {}),
            "selector": selector,
            "template": {
                "metadata": {"labels": dict(w.template_labels)},
                "spec": _template_spec(w),
            },
            **({"minReadySeconds": w.min_ready_seconds} if w.min_ready_seconds else {}),
            **({"progressDeadlineSeconds": w.progress_deadline_seconds} if w.progress_deadline_seconds != 600 else {}),
            **({"strategy": _strategy(w)} if w.kind == "Deployment" else {}),
        },
    }


def _template_spec(w: Workload) -> dict[str, Any]:
    spec = _pod_spec(w.template) if w.template is not None else {"containers": [{"name": "app", "image": PAUSE_IMAGE}]}
    if w.node_selector:
        spec = {"nodeSelector": dict(w.node_selector), **spec}
    return spec


def _strategy(w: Workload) -> dict[str, Any]:
    if w.strategy == "Recreate":
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": w.max_surge, "maxUnavailable": w.max_unavailable}}


def _probe(p: Probe) -> dict[str, Any]:
    action: dict[str, Any] = {}
    if p.kind == "exec":
        action["command"] = list(p.command) or ["true"]
    if p.port is not None:
        action["port"] = p.port
    if p.path is not None:
        action["path"] = p.path
    return {p.kind: action, "initialDelaySeconds": p.initial_delay_seconds, "periodSeconds": p.period_seconds,
            "timeoutSeconds": p.timeout_seconds, "successThreshold": p.success_threshold, "failureThreshold": p.failure_threshold}


def _hook(h: Hook) -> dict[str, Any]:
    if h.kind == "sleep":
        return {"sleep": {"seconds": h.seconds}}
    if h.kind == "exec":
        return {"exec": {"command": list(h.command) or ["sh", "-c", f"sleep {h.seconds}"]}}
    return {h.kind: {"port": 80}}


def _pod(p: Pod) -> dict[str, Any]:
    meta = _meta(p.name, p.namespace, p.labels, p.creation_timestamp)
    if p.terminating:
        meta["deletionTimestamp"] = DELETION_TIMESTAMP
    if p.owner:
        kind, _, owner = p.owner.partition("/")
        meta["ownerReferences"] = [{"kind": kind, "name": owner, "controller": True}]
    spec = _pod_spec(p)
    status: dict[str, Any] = {
        "phase": p.phase,
        "conditions": [{"type": "Ready", "status": "True" if p.ready else "False"}],
    }
    if p.ips and not p.allocated:
        status["podIP"] = str(p.ips[0])
        status["podIPs"] = [{"ip": str(ip)} for ip in p.ips]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _pod_spec(p: Pod) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": p.image or PAUSE_IMAGE}
    if p.ports:
        container["ports"] = [
            {"containerPort": cp.port, "protocol": cp.protocol,
             **({"name": cp.name} if cp.name else {}), **({"hostPort": cp.host_port} if cp.host_port else {})}
            for cp in p.ports
        ]
    if p.readiness_probe is not None:
        container["readinessProbe"] = _probe(p.readiness_probe)
    if p.liveness_probe is not None:
        container["livenessProbe"] = _probe(p.liveness_probe)
    if p.startup_probe is not None:
        container["startupProbe"] = _probe(p.startup_probe)
    hooks = {k: _hook(h) for k, h in (("postStart", p.post_start), ("preStop", p.pre_stop)) if h is not None}
    if hooks:
        container["lifecycle"] = hooks
    spec: dict[str, Any] = {}
    if p.termination_grace_period_seconds != 30:
        spec["terminationGracePeriodSeconds"] = p.termination_grace_period_seconds
    if p.node is not None:
        spec["nodeName"] = p.node
    if p.hostname:
        spec["hostname"] = p.hostname
    if p.subdomain:
        spec["subdomain"] = p.subdomain
    if p.host_network:
        spec["hostNetwork"] = True
    if not p.enable_service_links:
        spec["enableServiceLinks"] = False
    if p.dns_policy != "ClusterFirst":
        spec["dnsPolicy"] = p.dns_policy
    if p.tolerations:
        spec["tolerations"] = [
            {**({"key": t.key} if t.key else {}), "operator": t.operator, **({"value": t.value} if t.value else {}),
             **({"effect": t.effect} if t.effect else {}), **({"tolerationSeconds": t.seconds} if t.seconds is not None else {})}
            for t in p.tolerations
        ]
    if p.dns_config is not None:
        conf: dict[str, Any] = {}
        if p.dns_config.nameservers:
            conf["nameservers"] = list(p.dns_config.nameservers)
        if p.dns_config.searches:
            conf["searches"] = list(p.dns_config.searches)
        if p.dns_config.ndots is not None:
            conf["options"] = [{"name": "ndots", "value": str(p.dns_config.ndots)}]
        spec["dnsConfig"] = conf
    spec["containers"] = [container]
    return spec


def _service(s: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": s.type}
    if s.selector is not None:
        spec["selector"] = dict(s.selector)
    if s.ports:
        spec["ports"] = [
            {**({"name": p.name} if p.name else {}), "protocol": p.protocol, "port": p.port,
             **({"targetPort": p.target_port} if p.target_port is not None else {}),
             **({"nodePort": p.node_port} if p.node_port is not None else {}),
             **({"appProtocol": p.app_protocol} if p.app_protocol else {})}
            for p in s.ports
        ]
    if s.type == "ExternalName":
        spec["externalName"] = s.external_name
    elif s.headless:
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    elif s.cluster_ips:
        spec["clusterIP"] = str(s.cluster_ips[0])
        spec["clusterIPs"] = _strs(s.cluster_ips)
    if s.ip_families and s.type != "ExternalName":
        spec["ipFamilies"] = list(s.ip_families)
        spec["ipFamilyPolicy"] = "RequireDualStack" if len(s.ip_families) > 1 else "SingleStack"
    spec["sessionAffinity"] = s.session_affinity
    if s.session_affinity_timeout != 10800:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": s.session_affinity_timeout}}
    if s.type in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = s.external_traffic_policy
    spec["internalTrafficPolicy"] = s.internal_traffic_policy
    if s.external_ips:
        spec["externalIPs"] = _strs(s.external_ips)
    if s.load_balancer_source_ranges:
        spec["loadBalancerSourceRanges"] = _strs(s.load_balancer_source_ranges)
    if s.health_check_node_port is not None:
        spec["healthCheckNodePort"] = s.health_check_node_port
    if s.publish_not_ready_addresses:
        spec["publishNotReadyAddresses"] = True
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(s.name, s.namespace, s.labels, s.creation_timestamp), "spec": spec,
    }
    if s.load_balancer_ips:
        doc["status"] = {"loadBalancer": {"ingress": [{"ip": str(ip)} for ip in s.load_balancer_ips]}}
    return doc


def _slice(s: EndpointSlice) -> dict[str, Any]:
    labels = {"kubernetes.io/service-name": s.service}
    if s.managed_by != "user":
        labels["endpointslice.kubernetes.io/managed-by"] = s.managed_by
    endpoints = []
    for e in s.endpoints:
        ep: dict[str, Any] = {
            "addresses": _strs(e.addresses),
            "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
        }
        if e.node_name:
            ep["nodeName"] = e.node_name
        if e.hostname:
            ep["hostname"] = e.hostname
        if e.target_ref is not None:
            ep["targetRef"] = {"kind": e.target_ref.kind, "name": e.target_ref.name, "namespace": e.target_ref.namespace}
        if e.zone:
            ep["zone"] = e.zone
        endpoints.append(ep)
    ports = [
        {**({"name": p.name} if p.name else {}), "port": p.port, "protocol": p.protocol,
         **({"appProtocol": p.app_protocol} if p.app_protocol else {})}
        for p in s.ports
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": _meta(s.name, s.namespace, labels), "addressType": s.address_type,
        "endpoints": endpoints, "ports": ports,
    }


def _peer(p: PolicyPeer) -> dict[str, Any]:
    if p.ip_block is not None:
        block: dict[str, Any] = {"cidr": str(p.ip_block.cidr)}
        if p.ip_block.except_:
            block["except"] = _strs(p.ip_block.except_)
        return {"ipBlock": block}
    out: dict[str, Any] = {}
    if p.pod_selector is not None:
        out["podSelector"] = _selector(p.pod_selector)
    if p.namespace_selector is not None:
        out["namespaceSelector"] = _selector(p.namespace_selector)
    return out


def _rule(r: PolicyRule, peer_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.peers:
        out[peer_key] = [_peer(p) for p in r.peers]
    if r.ports:
        out["ports"] = [
            {"protocol": p.protocol, **({"port": p.port} if p.port is not None else {}),
             **({"endPort": p.end_port} if p.end_port is not None else {})}
            for p in r.ports
        ]
    return out


def _policy(p: NetworkPolicy) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": _selector(p.pod_selector), "policyTypes": list(p.policy_types)}
    if p.ingress:
        spec["ingress"] = [_rule(r, "from") for r in p.ingress]
    if p.egress:
        spec["egress"] = [_rule(r, "to") for r in p.egress]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(p.name, p.namespace), "spec": spec}


def _quota(q: ResourceQuota) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(q.name, q.namespace),
            "spec": {"hard": dict(q.hard)}}

