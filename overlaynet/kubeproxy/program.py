"""kube-proxy programs a node: its rules merged into the node's root-namespace netfilter.

``program_node`` renders what kube-proxy on that node would restore, parses it with the
netfilter engine's ``parse_save`` and merges it as kube-proxy does: KUBE-* chains are
replaced wholesale (the payload's ``:CHAIN`` lines flush them), the jumps from built-in
chains are ensured at the top (EnsureRule(Prepend)), rules other writers added stay.

Programming node 2..n is cheap: per-service-port rule fragments are cached per cluster
(only node-dependent services — Local traffic policies, source ranges containing the node
IP — are generated again) and every distinct rule text is parsed once and shared as an
immutable Rule value.
"""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from overlaynet.dataplane.ir import Dataplane, NetNamespace, NsRef
from overlaynet.errors import IptablesSyntaxError
from overlaynet.kubeproxy.full import BUILTIN_CHAINS, JUMPS, TABLE_ORDER
from overlaynet.kubeproxy.generate import (
    KUBE_FIREWALL,
    KUBE_PROXY_CANARY,
    Fragment,
    Payload,
    build_payload,
    group_table,
)
from overlaynet.kubeproxy.names import chain_role
from overlaynet.kubeproxy.node import config_for_node
from overlaynet.model.cluster import Cluster, Node

ORIGIN = "kube-proxy (iptables mode)"


@dataclass
class _ClusterCache:
    """What programming one node leaves for the next node of the same cluster."""

    fragments: dict[tuple[object, ...], Fragment] = field(default_factory=dict)
    rules: dict[tuple[str, str], object] = field(default_factory=dict)  # (table, text) → Rule


_CACHES: dict[int, tuple[weakref.ref[Cluster], _ClusterCache]] = {}


def _cache_for(cluster: Cluster) -> _ClusterCache:
    key = id(cluster)
    entry = _CACHES.get(key)
    if entry is not None and entry[0]() is cluster:
        return entry[1]
    cache = _ClusterCache()

    def forget(_ref: weakref.ref[Cluster], k: int = key) -> None:
        _CACHES.pop(k, None)

    _CACHES[key] = (weakref.ref(cluster, forget), cache)
    return cache


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Pause the cyclic GC while hundreds of thousands of long-lived Rule objects are made
    (nothing here creates cycles; the collector would rescan them over and over)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def node_tables(payload: Payload) -> dict[str, dict[str, list[str]]]:
    """Payload plus kube-proxy's out-of-payload chains, as {table: {chain: [rule texts]}};
    built-in chains map to the jump texts kube-proxy ensures in them (in final order)."""
    tables: dict[str, dict[str, list[str]]] = {"mangle": {KUBE_PROXY_CANARY: []}}
    for table, chains in (("filter", payload.filter_chains), ("nat", payload.nat_chains)):
        extra = [KUBE_PROXY_CANARY] + ([KUBE_FIREWALL] if table == "filter" else [])
        tables[table] = group_table(table, (*chains, *extra), payload.lines)
    for table in TABLE_ORDER:
        for chain in BUILTIN_CHAINS[table]:
            tables[table].setdefault(chain, [])
    for jump in JUMPS:
        tables[jump.table][jump.chain].insert(0, jump.text)
    return tables


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def tokens(text: str) -> list[str]:
    """Split one generated rule into iptables arguments (its only quoting is ``"…"``
    around comments), much faster than shlex."""
    if '"' not in text:
        return text.split()
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(text)]


def _parse_missing(tables: dict[str, dict[str, list[str]]], cache: _ClusterCache) -> None:
    """Parse every rule text not seen before into an (immutable, shared) Rule."""
    from overlaynet.dataplane.netfilter import parse_rule

    for table, chains in tables.items():
        for texts in chains.values():
            for text in texts:
                key = (table, text)
                if key in cache.rules:
                    continue
                try:
                    cache.rules[key] = parse_rule(tokens(text))
                except ValueError as exc:
                    raise IptablesSyntaxError(str(exc), line=0, file="<kube-proxy rules>", text=text) from exc


_SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


def _merge(ns: NetNamespace, tables: dict[str, dict[str, list[str]]], cache: _ClusterCache) -> None:
    ruleset = ns.netfilter
    if "nat" in ruleset.tables:  # stale service chains go, as kube-proxy's `-X` lines do
        nat = ruleset.tables["nat"].chains
        for name in [c for c in nat if c.startswith(_SERVICE_CHAIN_PREFIXES) and c not in tables["nat"]]:
            del nat[name]
    for table in TABLE_ORDER:
        builtins = BUILTIN_CHAINS[table]
        for chain, texts in tables[table].items():
            rules = [cache.rules[(table, t)] for t in texts]
            if chain not in builtins:
                target = ruleset.ensure_chain(table, chain, origin="kube-proxy", role=chain_role(chain))
                target.rules = list(rules)  # type: ignore[arg-type]
                continue
            target = ruleset.ensure_chain(table, chain)
            # EnsureRule(Prepend) in iptablesJumpChains order: insert at 1 unless present
            for rule in reversed(rules):
                if rule not in target.rules:
                    target.rules.insert(0, rule)  # type: ignore[arg-type]


def program_node(dp: Dataplane, cluster: Cluster, node: Node) -> None:
    """Write what kube-proxy on ``node`` programs into its root namespace's netfilter."""
    ns = dp.namespace(NsRef.root(node.name))
    family = 4 if any(ip.version == 4 for ip in node.ips) else 6
    config = config_for_node(
        cluster,
        node.name,
        family=family,  # type: ignore[arg-type]
        interface_ips=sorted(ns.local_ips(), key=lambda ip: (ip.version, ip)),
    )
    cache = _cache_for(cluster)
    with _bulk_allocation():
        payload = build_payload(cluster.services, cluster.endpoint_slices, config, cache=cache.fragments)
        tables = node_tables(payload)
        _parse_missing(tables, cache)
        _merge(ns, tables, cache)
    if config.effective_localhost_nodeports:
        ns.sysctls["net.ipv4.conf.all.route_localnet"] = "1"
