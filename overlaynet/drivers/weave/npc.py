"""weave-npc: Kubernetes NetworkPolicy as weave-npc enforces it, with filter chains and ipsets
in every host's namespace (the same on every host: weave-npc's sets hold pods cluster-wide).

Layout (weaveworks/weave 8c847638 ``prog/weave-npc/main.go``, ``net/bridge.go``,
``npc/namespace.go``, ``npc/rule.go``, ``npc/selector.go``): FORWARD sends frames from the
bridge to WEAVE-NPC-EGRESS and frames to it to WEAVE-NPC, then drops what was not accepted;
WEAVE-NPC accepts established flows and frames leaving to ``vethwe-bridge`` (the destination
peer judges them), then sends NEW flows to WEAVE-NPC-DEFAULT (pods no policy isolates, per
namespace) and WEAVE-NPC-INGRESS (one ACCEPT per policy rule, source and destination ipsets).
Egress marks accepted flows 0x40000 in WEAVE-NPC-EGRESS-ACCEPT and drops unmarked ones.

Where this differs from weave-npc, and why: ipset names are weave-npc's sha1 short names over
an alphanumeric alphabet (weave's 85 symbols include characters the rule reader here takes as
syntax); rule comments keep weave-npc's text and add the policy's name, so the policy step
names the policy; named ports and ``endPort`` are resolved as the Kubernetes API defines them
(weave-npc predates ``endPort``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter import ChainRole, IpSet, Rule
from overlaynet.dataplane.netfilter.matches import (
    PROTO_NUMBERS,
    AddrType,
    Comment,
    Destination,
    InIface,
    Mark,
    Match,
    OutIface,
    Physdev,
    PortRange,
    Ports,
    Protocol_,
    SetMatch,
)
from overlaynet.dataplane.netfilter.matches_ct import Conntrack, State
from overlaynet.dataplane.netfilter.targets import Jump, MarkTarget, Nflog, Target, Verdict_
from overlaynet.model import Cluster, NetworkPolicy, Pod
from overlaynet.model.policy import PolicyPeer, PolicyPort, PolicyRule

__all__ = ["EGRESS_MARK", "ROLES", "NpcRules", "render_npc"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network
EGRESS_MARK = 0x40000  # with the same mask: weave-npc's "accepted by egress policy" bit
BRIDGE = "weave"
BRIDGE_PORT = "vethwe-bridge"
NFLOG_GROUP = 86
MULTICAST = IPv4Network("224.0.0.0/4")

ROLES = {
    "WEAVE-NPC": ChainRole.POLICY_DISPATCH,
    "WEAVE-NPC-DEFAULT": ChainRole.POLICY,
    "WEAVE-NPC-INGRESS": ChainRole.POLICY,
    "WEAVE-NPC-EGRESS": ChainRole.POLICY_DISPATCH,
    "WEAVE-NPC-EGRESS-DEFAULT": ChainRole.POLICY,
    "WEAVE-NPC-EGRESS-CUSTOM": ChainRole.POLICY,
    "WEAVE-NPC-EGRESS-ACCEPT": ChainRole.FILTER,
}

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def short_name(text: str) -> str:
    """weave-npc's ``shortName``: sha1 of ``text`` in base ``len(alphabet)``, cut to fit
    ipset's 31 characters after ``weave-``."""
    n = int.from_bytes(hashlib.sha1(text.encode()).digest(), "big")
    out = []
    while n:
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)[:25]


@dataclass
class NpcRules:
    """The filter rules (chain, rule) in order and the ipsets they name."""

    rules: list[tuple[str, Rule]] = field(default_factory=list)
    ipsets: dict[str, IpSet] = field(default_factory=dict)

    def ipset(self, key: str, kind: str, members: Iterable[IPv4Network]) -> str:
        name = "weave-" + short_name(key)
        self.ipsets[name] = IpSet(name, kind, frozenset((m,) for m in members))
        return name


def _ip(pod: Pod) -> IPv4Address | None:
    return next((a for a in pod.ips if isinstance(a, IPv4Address)), None)


