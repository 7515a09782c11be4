"""One service port's rules, as the loop body of kube-proxy's ``syncProxyRules`` writes them
(kubernetes ``pkg/proxy/iptables/proxier.go``), written once against the rule shapes of
``shapes.py``: as typed ``Rule`` values with their payload spelling (``Fragment``, for the
IR) or straight as payload lines (``TextFragment``, for ``generate``). ``generate.py``
assembles fragments into a payload; nodes share a fragment whenever everything it depends
on is equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.kubeproxy import names
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.endpoints import Categorized, EndpointInfo, ServicePortInfo
from overlaynet.kubeproxy.local import LocalDetector
from overlaynet.kubeproxy.shapes import Block, RuleWriter, Run, TextRules, TypedRules, local_texts
from overlaynet.model.base import IPAddress

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"


@dataclass(frozen=True, slots=True)
class Globals:
    """The config values a service port's rules depend on, beyond the node."""

    family: int
    masquerade_all: bool
    local: LocalDetector | None
    localhost_nodeports: bool
    nfacct: bool
    large_cluster: bool
    local_text: tuple[str, str] = field(init=False, compare=False)  # the detector printed (shapes.local_texts)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "local_text", local_texts(self.local))
        object.__setattr__(self, "_hash", hash((self.family, self.masquerade_all, self.local, self.localhost_nodeports,
                                                self.nfacct, self.large_cluster)))

    def __hash__(self) -> int:  # computed once: every fragment's cache key holds the Globals
        return self._hash


@dataclass(frozen=True, slots=True)
class Fragment:
    """Everything one service port contributes: the nat chains it declares, and its rules
    (with their spellings) in runs of consecutive rules of one chain — a flat layout, because
    at 10,000 Services every object per rule counts."""

    service: str  # "namespace/name", the key kube-proxy's tests sort service rules by
    nat_chains: tuple[str, ...]
    rules: tuple[Rule, ...]  # those in the chains all services share
    spellings: tuple[w.Spelling, ...]
    runs: tuple[Run, ...]
    own: OwnChains | None = None  # the rules of the chains only this service port writes

    @classmethod
    def of(cls, service: str, nat_chains: tuple[str, ...], lines: list[w.Written]) -> Fragment:
        out = TypedRules(w.HostNets(), None)
        for line in lines:
            out.write(line.table, line.chain, line.rule, line.spelling)
        return _typed(out, service, nat_chains)

    @property
    def lines(self) -> Iterator[w.Written]:
        """Every rule, its own chains' after the shared ones."""
        for part in (self, self.own.fragment()) if self.own is not None else (self,):
            for table, chain, start, end in part.runs:
                for i in range(start, end):
                    yield w.Written(table, chain, part.rules[i], part.spellings[i])


@dataclass(frozen=True, slots=True)
class TextFragment:
    """A service port's rules as payload text (``-A CHAIN …`` lines joined): ``blocks`` in
    the chains all services share, per run of one chain, and ``own_text`` all the lines of
    each chain of its own. What ``generate`` prints, made without a Rule object."""

    service: str
    nat_chains: tuple[str, ...]
    blocks: tuple[Block, ...]
    own_text: dict[str, str]
    own: None = None


