"""Readers for Kubernetes Service, Endpoints (v1) and EndpointSlice (discovery.k8s.io/v1).

Endpoints objects become EndpointSlices as the EndpointSlice mirroring controller makes them.
"""

from __future__ import annotations

from overlaynet.model import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPAddress,
    IPNetwork,
    ObjectRef,
    Service,
    ServicePort,
)
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.k8s_workloads import PROTOCOLS, read_meta
from overlaynet.topology.naming import slice_name
from overlaynet.topology.parsed import Parsed, ServiceEntry
from overlaynet.topology.yamlsrc import Y

SERVICE_SPEC_FIELDS = (
    "allocateLoadBalancerNodePorts", "clusterIP", "clusterIPs", "externalIPs", "externalName",
    "externalTrafficPolicy", "healthCheckNodePort", "internalTrafficPolicy", "ipFamilies",
    "ipFamilyPolicy", "loadBalancerClass", "loadBalancerIP", "loadBalancerSourceRanges",
    "ports", "publishNotReadyAddresses", "selector", "sessionAffinity", "sessionAffinityConfig",
    "type", "trafficDistribution",
)
SERVICE_PORT_FIELDS = ("appProtocol", "name", "nodePort", "port", "protocol", "targetPort")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
FAMILIES = ("IPv4", "IPv6")


def family(addr: IPAddress | IPNetwork) -> str:
    return "IPv4" if addr.version == 4 else "IPv6"


def _ports(ctx: Ctx, y: Y | None, svc_type: str | None, ns: str, name: str) -> tuple[ServicePort, ...]:
    items = f.seq(ctx, y, "a list of service ports")
    out: list[ServicePort] = []
    names: dict[str, Y] = {}
    seen: dict[tuple[int, str], Y] = {}
    for i, item in enumerate(items):
        pm = f.mapping(ctx, item, SERVICE_PORT_FIELDS, strict=False, what="a service port")
        if pm is None:
            continue
        number = f.port(ctx, f.required(ctx, item, pm, "port", "a port number 1-65535"), "a service port number")
        proto = f.choice(ctx, pm.get("protocol"), PROTOCOLS) or "TCP"
        # name: "" is no name, as the API server has it: fine on a single port, required on several
        unnamed = pm.get("name") is None or pm["name"].value in (None, "")
        pname = None if unnamed else f.dns_label(ctx, pm.get("name"), "a port name")
        if pname is None and len(items) > 1 and unnamed:
            ctx.error(item, "expected a 'name' on every port of a multi-port service, found none", path=f"{item.path}.name")
        if pname is not None:
            if pname in names:
                ctx.error(pm["name"], f"duplicate port name {pname!r} (also at line {names[pname].line}): expected unique port names")
            names[pname] = pm["name"]
        target = f.port_or_name(ctx, pm.get("targetPort"))
        node_port_y = pm.get("nodePort")
        node_port = f.port(ctx, node_port_y, "a node port number")
        if node_port is not None and svc_type not in ("NodePort", "LoadBalancer"):
            ctx.error(node_port_y, f"expected no nodePort on a {svc_type or 'ClusterIP'} service (only NodePort and LoadBalancer have them), found {node_port}")  # type: ignore[arg-type]
            node_port = None
        if node_port is not None:
            ctx.remember(("service", ns, name, "nodePort", i), node_port_y)
        app = f.string(ctx, pm.get("appProtocol"))
        if number is None:
            continue
        if (number, proto) in seen:
            ctx.error(item, f"duplicate service port {number}/{proto} (also at line {seen[(number, proto)].line})")
        seen[(number, proto)] = item
        out.append(ServicePort(number, proto, pname, target, node_port, app))  # type: ignore[arg-type]
    return tuple(out)


def _cluster_ips(ctx: Ctx, spec: dict[str, Y], ns: str, name: str) -> tuple[list[IPAddress], bool]:
    """``clusterIP`` and ``clusterIPs`` (which must agree); ``None`` means headless."""
    headless = False
    ips: list[IPAddress] = []
    cip_y = spec.get("clusterIP")
    if cip_y is not None and cip_y.value is not None:
        if cip_y.value == "None":
            headless = True
        elif cip_y.value != "":
            value = f.ip(ctx, cip_y, "a cluster IP address, \"None\" (headless) or \"\"")
            if value is not None:
                ips.append(value)
                ctx.remember(("service", ns, name, "clusterIP", value), cip_y)
    for item in f.seq(ctx, spec.get("clusterIPs")):
        if item.value == "None":
            headless = True
            continue
        value = f.ip(ctx, item, "a cluster IP address")
        if value is None:
            continue
        if len(ips) == 1 and item.path.endswith("[0]"):
            if value != ips[0]:
                ctx.error(item, f"expected clusterIPs[0] to equal clusterIP {ips[0]}, found {value}")
            continue
        if value in ips:
            continue
        same = [i for i in ips if i.version == value.version]
        if same:
            ctx.error(item, f"expected at most one cluster IP per IP family (an IPv4 and an IPv6 one), found {same[0]} and {value}")
            continue
        ips.append(value)
        ctx.remember(("service", ns, name, "clusterIP", value), item)
    return ips, headless


