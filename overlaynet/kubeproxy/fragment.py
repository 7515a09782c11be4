"""One service port's rules, as the loop body of kube-proxy's ``syncProxyRules`` writes them
(kubernetes ``pkg/proxy/iptables/proxier.go``), built as typed ``Rule`` values with their
payload spelling (``written.py``). ``generate.py`` assembles fragments into a payload; nodes
share a fragment whenever everything it depends on is equal (see ``FragmentKey``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from overlaynet.dataplane.netfilter.matches import Match
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.dataplane.netfilter.targets import Target
from overlaynet.kubeproxy import names
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.endpoints import Categorized, EndpointInfo, ServicePortInfo
from overlaynet.kubeproxy.local import LocalDetector
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


Run = tuple[str, str, int, int]  # table, chain, first rule index, end index (exclusive)


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
        out = _Writer()
        for line in lines:
            out.write(line.table, line.chain, line.rule, line.spelling)
        return out.fragment(service, nat_chains)

    @property
    def lines(self) -> Iterator[w.Written]:
        """Every rule, its own chains' after the shared ones."""
        for part in (self, self.own.fragment()) if self.own is not None else (self,):
            for table, chain, start, end in part.runs:
                for i in range(start, end):
                    yield w.Written(table, chain, part.rules[i], part.spellings[i])


class _Writer:
    """Collects a fragment's rules; ``nat``/``filt`` mirror ``natRules.Write``/``filterRules.Write``."""

    __slots__ = ("rules", "runs", "spellings")

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.spellings: list[w.Spelling] = []
        self.runs: list[Run] = []

    def write(self, table: str, chain: str, rule: Rule, spelling: w.Spelling) -> None:
        runs = self.runs
        n = len(self.rules)
        if runs and runs[-1][1] == chain and runs[-1][0] == table:
            runs[-1] = (table, chain, runs[-1][2], n + 1)
        else:
            runs.append((table, chain, n, n + 1))
        self.rules.append(rule)
        self.spellings.append(spelling)

    def nat(self, chain: str, matches: tuple[Match, ...], target: Target | None, spelling: w.Spelling) -> None:
        self.write("nat", chain, Rule(matches, target), spelling)

    def filt(self, chain: str, matches: tuple[Match, ...], target: Target | None, spelling: w.Spelling) -> None:
        self.write("filter", chain, Rule(matches, target), spelling)

    def fragment(self, service: str, nat_chains: tuple[str, ...]) -> Fragment:
        return Fragment(service, nat_chains, tuple(self.rules), tuple(self.spellings), tuple(self.runs))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one service port's rules are made of: its inputs and the decisions of
    syncProxyRules' loop body (which chains it uses, where traffic goes)."""

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
        h = names.port_proto_hash(sp.name, sp.protocol)
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
        sep_names: dict[str, str] = {}
        for ep in (*cat.reachable, *cat.cluster, *cat.local):
            if ep.string not in sep_names:
                sep_names[ep.string] = names.sep_chain(sp.name, sp.protocol, ep.string)
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
            out = _Writer()
            _write_own(self._plan, out)
            self._built = out.fragment(f"{self._plan.sp.namespace}/{self._plan.sp.service}", ())
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
    out = _Writer()
    _write_dispatch(plan, out)
    built = out.fragment(f"{sp.namespace}/{sp.service}", plan.own_chains)
    return Fragment(built.service, built.nat_chains, built.rules, built.spellings, built.runs, OwnChains(plan))


