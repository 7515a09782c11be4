"""Services + EndpointSlices + ProxierConfig → the rules one kube-proxy sync writes.

``build_payload`` is a port of ``syncProxyRules`` in kubernetes
``pkg/proxy/iptables/proxier.go`` (iptables mode): per service port the typed fragment of
``fragment.py``, plus the rules every sync writes. Rules are netfilter ``Rule`` values;
``render_payload`` prints them as kube-proxy's restore payload, in the canonical order
kube-proxy's own tests compare against (``sortIPTablesRules`` in proxier_test.go), because
kube-proxy's write order follows Go map iteration and changes from sync to sync.
``build_text`` makes the same payload with each service port's rules as text straight from
their shapes (``TextFragment``), which ``generate`` prints. Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from overlaynet.dataplane.netfilter.matches import Mark, Match, Source
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.dataplane.netfilter.targets import MarkTarget, Masquerade, Target
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.endpoints import (
    EndpointInfo,
    categorize,
    count_endpoints,
    group_endpoints,
    service_ports,
    slice_groups,
)
from overlaynet.kubeproxy.fragment import (
    KUBE_EXTERNAL_SERVICES,
    KUBE_MARK_MASQ,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_SERVICES,
    Fragment,
    Globals,
    TextFragment,
    service_port_fragment,
    service_port_text,
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
    "build_text",
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
    fragments: tuple[Fragment | TextFragment, ...]

    @property
    def lines(self) -> Iterator[w.Written]:
        """Every typed rule (a payload of ``build_payload``)."""
        for fragment in self.fragments:
            if isinstance(fragment, TextFragment):
                raise TypeError("a text payload (build_text) has no typed rules")
            yield from fragment.lines


@dataclass
class FragmentCache:
    """What one build leaves for the next of the same cluster (the next node, a resync):
    fragments keyed by everything they depend on, and the host networks rules name. Owned
    by whoever owns the cluster (the assembled network), dropped with it."""

    fragments: dict[tuple[object, ...], Fragment] = field(default_factory=dict)
    texts: dict[tuple[object, ...], TextFragment] = field(default_factory=dict)
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
    ports taken in name order), as typed rules. ``cache`` memoises per-service-port
    fragments across calls (e.g. across nodes); entries are keyed by everything the fragment
    depends on."""
    return _build(services, endpoint_slices, config, cache, text=False)


def build_text(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    *,
    cache: FragmentCache | None = None,
) -> Payload:
    """``build_payload`` with every service port's rules as payload lines (``TextFragment``)
    instead of typed rules: what rendering needs, and nothing more."""
    return _build(services, endpoint_slices, config, cache, text=True)


def _build(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    cache: FragmentCache | None,
    *,
    text: bool,
) -> Payload:
    fam = config.family
    sps = service_ports(services, fam)
    groups = slice_groups(endpoint_slices)
    total = 0  # endpoints of proxied service ports, counted up to the large-cluster threshold
    for sp in sps:
        group = groups.get(sp.key)
        total += count_endpoints(group, fam) if group else 0
        if total > LARGE_CLUSTER_ENDPOINTS:
            break
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
    fragments: list[Fragment | TextFragment] = [Fragment.of("", (), _fixed_rules(config, localhost_np))]
    node_ip, node_name = config.node_ip, config.node_name
    make: Callable[..., Fragment | TextFragment] = service_port_text if text else service_port_fragment
    nets = cache.host_nets if cache is not None else w.HostNets()
    known: dict[tuple[object, ...], Any] | None = None  # Fragment or TextFragment values, as `make` makes
    if cache is not None:
        known = cache.texts if text else cache.fragments
    for sp in sps:
        group = groups.get(sp.key)
        eps = group_endpoints(group, fam, node_name) if group else []
        if known is None:  # nothing to share: no key to compute
            frag = make(sp, categorize(eps, sp), g, node_ip, nets)
        else:
            key_eps = tuple(eps) if sp.uses_local_endpoints else tuple(_non_local(e) for e in eps)
            key = (sp, key_eps, g, node_ip if sp.load_balancer_source_ranges else None)
            frag = known.get(key) or known.setdefault(key, make(sp, categorize(list(key_eps), sp), g, node_ip, nets))
        nat_chains.extend(frag.nat_chains)
        fragments.append(frag)
    fragments.append(Fragment.of(_TAIL, (), _tail_rules(config, localhost_np)))
    return Payload(tuple(filter_chains), tuple(nat_chains), tuple(fragments))


def _non_local(ep: EndpointInfo) -> EndpointInfo:
    if not ep.is_local:
        return ep
    return ep._replace(is_local=False)


# --- canonical ordering (sortIPTablesRules) -------------------------------------------------


def _chain_order(chain: str) -> tuple[int, str]:
    if chain == KUBE_NODEPORTS:
        return (0, "")
    if chain == KUBE_SERVICES:
        return (1, "")
    return (2 if chain.startswith("KUBE-") else 3, chain)