@dataclass(slots=True)
class _Plan:
    """What one service port's rules are made of: its inputs and the decisions of
    syncProxyRules' loop body (which chains it uses, where traffic goes). Not changed after
    ``of``; not frozen, because a frozen dataclass sets each of its 19 fields through
    ``object.__setattr__`` (one is made per service port per build)."""

    sp: ServicePortInfo
    cat: Categorized
    g: Globals
    node_ip: IPAddress | None
    nets: w.HostNets
    cluster_chain: str
    local_chain: str
    ext_chain: str
    fw_chain: str
    internal_chain: str
    external_policy_chain: str
    has_internal: bool
    has_external: bool
    uses_cluster_chain: bool
    uses_local_chain: bool
    uses_ext_chain: bool
    uses_fw: bool
    sep_names: dict[str, str]

    @classmethod
    def of(cls, sp: ServicePortInfo, cat: Categorized, g: Globals, node_ip: IPAddress | None,
           nets: w.HostNets) -> _Plan:
        spn = sp.name
        h = names.port_proto_hash(spn, sp.protocol)
        cluster_chain, local_chain = names.SVC_PREFIX + h, names.SVL_PREFIX + h
        has_endpoints = cat.has_any
        internal_chain, has_internal = cluster_chain, has_endpoints
        if sp.internal_policy_local:
            internal_chain = local_chain
            has_internal = has_internal and bool(cat.local)
        external_policy_chain, has_external = cluster_chain, has_endpoints
        if sp.external_policy_local:
            external_policy_chain = local_chain
            has_external = has_external and bool(cat.local)
        named = cat.reachable  # usually the cluster endpoints themselves, and no local ones apart
        if cat.cluster is not named or cat.local:
            named = (*named, *cat.cluster, *cat.local)
        sep_names = names.sep_chains(spn, sp.protocol, [ep.string for ep in named])
        return cls(
            sp, cat, g, node_ip, nets, cluster_chain, local_chain, names.EXT_PREFIX + h, names.FW_PREFIX + h,
            internal_chain, external_policy_chain, has_internal, has_external,
            uses_cluster_chain=bool(cat.cluster) and sp.uses_cluster_endpoints,
            uses_local_chain=bool(cat.local) and sp.uses_local_endpoints,
            uses_ext_chain=has_endpoints and sp.externally_accessible,
            uses_fw=has_endpoints and bool(sp.load_balancer_vips) and bool(sp.load_balancer_source_ranges),
            sep_names=sep_names,
        )

    @property
    def own_chains(self) -> tuple[str, ...]:
        """The nat chains only this service port writes, in kube-proxy's declaration order."""
        out = [self.ext_chain] if self.uses_ext_chain else []
        if self.uses_fw:
            out.append(self.fw_chain)
        if self.uses_cluster_chain:
            out.append(self.cluster_chain)
        if self.uses_local_chain:
            out.append(self.local_chain)
        out.extend(self.sep_names[ep.string] for ep in self.cat.reachable)
        return tuple(out)


class OwnChains:
    """The rules of the chains one service port owns (KUBE-SVC/SVL/EXT/FW/SEP-…), typed,
    built on first use and then kept: most of a node's rules are there (three per
    endpoint), and a trace enters only the chains of the Services it touches. Nodes that
    share the fragment share these rules."""

    __slots__ = ("_built", "_by_chain", "_plan")

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._built: Fragment | None = None
        self._by_chain: dict[str, tuple[Rule, ...]] | None = None

    @property
    def chains(self) -> tuple[str, ...]:
        return self._plan.own_chains

    def fragment(self) -> Fragment:
        """The rules, spellings and runs (as a Fragment without chains of its own)."""
        if self._built is None:
            plan = self._plan
            out = TypedRules(plan.nets, plan.g.local)
            _write_own(plan, out)
            self._built = _typed(out, f"{plan.sp.namespace}/{plan.sp.service}", ())
        return self._built

    def rules(self, chain: str) -> tuple[Rule, ...]:
        """The rules of one of these chains, in order."""
        if self._by_chain is None:
            built = self.fragment()
            by_chain: dict[str, tuple[Rule, ...]] = {}
            for _, c, start, end in built.runs:  # a chain may have several runs (SVC: masquerade, then cascade)
                by_chain[c] = by_chain.get(c, ()) + built.rules[start:end]
            self._by_chain = by_chain
        return self._by_chain.get(chain, ())


def service_port_fragment(
    sp: ServicePortInfo, cat: Categorized, g: Globals, node_ip: IPAddress | None, nets: w.HostNets
) -> Fragment:
    """The rules of one service port, in the order syncProxyRules writes them (``nets``
    supplies the host networks of the addresses it names): those in the shared chains now,
    those of its own chains on first use (``Fragment.own``)."""
    plan = _Plan.of(sp, cat, g, node_ip, nets)
    out = TypedRules(nets, g.local)
    _write_dispatch(plan, out)
    return Fragment(f"{sp.namespace}/{sp.service}", plan.own_chains, tuple(out.rules), tuple(out.spellings),
                    tuple(out.runs), OwnChains(plan))