def _hosts(pods: Iterable[Pod]) -> list[IPv4Network]:
    """The pods' IPv4 addresses as /32 networks (ipset hash:ip members)."""
    return [IPv4Network(f"{ip}/32") for p in pods if (ip := _ip(p)) is not None]


def _selects(policy: NetworkPolicy, pod: Pod) -> bool:
    return pod.namespace == policy.namespace and policy.pod_selector.matches(pod.labels)


def _peer_pods(cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer, pods: Sequence[Pod]) -> list[Pod]:
    out = []
    for pod in pods:
        if peer.namespace_selector is None:
            if pod.namespace != policy.namespace:
                continue
        elif not peer.namespace_selector.matches(cluster.namespace_labels(pod.namespace)):
            continue
        if peer.pod_selector is not None and not peer.pod_selector.matches(pod.labels):
            continue
        out.append(pod)
    return out


def _block_nets(peer: PolicyPeer) -> list[IPv4Network]:
    """An ipBlock as networks: its CIDR minus the excepted ones (weave-npc adds those as
    ``nomatch`` entries of a hash:net set; the difference matches the same addresses)."""
    assert peer.ip_block is not None
    nets = [peer.ip_block.cidr] if isinstance(peer.ip_block.cidr, IPv4Network) else []
    for ex in peer.ip_block.except_:
        if not isinstance(ex, IPv4Network):
            continue
        nxt: list[IPv4Network] = []
        for net in nets:
            if net.overlaps(ex):
                nxt.extend(net.address_exclude(ex) if ex.subnet_of(net) else ([] if net.subnet_of(ex) else [net]))
            else:
                nxt.append(net)
        nets = nxt
    return nets


def _selector_text(policy: NetworkPolicy, peer: PolicyPeer) -> str:
    if peer.ip_block is not None:
        return f"cidr: {peer.ip_block.cidr}" + (f" except {', '.join(map(str, peer.ip_block.except_))}" if peer.ip_block.except_ else "")
    if peer.namespace_selector is None:
        return f"pods: namespace: {policy.namespace}, selector: {peer.pod_selector or ''}"
    return f"namespaces: selector: {peer.namespace_selector}" + (f", pods: {peer.pod_selector}" if peer.pod_selector else "")


def _port_groups(port: PolicyPort | None, dst_pods: Sequence[Pod] | None) -> list[tuple[tuple[Match, ...], tuple[Match, ...], list[Pod] | None]]:
    """``(protocol match, port match, pods the port applies to)``: a number or range applies
    to every destination; a named port to the destination pods that name it, grouped by
    number. The protocol (``-p``) leads a rule; the port match (``-m tcp --dport``) follows
    the ipset matches, as weave-npc writes them."""
    if port is None:
        return [((), (), None)]
    name = port.protocol.lower()
    proto: tuple[Match, ...] = (Protocol_(PROTO_NUMBERS[name]),)
    if port.port is None:
        return [(proto, (), None)]
    if isinstance(port.port, int):
        hi = port.end_port if port.end_port is not None and port.end_port > port.port else port.port
        return [(proto, (Ports(name, dport=PortRange(port.port, hi)),), None)]
    groups: dict[int, list[Pod]] = {}
    for pod in dst_pods or ():
        for cp in pod.ports:
            if cp.name == port.port and cp.protocol == port.protocol:
                groups.setdefault(cp.port, []).append(pod)
                break
    return [(proto, (Ports(name, dport=PortRange(num, num)),), members) for num, members in sorted(groups.items())]


def _comment(text: str, policy: NetworkPolicy) -> Comment:
    """weave-npc's comment plus the policy's name, cut to iptables' 255 characters."""
    suffix = f" policy {policy.key}"
    if len(text) + len(suffix) > 255:
        text = text[: 255 - len(suffix) - 3] + "..."
    return Comment(f"{text}{suffix}")


def _rule(*matches: Match, target: Target) -> Rule:
    return Rule(matches, target)


