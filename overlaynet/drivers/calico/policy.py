"""Calico policy rendered as Felix renders it: filter-table chains in the host namespace,
dispatching by workload interface to per-endpoint chains (``cali-fw-*`` for what a pod
sends, ``cali-tw-*`` for what it receives) that call one chain per policy in order.

    FORWARD -> cali-FORWARD -> cali-from-wl-dispatch (-i cali…) -> cali-fw-<veth> -> cali-po-<policy>
                            -> cali-to-wl-dispatch   (-o cali…) -> cali-tw-<veth> -> cali-pi-<policy>
    mark 0x10000 = accepted by a policy, 0x20000 = passed (skip the rest of the tier). A tier
    ends in a DROP only when a policy selects the endpoint; otherwise the profile allows.

Simplifications against Felix (docs/calico.md): peers are expanded to the pod IPs they select
at render time (Felix keeps ipsets); only the ``default`` tier exists. Every deciding rule
carries a comment ``policy <name> <ingress|egress> rule <n>: <Action>`` or ``policy: …``, so a
trace names the policy and rule that decided. The chains are built as typed rules (no text is
parsed); each says what it is for (``ChainRole``), which is what the tracer reads.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_network

from overlaynet.dataplane.netfilter import ChainRole, Rule
from overlaynet.dataplane.netfilter.matches import (
    PROTO_NUMBERS,
    Comment,
    Destination,
    InIface,
    Mark,
    Match,
    Multiport,
    OutIface,
    PortRange,
    Ports,
    Protocol_,
    Source,
)
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.targets import Goto, Jump, Log, MarkTarget, Target, Verdict_
from overlaynet.model import Cluster, Pod
from overlaynet.model.base import IPNetwork
from overlaynet.policy.calico import (
    CalicoPolicy,
    CalicoRule,
    EntityRule,
    PortSpec,
    entity_matches,
)

ACCEPT_MARK = 0x10000  # accepted by a policy (Felix's mark bit, as value and mask)
PASS_MARK = 0x20000  # passed: skip the rest of the tier
LOG_PREFIX = "calico-packet: "
ACCEPT, DROP, RETURN = Verdict_("ACCEPT"), Verdict_("DROP"), Verdict_("RETURN")


def policy_chain(policy: CalicoPolicy, direction: str) -> str:
    """``cali-pi-_<hash>`` / ``cali-po-_<hash>``: Felix's hashed names, 28 characters at most."""
    digest = hashlib.sha256(f"default/{policy.namespace or ''}/{policy.name}".encode()).digest()
    tag = base64.urlsafe_b64encode(digest).decode()[:19]
    return f"cali-p{'i' if direction == 'Ingress' else 'o'}-_{tag}"


def endpoint_chain(veth: str, direction: str) -> str:
    return f"cali-{'tw' if direction == 'Ingress' else 'fw'}-{veth}"


def _addresses(cluster: Cluster, policy: CalicoPolicy, ent: EntityRule, candidates: Iterable[Pod]) -> list[IPNetwork] | None:
    """The address matches an entity needs: None = any address; [] = matches nothing."""
    if ent.selects_pods:
        plain = EntityRule(ent.selector, ent.namespace_selector, ent.nets, ent.not_nets)
        return [
            ip_network(f"{ip}/{ip.max_prefixlen}")
            for pod in candidates
            if pod.ips
            for ip in pod.ips
            if entity_matches(cluster, policy, plain, pod, ip, None, "tcp", None)
        ]
    if ent.nets:
        return list(ent.nets)
    return None


_NONE = object()  # named ports that no selected pod has: the rule matches nothing


def _ports(specs: tuple[PortSpec, ...], proto: str | None, owners: list[Pod]) -> list[Match | None] | object:
    """One port match per spec (named ports: one per number the selected pods give the
    name); ``[None]`` for any port; ``_NONE`` when only named ports nobody has are asked."""
    if not specs:
        return [None]
    p = (proto or "tcp").lower()
    out: list[Match | None] = []
    for spec in specs:
        if spec.name is not None:
            numbers = sorted({n for pod in owners if (n := pod.port_named(spec.name, p.upper())) is not None})
            out.extend(Ports(p, dport=PortRange(n, n)) for n in numbers)
        elif spec.lo is not None and spec.hi is not None and spec.lo == spec.hi:
            out.append(Ports(p, dport=PortRange(spec.lo, spec.lo)))
        elif spec.lo is not None and spec.hi is not None:
            out.append(Multiport("dports", (PortRange(spec.lo, spec.hi),)))
    return out or _NONE