def service_port_text(
    sp: ServicePortInfo, cat: Categorized, g: Globals, node_ip: IPAddress | None, nets: w.HostNets
) -> TextFragment:
    """The same rules as ``service_port_fragment``, all of them, as payload lines."""
    plan = _Plan.of(sp, cat, g, node_ip, nets)
    shared, own = TextRules(g.local_text), TextRules(g.local_text)
    _write_dispatch(plan, shared)
    _write_own(plan, own)
    own_text: dict[str, str] = {}
    for _, chain, lines in own.runs:  # KUBE-SVC-… is written in two runs (masquerade rule, then the cascade)
        text = "\n".join(lines)
        own_text[chain] = f"{own_text[chain]}\n{text}" if chain in own_text else text
    return TextFragment(f"{sp.namespace}/{sp.service}", plan.own_chains, shared.blocks(), own_text)


def _typed(out: TypedRules, service: str, nat_chains: tuple[str, ...]) -> Fragment:
    return Fragment(service, nat_chains, tuple(out.rules), tuple(out.spellings), tuple(out.runs))


def _write_dispatch(plan: _Plan, out: RuleWriter) -> None:
    """The service port's rules in the chains all services share (KUBE-SERVICES,
    KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES, KUBE-PROXY-FIREWALL)."""
    sp, g = plan.sp, plan.g
    proto, spn, port = sp.protocol, sp.name, sp.port
    has_endpoints, has_internal, has_external = plan.cat.has_any, plan.has_internal, plan.has_external
    ext_chain, fw_chain, uses_fw = plan.ext_chain, plan.fw_chain, plan.uses_fw
    lb_chain = fw_chain if uses_fw else ext_chain
    int_target = ext_target = "REJECT"
    int_comment = ext_comment = f"{spn} has no endpoints"
    if has_endpoints:
        int_target = ext_target = "DROP"
        int_comment = ext_comment = f"{spn} has no local endpoints"

    # Capture the clusterIP.
    if has_internal:
        out.capture("nat", KUBE_SERVICES, f"{spn} cluster IP", proto, sp.cluster_ip, port, plan.internal_chain)
    else:
        out.capture("filter", KUBE_SERVICES, int_comment, proto, sp.cluster_ip, port, int_target)
    # Capture externalIPs.
    if sp.external_ips:
        external_comment = f"{spn} external IP"
        for eip in sp.external_ips:
            if has_endpoints:
                out.capture("nat", KUBE_SERVICES, external_comment, proto, eip, port, ext_chain)
            if not has_external:
                out.capture("filter", KUBE_EXTERNAL_SERVICES, ext_comment, proto, eip, port, ext_target)
    # Capture load-balancer ingress.
    lb_comment = f"{spn} loadbalancer IP"
    for vip in sp.load_balancer_vips:
        if has_endpoints:
            out.capture("nat", KUBE_SERVICES, lb_comment, proto, vip, port, lb_chain)
        if uses_fw:
            out.capture("filter", KUBE_PROXY_FIREWALL, f"{spn} traffic not accepted by {fw_chain}", proto, vip, port,
                        "DROP")
    if not has_external:
        for vip in sp.load_balancer_vips:
            out.capture("filter", KUBE_EXTERNAL_SERVICES, ext_comment, proto, vip, port, ext_target)
    # Capture nodeports.
    if sp.node_port:
        if has_endpoints:
            if g.localhost_nodeports and g.family == 4 and g.nfacct:
                out.nodeport_localhost(KUBE_NODEPORTS, spn, proto, sp.node_port, ext_chain)
            out.nodeport("nat", KUBE_NODEPORTS, spn, proto, sp.node_port, ext_chain)
        if not has_external:
            out.nodeport_reject(KUBE_EXTERNAL_SERVICES, ext_comment, proto, sp.node_port, ext_target)
    # Capture healthCheckNodePorts.
    if sp.health_check_node_port:
        out.nodeport("filter", KUBE_NODEPORTS, f"{spn} health check node port", "tcp", sp.health_check_node_port,
                     "ACCEPT")