def _families(ctx: Ctx, spec: dict[str, Y], cluster_ips: list[IPAddress]) -> tuple[str, ...]:
    fams = [f.choice(ctx, y, FAMILIES) for y in f.seq(ctx, spec.get("ipFamilies"))]
    families = tuple(x for x in fams if x is not None)
    if len(set(families)) != len(families):
        ctx.error(spec["ipFamilies"], f"expected distinct IP families, found {list(families)}")
    for ip_, fam in zip(cluster_ips, families, strict=False):
        if family(ip_) != fam:
            ctx.error(spec["ipFamilies"], f"expected ipFamilies to follow clusterIPs ({', '.join(family(i) for i in cluster_ips)}), found {list(families)}")
            break
    return families


def _affinity_timeout(ctx: Ctx, spec: dict[str, Y]) -> int:
    sac = f.mapping(ctx, spec.get("sessionAffinityConfig"), ("clientIP",), what="a sessionAffinityConfig")
    if not sac:
        return 10800
    cip = f.mapping(ctx, sac.get("clientIP"), ("timeoutSeconds",)) or {}
    return f.integer(ctx, cip.get("timeoutSeconds"), 1, 86400, "a timeout in seconds") or 10800


def _load_balancer_ips(ctx: Ctx, spec: dict[str, Y], fields_: dict[str, Y]) -> tuple[IPAddress, ...]:
    """``spec.loadBalancerIP`` and the IPs of ``status.loadBalancer.ingress``."""
    ips: list[IPAddress] = []
    lb_y = spec.get("loadBalancerIP")
    if lb_y is not None and lb_y.value not in (None, ""):
        value = f.ip(ctx, lb_y, "a load balancer IP address")
        if value is not None:
            ips.append(value)
    status = f.mapping(ctx, fields_.get("status"), ("loadBalancer", "conditions"), strict=False) or {}
    lb = f.mapping(ctx, status.get("loadBalancer"), ("ingress",), strict=False) or {}
    for ing in f.seq(ctx, lb.get("ingress")):
        im = f.mapping(ctx, ing, ("ip", "hostname", "ipMode", "ports"), strict=False) or {}
        if im.get("ip") is not None:
            value = f.ip(ctx, im["ip"], "a load balancer ingress IP address")
            if value is not None and value not in ips:
                ips.append(value)
    return tuple(ips)