def _protocol(name: str, *, negated: bool = False) -> Protocol_:
    text = name.lower()
    return Protocol_(int(text) if text.isdigit() else PROTO_NUMBERS[text], negated)


def _rule(*matches: Match | None, target: Target, comment: str | None = None) -> Rule:
    found = [m for m in matches if m is not None]
    if comment is not None:
        found.append(Comment(comment))
    return Rule(tuple(found), target)


def _verdict(rule: CalicoRule, matches: tuple[Match | None, ...], comment: str) -> list[Rule]:
    """The rule's deciding rule, and the return that follows an Allow or Pass mark."""
    if rule.action == "Allow":
        return [_rule(*matches, target=MarkTarget(ACCEPT_MARK, ACCEPT_MARK), comment=comment),
                _rule(Mark(ACCEPT_MARK, ACCEPT_MARK), target=RETURN)]
    if rule.action == "Deny":
        return [_rule(*matches, target=DROP, comment=comment)]
    if rule.action == "Pass":
        return [_rule(*matches, target=MarkTarget(PASS_MARK, PASS_MARK), comment=comment),
                _rule(Mark(PASS_MARK, PASS_MARK), target=RETURN)]
    return [_rule(*matches, target=Log(LOG_PREFIX), comment=comment)]


def render_rule(
    cluster: Cluster, policy: CalicoPolicy, rule: CalicoRule, direction: str, local_pods: list[Pod]
) -> tuple[list[Rule], list[tuple[str, list[Rule]]]]:
    """Rules of the policy chain for one rule, and any sub-chains (for notNets/notPorts)."""
    chain = policy_chain(policy, direction)
    n = rule.number
    comment = f"policy {policy.display} {direction.lower()} rule {n}: {rule.action}"
    mine_local = [p for p in local_pods if policy.selects(cluster, p)]
    ingress = direction == "Ingress"
    if ingress:
        other_ent, my_ent = rule.source, rule.destination
        port_owners = mine_local
    else:
        other_ent, my_ent = rule.destination, rule.source
        port_owners = [p for p in cluster.pods if p.ips]
    other_side, my_side = (Source, Destination) if ingress else (Destination, Source)
    other_addrs = _addresses(cluster, policy, other_ent, cluster.pods)
    my_addrs = _addresses(cluster, policy, my_ent, mine_local)
    if other_addrs == [] or my_addrs == []:
        return [], []  # selects no endpoint: Felix renders an ipset that matches nothing
    ports = _ports(rule.destination.ports, rule.protocol, port_owners)
    if ports is _NONE:
        return [], []
    assert isinstance(ports, list)
    proto = _protocol(rule.protocol) if rule.protocol else None
    notproto = _protocol(rule.not_protocol, negated=True) if rule.not_protocol else None
    excepts = [other_side(x) for x in other_ent.not_nets] + [my_side(x) for x in my_ent.not_nets]
    not_ports = rule.destination.not_ports
    sub = f"{chain}-r{n}"[:28] if (excepts or not_ports) else None
    rules: list[Rule] = []
    subs: list[tuple[str, list[Rule]]] = []
    others: list[IPNetwork | None] = list(other_addrs) if other_addrs else [None]
    mine: list[IPNetwork | None] = list(my_addrs) if my_addrs else [None]
    for oa, ma, port in itertools.product(others, mine, ports):
        matches = (other_side(oa) if oa else None, my_side(ma) if ma else None, proto, notproto, port)
        if sub is None:
            rules += _verdict(rule, matches, comment)
        else:
            rules.append(_rule(*matches, target=Jump(sub)))
            if rule.action in ("Allow", "Pass"):
                mark = ACCEPT_MARK if rule.action == "Allow" else PASS_MARK
                rules.append(_rule(Mark(mark, mark), target=RETURN))
    if sub is not None:
        body = [_rule(x, target=RETURN, comment=f"{comment}: not {x.net}") for x in excepts]
        for spec in not_ports:
            p = (rule.protocol or "tcp").lower()
            lo, hi = spec.lo or 0, spec.hi or 0
            port_match: Match = Ports(p, dport=PortRange(lo, lo)) if lo == hi else Multiport("dports", (PortRange(lo, hi),))
            body.append(_rule(_protocol(p), port_match, target=RETURN, comment=f"{comment}: not port {spec}"))
        body.append(_verdict(rule, (), comment)[0])  # the caller returns on the mark
        subs.append((sub, body))
    return rules, subs


