"""flanneld's iptables rules (``pkg/trafficmngr/iptables``): FLANNEL-POSTRTG masquerading with
``ipMasq``, and FLANNEL-FWD accepting forwarded traffic of the flannel network.

The rules are flannel's rulespecs, built as typed rules (no text is parsed), in
iptables-save order, and appended as flanneld appends them (``-A``).
"""

from __future__ import annotations

import ipaddress

from overlaynet.dataplane.ir import NetNamespace
from overlaynet.dataplane.netfilter import ChainRole, Rule
from overlaynet.dataplane.netfilter.matches import Comment, Destination, Mark, Match, Source
from overlaynet.dataplane.netfilter.targets import Jump, Masquerade, Target, Verdict_

__all__ = ["KUBE_PROXY_MARK", "forward_rules", "install", "masq_rules"]

IPv4Network = ipaddress.IPv4Network
KUBE_PROXY_MARK = 0x4000  # trafficmngr.KubeProxyMark (0x4000/0x4000): already masqueraded by kube-proxy
_MASQ = "flanneld masq"
_FWD = "flanneld forward"
_MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
#: ``Chain.origin`` of flanneld's chains, and what each is for
FLANNELD = "flanneld"
_ROLES = {"FLANNEL-POSTRTG": ChainRole.MASQUERADE, "FLANNEL-FWD": ChainRole.FILTER}


def _rule(*matches: Match, target: Target, comment: str) -> Rule:
    return Rule((*matches, Comment(comment)), target)


def masq_rules(network: IPv4Network, lease: IPv4Network, *, random_fully: bool = True) -> list[tuple[str, Rule]]:
    """(chain, rule) pairs of the nat table, in flannel's order (``masqRules``)."""
    masquerade = Masquerade(random_fully=random_fully)
    ret = Verdict_("RETURN")

    def masq(*matches: Match, target: Target) -> Rule:
        return _rule(*matches, target=target, comment=_MASQ)

    return [
        ("POSTROUTING", masq(target=Jump("FLANNEL-POSTRTG"))),
        ("FLANNEL-POSTRTG", masq(Mark(KUBE_PROXY_MARK, KUBE_PROXY_MARK), target=ret)),
        ("FLANNEL-POSTRTG", masq(Source(lease), Destination(network), target=ret)),
        ("FLANNEL-POSTRTG", masq(Source(network), Destination(lease), target=ret)),
        ("FLANNEL-POSTRTG", masq(Source(network, negated=True), Destination(lease), target=ret)),
        ("FLANNEL-POSTRTG", masq(Source(network), Destination(_MULTICAST, negated=True), target=masquerade)),
        ("FLANNEL-POSTRTG", masq(Source(network, negated=True), Destination(network), target=masquerade)),
    ]


def forward_rules(network: IPv4Network) -> list[tuple[str, Rule]]:
    """(chain, rule) pairs of the filter table (``forwardRules``, --iptables-forward-rules)."""
    return [
        ("FORWARD", _rule(target=Jump("FLANNEL-FWD"), comment=_FWD)),
        ("FLANNEL-FWD", _rule(Source(network), target=Verdict_("ACCEPT"), comment=_FWD)),
        ("FLANNEL-FWD", _rule(Destination(network), target=Verdict_("ACCEPT"), comment=_FWD)),
    ]


def install(root: NetNamespace, network: IPv4Network, lease: IPv4Network, *, ip_masq: bool) -> None:
    """Append flanneld's rules to ``root``'s netfilter: forward rules always, masquerading
    when ``ip_masq``. Rules already present (an identical rule in the chain) are kept once,
    as ``AppendUnique`` does. flanneld's own chains carry its origin and their role."""
    tables = [("filter", forward_rules(network))]
    if ip_masq:
        tables.append(("nat", masq_rules(network, lease)))
    for table, rules in tables:
        for chain_name, rule in rules:
            role = _ROLES.get(chain_name)  # None: a built-in chain (the kernel's, not flanneld's)
            target = root.netfilter.ensure_chain(table, chain_name, origin=FLANNELD if role else None, role=role)
            if rule not in target.rules:
                root.netfilter.append(table, chain_name, rule)