def _write_own(plan: _Plan, out: RuleWriter) -> None:
    """The rules of the service port's own chains, in the order syncProxyRules writes them."""
    sp, cat, g, node_ip = plan.sp, plan.cat, plan.g, plan.node_ip
    proto, spn = sp.protocol, sp.name
    has_internal, has_external = plan.has_internal, plan.has_external
    internal_chain, external_policy_chain = plan.internal_chain, plan.external_policy_chain
    cluster_chain, local_chain, ext_chain, fw_chain = plan.cluster_chain, plan.local_chain, plan.ext_chain, plan.fw_chain
    uses_ext_chain, uses_fw, sep_names = plan.uses_ext_chain, plan.uses_fw, plan.sep_names
    lb_comment = f"{spn} loadbalancer IP"
    # Internal traffic handling.
    if has_internal:
        if g.masquerade_all:
            out.capture("nat", internal_chain, f"{spn} cluster IP", proto, sp.cluster_ip, sp.port, KUBE_MARK_MASQ)
        elif g.local is not None:
            out.capture_not_local(internal_chain, f"{spn} cluster IP", proto, sp.cluster_ip, sp.port, KUBE_MARK_MASQ)

    # External traffic handling.
    if uses_ext_chain:
        if not sp.external_policy_local:
            out.commented(ext_chain, f"masquerade traffic for {spn} external destinations", KUBE_MARK_MASQ)
        else:
            if g.local is not None:
                out.commented_local(ext_chain, f"pod traffic for {spn} external destinations", cluster_chain)
            out.commented_src_local(ext_chain, f"masquerade LOCAL traffic for {spn} external destinations",
                                    KUBE_MARK_MASQ)
            out.commented_src_local(ext_chain, f"route LOCAL traffic for {spn} external destinations", cluster_chain)
        if has_external:
            out.bare(ext_chain, external_policy_chain)

    # Firewall chain for loadBalancerSourceRanges.
    if uses_fw:
        allow_from_node = False
        for cidr in sp.load_balancer_source_ranges:
            out.from_net(fw_chain, lb_comment, cidr, ext_chain)
            if node_ip is not None and node_ip in cidr:
                allow_from_node = True
        if allow_from_node:
            for vip in sp.load_balancer_vips:
                out.from_host(fw_chain, lb_comment, vip, ext_chain)
        out.commented(fw_chain, f"other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL", None)

    if plan.uses_cluster_chain:
        _service_to_endpoints(out, sp, spn, cluster_chain, cat.cluster, g, sep_names)
    if plan.uses_local_chain:
        _service_to_endpoints(out, sp, spn, local_chain, cat.local, g, sep_names)

    # Per-endpoint chains.
    spn_only = None if g.large_cluster else spn
    affinity = sp.client_ip_affinity
    endpoint = out.endpoint
    for ep in cat.reachable:
        endpoint(sep_names[ep.string], spn_only, proto, ep, affinity)


def _service_to_endpoints(
    out: RuleWriter,
    sp: ServicePortInfo,
    spn: str,
    chain: str,
    endpoints: tuple[EndpointInfo, ...],
    g: Globals,
    sep_names: dict[str, str],
) -> None:
    """``writeServiceToEndpointRules``: affinity checks, then the probability cascade."""
    commented = not g.large_cluster
    if sp.client_ip_affinity:
        for ep in endpoints:
            sep = sep_names[ep.string]
            out.affinity_check(chain, f"{spn} -> {ep.string}" if commented else None, sep, sp.sticky_seconds)
    n = len(endpoints)
    cascade = out.cascade
    for i, ep in enumerate(endpoints):
        cascade(chain, f"{spn} -> {ep.string}" if commented else None, n - i, sep_names[ep.string])
