"""Reader for our own ``overlaynet/v1 Cluster`` kind (strict: every field is known).

Fields left out stay ``None`` in ``ClusterSpec``; ``assemble.py`` fills the defaults.
"""

from __future__ import annotations

import re

from overlaynet.model import (
    DNSSpec,
    FrozenDict,
    IPAddress,
    IPNetwork,
    KubeProxySpec,
    KVSpec,
    NetworkSpec,
    Router,
    Segment,
)
from overlaynet.model.cluster import DETECT_LOCAL_MODES
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx, Where
from overlaynet.topology.k8s_scheduling import read_taints
from overlaynet.topology.parsed import ClusterSpec, NodeEntry, Parsed, frozen_plain
from overlaynet.topology.yamlsrc import Y

SPEC_FIELDS = (
    "domain", "podCIDR", "serviceCIDR", "serviceNodePortRange", "dns", "kubeProxy", "network",
    "kv", "underlay", "nodes",
)
NODE_FIELDS = ("name", "ip", "addresses", "labels", "podCIDR", "podCIDRs", "segment", "taints", "unschedulable")
MIN_MTU, MAX_MTU = 68, 65535
_DOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _port_range(ctx: Ctx, y: Y | None) -> tuple[int, int] | None:
    if y is None or y.value is None:
        return None
    text = str(y.value) if not isinstance(y.value, bool) else ""
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if m is None:
        ctx.error(y, f"expected a port range such as 30000-32767, found {f.describe(y)}")
        return None
    lo, hi = int(m.group(1)), int(m.group(2))
    if not (1 <= lo <= hi <= 65535):
        ctx.error(y, f"expected a port range LOW-HIGH with 1 <= LOW <= HIGH <= 65535, found {lo}-{hi}")
        return None
    return lo, hi


def _dns(ctx: Ctx, y: Y | None) -> DNSSpec:
    m = f.mapping(ctx, y, ("clusterIP", "legacyNames", "pods", "upstreams"), what="a dns mapping")
    if not m:
        return DNSSpec()
    cip = f.ip(ctx, m.get("clusterIP"), "the cluster DNS IP address")
    ctx.remember(("dns", "clusterIP"), m.get("clusterIP"))
    legacy = f.boolean(ctx, m.get("legacyNames"))
    pods = f.choice(ctx, m.get("pods"), ("insecure", "verified", "disabled")) or "insecure"
    ups = tuple(u for u in (f.string(ctx, y_, "an upstream nameserver address") for y_ in f.seq(ctx, m.get("upstreams"))) if u)
    return DNSSpec(cip, True if legacy is None else legacy, pods, ups)  # type: ignore[arg-type]


def _kube_proxy(ctx: Ctx, y: Y | None) -> KubeProxySpec:
    """``spec.kubeProxy``: KubeProxyConfiguration's fields (``clusterCIDR``, ``detectLocalMode``,
    ``detectLocal: {bridgeInterface, interfaceNamePrefix}``, ``nodePortAddresses``)."""
    keys = ("mode", "masqueradeAll", "clusterCIDR", "nodePortAddresses", "detectLocalMode", "detectLocal")
    m = f.mapping(ctx, y, keys, what="a kubeProxy mapping")
    if not m:
        return KubeProxySpec()
    mode = f.choice(ctx, m.get("mode"), ("iptables",)) or "iptables"
    masq = f.boolean(ctx, m.get("masqueradeAll")) or False
    cidr_y = m.get("clusterCIDR")
    cluster_cidrs: tuple[IPNetwork, ...] | None = None
    if cidr_y is not None and cidr_y.value in ("", []):
        cluster_cidrs = ()  # configured empty: kube-proxy detects no local traffic
    elif cidr_y is not None and cidr_y.value is not None:
        cluster_cidrs = f.cidr_list(ctx, cidr_y, "a cluster CIDR")
    npa_y = m.get("nodePortAddresses")
    npa_items = [] if npa_y is None or npa_y.value is None else (npa_y.value if isinstance(npa_y.value, list) else [npa_y])
    primary = [getattr(i, "value", None) for i in npa_items] == ["primary"]
    npa = () if primary else f.cidr_list(ctx, npa_y, "a node port address CIDR (or the word primary)")
    detect = f.choice(ctx, m.get("detectLocalMode"), DETECT_LOCAL_MODES) or "ClusterCIDR"
    dm = f.mapping(ctx, m.get("detectLocal"), ("bridgeInterface", "interfaceNamePrefix"), what="a detectLocal mapping") or {}
    bridge = f.string(ctx, dm.get("bridgeInterface"), "an interface name") or ""
    prefix = f.string(ctx, dm.get("interfaceNamePrefix"), "an interface name prefix") or ""
    needs = {"BridgeInterface": ("bridgeInterface", bridge), "InterfaceNamePrefix": ("interfaceNamePrefix", prefix)}
    if detect in needs and not needs[detect][1]:
        ctx.error(m["detectLocalMode"], f"detectLocalMode {detect} needs detectLocal.{needs[detect][0]}")
    return KubeProxySpec(mode, masq, cluster_cidrs, npa, primary, detect, bridge, prefix)  # type: ignore[arg-type]


