"""Kubernetes NetworkPolicy rendered as Felix renders it: filter-table chains in the host
namespace, dispatching by workload interface to per-endpoint chains (``cali-fw-*`` for what a
pod sends, ``cali-tw-*`` for what it receives) that call one chain per policy.

Layout (after Felix's rule renderer, simplified where noted in docs/calico.md):

    FORWARD -> cali-FORWARD -> cali-from-wl-dispatch (-i cali…)  -> cali-fw-<veth> -> cali-po-<policy>
                            -> cali-to-wl-dispatch   (-o cali…)  -> cali-tw-<veth> -> cali-pi-<policy>
    mark 0x10000 = "accepted by a policy", 0x20000 = "passed"; a tier ends in a DROP only
    when some policy selects the endpoint; otherwise the namespace profile allows.

Peers are expanded to the pod IPs they select at render time (Felix uses ipsets). Every rule
carries a comment ``policy <ns/name> <ingress|egress> rule <n>`` or a ``policy: …`` reason, so
a trace names the policy and rule that decided.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from overlaynet.model import Cluster, NetworkPolicy, Pod
from overlaynet.model.netpol import selecting_policies
from overlaynet.model.policy import IPBlock, PolicyPort, PolicyRule

ACCEPT_MARK = "0x10000/0x10000"
PASS_MARK = "0x20000/0x20000"


def policy_chain(policy: NetworkPolicy, direction: str) -> str:
    """``cali-pi-_<hash>`` (ingress) / ``cali-po-_<hash>`` (egress), 28 characters at most."""
    digest = hashlib.sha256(f"default/knp.default.{policy.namespace}/{policy.name}".encode()).digest()
    tag = base64.urlsafe_b64encode(digest).decode()[:19]
    return f"cali-p{'i' if direction == 'Ingress' else 'o'}-_{tag}"


def _q(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _port_clauses(ports: tuple[PolicyPort, ...], dst_pods: list[Pod]) -> list[str]:
    """iptables match fragments, one per port entry (named ports resolve per destination pod)."""
    if not ports:
        return [""]
    out: list[str] = []
    for p in ports:
        proto = p.protocol.lower()
        if p.port is None:
            out.append(f"-p {proto}")
        elif isinstance(p.port, str):
            numbers = sorted({n for pod in dst_pods if (n := pod.port_named(p.port, p.protocol)) is not None})
            out.extend(f"-p {proto} -m {proto} --dport {n}" for n in numbers)
        elif p.end_port is not None and p.end_port != p.port:
            out.append(f"-p {proto} -m multiport --dports {p.port}:{p.end_port}")
        else:
            out.append(f"-p {proto} -m {proto} --dport {p.port}")
    return out


def _peer_sources(cluster: Cluster, policy: NetworkPolicy, rule: PolicyRule) -> list[tuple[str, IPBlock | None]]:
    """(address match, ipBlock) pairs: '' means any address."""
    from overlaynet.model.netpol import peer_matches

    if not rule.peers:
        return [("", None)]
    out: list[tuple[str, IPBlock | None]] = []
    for peer in rule.peers:
        if peer.ip_block is not None:
            out.append((str(peer.ip_block.cidr), peer.ip_block))
            continue
        for pod in cluster.pods:
            if pod.ips and peer_matches(cluster, policy, peer, pod, pod.ips[0]):
                out.extend((f"{ip}/{ip.max_prefixlen}", None) for ip in pod.ips)
    return out or [("__none__", None)]


def render_policy(cluster: Cluster, policy: NetworkPolicy, direction: str, local_pods: Iterable[Pod]) -> list[str]:
    """The ``-A`` lines of one policy chain for one direction."""
    chain = policy_chain(policy, direction)
    flag = "-s" if direction == "Ingress" else "-d"
    rules = policy.ingress if direction == "Ingress" else policy.egress
    selected = [p for p in local_pods if policy.pod_selector.matches(p.labels) and p.namespace == policy.namespace]
    lines: list[str] = []
    for n, rule in enumerate(rules, 1):
        comment = f"policy {policy.key} {direction.lower()} rule {n}"
        dst_pods = selected if direction == "Ingress" else [
            p for p in cluster.pods if any(_peer_ok(cluster, policy, rule, p))
        ]
        for addr, block in _peer_sources(cluster, policy, rule):
            if addr == "__none__":
                continue
            for ports in _port_clauses(rule.ports, dst_pods):
                match = " ".join(x for x in (f"{flag} {addr}" if addr else "", ports) if x)
                if block is not None and block.except_:
                    sub = f"{chain}-e{n}"[:28]
                    lines.append(f"-A {chain} {match} -m comment --comment {_q(comment)} -j {sub}".replace("  ", " "))
                    lines.append(f"-A {chain} -m mark --mark {ACCEPT_MARK} -j RETURN")
                    continue
                lines.append(
                    f"-A {chain} {match} -m comment --comment {_q(comment)} -j MARK --set-xmark {ACCEPT_MARK}".replace(
                        "  ", " "
                    )
                )
                lines.append(f"-A {chain} -m mark --mark {ACCEPT_MARK} -j RETURN")
    return lines


def _peer_ok(cluster: Cluster, policy: NetworkPolicy, rule: PolicyRule, pod: Pod) -> Iterable[bool]:
    from overlaynet.model.netpol import peer_matches

    if not rule.peers:
        yield True
        return
    for peer in rule.peers:
        if pod.ips:
            yield peer_matches(cluster, policy, peer, pod, pod.ips[0])


def _except_chains(policy: NetworkPolicy, direction: str) -> list[tuple[str, list[str]]]:
    chain = policy_chain(policy, direction)
    flag = "-s" if direction == "Ingress" else "-d"
    out: list[tuple[str, list[str]]] = []
    rules = policy.ingress if direction == "Ingress" else policy.egress
    for n, rule in enumerate(rules, 1):
        for peer in rule.peers:
            if peer.ip_block is not None and peer.ip_block.except_:
                sub = f"{chain}-e{n}"[:28]
                body = [
                    f"-A {sub} {flag} {e} -m comment --comment {_q(f'policy {policy.key} {direction.lower()} rule {n}: ipBlock except {e}')} -j RETURN"
                    for e in peer.ip_block.except_
                ]
                comment = f"policy {policy.key} {direction.lower()} rule {n}"
                body.append(f"-A {sub} -m comment --comment {_q(comment)} -j MARK --set-xmark {ACCEPT_MARK}")
                if (sub, body) not in out:
                    out.append((sub, body))
    return out


def endpoint_chain(veth: str, direction: str) -> str:
    return f"cali-{'tw' if direction == 'Ingress' else 'fw'}-{veth}"


def render_node_policy(cluster: Cluster, local_pods: list[tuple[Pod, str]]) -> str:
    """The filter-table payload Felix would program on a node (``local_pods``: pod, veth)."""
    chains: dict[str, list[str]] = {
        "cali-FORWARD": [],
        "cali-from-wl-dispatch": [],
        "cali-to-wl-dispatch": [],
    }
    pods = [p for p, _ in local_pods]
    policies_seen: dict[tuple[str, str], NetworkPolicy] = {}
    fwd = chains["cali-FORWARD"]
    fwd.append('-A cali-FORWARD -i cali+ -m comment --comment "from workload dispatch" -j cali-from-wl-dispatch')
    fwd.append('-A cali-FORWARD -o cali+ -m comment --comment "to workload dispatch" -j cali-to-wl-dispatch')
    fwd.append(f'-A cali-FORWARD -m mark --mark {ACCEPT_MARK} -m comment --comment "Policy explicitly accepted packet." -j ACCEPT')
    for pod, veth in sorted(local_pods, key=lambda pv: pv[1]):
        for direction, dispatch, flag in (("Egress", "cali-from-wl-dispatch", "-i"), ("Ingress", "cali-to-wl-dispatch", "-o")):
            ep = endpoint_chain(veth, direction)
            chains[dispatch].append(f"-A {dispatch} {flag} {veth} -g {ep}")
            body = chains.setdefault(ep, [])
            body.append(f"-A {ep} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            body.append(f"-A {ep} -m conntrack --ctstate INVALID -j DROP")
            body.append(f"-A {ep} -j MARK --set-xmark 0x0/0x30000")
            selecting = selecting_policies(cluster, pod, direction)  # type: ignore[arg-type]
            for policy in selecting:
                policies_seen[(policy.key, direction)] = policy
                pc = policy_chain(policy, direction)
                body.append(f"-A {ep} -m mark --mark 0x0/0x20000 -j {pc}")
                body.append(
                    f"-A {ep} -m mark --mark {ACCEPT_MARK} -m comment --comment "
                    f"{_q(f'policy {policy.key} {direction.lower()}: return if policy accepted')} -j RETURN"
                )
            if selecting:
                names = ", ".join(p.key for p in selecting)
                body.append(
                    f"-A {ep} -m mark --mark 0x0/0x20000 -m comment --comment "
                    f"{_q(f'policy: denied, no policy allows it ({names} selects {pod.key}) {direction.lower()}')} -j DROP"
                )
            profile = f"kns.{pod.namespace}"
            body.append(
                f"-A {ep} -m comment --comment {_q(f'profile {profile}: no policy selects {pod.key} for {direction.lower()}, allowed')} "
                f"-j MARK --set-xmark {ACCEPT_MARK}"
            )
            body.append(f"-A {ep} -m mark --mark {ACCEPT_MARK} -j RETURN")
    for direction in ("from", "to"):
        d = f"cali-{direction}-wl-dispatch"
        chains[d].append(f'-A {d} -m comment --comment "Unknown interface" -j DROP')
    extra: list[tuple[str, list[str]]] = []
    for (_, direction), policy in sorted(policies_seen.items()):
        chains[policy_chain(policy, direction)] = render_policy(cluster, policy, direction, pods)
        extra.extend(_except_chains(policy, direction))
    for name, body in extra:
        chains[name] = body
    out = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    out += [f":{name} - [0:0]" for name in chains]
    out.append('-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD')
    for body in chains.values():
        out += body
    out.append("COMMIT")
    return "\n".join(out) + "\n"
