"""The text path kube-proxy programming used before rules were typed (kept as the oracle of
tests/kubeproxy/test_written.py only): every rule an f-string in kube-proxy's spelling."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from overlaynet.kubeproxy import names
from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.endpoints import (
    Categorized,
    EndpointInfo,
    ServicePortInfo,
    categorize,
    endpoints_map,
    service_ports,
)
from overlaynet.model.base import IPAddress
from overlaynet.model.services import EndpointSlice, Service

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"

LARGE_CLUSTER_ENDPOINTS = 1000  # largeClusterEndpointsThreshold
NODEPORTS_TAIL_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'

# (table, chain, text after "-A <chain> "); the sort key groups KUBE-SERVICES/NODEPORTS rules
Line = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Fragment:
    """Everything one service port contributes: nat chains it declares, and rule lines."""

    nat_chains: tuple[str, ...]
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class _Globals:
    """The config values a service port's rules depend on, beyond the node."""

    family: int
    mark: str
    masquerade_all: bool
    local_cidr: str | None
    localhost_nodeports: bool
    nfacct: bool
    large_cluster: bool


def _ports(sp: ServicePortInfo, dst: str, port: int) -> str:
    return f"-m {sp.protocol} -p {sp.protocol} -d {dst} --dport {port}"


def _service_port_fragment(
    sp: ServicePortInfo,
    cat: Categorized,
    g: _Globals,
    node_ip: IPAddress | None,
) -> Fragment:
    """The rules of one service port, as the loop body of syncProxyRules writes them."""
    proto = sp.protocol
    spn = sp.name
    h = names.port_proto_hash(spn, proto)
    cluster_chain = names.SVC_PREFIX + h
    local_chain = names.SVL_PREFIX + h
    ext_chain = names.EXT_PREFIX + h
    fw_chain = names.FW_PREFIX + h
    lines: list[Line] = []
    nat_chains: list[str] = []

    def nat(chain: str, text: str) -> None:
        lines.append(("nat", chain, text))

    def filt(chain: str, text: str) -> None:
        lines.append(("filter", chain, text))

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

    int_target = int_comment = ext_target = ext_comment = ""
    if not has_endpoints:
        int_target = ext_target = "REJECT"
        int_comment = ext_comment = f'"{spn} has no endpoints"'
    else:
        if not has_internal:
            int_target, int_comment = "DROP", f'"{spn} has no local endpoints"'
        if not has_external:
            ext_target, ext_comment = "DROP", f'"{spn} has no local endpoints"'

    cip = str(sp.cluster_ip)
    # Capture the clusterIP.
    if has_internal:
        nat(KUBE_SERVICES, f'-m comment --comment "{spn} cluster IP" {_ports(sp, cip, sp.port)} -j {internal_chain}')
    else:
        filt(KUBE_SERVICES, f"-m comment --comment {int_comment} {_ports(sp, cip, sp.port)} -j {int_target}")
    # Capture externalIPs.
    for eip in sp.external_ips:
        if has_endpoints:
            nat(KUBE_SERVICES, f'-m comment --comment "{spn} external IP" {_ports(sp, str(eip), sp.port)} -j {ext_chain}')
        if not has_external:
            filt(KUBE_EXTERNAL_SERVICES, f"-m comment --comment {ext_comment} {_ports(sp, str(eip), sp.port)} -j {ext_target}")
    # Capture load-balancer ingress.
    for vip in sp.load_balancer_vips:
        if has_endpoints:
            nat(KUBE_SERVICES, f'-m comment --comment "{spn} loadbalancer IP" {_ports(sp, str(vip), sp.port)} -j {lb_chain}')
        if uses_fw:
            filt(
                KUBE_PROXY_FIREWALL,
                f'-m comment --comment "{spn} traffic not accepted by {fw_chain}" {_ports(sp, str(vip), sp.port)} -j DROP',
            )
    if not has_external:
        for vip in sp.load_balancer_vips:
            filt(KUBE_EXTERNAL_SERVICES, f"-m comment --comment {ext_comment} {_ports(sp, str(vip), sp.port)} -j {ext_target}")
    # Capture nodeports.
    if sp.node_port:
        if has_endpoints:
            if g.localhost_nodeports and g.family == 4 and g.nfacct:
                nat(
                    KUBE_NODEPORTS,
                    f"-m comment --comment {spn} -m {proto} -p {proto} -d 127.0.0.0/8 --dport {sp.node_port}"
                    f" -m nfacct --nfacct-name localhost_nps_accepted_pkts -j {ext_chain}",
                )
            nat(KUBE_NODEPORTS, f"-m comment --comment {spn} -m {proto} -p {proto} --dport {sp.node_port} -j {ext_chain}")
        if not has_external:
            filt(
                KUBE_EXTERNAL_SERVICES,
                f"-m comment --comment {ext_comment} -m addrtype --dst-type LOCAL"
                f" -m {proto} -p {proto} --dport {sp.node_port} -j {ext_target}",
            )
    # Capture healthCheckNodePorts.
    if sp.health_check_node_port:
        filt(
            KUBE_NODEPORTS,
            f'-m comment --comment "{spn} health check node port" -m tcp -p tcp --dport {sp.health_check_node_port} -j ACCEPT',
        )

    # Internal traffic handling.
    if has_internal:
        args = f'-m comment --comment "{spn} cluster IP" {_ports(sp, cip, sp.port)}'
        if g.masquerade_all:
            nat(internal_chain, f"{args} -j {KUBE_MARK_MASQ}")
        elif g.local_cidr is not None:
            nat(internal_chain, f"{args} ! -s {g.local_cidr} -j {KUBE_MARK_MASQ}")

    # External traffic handling.
    if uses_ext_chain:
        nat_chains.append(ext_chain)
        if not sp.external_policy_local:
            nat(ext_chain, f'-m comment --comment "masquerade traffic for {spn} external destinations" -j {KUBE_MARK_MASQ}')
        else:
            if g.local_cidr is not None:
                nat(ext_chain, f'-m comment --comment "pod traffic for {spn} external destinations" -s {g.local_cidr} -j {cluster_chain}')
            nat(
                ext_chain,
                f'-m comment --comment "masquerade LOCAL traffic for {spn} external destinations"'
                f" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}",
            )
            nat(
                ext_chain,
                f'-m comment --comment "route LOCAL traffic for {spn} external destinations"'
                f" -m addrtype --src-type LOCAL -j {cluster_chain}",
            )
        if has_external:
            nat(ext_chain, f"-j {external_policy_chain}")

    # Firewall chain for loadBalancerSourceRanges.
    if uses_fw:
        nat_chains.append(fw_chain)
        fw_args = f'-m comment --comment "{spn} loadbalancer IP"'
        allow_from_node = False
        for cidr in sp.load_balancer_source_ranges:
            nat(fw_chain, f"{fw_args} -s {cidr} -j {ext_chain}")
            if node_ip is not None and node_ip in cidr:
                allow_from_node = True
        if allow_from_node:
            for vip in sp.load_balancer_vips:
                nat(fw_chain, f"{fw_args} -s {vip} -j {ext_chain}")
        nat(fw_chain, f'-m comment --comment "other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"')

    sep_names = {ep.string: names.sep_chain(spn, proto, ep.string) for ep in (*cat.cluster, *cat.local, *cat.reachable)}
    if uses_cluster_chain:
        nat_chains.append(cluster_chain)
        _service_to_endpoints(nat, sp, spn, cluster_chain, cat.cluster, g, sep_names)
    if uses_local_chain:
        nat_chains.append(local_chain)
        _service_to_endpoints(nat, sp, spn, local_chain, cat.local, g, sep_names)

    # Per-endpoint chains.
    for ep in cat.reachable:
        chain = sep_names[ep.string]
        nat_chains.append(chain)
        comment = "" if g.large_cluster else f"-m comment --comment {spn} "
        nat(chain, f"{comment}-s {ep.ip} -j {KUBE_MARK_MASQ}")
        affinity = f"-m recent --name {chain} --set " if sp.client_ip_affinity else ""
        nat(chain, f"{comment}{affinity}-m {proto} -p {proto} -j DNAT --to-destination {ep.string}")
    return Fragment(tuple(nat_chains), tuple(lines))