def _write_dispatch(plan: _Plan, out: _Writer) -> None:
    """The service port's rules in the chains all services share (KUBE-SERVICES,
    KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES, KUBE-PROXY-FIREWALL)."""
    sp, g, nets = plan.sp, plan.g, plan.nets
    proto, spn = sp.protocol, sp.name
    nat, filt = out.nat, out.filt
    has_endpoints, has_internal, has_external = plan.cat.has_any, plan.has_internal, plan.has_external
    ext_chain, fw_chain, uses_fw = plan.ext_chain, plan.fw_chain, plan.uses_fw
    internal_chain = plan.internal_chain
    lb_chain = fw_chain if uses_fw else ext_chain
    int_target = ext_target = w.verdict("REJECT")
    int_comment = ext_comment = w.comment(f"{spn} has no endpoints")
    if has_endpoints:
        int_target = ext_target = w.verdict("DROP")
        int_comment = ext_comment = w.comment(f"{spn} has no local endpoints")

    cluster_ip_comment = w.comment(f"{spn} cluster IP")
    cluster_dst = w.service_dst(proto, nets[sp.cluster_ip], sp.port)
    # Capture the clusterIP.
    if has_internal:
        nat(KUBE_SERVICES, (cluster_ip_comment, *cluster_dst), w.jump(internal_chain), w.CAPTURE)
    else:
        filt(KUBE_SERVICES, (int_comment, *cluster_dst), int_target, w.CAPTURE)
    # Capture externalIPs.
    if sp.external_ips:
        external_comment = w.comment(f"{spn} external IP")
        for eip in sp.external_ips:
            dst = w.service_dst(proto, nets[eip], sp.port)
            if has_endpoints:
                nat(KUBE_SERVICES, (external_comment, *dst), w.jump(ext_chain), w.CAPTURE)
            if not has_external:
                filt(KUBE_EXTERNAL_SERVICES, (ext_comment, *dst), ext_target, w.CAPTURE)
    # Capture load-balancer ingress.
    lb_comment = w.comment(f"{spn} loadbalancer IP")
    for vip in sp.load_balancer_vips:
        dst = w.service_dst(proto, nets[vip], sp.port)
        if has_endpoints:
            nat(KUBE_SERVICES, (lb_comment, *dst), w.jump(lb_chain), w.CAPTURE)
        if uses_fw:
            filt(KUBE_PROXY_FIREWALL, (w.comment(f"{spn} traffic not accepted by {fw_chain}"), *dst),
                 w.verdict("DROP"), w.CAPTURE)
    if not has_external:
        for vip in sp.load_balancer_vips:
            filt(KUBE_EXTERNAL_SERVICES, (ext_comment, *w.service_dst(proto, nets[vip], sp.port)), ext_target, w.CAPTURE)
    # Capture nodeports.
    if sp.node_port:
        if has_endpoints:
            spn_comment = w.comment(spn)
            if g.localhost_nodeports and g.family == 4 and g.nfacct:
                nat(KUBE_NODEPORTS,
                    (spn_comment, *w.service_dst(proto, w.LOOPBACK_NET, sp.node_port), w.NFACCT_LOCALHOST_NODEPORTS),
                    w.jump(ext_chain), w.NODEPORT_LOCALHOST)
            nat(KUBE_NODEPORTS, (spn_comment, *w.service_dst(proto, None, sp.node_port)), w.jump(ext_chain), w.NODEPORT)
        if not has_external:
            filt(KUBE_EXTERNAL_SERVICES,
                 (ext_comment, w.ADDRTYPE_DST_LOCAL, *w.service_dst(proto, None, sp.node_port)),
                 ext_target, w.NODEPORT_REJECT)
    # Capture healthCheckNodePorts.
    if sp.health_check_node_port:
        filt(KUBE_NODEPORTS,
             (w.comment(f"{spn} health check node port"), *w.service_dst("tcp", None, sp.health_check_node_port)),
             w.verdict("ACCEPT"), w.NODEPORT)



