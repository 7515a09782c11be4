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
trace names the policy and rule that decided.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterable

from overlaynet.dataplane.netfilter import ChainRole
from overlaynet.model import Cluster, Pod
from overlaynet.policy.calico import (
    CalicoPolicy,
    CalicoRule,
    EntityRule,
    PortSpec,
    entity_matches,
)

ACCEPT_MARK = "0x10000/0x10000"
PASS_MARK = "0x20000/0x20000"
LOG_PREFIX = "calico-packet: "


def policy_chain(policy: CalicoPolicy, direction: str) -> str:
    """``cali-pi-_<hash>`` / ``cali-po-_<hash>``: Felix's hashed names, 28 characters at most."""
    digest = hashlib.sha256(f"default/{policy.namespace or ''}/{policy.name}".encode()).digest()
    tag = base64.urlsafe_b64encode(digest).decode()[:19]
    return f"cali-p{'i' if direction == 'Ingress' else 'o'}-_{tag}"


def endpoint_chain(veth: str, direction: str) -> str:
    return f"cali-{'tw' if direction == 'Ingress' else 'fw'}-{veth}"


def _q(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _addresses(cluster: Cluster, policy: CalicoPolicy, ent: EntityRule, candidates: Iterable[Pod]) -> list[str] | None:
    """The address matches an entity needs: None = any address; [] = matches nothing."""
    if ent.selects_pods:
        plain = EntityRule(ent.selector, ent.namespace_selector, ent.nets, ent.not_nets)
        return [
            f"{ip}/{ip.max_prefixlen}"
            for pod in candidates
            if pod.ips
            for ip in pod.ips
            if entity_matches(cluster, policy, plain, pod, ip, None, "tcp", None)
        ]
    if ent.nets:
        return [str(n) for n in ent.nets]
    return None


def _ports(specs: tuple[PortSpec, ...], proto: str | None, owners: list[Pod]) -> list[str]:
    if not specs:
        return [""]
    p = (proto or "tcp").lower()
    out: list[str] = []
    for spec in specs:
        if spec.name is not None:
            numbers = sorted({n for pod in owners if (n := pod.port_named(spec.name, p.upper())) is not None})
            out.extend(f"-m {p} --dport {n}" for n in numbers)
        elif spec.lo == spec.hi:
            out.append(f"-m {p} --dport {spec.lo}")
        else:
            out.append(f"-m multiport --dports {spec.lo}:{spec.hi}")
    return out or ["__none__"]


def _verdict(rule: CalicoRule, comment: str) -> tuple[str, str | None]:
    """The rule's deciding target, and the return that follows an Allow or Pass mark."""
    c = f"-m comment --comment {_q(comment)}"
    if rule.action == "Allow":
        return f"{c} -j MARK --set-xmark {ACCEPT_MARK}", f"-m mark --mark {ACCEPT_MARK} -j RETURN"
    if rule.action == "Deny":
        return f"{c} -j DROP", None
    if rule.action == "Pass":
        return f"{c} -j MARK --set-xmark {PASS_MARK}", f"-m mark --mark {PASS_MARK} -j RETURN"
    return f'{c} -j LOG --log-prefix "{LOG_PREFIX}"', None


def render_rule(
    cluster: Cluster, policy: CalicoPolicy, rule: CalicoRule, direction: str, local_pods: list[Pod]
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Lines of the policy chain for one rule, and any sub-chains (for notNets/notPorts)."""
    chain = policy_chain(policy, direction)
    n = rule.number
    comment = f"policy {policy.display} {direction.lower()} rule {n}: {rule.action}"
    mine_local = [p for p in local_pods if policy.selects(cluster, p)]
    if direction == "Ingress":
        other_ent, my_ent, oflag, mflag = rule.source, rule.destination, "-s", "-d"
        port_owners = mine_local
    else:
        other_ent, my_ent, oflag, mflag = rule.destination, rule.source, "-d", "-s"
        port_owners = [p for p in cluster.pods if p.ips]
    other_addrs = _addresses(cluster, policy, other_ent, cluster.pods)
    my_addrs = _addresses(cluster, policy, my_ent, mine_local)
    if other_addrs == [] or my_addrs == []:
        return [], []  # selects no endpoint: Felix renders an ipset that matches nothing
    port_specs = rule.destination.ports
    ports = _ports(port_specs, rule.protocol, port_owners)
    if ports == ["__none__"]:
        return [], []
    proto = f"-p {rule.protocol.lower()}" if rule.protocol else ""
    notproto = f"! -p {rule.not_protocol.lower()}" if rule.not_protocol else ""
    excepts = [(oflag, str(x)) for x in other_ent.not_nets] + [(mflag, str(x)) for x in my_ent.not_nets]
    not_ports = rule.destination.not_ports
    sub = f"{chain}-r{n}"[:28] if (excepts or not_ports) else None
    lines: list[str] = []
    subs: list[tuple[str, list[str]]] = []
    for oa, ma, port in itertools.product(other_addrs or [""], my_addrs or [""], ports):
        match = " ".join(
            x for x in (f"{oflag} {oa}" if oa else "", f"{mflag} {ma}" if ma else "", proto, notproto, port) if x
        )
        if sub is None:
            decide, ret = _verdict(rule, comment)
            lines.append(f"-A {chain} {match} {decide}".replace("  ", " "))
            if ret is not None:
                lines.append(f"-A {chain} {ret}")
        else:
            lines.append(f"-A {chain} {match} -j {sub}".replace("  ", " "))
            if rule.action in ("Allow", "Pass"):
                mark = ACCEPT_MARK if rule.action == "Allow" else PASS_MARK
                lines.append(f"-A {chain} -m mark --mark {mark} -j RETURN")
    if sub is not None:
        body = [
            f"-A {sub} {flag} {net} -m comment --comment {_q(f'{comment}: not {net}')} -j RETURN"
            for flag, net in excepts
        ]
        for spec in not_ports:
            p = (rule.protocol or "tcp").lower()
            m = f"-m {p} --dport {spec.lo}" if spec.lo == spec.hi else f"-m multiport --dports {spec.lo}:{spec.hi}"
            body.append(f"-A {sub} -p {p} {m} -m comment --comment {_q(f'{comment}: not port {spec}')} -j RETURN")
        body.append(f"-A {sub} {_verdict(rule, comment)[0]}")  # the caller returns on the mark
        subs.append((sub, body))
    return lines, subs


def render_node_policy(
    cluster: Cluster, policies: list[CalicoPolicy], local_pods: list[tuple[Pod, str]]
) -> tuple[str, dict[str, ChainRole]]:
    """The filter-table payload Felix would program on a node (``local_pods``: pod, veth),
    and what each of its chains is for: the dispatch chains pick an endpoint's chain; an
    endpoint chain (conntrack, its policies in order, the tier's default deny, the profile)
    and a policy chain decide."""
    chains: dict[str, list[str]] = {"cali-FORWARD": [], "cali-from-wl-dispatch": [], "cali-to-wl-dispatch": []}
    roles = {"cali-FORWARD": ChainRole.FILTER, "cali-from-wl-dispatch": ChainRole.POLICY_DISPATCH,
             "cali-to-wl-dispatch": ChainRole.POLICY_DISPATCH}
    pods = [p for p, _ in local_pods]
    used: dict[tuple[str, str], CalicoPolicy] = {}
    chains["cali-FORWARD"] += [
        '-A cali-FORWARD -i cali+ -m comment --comment "from workload dispatch" -j cali-from-wl-dispatch',
        '-A cali-FORWARD -o cali+ -m comment --comment "to workload dispatch" -j cali-to-wl-dispatch',
        f'-A cali-FORWARD -m mark --mark {ACCEPT_MARK} -m comment --comment "Policy explicitly accepted packet." -j ACCEPT',
    ]
    for pod, veth in sorted(local_pods, key=lambda pv: pv[1]):
        for direction, dispatch, flag in (("Egress", "cali-from-wl-dispatch", "-i"), ("Ingress", "cali-to-wl-dispatch", "-o")):
            ep = endpoint_chain(veth, direction)
            roles[ep] = ChainRole.POLICY
            chains[dispatch].append(f"-A {dispatch} {flag} {veth} -g {ep}")
            body = chains.setdefault(ep, [])
            body += [
                f"-A {ep} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                f"-A {ep} -m conntrack --ctstate INVALID -j DROP",
                f"-A {ep} -j MARK --set-xmark 0x0/0x30000",
            ]
            selecting = [p for p in policies if direction in p.types and p.selects(cluster, pod)]
            for pol in selecting:
                used[(pol.display, direction)] = pol
                pc = policy_chain(pol, direction)
                body.append(f"-A {ep} -m mark --mark 0x0/0x20000 -j {pc}")
                body.append(
                    f"-A {ep} -m mark --mark {ACCEPT_MARK} -m comment --comment "
                    f"{_q(f'policy {pol.display} {direction.lower()}: return if policy accepted')} -j RETURN"
                )
            if selecting:
                names = ", ".join(p.display for p in selecting)
                body.append(
                    f"-A {ep} -m mark --mark 0x0/0x20000 -m comment --comment "
                    f"{_q(f'policy: denied, no policy allows it ({names} selects {pod.key}) {direction.lower()}')} -j DROP"
                )
            body += [
                f"-A {ep} -m comment --comment "
                f"{_q(f'profile kns.{pod.namespace}: allowed, no policy decided for {pod.key} {direction.lower()}')} "
                f"-j MARK --set-xmark {ACCEPT_MARK}",
                f"-A {ep} -m mark --mark {ACCEPT_MARK} -j RETURN",
            ]
    for d in ("cali-from-wl-dispatch", "cali-to-wl-dispatch"):
        chains[d].append(f'-A {d} -m comment --comment "Unknown interface" -j DROP')
    for (_, direction), pol in sorted(used.items()):
        pc = policy_chain(pol, direction)
        body = chains.setdefault(pc, [])
        roles[pc] = ChainRole.POLICY
        for rule in pol.ingress if direction == "Ingress" else pol.egress:
            lines, subs = render_rule(cluster, pol, rule, direction, pods)
            body += lines
            for name, sub in subs:
                chains[name] = sub
                roles[name] = ChainRole.POLICY
    out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    out += [f":{name} - [0:0]" for name in chains]
    out.append('-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD')
    for body in chains.values():
        out += body
    out.append("COMMIT")
    return "\n".join(out) + "\n", roles
