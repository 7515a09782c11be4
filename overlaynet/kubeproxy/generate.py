"""Services + EndpointSlices + ProxierConfig → the rules one kube-proxy sync writes.

``build_payload`` is a port of ``syncProxyRules`` in kubernetes
``pkg/proxy/iptables/proxier.go`` (iptables mode): per service port the typed fragment of
``fragment.py``, plus the rules every sync writes. Rules are netfilter ``Rule`` values;
``render_payload`` prints them as kube-proxy's restore payload, in the canonical order
kube-proxy's own tests compare against (``sortIPTablesRules`` in proxier_test.go), because
kube-proxy's write order follows Go map iteration and changes from sync to sync. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter.matches import Mark, Match, Source
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.dataplane.netfilter.targets import MarkTarget, Masquerade, Target
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.endpoints import EndpointInfo, categorize, endpoints_map, service_ports
from overlaynet.kubeproxy.fragment import (
    KUBE_EXTERNAL_SERVICES,
    KUBE_MARK_MASQ,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_SERVICES,
    Fragment,
    Globals,
    service_port_fragment,
)
from overlaynet.model.services import EndpointSlice, Service

__all__ = [
    "KUBE_EXTERNAL_SERVICES",
    "KUBE_FIREWALL",
    "KUBE_FORWARD",
    "KUBE_MARK_MASQ",
    "KUBE_NODEPORTS",
    "KUBE_POSTROUTING",
    "KUBE_PROXY_CANARY",
    "KUBE_PROXY_FIREWALL",
    "KUBE_SERVICES",
    "Fragment",
    "FragmentCache",
    "Payload",
    "build_payload",
    "generate",
    "group_tables",
    "render_grouped",
    "render_payload",
]

KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_FIREWALL = "KUBE-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"

LARGE_CLUSTER_ENDPOINTS = 1000  # largeClusterEndpointsThreshold
NODEPORTS_TAIL_COMMENT = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
_TO_NODEPORTS = w.jump(KUBE_NODEPORTS)
_TAIL = "\uffff"  # the tail fragment's sort key: after every service


@dataclass(frozen=True, slots=True)
class Payload:
    """The rules of one sync: chains declared per table (in declaration order) and the
    fragments written, each with the service it belongs to ("" for the sync-wide rules)."""

    filter_chains: tuple[str, ...]
    nat_chains: tuple[str, ...]
    fragments: tuple[Fragment, ...]

    @property
    def lines(self) -> Iterator[w.Written]:
        for fragment in self.fragments:
            yield from fragment.lines


@dataclass
class FragmentCache:
    """What one build leaves for the next of the same cluster (the next node, a resync):
    fragments keyed by everything they depend on, and the host networks rules name. Owned
    by whoever owns the cluster (the assembled network), dropped with it."""

    fragments: dict[tuple[object, ...], Fragment] = field(default_factory=dict)
    host_nets: w.HostNets = field(default_factory=w.HostNets)


def _line(table: str, chain: str, matches: tuple[Match, ...], target: Target | None, spelling: w.Spelling) -> w.Written:
    return w.Written(table, chain, Rule(matches, target), spelling)


def _fixed_rules(config: ProxierConfig, localhost_np: bool) -> list[w.Written]:
    """What every sync writes besides services: masquerade chains and the localnet firewall."""
    mark = (1 << config.masquerade_bit) & 0xFFFFFFFF
    lines = [
        _line("nat", KUBE_POSTROUTING, (Mark(mark, mark, negated=True),), w.verdict("RETURN"), w.MARK),
        _line("nat", KUBE_POSTROUTING, (), MarkTarget(mark, 0), w.BARE),
        _line("nat", KUBE_POSTROUTING, (w.comment("kubernetes service traffic requiring SNAT"),),
              Masquerade(random_fully=config.random_fully), w.COMMENT_ONLY),
        _line("nat", KUBE_MARK_MASQ, (), MarkTarget(mark, mark), w.BARE),
    ]
    if config.family == 4 and localhost_np:
        lines.append(_line(
            "filter", KUBE_FIREWALL,
            (w.comment("block incoming localnet connections"), w.destination(w.LOOPBACK_NET),
             Source(w.LOOPBACK_NET, negated=True),
             Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED", "DNAT"}), ctstate_negated=True)),
            w.verdict("DROP"), w.LOCALNET_FIREWALL))
    return lines


def _tail_rules(config: ProxierConfig, localhost_np: bool) -> list[w.Written]:
    """The jump to KUBE-NODEPORTS (last rule of nat KUBE-SERVICES) and KUBE-FORWARD."""
    fam = config.family
    tail = w.comment(NODEPORTS_TAIL_COMMENT)
    lines = []
    if config.nodeport_match_all:
        if fam == 6:
            except_: tuple[Match, ...] = (w.destination(w.LOOPBACK_NET6, negated=True),)
        elif not localhost_np:
            except_ = (w.destination(w.LOOPBACK_NET, negated=True),)
        else:
            except_ = ()
        spelling = w.TAIL_LOCAL_EXCEPT if except_ else w.TAIL_LOCAL
        lines.append(_line("nat", KUBE_SERVICES, (tail, w.ADDRTYPE_DST_LOCAL, *except_), _TO_NODEPORTS, spelling))
    else:
        for ip in config.nodeport_ips():
            if ip.is_loopback and (fam == 6 or not localhost_np):
                continue
            lines.append(_line("nat", KUBE_SERVICES, (tail, w.destination(ip)), _TO_NODEPORTS, w.TAIL_ADDRESS))
    mark = (1 << config.masquerade_bit) & 0xFFFFFFFF
    if not config.conntrack_tcp_be_liberal:
        invalid = Conntrack(ctstate=frozenset({"INVALID"}))
        if config.nfacct:
            lines.append(_line("filter", KUBE_FORWARD, (invalid, w.NFACCT_INVALID_DROPPED), w.verdict("DROP"),
                               w.CONNTRACK_NFACCT))
        else:
            lines.append(_line("filter", KUBE_FORWARD, (invalid,), w.verdict("DROP"), w.CONNTRACK))
    lines.append(_line("filter", KUBE_FORWARD, (w.comment("kubernetes forwarding rules"), Mark(mark, mark)),
                       w.verdict("ACCEPT"), w.COMMENT_MARK))
    lines.append(_line("filter", KUBE_FORWARD,
                       (w.comment("kubernetes forwarding conntrack rule"),
                        Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED"}))),
                       w.verdict("ACCEPT"), w.COMMENT_CONNTRACK))
    return lines


def build_payload(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    *,
    cache: FragmentCache | None = None,
) -> Payload:
    """Compute what one syncProxyRules writes (kube-proxy's own write order with service
    ports taken in name order). ``cache`` memoises per-service-port fragments across calls
    (e.g. across nodes); entries are keyed by everything the fragment depends on."""
    fam = config.family
    sps = service_ports(services, fam)
    epmap = endpoints_map(endpoint_slices, fam, config.node_name)
    total = sum(len(epmap.get(sp.key, ())) for sp in sps)
    localhost_np = config.effective_localhost_nodeports
    g = Globals(
        family=fam,
        masquerade_all=config.masquerade_all,
        local=config.local_detector,
        localhost_nodeports=localhost_np,
        nfacct=config.nfacct,
        large_cluster=total > LARGE_CLUSTER_ENDPOINTS,
    )
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    if fam == 4 and localhost_np:
        filter_chains.append(KUBE_FIREWALL)
    fragments = [Fragment.of("", (), _fixed_rules(config, localhost_np))]
    node_ip = config.node_ip
    if cache is None:
        cache = FragmentCache()  # shares host networks within this build only
    known = cache.fragments
    for sp in sps:
        eps = epmap.get(sp.key, [])
        local_dep = sp.uses_local_endpoints
        key_eps = tuple(eps) if local_dep else tuple(_non_local(e) for e in eps)
        fw_dep = node_ip if sp.load_balancer_source_ranges else None
        key = (sp, key_eps, g, fw_dep)
        frag = known.get(key)
        if frag is None:
            frag = known[key] = service_port_fragment(sp, categorize(list(key_eps), sp), g, node_ip, cache.host_nets)
        nat_chains.extend(frag.nat_chains)
        fragments.append(frag)
    fragments.append(Fragment.of(_TAIL, (), _tail_rules(config, localhost_np)))
    return Payload(tuple(filter_chains), tuple(nat_chains), tuple(fragments))


def _non_local(ep: EndpointInfo) -> EndpointInfo:
    if not ep.is_local:
        return ep
    return EndpointInfo(ep.ip, ep.port, ep.node, False, ep.ready, ep.serving, ep.terminating, ep.string)


# --- canonical ordering (sortIPTablesRules) -------------------------------------------------


def _chain_order(chain: str) -> tuple[int, str]:
    if chain == KUBE_NODEPORTS:
        return (0, "")
    if chain == KUBE_SERVICES:
        return (1, "")
    return (2 if chain.startswith("KUBE-") else 3, chain)


Piece = tuple[Fragment, int, int]  # rules start..end of one fragment, all in one chain


def _sorted_pieces(table: str, chain: str, pieces: list[Piece]) -> list[Piece]:
    """sortIPTablesRules: KUBE-NODEPORTS and KUBE-SERVICES by service name (stable), the
    NodePort tail last. Every rule of a fragment in these chains names the fragment's
    service in its comment, which is the key kube-proxy's tests sort by."""
    if chain in (KUBE_NODEPORTS, KUBE_SERVICES):
        return sorted(pieces, key=lambda p: p[0].service)
    return pieces


