"""Calico's policy resources as model values: ``projectcalico.org/v3`` NetworkPolicy and
GlobalNetworkPolicy, and Kubernetes NetworkPolicies converted the way Calico converts them
(order 1000, name ``knp.default.<name>``), so one evaluator and one renderer serve both.
They are cluster resources like NetworkPolicy: the calico driver renders them into Felix's
chains, analyses evaluate them.

Semantics (reference/drivers.md §2.6): policies that select an endpoint are applied in
``order`` (lowest first; no order sorts last; ties by name); within a policy, rules in order,
first match decides: Allow and Deny are final, Log continues, Pass ends the tier. A tier
that has at least one policy selecting the endpoint ends in an implicit deny; when no policy
selects it, the namespace profile allows (Kubernetes' default-allow).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from overlaynet.errors import Diagnostic, SelectorError, TopologyError
from overlaynet.model.base import IPAddress, IPNetwork, LabelSelector, Source
from overlaynet.model.cluster import Cluster
from overlaynet.model.policy import NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule
from overlaynet.model.workloads import Pod
from overlaynet.policy.calico_selector import All, Expr, parse

Action = Literal["Allow", "Deny", "Log", "Pass"]
Direction = Literal["Ingress", "Egress"]
K8S_ORDER = 1000.0


@dataclass(frozen=True, slots=True)
class PortSpec:
    lo: int | None = None
    hi: int | None = None
    name: str | None = None

    def matches(self, port: int | None, endpoint: Pod | None, protocol: str) -> bool:
        if port is None:
            return False
        if self.name is not None:
            return endpoint is not None and endpoint.port_named(self.name, protocol.upper()) == port
        assert self.lo is not None and self.hi is not None
        return self.lo <= port <= self.hi

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        return str(self.lo) if self.lo == self.hi else f"{self.lo}:{self.hi}"


@dataclass(frozen=True, slots=True)
class EntityRule:
    selector: Expr | None = None
    namespace_selector: Expr | None = None
    nets: tuple[IPNetwork, ...] = ()
    not_nets: tuple[IPNetwork, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    not_ports: tuple[PortSpec, ...] = ()

    @property
    def selects_pods(self) -> bool:
        return self.selector is not None or self.namespace_selector is not None


@dataclass(frozen=True, slots=True)
class CalicoRule:
    action: Action
    protocol: str | None = None
    not_protocol: str | None = None
    source: EntityRule = EntityRule()
    destination: EntityRule = EntityRule()
    number: int = 0  # 1-based rule number as the user wrote it (a K8s rule may become several)


@dataclass(frozen=True, slots=True)
class CalicoPolicy:
    kind: Literal["NetworkPolicy", "GlobalNetworkPolicy", "KubernetesNetworkPolicy"]
    name: str
    namespace: str | None
    order: float | None
    selector: Expr
    types: tuple[Direction, ...]
    ingress: tuple[CalicoRule, ...] = ()
    egress: tuple[CalicoRule, ...] = ()
    source: Source | None = None

    @property
    def display(self) -> str:
        if self.kind == "KubernetesNetworkPolicy":
            return f"{self.namespace}/{self.name.removeprefix('knp.default.')}"
        if self.kind == "GlobalNetworkPolicy":
            return f"GlobalNetworkPolicy {self.name}"
        return f"{self.namespace}/{self.name} (calico)"

    def sort_key(self) -> tuple[float, str]:
        return (self.order if self.order is not None else float("inf"), self.name)

    def selects(self, cluster: Cluster, pod: Pod) -> bool:
        if self.namespace is not None and pod.namespace != self.namespace:
            return False
        return self.selector.matches(pod.labels)


# --- Kubernetes NetworkPolicy → Calico (libcalico-go conversion.go) ---------------------------
class _LabelExpr(Expr):
    """A Kubernetes LabelSelector used where Calico wants a selector expression."""

    __slots__ = ("sel",)

    def __init__(self, sel: LabelSelector) -> None:
        self.sel = sel

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.sel.matches(labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _LabelExpr) and other.sel == self.sel

    def __hash__(self) -> int:
        return hash(self.sel)


def _k8s_ports(ports: tuple[PolicyPort, ...]) -> list[tuple[str, tuple[PortSpec, ...]]]:
    if not ports:
        return [("", ())]
    out: list[tuple[str, tuple[PortSpec, ...]]] = []
    for p in ports:
        if p.port is None:
            out.append((p.protocol, ()))
        elif isinstance(p.port, str):
            out.append((p.protocol, (PortSpec(name=p.port),)))
        else:
            out.append((p.protocol, (PortSpec(p.port, p.end_port or p.port),)))
    return out


def _k8s_peer(peer: PolicyPeer, ns: str) -> EntityRule:
    if peer.ip_block is not None:
        return EntityRule(nets=(peer.ip_block.cidr,), not_nets=peer.ip_block.except_)
    sel: Expr = _LabelExpr(peer.pod_selector) if peer.pod_selector is not None else All()
    nsel: Expr | None = _LabelExpr(peer.namespace_selector) if peer.namespace_selector is not None else None
    return EntityRule(selector=sel, namespace_selector=nsel)


def from_kubernetes(policy: NetworkPolicy) -> CalicoPolicy:
    """Convert as Calico does: each (peer × port entry) becomes one Allow rule."""

    def rules(k8s_rules: tuple[PolicyRule, ...], direction: Direction) -> tuple[CalicoRule, ...]:
        out: list[CalicoRule] = []
        for number, rule in enumerate(k8s_rules, 1):
            peers = [_k8s_peer(p, policy.namespace) for p in rule.peers] or [EntityRule()]
            for proto, specs in _k8s_ports(rule.ports):
                for peer in peers:
                    other = peer
                    mine = EntityRule(ports=specs)
                    if direction == "Ingress":
                        out.append(CalicoRule("Allow", proto or None, source=other, destination=mine, number=number))
                    else:
                        dest = EntityRule(other.selector, other.namespace_selector, other.nets, other.not_nets, specs)
                        out.append(CalicoRule("Allow", proto or None, destination=dest, number=number))
        return tuple(out)

    return CalicoPolicy(
        kind="KubernetesNetworkPolicy",
        name=f"knp.default.{policy.name}",
        namespace=policy.namespace,
        order=K8S_ORDER,
        selector=_LabelExpr(policy.pod_selector),
        types=policy.policy_types,
        ingress=rules(policy.ingress, "Ingress") if "Ingress" in policy.policy_types else (),
        egress=rules(policy.egress, "Egress") if "Egress" in policy.policy_types else (),
        source=policy.source,
    )


# --- projectcalico.org/v3 documents -----------------------------------------------------------
class _Doc:
    """Collects diagnostics while reading one raw document."""

    def __init__(self, source: Source | None, kind: str) -> None:
        self.source = source or Source("<calico>", 1)
        self.kind = kind
        self.diags: list[Diagnostic] = []

    def error(self, path: str, message: str) -> None:
        self.diags.append(Diagnostic(self.source.file, self.source.line, self.source.column, path, message))

    def selector(self, path: str, text: object) -> Expr | None:
        if text is None:
            return None
        if not isinstance(text, str):
            self.error(path, f"expected a selector string, found {text!r}")
            return None
        try:
            return parse(text)
        except SelectorError as exc:
            self.error(path, str(exc))
            return None

    def nets(self, path: str, raw: object) -> tuple[IPNetwork, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.error(path, f"expected a list of CIDRs, found {raw!r}")
            return ()
        out = []
        for i, n in enumerate(raw):
            try:
                out.append(ipaddress.ip_network(str(n), strict=False))
            except ValueError:
                self.error(f"{path}[{i}]", f"expected a CIDR, found {n!r}")
        return tuple(out)

    def ports(self, path: str, raw: object) -> tuple[PortSpec, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.error(path, f"expected a list of ports, found {raw!r}")
            return ()
        out = []
        for i, p in enumerate(raw):
            if isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536:
                out.append(PortSpec(p, p))
            elif isinstance(p, str) and ":" in p:
                lo, _, hi = p.partition(":")
                if lo.isdigit() and hi.isdigit() and 0 < int(lo) <= int(hi) < 65536:
                    out.append(PortSpec(int(lo), int(hi)))
                else:
                    self.error(f"{path}[{i}]", f"expected a port range like 8000:8100, found {p!r}")
            elif isinstance(p, str) and p:
                out.append(PortSpec(name=p))
            else:
                self.error(f"{path}[{i}]", f"expected a port number, range or name, found {p!r}")
        return tuple(out)

    def entity(self, path: str, raw: object) -> EntityRule:
        if raw is None:
            return EntityRule()
        if not isinstance(raw, dict):
            self.error(path, f"expected a mapping, found {raw!r}")
            return EntityRule()
        known = {"selector", "namespaceSelector", "nets", "notNets", "ports", "notPorts", "serviceAccounts", "services", "notSelector"}
        for key in raw:
            if key not in known:
                self.error(f"{path}.{key}", f"unknown field; expected one of {', '.join(sorted(known))}")
        return EntityRule(
            selector=self.selector(f"{path}.selector", raw.get("selector")),
            namespace_selector=self.selector(f"{path}.namespaceSelector", raw.get("namespaceSelector")),
            nets=self.nets(f"{path}.nets", raw.get("nets")),
            not_nets=self.nets(f"{path}.notNets", raw.get("notNets")),
            ports=self.ports(f"{path}.ports", raw.get("ports")),
            not_ports=self.ports(f"{path}.notPorts", raw.get("notPorts")),
        )

    def rule(self, path: str, raw: object) -> CalicoRule | None:
        if not isinstance(raw, dict):
            self.error(path, f"expected a rule mapping, found {raw!r}")
            return None
        action = raw.get("action")
        if action not in ("Allow", "Deny", "Log", "Pass"):
            self.error(f"{path}.action", f"expected Allow, Deny, Log or Pass, found {action!r}")
            return None
        proto = raw.get("protocol")
        return CalicoRule(
            number=int(path.rsplit("[", 1)[1].rstrip("]")) + 1,
            action=action,
            protocol=str(proto) if proto is not None else None,
            not_protocol=str(raw["notProtocol"]) if raw.get("notProtocol") is not None else None,
            source=self.entity(f"{path}.source", raw.get("source")),
            destination=self.entity(f"{path}.destination", raw.get("destination")),
        )


def from_document(kind: str, doc: Mapping[str, Any], source: Source | None) -> CalicoPolicy | None:
    """Read a ``projectcalico.org/v3`` (Global)NetworkPolicy; None for other Calico kinds.

    Raises TopologyError with every problem found in the document.
    """
    if kind not in ("NetworkPolicy", "GlobalNetworkPolicy"):
        return None
    d = _Doc(source, kind)
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    name = str(meta.get("name") or "")
    if not name:
        d.error("metadata.name", "expected a name, found nothing")
    namespace = str(meta.get("namespace") or "default") if kind == "NetworkPolicy" else None
    order = spec.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int | float)):
        d.error("spec.order", f"expected a number, found {order!r}")
        order = None
    selector = d.selector("spec.selector", spec.get("selector", "all()")) or All()
    ingress = tuple(r for i, raw in enumerate(spec.get("ingress") or []) if (r := d.rule(f"spec.ingress[{i}]", raw)))
    egress = tuple(r for i, raw in enumerate(spec.get("egress") or []) if (r := d.rule(f"spec.egress[{i}]", raw)))
    raw_types = spec.get("types")
    types: tuple[Direction, ...]
    if raw_types is None:
        types = ("Ingress", "Egress") if spec.get("egress") and spec.get("ingress") else (("Egress",) if spec.get("egress") else ("Ingress",))
    elif isinstance(raw_types, list) and all(t in ("Ingress", "Egress") for t in raw_types):
        types = tuple(raw_types)
    else:
        d.error("spec.types", f"expected a list of Ingress/Egress, found {raw_types!r}")
        types = ("Ingress",)
    if d.diags:
        raise TopologyError(d.diags)
    return CalicoPolicy(kind, name, namespace, float(order) if order is not None else None, selector, types, ingress, egress, source)  # type: ignore[arg-type]


def cluster_policies(cluster: Cluster) -> list[CalicoPolicy]:
    """Every policy that applies in the cluster, Calico-ordered."""
    out: list[CalicoPolicy] = [from_kubernetes(p) for p in cluster.network_policies]
    diags: list[Diagnostic] = []
    for entry in cluster.extra.get("calico", ()):
        kind, doc, source = entry
        try:
            pol = from_document(kind, doc, source)
        except TopologyError as exc:
            diags.extend(exc.diagnostics)
            continue
        if pol is not None:
            out.append(pol)
    if diags:
        raise TopologyError(diags)
    return sorted(out, key=CalicoPolicy.sort_key)


# --- evaluation ----------------------------------------------------------------------------------
def entity_matches(
    cluster: Cluster, policy: CalicoPolicy, ent: EntityRule, pod: Pod | None, ip: IPAddress,
    port: int | None, proto: str, port_owner: Pod | None,
) -> bool:
    if ent.nets and not any(ip in n for n in ent.nets if n.version == ip.version):
        return False
    if ent.not_nets and any(ip in n for n in ent.not_nets if n.version == ip.version):
        return False
    if ent.selects_pods:
        if pod is None:
            return False
        if ent.namespace_selector is not None:
            if not ent.namespace_selector.matches(cluster.namespace_labels(pod.namespace)):
                return False
        elif policy.namespace is not None and pod.namespace != policy.namespace:
            return False
        if ent.selector is not None and not ent.selector.matches(pod.labels):
            return False
    if ent.ports and not any(p.matches(port, port_owner, proto) for p in ent.ports):
        return False
    return not (ent.not_ports and any(p.matches(port, port_owner, proto) for p in ent.not_ports))


def rule_matches(
    cluster: Cluster, policy: CalicoPolicy, rule: CalicoRule, direction: Direction,
    me: Pod, other: Pod | None, other_ip: IPAddress, proto: str, dport: int | None,
) -> bool:
    if rule.protocol is not None and rule.protocol.lower() != proto.lower():
        return False
    if rule.not_protocol is not None and rule.not_protocol.lower() == proto.lower():
        return False
    me_ip = me.ips[0] if me.ips else other_ip
    src: tuple[Pod | None, IPAddress] = (other, other_ip) if direction == "Ingress" else (me, me_ip)
    dst: tuple[Pod | None, IPAddress] = (me, me_ip) if direction == "Ingress" else (other, other_ip)
    # Source ports are not modelled (a new connection comes from an ephemeral port): a rule
    # with source.ports matches no new connection, which is what a rule for replies would do.
    if rule.source.ports:
        return False
    src_rule = EntityRule(rule.source.selector, rule.source.namespace_selector, rule.source.nets, rule.source.not_nets)
    return entity_matches(cluster, policy, src_rule, src[0], src[1], None, proto, None) and entity_matches(
        cluster, policy, rule.destination, dst[0], dst[1], dport, proto, dst[0]
    )


@dataclass(frozen=True, slots=True)
class CalicoDecision:
    allowed: bool
    policy: str | None  # display name of the deciding policy
    rule: int | None  # 1-based
    action: str  # Allow | Deny | end-of-tier | profile
    selecting: tuple[str, ...] = ()

    def reason(self, direction: Direction) -> str:
        d = direction.lower()
        if self.action == "profile":
            return f"{d}: no policy selects the pod, allowed by the namespace profile"
        if self.action == "Pass":
            return f"{d}: passed by policy {self.policy}, {d} rule {self.rule}; the namespace profile allows"
        if self.action == "end-of-tier":
            return f"{d}: denied, no policy allows it ({', '.join(self.selecting)} select(s) the pod)"
        verb = "allowed" if self.allowed else "denied"
        return f"{d}: {verb} by policy {self.policy}, {d} rule {self.rule}"


def decide(
    cluster: Cluster, policies: Sequence[CalicoPolicy], me: Pod, direction: Direction,
    other: Pod | None, other_ip: IPAddress, proto: str, dport: int | None,
) -> CalicoDecision:
    selecting = [p for p in policies if direction in p.types and p.selects(cluster, me)]
    names = tuple(p.display for p in selecting)
    for pol in selecting:
        rules = pol.ingress if direction == "Ingress" else pol.egress
        for rule in rules:
            i = rule.number
            if not rule_matches(cluster, pol, rule, direction, me, other, other_ip, proto, dport):
                continue
            if rule.action == "Log":
                continue
            if rule.action == "Pass":  # the tier ends; the namespace profile allows
                return CalicoDecision(True, pol.display, i, "Pass", names)
            return CalicoDecision(rule.action == "Allow", pol.display, i, rule.action, names)
    if selecting:
        return CalicoDecision(False, None, None, "end-of-tier", names)
    return CalicoDecision(True, None, None, "profile", names)