def read_service(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_, name_kind="label")
    if meta.name and not meta.name[0].isalpha():
        # Service names are DNS-1035 labels: they also name the {NAME}_SERVICE_HOST variables
        m = fields_.get("metadata")
        name_y = m.value.get("name") if m is not None and isinstance(m.value, dict) else None
        ctx.error(name_y or doc, f"expected a service name starting with a letter (DNS-1035), found {meta.name!r}")
        meta.name = None
    spec_y = fields_.get("spec")
    spec = f.mapping(ctx, spec_y, SERVICE_SPEC_FIELDS, strict=False, what="a service spec") or {}
    ns, name = meta.namespace, meta.name or ""
    svc_type = f.choice(ctx, spec.get("type"), SERVICE_TYPES) if spec.get("type") is not None else "ClusterIP"
    ports = _ports(ctx, spec.get("ports"), svc_type, ns, name)
    sel_y = spec.get("selector")
    selector = f.label_map(ctx, sel_y, "selector labels") if sel_y is not None else None
    if selector is not None and not selector:
        selector = None  # an empty selector means "no selector" for Services
    cluster_ips, headless = _cluster_ips(ctx, spec, ns, name)
    families = _families(ctx, spec, cluster_ips)
    ip_y = spec.get("clusterIP") if spec.get("clusterIP") is not None else spec.get("clusterIPs")
    if headless and svc_type in ("NodePort", "LoadBalancer") and ip_y is not None:
        # as the API server: "may not be set to 'None' for LoadBalancer/NodePort services"
        ctx.error(ip_y, f"expected clusterIP None (headless) only on a ClusterIP service, found it on a {svc_type} service")
    if svc_type == "ExternalName" and cluster_ips and ip_y is not None:
        ctx.error(ip_y, f"expected no clusterIP on an ExternalName service, found {cluster_ips[0]}")
    policy = f.choice(ctx, spec.get("ipFamilyPolicy"), ("SingleStack", "PreferDualStack", "RequireDualStack"))
    if policy == "SingleStack":  # as the API server's validateIPFamilyPolicy
        if len(cluster_ips) > 1:
            ctx.error(spec["clusterIPs"], f"expected at most one clusterIPs entry with ipFamilyPolicy SingleStack, found {len(cluster_ips)}")
        if len(families) > 1:
            ctx.error(spec["ipFamilies"], f"expected at most one ipFamilies entry with ipFamilyPolicy SingleStack, found {list(families)}")
    ctx.remember(("service", ns, name, "ipFamilyPolicy"), spec.get("ipFamilyPolicy"))
    ctx.remember(("service", ns, name, "ipFamilies"), spec.get("ipFamilies"))
    etp_y = spec.get("externalTrafficPolicy")
    etp = f.choice(ctx, etp_y, ("Cluster", "Local")) or "Cluster"
    if etp_y is not None and etp == "Local" and svc_type not in ("NodePort", "LoadBalancer"):
        ctx.error(etp_y, f"expected externalTrafficPolicy only on NodePort or LoadBalancer services, found it on a {svc_type} service")
    ext_name = f.string(ctx, spec.get("externalName"), "a DNS name")
    if svc_type == "ExternalName" and not ext_name:
        ctx.error(spec_y or doc, "missing required field 'externalName': expected a DNS name for an ExternalName service", path="spec.externalName")
    elif ext_name and not f.is_dns_subdomain(ext_name.removesuffix(".")):
        # as the API server: a DNS-1123 subdomain, a trailing dot allowed
        ctx.error(spec["externalName"], f"expected externalName to be a DNS name made of lower-case letters, digits, '-' and '.' (as DNS-1123), found {ext_name!r}")
        ext_name = None
    hc_y = spec.get("healthCheckNodePort")
    hc = f.port(ctx, hc_y, "a health check node port")
    if hc is not None:
        ctx.remember(("service", ns, name, "healthCheckNodePort"), hc_y)
    ranges_y = spec.get("loadBalancerSourceRanges")
    svc = Service(
        name=name,
        namespace=ns,
        type=svc_type or "ClusterIP",  # type: ignore[arg-type]
        selector=selector,
        ports=ports,
        cluster_ips=tuple(cluster_ips) if svc_type != "ExternalName" else (),
        headless=headless and svc_type != "ExternalName",
        ip_families=families,  # type: ignore[arg-type]
        session_affinity=f.choice(ctx, spec.get("sessionAffinity"), ("None", "ClientIP")) or "None",  # type: ignore[arg-type]
        session_affinity_timeout=_affinity_timeout(ctx, spec),
        external_traffic_policy=etp,  # type: ignore[arg-type]
        internal_traffic_policy=f.choice(ctx, spec.get("internalTrafficPolicy"), ("Cluster", "Local")) or "Cluster",  # type: ignore[arg-type]
        external_ips=tuple(x for x in (f.ip(ctx, y, "an external IP address") for y in f.seq(ctx, spec.get("externalIPs"))) if x is not None),
        load_balancer_ips=_load_balancer_ips(ctx, spec, fields_),
        load_balancer_source_ranges=f.cidr_list(ctx, ranges_y, "a source range CIDR") if ranges_y is not None else (),
        external_name=ext_name,
        health_check_node_port=hc,
        publish_not_ready_addresses=f.boolean(ctx, spec.get("publishNotReadyAddresses")) or False,
        labels=meta.labels,
        creation_timestamp=meta.timestamp,
        source=ctx.source(doc),
    )
    if meta.name is None:
        return
    ctx.remember(("service", ns, meta.name), doc)
    if sel_y is not None:
        ctx.remember(("service", ns, meta.name, "selector"), sel_y)
    parsed.services.append(ServiceEntry(svc, parsed.next_order(), meta.timestamp, policy))


def _endpoint_ports(ctx: Ctx, y: Y | None) -> tuple[EndpointPort, ...]:
    out: list[EndpointPort] = []
    for item in f.seq(ctx, y):
        pm = f.mapping(ctx, item, ("name", "port", "protocol", "appProtocol"), strict=False, what="an endpoint port")
        if pm is None:
            continue
        number = f.port(ctx, pm.get("port"), "an endpoint port number")
        proto = f.choice(ctx, pm.get("protocol"), PROTOCOLS) or "TCP"
        name = f.string(ctx, pm.get("name"))
        if number is not None:
            out.append(EndpointPort(number, proto, name or None, f.string(ctx, pm.get("appProtocol"))))  # type: ignore[arg-type]
    return tuple(out)


def _target_ref(y: Y | None, default_ns: str) -> ObjectRef | None:
    if y is None or not isinstance(y.value, dict):
        return None
    v = y.plain()
    if "name" not in v:
        return None
    return ObjectRef(str(v.get("kind", "Pod")), str(v["name"]), str(v.get("namespace", default_ns)))