@dataclass
class NodePolicy:
    """What Felix programs on a node: filter-table chains in order, what each is for, and the
    jumps it inserts into the built-in chains."""

    chains: dict[str, list[Rule]]
    roles: dict[str, ChainRole]
    jumps: list[tuple[str, Rule]]


def render_node_policy(cluster: Cluster, policies: list[CalicoPolicy], local_pods: list[tuple[Pod, str]]) -> NodePolicy:
    """The filter-table chains Felix would program on a node (``local_pods``: pod, veth):
    the dispatch chains pick an endpoint's chain; an endpoint chain (conntrack, its policies
    in order, the tier's default deny, the profile) and a policy chain decide."""
    chains: dict[str, list[Rule]] = {"cali-FORWARD": [], "cali-from-wl-dispatch": [], "cali-to-wl-dispatch": []}
    roles = {"cali-FORWARD": ChainRole.FILTER, "cali-from-wl-dispatch": ChainRole.POLICY_DISPATCH,
             "cali-to-wl-dispatch": ChainRole.POLICY_DISPATCH}
    pods = [p for p, _ in local_pods]
    used: dict[tuple[str, str], CalicoPolicy] = {}
    chains["cali-FORWARD"] += [
        _rule(InIface("cali+"), target=Jump("cali-from-wl-dispatch"), comment="from workload dispatch"),
        _rule(OutIface("cali+"), target=Jump("cali-to-wl-dispatch"), comment="to workload dispatch"),
        _rule(Mark(ACCEPT_MARK, ACCEPT_MARK), target=ACCEPT, comment="Policy explicitly accepted packet."),
    ]
    for pod, veth in sorted(local_pods, key=lambda pv: pv[1]):
        for direction, dispatch in (("Egress", "cali-from-wl-dispatch"), ("Ingress", "cali-to-wl-dispatch")):
            ep = endpoint_chain(veth, direction)
            roles[ep] = ChainRole.POLICY
            on_veth = InIface(veth) if direction == "Egress" else OutIface(veth)
            chains[dispatch].append(_rule(on_veth, target=Goto(ep)))
            body = chains.setdefault(ep, [])
            body += [
                _rule(Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED"})), target=ACCEPT),
                _rule(Conntrack(ctstate=frozenset({"INVALID"})), target=DROP),
                _rule(target=MarkTarget(0, ACCEPT_MARK | PASS_MARK)),
            ]
            selecting = [p for p in policies if direction in p.types and p.selects(cluster, pod)]
            for pol in selecting:
                used[(pol.display, direction)] = pol
                pc = policy_chain(pol, direction)
                body.append(_rule(Mark(0, PASS_MARK), target=Jump(pc)))
                body.append(_rule(Mark(ACCEPT_MARK, ACCEPT_MARK), target=RETURN,
                                  comment=f"policy {pol.display} {direction.lower()}: return if policy accepted"))
            if selecting:
                names = ", ".join(p.display for p in selecting)
                body.append(_rule(Mark(0, PASS_MARK), target=DROP, comment=(
                    f"policy: denied, no policy allows it ({names} selects {pod.key}) {direction.lower()}")))
            body += [
                _rule(target=MarkTarget(ACCEPT_MARK, ACCEPT_MARK), comment=(
                    f"profile kns.{pod.namespace}: allowed, no policy decided for {pod.key} {direction.lower()}")),
                _rule(Mark(ACCEPT_MARK, ACCEPT_MARK), target=RETURN),
            ]
    for d in ("cali-from-wl-dispatch", "cali-to-wl-dispatch"):
        chains[d].append(_rule(target=DROP, comment="Unknown interface"))
    for (_, direction), pol in sorted(used.items()):
        pc = policy_chain(pol, direction)
        body = chains.setdefault(pc, [])
        roles[pc] = ChainRole.POLICY
        for rule in pol.ingress if direction == "Ingress" else pol.egress:
            rules, subs = render_rule(cluster, pol, rule, direction, pods)
            body += rules
            for name, sub in subs:
                chains[name] = sub
                roles[name] = ChainRole.POLICY
    jumps = [("FORWARD", _rule(target=Jump("cali-FORWARD"), comment="cali:wUHhoiAYhphO9Mso"))]
    return NodePolicy(chains, roles, jumps)
