"""Readers for NetworkPolicy (networking.k8s.io/v1, the full shape) and ResourceQuota."""

from __future__ import annotations

from overlaynet.model import (
    FrozenDict,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    ResourceQuota,
)
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.k8s_workloads import PROTOCOLS, read_meta
from overlaynet.topology.parsed import Parsed
from overlaynet.topology.yamlsrc import Y

QUOTA_COUNTS = (
    "pods", "services", "services.nodeports", "services.loadbalancers", "replicationcontrollers",
    "count/pods", "count/services", "count/replicationcontrollers", "count/replicasets.apps",
    "count/deployments.apps", "count/endpointslices.discovery.k8s.io",
    "count/networkpolicies.networking.k8s.io",
)


def _ip_block(ctx: Ctx, y: Y) -> IPBlock | None:
    m = f.mapping(ctx, y, ("cidr", "except"), what="an ipBlock")
    if m is None:
        return None
    net = f.cidr(ctx, f.required(ctx, y, m, "cidr", "a CIDR"), "an ipBlock CIDR")
    excepts = []
    for e in f.seq(ctx, m.get("except")):
        value = f.cidr(ctx, e, "an except CIDR")
        if value is None or net is None:
            continue
        if value.version != net.version or not value.subnet_of(net):  # type: ignore[arg-type]
            ctx.error(e, f"expected an except CIDR inside the ipBlock cidr {net}, found {value}")
            continue
        if value.prefixlen <= net.prefixlen:  # the API server: "must be a strict subset of `cidr`"
            ctx.error(e, f"expected an except CIDR strictly smaller than the ipBlock cidr {net}, found {value}")
            continue
        excepts.append(value)
    return IPBlock(net, tuple(excepts)) if net is not None else None


def _peers(ctx: Ctx, y: Y | None) -> tuple[PolicyPeer, ...]:
    out: list[PolicyPeer] = []
    for item in f.seq(ctx, y, "a list of peers"):
        m = f.mapping(ctx, item, ("podSelector", "namespaceSelector", "ipBlock"), what="a policy peer")
        if m is None:
            continue
        if not m:
            ctx.error(item, "expected a peer with podSelector, namespaceSelector or ipBlock, found an empty mapping")
            continue
        if "ipBlock" in m and ("podSelector" in m or "namespaceSelector" in m):
            ctx.error(item, "expected ipBlock alone in a peer, found it with a selector")
            continue
        block = _ip_block(ctx, m["ipBlock"]) if "ipBlock" in m else None
        pod_sel = f.label_selector(ctx, m.get("podSelector")) if "podSelector" in m else None
        ns_sel = f.label_selector(ctx, m.get("namespaceSelector")) if "namespaceSelector" in m else None
        out.append(PolicyPeer(pod_sel, ns_sel, block))
    return tuple(out)


def _policy_ports(ctx: Ctx, y: Y | None) -> tuple[PolicyPort, ...]:
    out: list[PolicyPort] = []
    for item in f.seq(ctx, y, "a list of ports"):
        m = f.mapping(ctx, item, ("protocol", "port", "endPort"), what="a policy port")
        if m is None:
            continue
        proto = f.choice(ctx, m.get("protocol"), PROTOCOLS) or "TCP"
        port = f.port_or_name(ctx, m.get("port"))
        end_y = m.get("endPort")
        end = f.port(ctx, end_y, "an end port number")
        if end is not None and end_y is not None:
            if not isinstance(port, int):
                ctx.error(end_y, f"expected endPort only with a numeric port, found port {port!r}")
                end = None
            elif end < port:
                ctx.error(end_y, f"expected endPort >= port {port}, found {end}")
                end = None
        out.append(PolicyPort(proto, port, end))  # type: ignore[arg-type]
    return tuple(out)


def _rules(ctx: Ctx, y: Y | None, peer_key: str) -> tuple[PolicyRule, ...]:
    out: list[PolicyRule] = []
    for item in f.seq(ctx, y, "a list of rules"):
        m = f.mapping(ctx, item, (peer_key, "ports"), what="a policy rule")
        if m is None:
            continue
        out.append(PolicyRule(_peers(ctx, m.get(peer_key)), _policy_ports(ctx, m.get("ports"))))
    return tuple(out)


def read_network_policy(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_)
    spec_y = fields_.get("spec")
    spec = f.mapping(ctx, spec_y, ("podSelector", "policyTypes", "ingress", "egress"), what="a NetworkPolicy spec")
    if spec_y is None:
        ctx.error(doc, "missing required field 'spec': expected a NetworkPolicy spec with a podSelector", path="spec")
    if spec is None:
        return
    selector = f.label_selector(ctx, spec.get("podSelector")) if spec.get("podSelector") is not None else None
    if "podSelector" not in spec and spec_y is not None:
        ctx.error(spec_y, "missing required field 'podSelector': expected a label selector ({} selects every pod)", path=f"{spec_y.path}.podSelector")
    ingress = _rules(ctx, spec.get("ingress"), "from")
    egress = _rules(ctx, spec.get("egress"), "to")
    types_y = spec.get("policyTypes")
    if types_y is not None:
        types = tuple(t for t in (f.choice(ctx, t, ("Ingress", "Egress")) for t in f.seq(ctx, types_y)) if t is not None)
    else:  # the API server's default: Ingress always, Egress when egress rules exist
        types = ("Ingress", "Egress") if egress else ("Ingress",)
    if meta.name is None:
        return
    parsed.network_policies.append(
        NetworkPolicy(meta.name, meta.namespace, selector or LabelSelector(), types, ingress, egress, ctx.source(doc))  # type: ignore[arg-type]
    )
    ctx.remember(("policy", meta.namespace, meta.name), doc)


def read_resource_quota(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_)
    spec = f.mapping(ctx, fields_.get("spec"), ("hard", "scopes", "scopeSelector"), strict=False, what="a ResourceQuota spec") or {}
    hard_y = spec.get("hard")
    hard: dict[str, str] = {}
    hm = f.mapping(ctx, hard_y, (), strict=False, what="a mapping of resource → quantity") or {}
    for key, val in hm.items():
        if isinstance(val.value, bool) or not isinstance(val.value, int | str):
            ctx.error(val, f"expected a quantity such as 10 or \"2Gi\", found {f.describe(val)}")
            continue
        if key in QUOTA_COUNTS and not str(val.value).isdigit():
            ctx.error(val, f"expected a whole number for the count quota {key!r}, found {val.value!r}")
            continue
        hard[key] = str(val.value)
        ctx.remember(("quota", meta.namespace, meta.name, key), val)
    if meta.name is None:
        return
    parsed.resource_quotas.append(ResourceQuota(meta.name, meta.namespace, FrozenDict(hard), ctx.source(doc)))
    ctx.remember(("quota", meta.namespace, meta.name), doc)