def read_endpoints(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    """v1 Endpoints → EndpointSlices (one per subset and address family), as mirrored."""
    meta = read_meta(ctx, doc, fields_, name_kind="label")
    if "subsets" in fields_ and fields_["subsets"].value is not None and not isinstance(fields_["subsets"].value, list):
        ctx.error(fields_["subsets"], f"expected a list of subsets, found {f.describe(fields_['subsets'])}")
        return
    for si, sub in enumerate(f.seq(ctx, fields_.get("subsets"))):
        sm = f.mapping(ctx, sub, ("addresses", "notReadyAddresses", "ports"), what="an endpoints subset")
        if sm is None:
            continue
        by_family: dict[str, list[Endpoint]] = {}
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for item in f.seq(ctx, sm.get(key)):
                am = f.mapping(ctx, item, ("ip", "hostname", "nodeName", "targetRef"), what="an endpoint address")
                if am is None:
                    continue
                addr = f.ip(ctx, f.required(ctx, item, am, "ip", "an IP address"), "an endpoint IP address")
                if addr is None:
                    continue
                ctx.remember(("endpoint", meta.namespace, meta.name, addr), am["ip"])
                by_family.setdefault(family(addr), []).append(
                    Endpoint((addr,), ready, ready, False, f.string(ctx, am.get("nodeName")),
                             f.dns_label(ctx, am.get("hostname"), "an endpoint hostname"), _target_ref(am.get("targetRef"), meta.namespace))
                )
        ports = _endpoint_ports(ctx, sm.get("ports"))
        if meta.name is None:
            continue
        for fam, eps in sorted(by_family.items()):
            mirrored = slice_name(meta.namespace, meta.name, f"endpoints/{si}/{fam}")
            parsed.from_endpoints.add((meta.namespace, mirrored))
            parsed.endpoint_slices.append(
                EndpointSlice(
                    mirrored, meta.namespace, meta.name,
                    fam, tuple(eps), ports, "endpointslicemirroring-controller.k8s.io", ctx.source(sub),  # type: ignore[arg-type]
                )
            )


def read_endpoint_slice(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_)
    at_y = f.required(ctx, doc, fields_, "addressType", "IPv4, IPv6 or FQDN")
    addr_type = f.choice(ctx, at_y, ("IPv4", "IPv6", "FQDN")) if at_y is not None else None
    service = meta.labels.get("kubernetes.io/service-name")
    if service is None:
        ctx.error(doc, "expected the label kubernetes.io/service-name naming the slice's service, found none", path="metadata.labels")
    endpoints: list[Endpoint] = []
    for item in f.seq(ctx, fields_.get("endpoints")):
        em = f.mapping(ctx, item, ("addresses", "conditions", "hostname", "nodeName", "targetRef", "zone", "hints", "deprecatedTopology"), strict=False, what="an endpoint")
        if em is None:
            continue
        addrs: list[IPAddress] = []
        for a in f.seq(ctx, f.required(ctx, item, em, "addresses", "a list of addresses")):
            if addr_type == "FQDN":
                continue
            value = f.ip(ctx, a, f"an {addr_type or 'IP'} address")
            if value is None:
                continue
            if addr_type is not None and family(value) != addr_type:
                ctx.error(a, f"expected an {addr_type} address (the slice's addressType), found {value}")
                continue
            addrs.append(value)
            ctx.remember(("endpoint", meta.namespace, service, value), a)
        cond = f.mapping(ctx, em.get("conditions"), ("ready", "serving", "terminating"), what="endpoint conditions") or {}
        ready = f.boolean(ctx, cond.get("ready"))
        ready = True if ready is None else ready  # nil means ready, as consumers read it
        serving = f.boolean(ctx, cond.get("serving"))
        terminating = f.boolean(ctx, cond.get("terminating")) or False
        if addrs:
            endpoints.append(
                Endpoint(tuple(addrs), ready, ready if serving is None else serving, terminating,
                         f.string(ctx, em.get("nodeName")), f.dns_label(ctx, em.get("hostname"), "an endpoint hostname"),
                         _target_ref(em.get("targetRef"), meta.namespace), f.string(ctx, em.get("zone")))
            )
    ports = _endpoint_ports(ctx, fields_.get("ports"))
    if meta.name is None or service is None or addr_type is None:
        return
    managed = meta.labels.get("endpointslice.kubernetes.io/managed-by", "user")
    parsed.endpoint_slices.append(
        EndpointSlice(meta.name, meta.namespace, service, addr_type, tuple(endpoints), ports, managed, ctx.source(doc))  # type: ignore[arg-type]
    )