def _sorted_chains(chains: Collection[str]) -> list[str]:
    """``sorted(chains, key=_chain_order)`` without a key call per chain (a node at 10,000
    Services has 110,000): KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* chains, the rest."""
    first = [c for c in (KUBE_NODEPORTS, KUBE_SERVICES) if c in chains]
    rest = sorted(chains)
    for c in first:
        rest.remove(c)
    lo, hi = bisect_left(rest, "KUBE-"), bisect_left(rest, "KUBE.")  # the KUBE-* names, one run once sorted
    return first + rest[lo:hi] + rest[:lo] + rest[hi:]


# a run of rules of one chain: rules start..end of a typed fragment, or a text block
Piece = tuple[Fragment, int, int] | str
# one grouped chain: its pieces, or all its text at once (a text fragment's own chain; "" when empty)
Body = list[Piece] | str


def group_tables(
    payload: Payload, extra: dict[str, tuple[str, ...]] | None = None, *, own: bool = True
) -> dict[str, dict[str, Body]]:
    """The rules of the filter and nat tables by chain (as pieces of fragments), chains
    and rules in the canonical order; ``extra`` declares more (empty) chains per table.
    ``own=False`` leaves the service ports' own chains empty (their rules not built)."""
    tables: dict[str, dict[str, Body]] = {}
    skip: set[str] = set()
    if not own:
        skip = {chain for fragment in payload.fragments if fragment.own is not None for chain in fragment.nat_chains}
    for table, chains in (("filter", payload.filter_chains), ("nat", payload.nat_chains)):
        more = extra.get(table, ()) if extra else ()
        tables[table] = dict.fromkeys((c for c in (*chains, *more) if c not in skip), "")
    services: dict[tuple[str, str], list[str]] = {  # the sort key of each piece of the sorted chains
        (t, c): [] for t in ("filter", "nat") for c in (KUBE_NODEPORTS, KUBE_SERVICES)}
    nat = tables["nat"]
    for fragment in payload.fragments:
        service = fragment.service
        if type(fragment) is TextFragment:
            nat.update(fragment.own_text)
            runs: Iterable[tuple[str, str, Piece]] = fragment.blocks
        else:
            assert isinstance(fragment, Fragment)
            parts = (fragment, fragment.own.fragment()) if own and fragment.own is not None else (fragment,)
            runs = [(table, chain, (part, start, end)) for part in parts for table, chain, start, end in part.runs]
        for table, chain, piece in runs:
            pieces = tables[table].get(chain)
            if not isinstance(pieces, list):
                pieces = tables[table][chain] = []
            pieces.append(piece)
            keys = services.get((table, chain))
            if keys is not None:
                keys.append(service)
    grouped = {table: {c: by_chain[c] for c in _sorted_chains(by_chain)} for table, by_chain in tables.items()}
    # sortIPTablesRules: KUBE-NODEPORTS and KUBE-SERVICES by service name (stable), the
    # NodePort tail last. Every rule of a fragment in these chains names the fragment's
    # service in its comment, which is the key kube-proxy's tests sort by.
    for (table, chain), keys in services.items():
        pieces = grouped[table].get(chain)
        if isinstance(pieces, list):
            grouped[table][chain] = [pieces[i] for i in sorted(range(len(pieces)), key=keys.__getitem__)]
    return grouped


def chain_rules(body: Body) -> list[Rule]:
    """The rules of one grouped chain of a typed payload, in order."""
    out: list[Rule] = []
    for piece in body:
        if isinstance(piece, str):
            raise TypeError("a text payload (build_text) has no typed rules")
        fragment, start, end = piece
        out.extend(fragment.rules[start:end])
    return out


def render_grouped(table: str, grouped: dict[str, Body]) -> list[str]:
    """One table's ``*table``, chain declarations, rules and ``COMMIT`` lines."""
    return [f"*{table}", *declarations(grouped), *rule_lines(grouped), "COMMIT"]


def declarations(grouped: dict[str, Body]) -> list[str]:
    """The ``:CHAIN - [0:0]`` lines of one grouped table."""
    return [f":{c} - [0:0]" for c in grouped]


def rule_lines(grouped: dict[str, Body]) -> list[str]:
    """The ``-A CHAIN …`` lines of one grouped table (a text block may hold several)."""
    out: list[str] = []
    render = w.render
    for c, pieces in grouped.items():
        if isinstance(pieces, str):
            if pieces:
                out.append(pieces)
            continue
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            fragment, start, end = piece
            rules, spellings, prefix = fragment.rules, fragment.spellings, f"-A {c} "
            out.extend(prefix + render(rules[i], spellings[i]) for i in range(start, end))
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
    return render_payload(build_text(services, endpoint_slices, config, cache=cache))
