"""kube-proxy programs a node: its typed rules merged into the node's root-namespace netfilter.

``program_node`` builds what kube-proxy on that node would restore (``build_payload``: typed
``Rule`` values, no text) and merges it as kube-proxy does: its chains are replaced wholesale
(the payload's ``:CHAIN`` lines flush them), the jumps from built-in chains are ensured at
the top (EnsureRule(Prepend)), rules other writers added stay. Every chain it writes carries
``origin="kube-proxy"`` and its ``ChainRole``.

Programming node 2..n is cheap: a ``KubeProxyCache`` (owned by the assembled network, one per
cluster) keeps what every node reads alike (``shared.ClusterView``: service ports, endpoints,
the fragments no node changes), so only node-dependent services (an endpoint on that node,
source ranges that may contain the node IP) are generated again; nodes share the immutable
Rule values of the fragments they have in common.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from overlaynet.dataplane.ir import Dataplane, NetNamespace, NsRef
from overlaynet.dataplane.netfilter.rules import Chain, ChainRole, Rule
from overlaynet.kubeproxy import names
from overlaynet.kubeproxy.fragment import OwnChains
from overlaynet.kubeproxy.full import BUILTIN_CHAINS, JUMPS, TABLE_ORDER
from overlaynet.kubeproxy.generate import (
    KUBE_FIREWALL,
    KUBE_PROXY_CANARY,
    FragmentCache,
    Payload,
    build_payload,
    chain_rules,
    group_tables,
)
from overlaynet.kubeproxy.names import chain_role
from overlaynet.kubeproxy.node import config_for_node
from overlaynet.kubeproxy.shared import ClusterView
from overlaynet.model.cluster import Cluster, Node

ORIGIN = "kube-proxy"

_SERVICE_CHAIN_PREFIXES = (names.SVC_PREFIX, names.SVL_PREFIX, names.EXT_PREFIX, names.FW_PREFIX, names.SEP_PREFIX)

@dataclass
class KubeProxyCache(FragmentCache):
    """One per assembled network: what node 1 leaves for node 2..n (fragments, host
    networks, and the ``ClusterView`` of the cluster's Services and EndpointSlices)."""

    view: ClusterView | None = field(default=None, repr=False)

    def view_of(self, cluster: Cluster) -> ClusterView:
        """The view of ``cluster``'s Services and slices (a new one when they are not the
        very tuples the kept view was made from)."""
        view = self.view
        if view is None or view.services is not cluster.services or view.slices is not cluster.endpoint_slices:
            view = self.view = ClusterView(cluster.services, cluster.endpoint_slices)
        return view


class DeferredChain(Chain):
    """A service port's own chain (KUBE-SVC/SVL/EXT/FW/SEP-…) whose rules are made on first
    use: a node's dataplane is built when a trace enters it, and a trace enters only the
    chains of the Services it touches. Anything reading ``rules`` (a trace, iptables-save,
    the materializer) sees them; setting ``rules`` replaces them as on any chain."""

    # a node at 10,000 Services makes 160,000 of these: the dataclass __init__ by hand, and
    # the fields still at their defaults (policy, counters, compiled) read from the class
    origin = ORIGIN

    def __init__(self, name: str, own: OwnChains, role: ChainRole | None = None) -> None:
        self.name = name
        self.role = role if role is not None else chain_role(name)
        self._own: OwnChains | None = own

    @property
    def rules(self) -> list[Rule]:
        own = self._own
        if own is not None:
            self._rules: list[Rule] = list(own.rules(self.name))
            self._own = None
        return self._rules

    @rules.setter
    def rules(self, value: list[Rule]) -> None:
        self._rules = value
        self._own = None


Tables = dict[str, dict[str, "list[Rule] | OwnChains"]]


def node_tables(payload: Payload) -> Tables:
    """Payload plus kube-proxy's out-of-payload chains, as {table: {chain: rules}}: a list
    of rules, or the ``OwnChains`` a service port's own chain is built from on first use;
    built-in chains map to the jumps kube-proxy ensures in them (in final order)."""
    tables: Tables = {"mangle": {KUBE_PROXY_CANARY: []}}
    grouped = group_tables(payload, {"filter": (KUBE_PROXY_CANARY, KUBE_FIREWALL), "nat": (KUBE_PROXY_CANARY,)},
                           own=False)
    for table, chains in grouped.items():
        tables[table] = {chain: chain_rules(pieces) for chain, pieces in chains.items()}
    nat = tables["nat"]
    for fragment in payload.fragments:  # the service ports' own chains: built on first use
        if fragment.own is not None:
            for chain in fragment.nat_chains:
                nat[chain] = fragment.own
    for table in TABLE_ORDER:
        for chain in BUILTIN_CHAINS[table]:
            tables[table].setdefault(chain, [])
    for jump in JUMPS:
        builtin = tables[jump.table][jump.chain]
        assert isinstance(builtin, list)
        builtin.insert(0, jump.written.rule)
    return tables


def _merge(ns: NetNamespace, tables: Tables) -> None:
    ruleset = ns.netfilter
    if "nat" in ruleset.tables:  # stale service chains go, as kube-proxy's `-X` lines do
        nat = ruleset.tables["nat"].chains
        for name in [c for c in nat if c.startswith(_SERVICE_CHAIN_PREFIXES) and c not in tables["nat"]]:
            del nat[name]
    for table in TABLE_ORDER:
        builtins = BUILTIN_CHAINS[table]
        chains = ruleset.table(table).chains
        for chain, rules in tables[table].items():
            if rules.__class__ is not list:
                chains[chain] = DeferredChain(chain, rules)  # type: ignore[arg-type]
                continue
            assert isinstance(rules, list)
            if chain not in builtins:
                target = ruleset.ensure_chain(table, chain, origin=ORIGIN, role=chain_role(chain))
                target.rules = rules
                target.compiled = None
                continue
            target = ruleset.ensure_chain(table, chain)
            # EnsureRule(Prepend) in iptablesJumpChains order: insert at 1 unless present
            for rule in reversed(rules):
                if rule not in target.rules:
                    target.rules.insert(0, rule)
                    target.compiled = None


def program_node(dp: Dataplane, cluster: Cluster, node: Node, *, cache: KubeProxyCache | None = None) -> None:
    """Write what kube-proxy on ``node`` programs into its root namespace's netfilter.
    ``cache`` (one per cluster) shares fragments between the nodes programmed with it."""
    ns = dp.namespace(NsRef.root(node.name))
    family = 4 if any(ip.version == 4 for ip in node.ips) else 6
    config = config_for_node(
        cluster,
        node.name,
        family=family,  # type: ignore[arg-type]
        interface_ips=sorted(ns.local_ips(), key=lambda ip: (ip.version, ip)),
    )
    if isinstance(cache, KubeProxyCache):
        payload = cache.view_of(cluster).family(family).payload(config, cache)  # type: ignore[arg-type]
    else:
        payload = build_payload(cluster.services, cluster.endpoint_slices, config, cache=cache)
    _merge(ns, node_tables(payload))
    if config.effective_localhost_nodeports:
        ns.sysctls["net.ipv4.conf.all.route_localnet"] = "1"
