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
    rules: tuple[Rule, ...]
    spellings: tuple[w.Spelling, ...]
    runs: tuple[Run, ...]

    @classmethod
    def of(cls, service: str, nat_chains: tuple[str, ...], lines: list[w.Written]) -> Fragment:
        out = _Writer()
        for line in lines:
            out.write(line.table, line.chain, line.rule, line.spelling)
        return out.fragment(service, nat_chains)

    @property
    def lines(self) -> Iterator[w.Written]:
        for table, chain, start, end in self.runs:
            for i in range(start, end):
                yield w.Written(table, chain, self.rules[i], self.spellings[i])


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


def service_port_fragment(
    sp: ServicePortInfo, cat: Categorized, g: Globals, node_ip: IPAddress | None, nets: w.HostNets
) -> Fragment:
    """The rules of one service port, in the order syncProxyRules writes them (``nets``
    supplies the host networks of the addresses it names)."""
    proto = sp.protocol
    spn = sp.name
    h = names.port_proto_hash(spn, proto)
    cluster_chain = names.SVC_PREFIX + h
    local_chain = names.SVL_PREFIX + h
    ext_chain = names.EXT_PREFIX + h
    fw_chain = names.FW_PREFIX + h
    out = _Writer()
    nat, filt = out.nat, out.filt
    nat_chains: list[str] = []

    has_endpoints = cat.has_any
    uses_cluster_chain = bool(cat.cluster) and sp.uses_cluster_endpoints
    uses_local_chain = bool(cat.local) and sp.uses_local_endpoints
    internal_chain, has_internal = cluster_chain, has_endpoints
    if sp.internal_policy_local:
        internal_chain = local_chain
        has_internal = has_internal and bool(cat.local)
    external_policy_chain, has_external = cluster_chain, has_endpoints
    if sp.external_policy_local:
        external_policy_chain = local_chain
        has_external = has_external and bool(cat.local)
    uses_ext_chain = has_endpoints and sp.externally_accessible
    uses_fw = has_endpoints and bool(sp.load_balancer_vips) and bool(sp.load_balancer_source_ranges)
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

    # Internal traffic handling.
    if has_internal:
        if g.masquerade_all:
            nat(internal_chain, (cluster_ip_comment, *cluster_dst), w.MARK_MASQ, w.CAPTURE)
        elif g.local is not None:
            nat(internal_chain, (cluster_ip_comment, *cluster_dst, g.local.if_not_local),
                w.MARK_MASQ, (*w.CAPTURE, g.local.arg))

    # External traffic handling.
    if uses_ext_chain:
        nat_chains.append(ext_chain)
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
        nat_chains.append(fw_chain)
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

    sep_names: dict[str, str] = {}
    for ep in (*cat.reachable, *cat.cluster, *cat.local):
        if ep.string not in sep_names:
            sep_names[ep.string] = names.sep_chain(spn, proto, ep.string)
    if uses_cluster_chain:
        nat_chains.append(cluster_chain)
        _service_to_endpoints(nat, sp, spn, cluster_chain, cat.cluster, g, sep_names)
    if uses_local_chain:
        nat_chains.append(local_chain)
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
        nat_chains.append(chain)
        nat(chain, (w.source(nets[ep.ip]), *spn_only), w.MARK_MASQ, hairpin_spelling)
        matches = dnat_matches or (number, *spn_only, w.recent_set(chain), ports)
        nat(chain, matches, w.dnat(ep.ip, ep.port), dnat_spelling)
    return out.fragment(f"{sp.namespace}/{sp.service}", tuple(nat_chains))


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