def _write_own(plan: _Plan, out: _Writer) -> None:
    """The rules of the service port's own chains, in the order syncProxyRules writes them."""
    sp, cat, g, nets, node_ip = plan.sp, plan.cat, plan.g, plan.nets, plan.node_ip
    proto, spn = sp.protocol, sp.name
    nat = out.nat
    has_internal, has_external = plan.has_internal, plan.has_external
    internal_chain, external_policy_chain = plan.internal_chain, plan.external_policy_chain
    cluster_chain, local_chain, ext_chain, fw_chain = plan.cluster_chain, plan.local_chain, plan.ext_chain, plan.fw_chain
    uses_ext_chain, uses_fw, sep_names = plan.uses_ext_chain, plan.uses_fw, plan.sep_names
    cluster_ip_comment = w.comment(f"{spn} cluster IP")
    cluster_dst = w.service_dst(proto, nets[sp.cluster_ip], sp.port)
    lb_comment = w.comment(f"{spn} loadbalancer IP")
    # Internal traffic handling.
    if has_internal:
        if g.masquerade_all:
            nat(internal_chain, (cluster_ip_comment, *cluster_dst), w.MARK_MASQ, w.CAPTURE)
        elif g.local is not None:
            nat(internal_chain, (cluster_ip_comment, *cluster_dst, g.local.if_not_local),
                w.MARK_MASQ, (*w.CAPTURE, g.local.arg))

    # External traffic handling.
    if uses_ext_chain:
        if not sp.external_policy_local:
            nat(ext_chain, (w.comment(f"masquerade traffic for {spn} external destinations"),),
                w.MARK_MASQ, w.COMMENT_ONLY)
        else:
            if g.local is not None:
                nat(ext_chain, (w.comment(f"pod traffic for {spn} external destinations"), g.local.if_local),
                    w.jump(cluster_chain), (w.Arg.COMMENT, g.local.arg))
            nat(ext_chain, (w.comment(f"masquerade LOCAL traffic for {spn} external destinations"),
                            w.ADDRTYPE_SRC_LOCAL), w.MARK_MASQ, w.COMMENT_ADDRTYPE)
            nat(ext_chain, (w.comment(f"route LOCAL traffic for {spn} external destinations"),
                            w.ADDRTYPE_SRC_LOCAL), w.jump(cluster_chain), w.COMMENT_ADDRTYPE)
        if has_external:
            nat(ext_chain, (), w.jump(external_policy_chain), w.BARE)

    # Firewall chain for loadBalancerSourceRanges.
    if uses_fw:
        allow_from_node = False
        to_ext = w.jump(ext_chain)
        for cidr in sp.load_balancer_source_ranges:
            nat(fw_chain, (lb_comment, w.source(cidr)), to_ext, w.COMMENT_SRC_NET)
            if node_ip is not None and node_ip in cidr:
                allow_from_node = True
        if allow_from_node:
            for vip in sp.load_balancer_vips:
                nat(fw_chain, (lb_comment, w.source(nets[vip])), to_ext, w.COMMENT_SRC)
        nat(fw_chain, (w.comment(f"other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"),),
            None, w.COMMENT_ONLY)

    if plan.uses_cluster_chain:
        _service_to_endpoints(nat, sp, spn, cluster_chain, cat.cluster, g, sep_names)
    if plan.uses_local_chain:
        _service_to_endpoints(nat, sp, spn, local_chain, cat.local, g, sep_names)

    # Per-endpoint chains.
    commented = not g.large_cluster
    spn_only = (w.comment(spn),) if commented else ()
    hairpin_spelling = w.with_comment(w.COMMENT_SRC, commented)
    dnat_spelling = w.with_comment(
        (w.Arg.COMMENT, *(w.SEP_DNAT_AFFINITY if sp.client_ip_affinity else w.SEP_DNAT)), commented)
    number, ports = w.proto(proto)
    # in normal form (-p first, extensions in the order written), so Rule need not reorder
    dnat_matches = (number, *spn_only, ports) if not sp.client_ip_affinity else ()
    for ep in cat.reachable:
        chain = sep_names[ep.string]
        nat(chain, (w.source(nets[ep.ip]), *spn_only), w.MARK_MASQ, hairpin_spelling)
        matches = dnat_matches or (number, *spn_only, w.recent_set(chain), ports)
        nat(chain, matches, w.dnat(ep.ip, ep.port), dnat_spelling)


def _service_to_endpoints(
    write: Callable[[str, tuple[Match, ...], Target | None, w.Spelling], None],
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
        spelling = w.with_comment((w.Arg.COMMENT, *w.RECENT), commented)
        for ep in endpoints:
            sep = sep_names[ep.string]
            cmt = (w.comment(f"{spn} -> {ep.string}"),) if commented else ()
            write(chain, (*cmt, w.recent_check(sep, sp.sticky_seconds)), w.jump(sep), spelling)
    n = len(endpoints)
    cascade = w.with_comment((w.Arg.COMMENT, *w.STATISTIC), commented)
    last = w.with_comment(w.COMMENT_ONLY, commented)
    for i, ep in enumerate(endpoints):
        sep = sep_names[ep.string]
        cmt = (w.comment(f"{spn} -> {ep.string}"),) if commented else ()
        if i < n - 1:
            write(chain, (*cmt, w.statistic(n - i)) if cmt else w.statistic_only(n - i), w.jump(sep), cascade)
        else:
            write(chain, cmt, w.jump(sep), last)