def _fixed_rules() -> list[tuple[str, Rule]]:
    """The chains and rules weave-npc installs whatever the policies (``net/bridge.go``,
    ``prog/weave-npc/main.go``)."""
    accept, ret, drop = Verdict_("ACCEPT"), Verdict_("RETURN"), Verdict_("DROP")
    note = Comment("NOTE: this must go before '-j KUBE-FORWARD'")
    new = State(frozenset({"NEW"}))
    established = State(frozenset({"RELATED", "ESTABLISHED"}))
    unmarked = Mark(EGRESS_MARK, EGRESS_MARK, negated=True)
    nflog = Nflog(group=NFLOG_GROUP)
    return [
        ("FORWARD", _rule(InIface(BRIDGE), note, target=Jump("WEAVE-NPC-EGRESS"))),
        ("FORWARD", _rule(OutIface(BRIDGE), note, target=Jump("WEAVE-NPC"))),
        ("FORWARD", _rule(OutIface(BRIDGE), new, target=nflog)),
        ("FORWARD", _rule(OutIface(BRIDGE), target=drop)),
        ("FORWARD", _rule(InIface(BRIDGE), OutIface(BRIDGE, negated=True), target=accept)),
        ("FORWARD", _rule(OutIface(BRIDGE), Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED"})), target=accept)),
        ("INPUT", _rule(InIface(BRIDGE), target=Jump("WEAVE-NPC-EGRESS"))),
        ("WEAVE-NPC", _rule(established, target=accept)),
        ("WEAVE-NPC", _rule(Destination(MULTICAST), target=accept)),
        ("WEAVE-NPC", _rule(Physdev(physdev_out=BRIDGE_PORT, is_bridged=True), target=accept)),
        ("WEAVE-NPC", _rule(new, target=Jump("WEAVE-NPC-DEFAULT"))),
        ("WEAVE-NPC", _rule(new, target=Jump("WEAVE-NPC-INGRESS"))),
        ("WEAVE-NPC-EGRESS-ACCEPT", _rule(target=MarkTarget(EGRESS_MARK, EGRESS_MARK))),
        ("WEAVE-NPC-EGRESS", _rule(established, target=accept)),
        ("WEAVE-NPC-EGRESS", _rule(Physdev(physdev_in=BRIDGE_PORT, is_bridged=True), target=ret)),
        ("WEAVE-NPC-EGRESS", _rule(AddrType(dst_type=("LOCAL",)), target=ret)),
        ("WEAVE-NPC-EGRESS", _rule(Destination(MULTICAST), target=ret)),
        ("WEAVE-NPC-EGRESS", _rule(new, target=Jump("WEAVE-NPC-EGRESS-DEFAULT"))),
        ("WEAVE-NPC-EGRESS", _rule(new, unmarked, target=Jump("WEAVE-NPC-EGRESS-CUSTOM"))),
        ("WEAVE-NPC-EGRESS", _rule(new, unmarked, target=nflog)),
        ("WEAVE-NPC-EGRESS", _rule(unmarked, target=drop)),
    ]


def render_npc(cluster: Cluster) -> NpcRules:
    """weave-npc's filter rules and ipsets for ``cluster`` (the same on every host)."""
    out = NpcRules()
    pods = [p for p in cluster.pods if p.node is not None and not p.host_network and _ip(p) is not None]
    policies = sorted(cluster.network_policies, key=lambda p: p.key)
    r = out.rules
    r += _fixed_rules()
    isolated = {d: {p.key for p in pods if any(d in pol.policy_types and _selects(pol, p) for pol in policies)}
                for d in ("Ingress", "Egress")}
    for ns in sorted({p.namespace for p in pods}):
        members = [p for p in pods if p.namespace == ns]
        ing = out.ipset(f"ingress-default-allow:{ns}", "hash:ip",
                        _hosts(p for p in members if p.key not in isolated["Ingress"]))
        egr = out.ipset(f"egress-default-allow:{ns}", "hash:ip",
                        _hosts(p for p in members if p.key not in isolated["Egress"]))
        r.append(("WEAVE-NPC-DEFAULT", _rule(
            SetMatch(ing, ("dst",)), Comment(f"DefaultAllow ingress isolation for namespace: {ns}"), target=Verdict_("ACCEPT"))))
        egress_default = (SetMatch(egr, ("src",)), Comment(f"DefaultAllow egress isolation for namespace: {ns}"))
        r.append(("WEAVE-NPC-EGRESS-DEFAULT", _rule(*egress_default, target=Jump("WEAVE-NPC-EGRESS-ACCEPT"))))
        r.append(("WEAVE-NPC-EGRESS-DEFAULT", _rule(*egress_default, target=Verdict_("RETURN"))))
    for pol in policies:
        targets = [p for p in pods if _selects(pol, p)]
        target_text = f"pods: namespace: {pol.namespace}, selector: {pol.pod_selector}"
        if "Ingress" in pol.policy_types:
            for i, rule in enumerate(pol.ingress):
                _ingress(out, cluster, pol, i, rule, targets, target_text, pods)
        if "Egress" in pol.policy_types:
            for i, rule in enumerate(pol.egress):
                _egress(out, cluster, pol, i, rule, targets, target_text, pods)
    return out


def _peers(out: NpcRules, cluster: Cluster, pol: NetworkPolicy, key: str, rule: PolicyRule,
           pods: Sequence[Pod]) -> list[tuple[str | None, str, list[Pod] | None]]:
    """(ipset name or None for anywhere, comment text, the peer's pods or None for an ipBlock
    or anywhere) for each peer of ``rule``."""
    if not rule.peers:
        return [(None, "anywhere", None)]
    out_peers: list[tuple[str | None, str, list[Pod] | None]] = []
    for j, peer in enumerate(rule.peers):
        text = _selector_text(pol, peer)
        if peer.ip_block is not None:
            out_peers.append((out.ipset(f"{key}/peer{j}", "hash:net", _block_nets(peer)), text, None))
            continue
        members = _peer_pods(cluster, pol, peer, pods)
        out_peers.append((out.ipset(f"{key}/peer{j}", "hash:ip", _hosts(members)), text, members))
    return out_peers


def _ingress(out: NpcRules, cluster: Cluster, pol: NetworkPolicy, i: int, rule: PolicyRule,
             targets: Sequence[Pod], target_text: str, pods: Sequence[Pod]) -> None:
    key = f"{pol.key}/ingress{i}"
    dst_all = out.ipset(f"{pol.key}/targets", "hash:ip", _hosts(targets))
    for src, src_text, _ in _peers(out, cluster, pol, key, rule, pods):
        src_match = (SetMatch(src, ("src",)),) if src else ()
        comment = _comment(f"{src_text} -> {target_text} (ingress)", pol)
        for port in (rule.ports or (None,)):
            for k, (proto, l4, only) in enumerate(_port_groups(port, targets)):
                dst = dst_all if only is None else out.ipset(f"{key}/{port}/{k}", "hash:ip", _hosts(only))
                out.rules.append(("WEAVE-NPC-INGRESS", _rule(
                    *proto, *src_match, SetMatch(dst, ("dst",)), *l4, comment, target=Verdict_("ACCEPT"))))


def _egress(out: NpcRules, cluster: Cluster, pol: NetworkPolicy, i: int, rule: PolicyRule,
            targets: Sequence[Pod], target_text: str, pods: Sequence[Pod]) -> None:
    key = f"{pol.key}/egress{i}"
    src = out.ipset(f"{pol.key}/targets", "hash:ip", _hosts(targets))
    for dst, dst_text, members in _peers(out, cluster, pol, key, rule, pods):
        for port in (rule.ports or (None,)):
            named = port is not None and isinstance(port.port, str)
            if named and dst is not None and members is None:
                continue  # a named port names no address of an ipBlock
            for k, (proto, l4, only) in enumerate(_port_groups(port, pods if members is None else members)):
                dst_set = dst
                if only is not None:
                    dst_set = out.ipset(f"{key}/{port}/{k}", "hash:ip", _hosts(only))
                dst_match = (SetMatch(dst_set, ("dst",)),) if dst_set else ()
                spec = (*proto, SetMatch(src, ("src",)), *dst_match, *l4,
                        _comment(f"{target_text} -> {dst_text} (egress)", pol))
                out.rules.append(("WEAVE-NPC-EGRESS-CUSTOM", _rule(*spec, target=Jump("WEAVE-NPC-EGRESS-ACCEPT"))))
                out.rules.append(("WEAVE-NPC-EGRESS-CUSTOM", _rule(*spec, target=Verdict_("RETURN"))))