def _network(ctx: Ctx, y: Y | None) -> NetworkSpec:
    m = f.mapping(ctx, y, ("driver", "options"), what="a network mapping")
    if not m:
        return NetworkSpec()
    driver = f.string(ctx, m.get("driver"), "a driver name such as flannel") or "flannel"
    ctx.remember(("network", "driver"), m.get("driver"))
    opts = f.mapping(ctx, m.get("options"), (), strict=False, what="a mapping of driver options")
    ctx.remember(("network", "options"), m.get("options"))
    for key, val in (opts or {}).items():  # the driver judges them once the files are read
        ctx.remember(("network", "option", key), val)
        ctx.where[("network", "option-key", key)] = Where(ctx.file, val.key_line, val.key_column, val.path)
    options = frozen_plain(m["options"].plain()) if opts else FrozenDict()
    return NetworkSpec(driver, options, ctx.source(y) if y is not None else None)


def _kv(ctx: Ctx, y: Y | None) -> KVSpec:
    m = f.mapping(ctx, y, ("backend", "endpoints", "prefix"), what="a kv mapping")
    if not m:
        return KVSpec()
    backend = f.choice(ctx, m.get("backend"), ("memory", "etcd")) or "memory"
    endpoints: list[str] = []
    for e in f.seq(ctx, m.get("endpoints")):
        url = f.string(ctx, e, "an endpoint URL such as http://127.0.0.1:2379")
        if url is None:
            continue
        if not re.fullmatch(r"https?://[^/\s]+(:\d+)?/?", url):
            ctx.error(e, f"expected an endpoint URL such as http://127.0.0.1:2379, found {url!r}")
            continue
        endpoints.append(url)
    if backend == "etcd" and not endpoints and y is not None:
        ctx.error(y, "expected at least one etcd endpoint URL with backend etcd, found none", path=f"{y.path}.endpoints")
    prefix = f.string(ctx, m.get("prefix"), "a key prefix") or ""
    return KVSpec(backend, tuple(endpoints), prefix)  # type: ignore[arg-type]


def _mtu(ctx: Ctx, y: Y | None) -> int | None:
    return f.integer(ctx, y, MIN_MTU, MAX_MTU, "an MTU")


def _underlay(ctx: Ctx, y: Y | None, spec: ClusterSpec) -> None:
    m = f.mapping(ctx, y, ("mtu", "segments", "routers"), what="an underlay mapping")
    if not m:
        return
    spec.mtu = _mtu(ctx, m.get("mtu")) or 1500
    if "segments" in m:
        segs: list[Segment] = []
        for item in f.seq(ctx, m.get("segments"), "a list of segments"):
            sm = f.mapping(ctx, item, ("name", "cidr", "mtu"), what="a segment")
            if sm is None:
                continue
            name = f.dns_label(ctx, f.required(ctx, item, sm, "name", "a segment name"), "a segment name")
            ctx.remember_name(item, sm.get("name"))
            cidr_y = f.required(ctx, item, sm, "cidr", "the segment's CIDR")
            # a dual-stack segment: a list of one CIDR per family, as podCIDR takes
            nets = f.cidr_list(ctx, cidr_y, "a segment CIDR")
            if cidr_y is not None and isinstance(cidr_y.value, list) and (
                len(cidr_y.value) > 2 or len({n.version for n in nets}) != len(nets)
            ):
                ctx.error(cidr_y, f"expected one segment CIDR or two of different families (dual stack), found {len(cidr_y.value)}: {', '.join(map(str, nets))}")
                nets = nets[:1]
            net = nets[0] if nets else None
            mtu = _mtu(ctx, sm.get("mtu"))
            if mtu is not None and any(n.version == 6 for n in nets) and mtu < 1280:
                ctx.error(sm["mtu"], f"expected an MTU of at least 1280 on an IPv6 segment, found {mtu}")
            if name is None or net is None:
                continue
            ctx.remember(("segment", name), item)
            ctx.remember(("segment", name, "cidr"), sm.get("cidr"))
            segs.append(Segment(name, net, mtu or spec.mtu, ctx.source(item), tuple(nets[1:])))
        spec.segments = tuple(segs)
    routers: list[Router] = []
    for item in f.seq(ctx, m.get("routers"), "a list of routers"):
        rm = f.mapping(ctx, item, ("name", "interfaces"), what="a router")
        if rm is None:
            continue
        name = f.dns_label(ctx, f.required(ctx, item, rm, "name", "a router name"), "a router name")
        ctx.remember_name(item, rm.get("name"))
        ifaces: dict[str, IPAddress] = {}
        im = f.mapping(ctx, f.required(ctx, item, rm, "interfaces", "a mapping of segment name → router IP"), (), strict=False,
                       what="a mapping of segment name → router IP")
        for seg_name, ip_y in (im or {}).items():
            value = f.ip(ctx, ip_y, f"the router's IP address on segment {seg_name}")
            if value is not None:
                ifaces[seg_name] = value
                ctx.remember(("router", name, seg_name), ip_y)
                ctx.remember(("router", name, seg_name, "key"), ip_y)
        if name is not None:
            ctx.remember(("router", name), item)
            routers.append(Router(name, FrozenDict(ifaces), ctx.source(item)))
    spec.routers = tuple(routers)