def group_tables(
    payload: Payload, extra: dict[str, tuple[str, ...]] | None = None, *, own: bool = True
) -> dict[str, dict[str, list[Piece]]]:
    """The rules of the filter and nat tables by chain (as pieces of fragments), chains
    and rules in the canonical order; ``extra`` declares more (empty) chains per table.
    ``own=False`` leaves the service ports' own chains empty (their rules not built)."""
    tables: dict[str, dict[str, list[Piece]]] = {}
    skip: set[str] = set()
    if not own:
        skip = {chain for fragment in payload.fragments if fragment.own is not None for chain in fragment.nat_chains}
    for table, chains in (("filter", payload.filter_chains), ("nat", payload.nat_chains)):
        more = extra.get(table, ()) if extra else ()
        tables[table] = {c: [] for c in (*chains, *more) if c not in skip}
    for fragment in payload.fragments:
        parts = (fragment, fragment.own.fragment()) if own and fragment.own is not None else (fragment,)
        for part in parts:
            for table, chain, start, end in part.runs:
                by_chain = tables[table]
                pieces = by_chain.get(chain)
                if pieces is None:
                    pieces = by_chain[chain] = []
                pieces.append((part, start, end))
    return {
        table: {c: _sorted_pieces(table, c, by_chain[c]) for c in sorted(by_chain, key=_chain_order)}
        for table, by_chain in tables.items()
    }


