"""flanneld's iptables rules (``pkg/trafficmngr/iptables``): FLANNEL-POSTRTG masquerading with
``ipMasq``, and FLANNEL-FWD accepting forwarded traffic of the flannel network.

The rule texts are flannel's rulespecs in iptables-save order; the netfilter engine's one
parser turns them into typed rules, appended as flanneld appends them (``-A``).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from overlaynet.dataplane.ir import NetNamespace
from overlaynet.dataplane.netfilter import ChainRole

if TYPE_CHECKING:
    from overlaynet.dataplane.netfilter import Chain

__all__ = ["KUBE_PROXY_MARK", "forward_rules", "install", "masq_rules"]

IPv4Network = ipaddress.IPv4Network
KUBE_PROXY_MARK = "0x4000/0x4000"  # trafficmngr.KubeProxyMark: already masqueraded by kube-proxy
_MASQ = '-m comment --comment "flanneld masq"'
_FWD = '-m comment --comment "flanneld forward"'
#: ``Chain.origin`` of flanneld's chains, and what each is for
FLANNELD = "flanneld"
_ROLES = {"FLANNEL-POSTRTG": ChainRole.MASQUERADE, "FLANNEL-FWD": ChainRole.FILTER}


def masq_rules(network: IPv4Network, lease: IPv4Network, *, random_fully: bool = True) -> list[tuple[str, str]]:
    """(chain, rule) pairs of the nat table, in flannel's order (``masqRules``)."""
    rf = " --random-fully" if random_fully else ""
    return [
        ("POSTROUTING", f"{_MASQ} -j FLANNEL-POSTRTG"),
        ("FLANNEL-POSTRTG", f"-m mark --mark {KUBE_PROXY_MARK} {_MASQ} -j RETURN"),
        ("FLANNEL-POSTRTG", f"-s {lease} -d {network} {_MASQ} -j RETURN"),
        ("FLANNEL-POSTRTG", f"-s {network} -d {lease} {_MASQ} -j RETURN"),
        ("FLANNEL-POSTRTG", f"! -s {network} -d {lease} {_MASQ} -j RETURN"),
        ("FLANNEL-POSTRTG", f"-s {network} ! -d 224.0.0.0/4 {_MASQ} -j MASQUERADE{rf}"),
        ("FLANNEL-POSTRTG", f"! -s {network} -d {network} {_MASQ} -j MASQUERADE{rf}"),
    ]


def forward_rules(network: IPv4Network) -> list[tuple[str, str]]:
    """(chain, rule) pairs of the filter table (``forwardRules``, --iptables-forward-rules)."""
    return [
        ("FORWARD", f"{_FWD} -j FLANNEL-FWD"),
        ("FLANNEL-FWD", f"-s {network} {_FWD} -j ACCEPT"),
        ("FLANNEL-FWD", f"-d {network} {_FWD} -j ACCEPT"),
    ]


def _restore_text(table: str, rules: list[tuple[str, str]]) -> str:
    from overlaynet.dataplane.netfilter import BUILTIN_CHAINS

    chains = dict.fromkeys(chain for chain, _ in rules)
    lines = [f"*{table}"]
    lines += [f":{c} {'ACCEPT' if c in BUILTIN_CHAINS[table] else '-'} [0:0]" for c in chains]
    lines += [f"-A {chain} {rule}" for chain, rule in rules]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1024)
def _parsed(table: str, text: str) -> dict[str, Chain]:
    """Parse once per distinct rule text (the forward rules are the same on every host)."""
    from overlaynet.dataplane.netfilter import parse_save

    return parse_save(text, file=f"<flanneld {table} rules>").tables[table].chains


def install(root: NetNamespace, network: IPv4Network, lease: IPv4Network, *, ip_masq: bool) -> None:
    """Append flanneld's rules to ``root``'s netfilter: forward rules always, masquerading
    when ``ip_masq``. Rules already present (an identical rule in the chain) are kept once,
    as ``AppendUnique`` does."""
    tables = [("filter", forward_rules(network))]
    if ip_masq:
        tables.append(("nat", masq_rules(network, lease)))
    for table, rules in tables:
        for chain_name, chain in _parsed(table, _restore_text(table, rules)).items():
            role = _ROLES.get(chain_name)  # None: a built-in chain (the kernel's, not flanneld's)
            target = root.netfilter.ensure_chain(table, chain_name, origin=FLANNELD if role else None, role=role)
            for rule in chain.rules:
                if rule not in target.rules:
                    root.netfilter.append(table, chain_name, rule)