def _service_to_endpoints(
    write: Callable[[str, str], None],
    sp: ServicePortInfo,
    spn: str,
    chain: str,
    endpoints: tuple[EndpointInfo, ...],
    g: _Globals,
    sep_names: dict[str, str],
) -> None:
    """``writeServiceToEndpointRules``: affinity checks, then the probability cascade."""
    if sp.client_ip_affinity:
        for ep in endpoints:
            sep = sep_names[ep.string]
            comment = "" if g.large_cluster else f'-m comment --comment "{spn} -> {ep.string}" '
            write(chain, f"{comment}-m recent --name {sep} --rcheck --seconds {sp.sticky_seconds} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        sep = sep_names[ep.string]
        comment = "" if g.large_cluster else f'-m comment --comment "{spn} -> {ep.string}" '
        stat = (
            f"-m statistic --mode random --probability {names.probability(n - i)} "
            if i < n - 1
            else ""
        )
        write(chain, f"{comment}{stat}-j {sep}")


# --- the whole payload --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payload:
    """The rules of one sync, grouped by table and chain (chain order = declaration order)."""

    filter_chains: tuple[str, ...]
    nat_chains: tuple[str, ...]
    lines: tuple[Line, ...]


FragmentCache = MutableMapping[tuple[object, ...], Fragment]


def build_payload(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    *,
    cache: FragmentCache | None = None,
) -> Payload:
    """Compute what one syncProxyRules writes (unsorted: kube-proxy's own write order with
    service ports taken in name order). ``cache`` memoises per-service-port fragments across
    calls (e.g. across nodes); entries are keyed by everything the fragment depends on."""
    fam = config.family
    sps = service_ports(services, fam)
    epmap = endpoints_map(endpoint_slices, fam, config.node_name)
    total = sum(len(epmap.get(sp.key, ())) for sp in sps)
    localhost_np = config.effective_localhost_nodeports
    g = _Globals(
        family=fam,
        mark=config.mark,
        masquerade_all=config.masquerade_all,
        local_cidr=str(config.local_cidr) if config.local_cidr is not None else None,
        localhost_nodeports=localhost_np,
        nfacct=config.nfacct,
        large_cluster=total > LARGE_CLUSTER_ENDPOINTS,
    )
    mark = config.mark
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    lines: list[Line] = [
        ("nat", KUBE_POSTROUTING, f"-m mark ! --mark {mark}/{mark} -j RETURN"),
        ("nat", KUBE_POSTROUTING, f"-j MARK --xor-mark {mark}"),
        (
            "nat",
            KUBE_POSTROUTING,
            '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE'
            + (" --random-fully" if config.random_fully else ""),
        ),
        ("nat", KUBE_MARK_MASQ, f"-j MARK --or-mark {mark}"),
    ]
    if fam == 4 and localhost_np:
        filter_chains.append(KUBE_FIREWALL)
        lines.append(
            (
                "filter",
                KUBE_FIREWALL,
                '-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8'
                " ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
            )
        )
    node_ip = config.node_ip
    for sp in sps:
        eps = epmap.get(sp.key, [])
        local_dep = sp.uses_local_endpoints
        key_eps = tuple(eps) if local_dep else tuple(_non_local(e) for e in eps)
        fw_dep = node_ip if sp.load_balancer_source_ranges else None
        key = (sp, key_eps, g, fw_dep)
        frag = cache.get(key) if cache is not None else None
        if frag is None:
            frag = _service_port_fragment(sp, categorize(list(key_eps), sp), g, node_ip)
            if cache is not None:
                cache[key] = frag
        nat_chains.extend(frag.nat_chains)
        lines.extend(frag.lines)

    # The tail-call to KUBE-NODEPORTS, last rule of nat KUBE-SERVICES.
    if config.nodeport_match_all:
        dest = "-m addrtype --dst-type LOCAL"
        if fam == 6:
            dest += " ! -d ::1/128"
        elif not localhost_np:
            dest += " ! -d 127.0.0.0/8"
        lines.append(("nat", KUBE_SERVICES, f"-m comment --comment {NODEPORTS_TAIL_COMMENT} {dest} -j {KUBE_NODEPORTS}"))
    else:
        for ip in config.nodeport_ips():
            if ip.is_loopback and (fam == 6 or not localhost_np):
                continue
            lines.append(("nat", KUBE_SERVICES, f"-m comment --comment {NODEPORTS_TAIL_COMMENT} -d {ip} -j {KUBE_NODEPORTS}"))
    if not config.conntrack_tcp_be_liberal:
        nfacct = " -m nfacct --nfacct-name ct_state_invalid_dropped_pkts" if config.nfacct else ""
        lines.append(("filter", KUBE_FORWARD, f"-m conntrack --ctstate INVALID{nfacct} -j DROP"))
    lines.append(
        ("filter", KUBE_FORWARD, f'-m comment --comment "kubernetes forwarding rules" -m mark --mark {mark}/{mark} -j ACCEPT')
    )
    lines.append(
        (
            "filter",
            KUBE_FORWARD,
            '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        )
    )
    return Payload(tuple(filter_chains), tuple(nat_chains), tuple(lines))


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


def _service_key(text: str) -> str:
    """The service name in a rule's comment: up to the first space or colon."""
    marker = "--comment "
    i = text.find(marker)
    if i < 0:
        return ""
    value = text[i + len(marker) :]
    value = value[1 : value.index('"', 1)] if value.startswith('"') else value.split(" ", 1)[0]
    for j, ch in enumerate(value):
        if ch in " :":
            return value[:j]
    return value


def _sorted_rules(table: str, chain: str, rules: list[str]) -> list[str]:
    if chain == KUBE_NODEPORTS or (chain == KUBE_SERVICES and table == "filter"):
        return sorted(rules, key=_service_key)
    if chain == KUBE_SERVICES:
        return sorted(rules, key=lambda r: (1, "") if "must be the last rule" in r else (0, _service_key(r)))
    return rules


def group_table(table: str, chains: Iterable[str], lines: Iterable[Line]) -> dict[str, list[str]]:
    """The rules of one table by chain, chains and rules in the canonical order."""
    by_chain: dict[str, list[str]] = {c: [] for c in chains}
    for t, chain, text in lines:
        if t == table:
            by_chain.setdefault(chain, []).append(text)
    return {c: _sorted_rules(table, c, by_chain[c]) for c in sorted(by_chain, key=_chain_order)}


def render_table(table: str, chains: Iterable[str], lines: Iterable[Line]) -> list[str]:
    grouped = group_table(table, chains, lines)
    out = [f"*{table}"]
    out.extend(f":{c} - [0:0]" for c in grouped)
    for c, rules in grouped.items():
        out.extend(f"-A {c} {r}" for r in rules)
    out.append("COMMIT")
    return out


def render_payload(payload: Payload) -> str:
    """The payload as iptables-restore text, in proxier_test.go's canonical order."""
    out = render_table("filter", payload.filter_chains, payload.lines)
    out += render_table("nat", payload.nat_chains, payload.lines)
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