def chain_rules(pieces: list[Piece]) -> list[Rule]:
    """The rules of one grouped chain, in order."""
    if len(pieces) == 1:
        fragment, start, end = pieces[0]
        return list(fragment.rules[start:end])
    out: list[Rule] = []
    for fragment, start, end in pieces:
        out.extend(fragment.rules[start:end])
    return out


def render_grouped(table: str, grouped: dict[str, list[Piece]]) -> list[str]:
    """One table's ``*table``, chain declarations, rules and ``COMMIT`` lines."""
    out = [f"*{table}"]
    out.extend(f":{c} - [0:0]" for c in grouped)
    render = w.render
    for c, pieces in grouped.items():
        prefix = f"-A {c} "
        for fragment, start, end in pieces:
            rules, spellings = fragment.rules, fragment.spellings
            out.extend(prefix + render(rules[i], spellings[i]) for i in range(start, end))
    out.append("COMMIT")
    return out


def render_payload(payload: Payload) -> str:
    """The payload as iptables-restore text, in proxier_test.go's canonical order."""
    grouped = group_tables(payload)
    out = render_grouped("filter", grouped["filter"]) + render_grouped("nat", grouped["nat"])
    return "\n".join(out) + "\n"


def generate(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    *,
    cache: FragmentCache | None = None,
) -> str:
    """The ``iptables-restore --noflush`` payload kube-proxy writes for this node and family.

    >>> from ipaddress import ip_address as ip
    >>> cfg = ProxierConfig("n1", (ip("192.168.0.2"),))
    >>> print(generate([], [], cfg).splitlines()[1])
    :KUBE-NODEPORTS - [0:0]
    """
    return render_payload(build_payload(services, endpoint_slices, config, cache=cache))