def _nodes(ctx: Ctx, y: Y | None) -> list[NodeEntry]:
    out: list[NodeEntry] = []
    for item in f.seq(ctx, y, "a list of nodes"):
        nm = f.mapping(ctx, item, NODE_FIELDS, what="a node")
        if nm is None:
            continue
        name = f.dns_subdomain(ctx, f.required(ctx, item, nm, "name", "a node name"), "a node name")
        ctx.remember_name(item, nm.get("name"))
        ip_y = f.required(ctx, item, nm, "ip", "the node's underlay IP address")
        addr = f.ip(ctx, ip_y, "a node IP address")
        cidrs = f.cidr_list(ctx, nm.get("podCIDRs"), "a pod CIDR") or f.cidr_list(ctx, nm.get("podCIDR"), "a pod CIDR")
        if "podCIDR" in nm and "podCIDRs" in nm:
            ctx.error(nm["podCIDRs"], "expected either podCIDR or podCIDRs, found both", at_key=True)
        segment = f.dns_label(ctx, nm.get("segment"), "a segment name")
        if name is None:
            continue
        ctx.remember(("node", name), item)
        ctx.remember(("node", name, "ip"), ip_y)
        ctx.remember(("node", name, "podCIDR"), nm.get("podCIDRs") or nm.get("podCIDR"))
        ctx.remember(("node", name, "segment"), nm.get("segment"))
        # more addresses of the host (a second InternalIP, another interface's): NodePorts
        # answer on those inside kube-proxy's nodePortAddresses
        extra = tuple(a for a in (f.ip(ctx, y_, "a node address") for y_ in f.seq(ctx, nm.get("addresses"), "a list of addresses"))
                      if a is not None and a != addr)
        out.append(NodeEntry(name, addr, f.label_map(ctx, nm.get("labels")), cidrs, segment, extra, ctx.source(item),
                             read_taints(ctx, nm.get("taints")), f.boolean(ctx, nm.get("unschedulable")) or False))
    return out


def read_cluster(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    if parsed.cluster is not None:
        ctx.error(doc, f"expected one Cluster document, found another (the first is at {parsed.cluster.source})")
        return
    meta = f.mapping(ctx, fields_.get("metadata"), ("name", "labels", "annotations"), what="metadata") or {}
    name = f.dns_subdomain(ctx, meta.get("name"), "a cluster name") or "cluster"
    spec_y = fields_.get("spec")
    m = f.mapping(ctx, spec_y, SPEC_FIELDS, what="a Cluster spec") or {}
    spec = ClusterSpec(name, ctx.source(doc))
    parsed.cluster = spec
    if m.get("domain") is not None:
        domain = f.string(ctx, m["domain"], "a DNS domain such as cluster.local")
        if domain is not None and not _DOMAIN.match(domain.rstrip(".")):
            ctx.error(m["domain"], f"expected a DNS domain such as cluster.local, found {domain!r}")
        elif domain is not None:
            spec.domain = domain.rstrip(".")
    if m.get("podCIDR") is not None:
        spec.pod_cidrs = f.cidr_list(ctx, m["podCIDR"], "a pod CIDR")
        ctx.remember(("cluster", "podCIDR"), m["podCIDR"])
    if m.get("serviceCIDR") is not None:
        spec.service_cidrs = f.cidr_list(ctx, m["serviceCIDR"], "a service CIDR")
        ctx.remember(("cluster", "serviceCIDR"), m["serviceCIDR"])
    spec.node_port_range = _port_range(ctx, m.get("serviceNodePortRange"))
    ctx.remember(("cluster", "serviceNodePortRange"), m.get("serviceNodePortRange"))
    spec.dns = _dns(ctx, m.get("dns"))
    spec.kube_proxy = _kube_proxy(ctx, m.get("kubeProxy"))
    spec.network = _network(ctx, m.get("network"))
    spec.kv = _kv(ctx, m.get("kv"))
    _underlay(ctx, m.get("underlay"), spec)
    spec.nodes = _nodes(ctx, m.get("nodes"))
