"""What kube-proxy on every node of one cluster reads alike, read once: the service ports, the
endpoints of each (as a node without any of them sees them) and the fragments of the service
ports whose rules do not depend on the node. ``program.py`` asks a ``ClusterView`` for a
node's payload; ``generate.build_payload`` stays the reference it must equal.

At 10,000 Services and 150,000 endpoints, ``build_payload`` for one node reads every
EndpointSlice again (most of its time); here node 2..n pay only for the Services with an
endpoint on that node (their ``is_local`` flags differ), those with loadBalancerSourceRanges
(the node IP decides a rule) and one pass over the service ports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.endpoints import (
    EndpointInfo,
    ServicePortInfo,
    SvcKey,
    categorize,
    endpoints_map,
    service_ports,
)
from overlaynet.kubeproxy.fragment import Fragment, Globals, service_port_fragment
from overlaynet.kubeproxy.generate import (
    LARGE_CLUSTER_ENDPOINTS,
    FragmentCache,
    Payload,
    _non_local,
    build_payload,
)
from overlaynet.model.services import EndpointSlice, Service

ServiceName = tuple[str, str]  # namespace, name


@dataclass
class FamilyView:
    """One IP family's service ports and endpoints, as every node's kube-proxy reads them."""

    family: Literal[4, 6]
    sps: list[ServicePortInfo]
    #: endpoints per service port as ``endpoints_map`` gives them to a node with none of them
    base: dict[SvcKey, list[EndpointInfo]]
    total: int  # endpoints of all service ports (kube-proxy's large-cluster threshold counts them)
    #: the Services with an endpoint on a node (their endpoints are local there), by node
    on_node: dict[str, set[ServiceName]]
    slices_of: dict[ServiceName, list[EndpointSlice]]
    #: per Globals, the fragment of each service port (by index in ``sps``) once built for
    #: a node that does not change it
    shared: dict[Globals, list[Fragment | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, services: Sequence[Service], slices: Sequence[EndpointSlice], family: Literal[4, 6]) -> FamilyView:
        sps = service_ports(services, family)
        base = endpoints_map(slices, family, "")
        on_node: dict[str, set[ServiceName]] = defaultdict(set)
        slices_of: dict[ServiceName, list[EndpointSlice]] = defaultdict(list)
        for s in slices:
            name = (s.namespace, s.service)
            slices_of[name].append(s)
            for ep in s.endpoints:
                if ep.node_name:
                    on_node[ep.node_name].add(name)
        total = sum(len(base.get(sp.key, ())) for sp in sps)
        return cls(family, sps, base, total, dict(on_node), dict(slices_of))

    def payload(self, config: ProxierConfig, cache: FragmentCache) -> Payload:
        """``build_payload(services, slices, config, cache=cache)``, from what is shared."""
        frame = build_payload((), (), config)  # what every sync writes besides services
        g = Globals(
            family=config.family,
            masquerade_all=config.masquerade_all,
            local=config.local_detector,
            localhost_nodeports=config.effective_localhost_nodeports,
            nfacct=config.nfacct,
            large_cluster=self.total > LARGE_CLUSTER_ENDPOINTS,
        )
        node = config.node_name
        mine = self.on_node.get(node, set()) if node else set()
        local = endpoints_map([s for name in sorted(mine) for s in self.slices_of[name]], self.family, node) if mine else {}
        shared = self.shared.get(g)
        if shared is None:
            shared = self.shared[g] = [None] * len(self.sps)
        node_ip, nets, known = config.node_ip, cache.host_nets, cache.fragments
        nat_chains = list(frame.nat_chains)
        fragments = [frame.fragments[0]]
        for i, sp in enumerate(self.sps):
            is_mine = (sp.namespace, sp.service) in mine
            if is_mine or sp.load_balancer_source_ranges:
                # depends on the node: as build_payload, keyed by everything it depends on
                eps = (local if is_mine else self.base).get(sp.key, [])
                key_eps = tuple(eps) if sp.uses_local_endpoints else tuple(_non_local(e) for e in eps)
                key = (sp, key_eps, g, node_ip if sp.load_balancer_source_ranges else None)
                frag = known.get(key)
                if frag is None:
                    frag = known[key] = service_port_fragment(sp, categorize(list(key_eps), sp), g, node_ip, nets)
            else:
                frag = shared[i]
                if frag is None:
                    frag = shared[i] = service_port_fragment(
                        sp, categorize(list(self.base.get(sp.key, ())), sp), g, node_ip, nets)
            nat_chains.extend(frag.nat_chains)
            fragments.append(frag)
        fragments.extend(frame.fragments[1:])
        return Payload(frame.filter_chains, tuple(nat_chains), tuple(fragments))


@dataclass
class ClusterView:
    """The family views of one cluster's Services and EndpointSlices (held, so that a view
    is only reused for the very same tuples)."""

    services: Sequence[Service]
    slices: Sequence[EndpointSlice]
    families: dict[int, FamilyView] = field(default_factory=dict)

    def family(self, family: Literal[4, 6]) -> FamilyView:
        view = self.families.get(family)
        if view is None:
            view = self.families[family] = FamilyView.of(self.services, self.slices, family)
        return view
