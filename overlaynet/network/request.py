"""From user words to a trace: resolve ``--from`` (pod, node, IP) and ``--to`` (pod, Service,
node, IP, ``IP:PORT``, DNS name) against a network, build the packet, trace it (and its
reply). The CLI calls ``run``; the walker itself never sees names.

Traffic from an address that is neither a pod, a node nor a router comes from outside the
cluster: it is injected at the first router on the segment whose CIDR holds it (or straight
at the destination's port when the destination is on that segment), else at the border
router's uplink, as if it came from the Internet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import ip_address, ip_network
from typing import Any, Literal, Protocol

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.dataplane.lookup import is_local, lookup_route, select_source
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet, ephemeral_port
from overlaynet.dataplane.underlay import UPLINK, routers_on
from overlaynet.dns.client import client_resolve
from overlaynet.dns.docker import EMBEDDED_DNS, is_docker_container, resolve_embedded
from overlaynet.drivers.base import Driver
from overlaynet.errors import TraceError
from overlaynet.model import Cluster, Pod
from overlaynet.model.base import IPAddress
from overlaynet.trace.api import trace
from overlaynet.trace.model import Disposition, Hop, Trace, TraceResult
from overlaynet.trace.steps import DnsStep
from overlaynet.trace.walker import Injection

__all__ = ["Endpoint", "Programmed", "TraceReport", "TraceRequest", "find_pod", "resolve_source", "run"]

Proto = Literal["tcp", "udp", "icmp"]
_EDGE = (Disposition.EXITS_NETWORK, Disposition.NEIGHBOR_UNREACHABLE)


class Programmed(Protocol):
    """What a trace request needs of a network (``overlaynet.network.Network`` is one)."""

    @property
    def cluster(self) -> Cluster: ...
    @property
    def dataplane(self) -> Dataplane: ...
    @property
    def driver(self) -> Driver: ...


@dataclass(frozen=True, slots=True)
class TraceRequest:
    source: str  # "ns/pod" (unique prefix ok), a node name, or an IP
    target: str  # "ns/pod", "ns/service", a node, an IP, "IP:PORT", "NAME[:PORT]"
    port: int | None = None
    proto: Proto = "tcp"
    size: int = 64
    df: bool = False
    ttl: int = 64
    reply: bool = False
    all_branches: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved source: where the packet starts, its address, and the pod if it is one."""

    start: NsRef | Injection
    ip: IPAddress | None
    pod: Pod | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class TraceReport:
    """What ``Network.trace`` answers: the forward traces (one per branch), the reply
    traced back when asked, and whether it all succeeded."""

    forward: TraceResult
    reply: TraceResult | None = None
    #: The reply goes to a client outside the topology: it succeeds when it gets back to the
    #: edge that client is behind (the uplink, or its segment), where the IR ends.
    reply_to_outside: bool = False

    @property
    def trace(self) -> Trace:
        """The forward trace (the first branch's, when ``all_branches`` forked it)."""
        return self.forward.trace

    @property
    def success(self) -> bool:
        """Every forward branch delivered or accepted, and so was the reply when traced (for
        a client outside the topology: it got back to the edge that client is behind)."""
        if not self.forward.success:
            return False
        if self.reply is None:
            return True
        if self.reply_to_outside:
            return all(t.success or t.disposition in _EDGE for t in self.reply.traces)
        return self.reply.success

    def to_dict(self) -> dict[str, Any] | list[dict[str, Any]]:
        """``Trace.to_dict()`` for one trace; a list (with probabilities) for several; with a
        reply: ``{"forward": ..., "reply": ...}``."""
        fwd = self.forward.to_dict() if len(self.forward.traces) > 1 else self.forward.trace.to_dict()
        if self.reply is None:
            return fwd
        rep = self.reply.to_dict() if len(self.reply.traces) > 1 else self.reply.trace.to_dict()
        return {"forward": fwd, "reply": rep}


def find_pod(cluster: Cluster, text: str) -> Pod | None:
    """``ns/name`` or a unique ``ns/prefix`` (``Cluster.find_pod``); a text without ``/``
    is never a pod here (it names a node, a router or an address)."""
    ns, _, name = text.partition("/")
    if not name:
        return None
    return cluster.find_pod(text)


def _pod_ns(pod: Pod) -> NsRef:
    if pod.node is None:
        raise TraceError(f"pod {pod.key} is not scheduled on a node")
    return NsRef.of_pod(pod)


def _ip(text: str) -> IPAddress | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def resolve_source(cluster: Cluster, dp: Dataplane, text: str) -> Endpoint:
    """``--from``: a pod, a node, a router or an address (see the module docstring)."""
    pod = find_pod(cluster, text) if "/" in text else None
    if pod is not None:
        if pod.ip is None:
            raise TraceError(f"pod {pod.key} has no IP address")
        return Endpoint(_pod_ns(pod), pod.ip, pod, f"pod {pod.key}")
    if "/" in text:
        raise TraceError(f"no pod {text!r} (expected namespace/name of a pod)")
    if text in cluster._node_index:
        return Endpoint(NsRef(text), None, label=f"node {text}")
    if any(r.name == text for r in cluster.underlay.routers):
        return Endpoint(NsRef(text), None, label=f"router {text}")
    container = cluster._pod_index.get(("default", text))
    if container is not None and container.ip is not None:  # a plain Docker container by its name
        return Endpoint(_pod_ns(container), container.ip, container, f"container {text}")
    ip = _ip(text)
    if ip is None:
        raise TraceError(f"--from {text!r}: not a pod (ns/name), a node, a router or an IP address")
    for p in cluster.pods:
        if ip in p.ips:
            return Endpoint(_pod_ns(p), ip, p, f"pod {p.key}")
    for n in cluster.nodes:
        if ip in n.ips:
            return Endpoint(NsRef(n.name), ip, label=f"node {n.name}")
    for r in cluster.underlay.routers:
        if ip in r.interfaces.values():
            return Endpoint(NsRef(r.name), ip, label=f"router {r.name}")
    return Endpoint(_external_entry(cluster, dp, ip), ip, label=f"external {ip}")


def _external_entry(cluster: Cluster, dp: Dataplane, ip: IPAddress) -> Injection:
    for seg in cluster.underlay.segments:
        if ip.version == seg.cidr.version and ip in seg.cidr:
            routers = routers_on(cluster, seg.name)
            if routers:
                ns = dp.namespace(NsRef(routers[0].name))
                dev = next(i.name for i in ns.interfaces.values() if i.segment == seg.name)
                return Injection(ns.ref, dev)
            raise TraceError(f"{ip} is on segment {seg.name}, which has no router to inject external traffic at")
    if cluster.underlay.routers:
        return Injection(NsRef(cluster.underlay.routers[0].name), UPLINK)
    raise TraceError(f"{ip} is outside the topology and there is no router to enter from")


def _split_port(text: str) -> tuple[str, int | None]:
    """``host:port`` → (host, port); an IPv6 address (more than one colon) has no port.

    >>> _split_port("web:80"), _split_port("2001:db8::1")
    (('web', 80), ('2001:db8::1', None))
    """
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return text, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise TraceError(f"--to {text!r}: expected a port number 1-65535 after ':', found {port!r}")
    return host, int(port)


def _resolve_target(cluster: Cluster, src: Endpoint, text: str) -> tuple[IPAddress | None, int | None, DnsStep | None]:
    host, port = _split_port(text)
    ip = _ip(host)
    if ip is not None:
        return ip, port, None
    if "/" in host:
        # an exact pod name, then a Service of that name, then a unique pod-name prefix: a
        # Service ``node-js`` wins over its pods ``node-js-xxxxx``
        ns, _, name = host.partition("/")
        pod = cluster._pod_index.get((ns, name))
        svc = cluster._service_index.get((ns, name))
        if pod is None and (svc is None or svc.cluster_ip is None):
            pod = find_pod(cluster, host)
        if pod is not None:
            if pod.ip is None:
                raise TraceError(f"pod {pod.key} has no IP address")
            return pod.ip, port, None
        if svc is not None and svc.cluster_ip is not None:
            if port is None and svc.ports:
                port = svc.ports[0].port
            return svc.cluster_ip, port, None
        raise TraceError(f"--to {text!r}: no pod or Service with a ClusterIP named {host}")
    if host in cluster._node_index:
        return cluster.node(host).ip, port, None
    return _resolve_name(cluster, src, host, port)


def _resolve_name(cluster: Cluster, src: Endpoint, name: str, port: int | None) -> tuple[IPAddress | None, int | None, DnsStep]:
    if src.pod is None:
        raise TraceError(f"--to {name!r}: a DNS name is resolved from a pod's resolv.conf; give --from a pod")
    if is_docker_container(cluster, src.pod):
        ans = resolve_embedded(cluster, src.pod, name)
        if not ans.addresses:
            raise TraceError(f"--to {name!r}: no container or alias {name!r} on the networks of {src.pod.name}; "
                             f"Docker's embedded DNS forwards it to the host's resolvers; give its IP address instead")
        where = f"{EMBEDDED_DNS} (Docker's embedded DNS, network {ans.network})"
        return ans.addresses[0], port, DnsStep(name, ((name, "A", ans.rcode),), ans.addresses, ans.rcode, server=where)
    res = client_resolve(cluster, src.pod, name, "A")
    queries = tuple((q.name, q.type, q.rcode) for q in res.queries)
    addresses = tuple(res.addresses)
    step = DnsStep(name, queries, addresses, str(res.rcode))
    if not addresses and str(res.rcode) == "FORWARDED":
        # the answer lives outside the cluster: the trace cannot know it
        tried = ", ".join(f"{q[0]} {q[1]} {q[2]}" for q in queries)
        raise TraceError(f"--to {name!r}: the cluster DNS forwards it upstream ({tried}); give its IP address instead")
    return (addresses[0] if addresses else None), port, step


def _with_dns_packets(network: Any, src: Endpoint, step: DnsStep, seed: int) -> DnsStep:
    """Trace the pod's last DNS query as the packet it is (UDP to the first nameserver of its
    resolv.conf, port 53: the kube-dns ClusterIP, which kube-proxy DNATs to a CoreDNS pod)
    and its answer back, with a conntrack of their own; the step carries both traces."""
    import dns.message

    from overlaynet.dns.client import pod_resolver

    assert src.pod is not None
    servers = pod_resolver(network.cluster, src.pod).nameservers
    server = _ip(servers[0]) if servers else None
    if server is None or not step.queries or src.ip is None or server.version != src.ip.version:
        return step
    qname, qtype, _ = step.queries[-1]
    wire = len(dns.message.make_query(qname, qtype).to_wire())
    size = (20 if server.version == 4 else 40) + 8 + wire
    dp = network.dataplane
    query = Packet(_source_ip(dp, src, server), server, "udp", ephemeral_port(seed + 53), 53, size, False, 64)
    state = NetfilterState(seed=seed)
    out = trace(dp, query, src.start, state=state, seed=seed).trace
    traces = [out]
    if out.success and out.final_packet is not None:
        answer = out.final_packet.reversed().with_(ttl=64)
        traces.append(trace(dp, answer, out.hops[-1].ns, state=state, seed=seed).trace)
    return replace(step, exchange=tuple(traces))


def _source_ip(dp: Dataplane, src: Endpoint, dst: IPAddress) -> IPAddress:
    if src.ip is not None:
        if src.pod is None or not isinstance(src.start, NsRef):
            return src.ip
        # a container with several interfaces (Docker overlay's eth0 + docker_gwbridge's
        # eth1) sends from the address the kernel picks for the route, as connect() does
        pod_ns = dp.namespace(src.start)
        if sum(1 for ip in pod_ns.local_ips() if not ip.is_loopback) < 2:
            return src.ip
        out = lookup_route(pod_ns, dst)
        picked = select_source(pod_ns, out, dst) if out is not None else None
        return picked if picked is not None else src.ip
    assert isinstance(src.start, NsRef)
    ns = dp.namespace(src.start)
    # to a local address the local table's route gives the source: ``local 127.0.0.0/8
    # dev lo src 127.0.0.1``, ``local <addr> dev <dev> src <addr>``
    if dst.is_loopback and is_local(ns, dst):
        return ip_address("127.0.0.1") if dst.version == 4 else ip_address("::1")
    if dst in ns.local_ips():
        return dst
    route = lookup_route(ns, dst)
    chosen = select_source(ns, route, dst) if route is not None else None
    if chosen is None:
        chosen = next((ip for ip in sorted(ns.local_ips(), key=str) if not ip.is_loopback), None)
    if chosen is None:
        raise TraceError(f"{src.label} has no address to send from")
    return chosen


_THIS_NETWORK = ip_network("0.0.0.0/8")


def build_packet(req: TraceRequest, src_ip: IPAddress, dst: IPAddress, port: int | None) -> Packet:
    # the smallest packet holds the IP header and the transport header: TCP 20, UDP/ICMP 8
    smallest = (20 if dst.version == 4 else 40) + (20 if req.proto == "tcp" else 8)
    if req.size < smallest or req.size > 65535:
        raise TraceError(f"--size {req.size}: an IPv{dst.version} {req.proto} packet is {smallest}..65535 bytes")
    if not 1 <= req.ttl <= 255:
        raise TraceError(f"--ttl {req.ttl}: must be 1..255")
    if req.proto == "icmp":
        return Packet(src_ip, dst, "icmp", None, None, req.size, req.df, req.ttl, frozenset(), icmp_type=8)
    dport = req.port if req.port is not None else (port if port is not None else 80)
    if not 0 < dport < 65536:
        raise TraceError(f"port {dport}: must be 1..65535")
    flags = frozenset({"SYN"}) if req.proto == "tcp" else frozenset()
    return Packet(src_ip, dst, req.proto, ephemeral_port(req.seed), dport, req.size, req.df, req.ttl, flags)


def run(network: Programmed, req: TraceRequest, state: NetfilterState | None = None) -> TraceReport:
    """Resolve ``req`` against ``network`` (an ``overlaynet.network.Network``) and trace it."""
    cluster = network.cluster
    dp = network.dataplane
    src = resolve_source(cluster, dp, req.source)
    dst, port, dns = _resolve_target(cluster, src, req.target)
    if dns is not None and not dns.server and src.pod is not None:
        dns = _with_dns_packets(network, src, dns, req.seed)
    state = state if state is not None else NetfilterState(seed=req.seed)
    if dst is None:
        assert dns is not None
        src_ip = src.ip or ip_address("0.0.0.0")
        pkt = Packet(src_ip, src_ip, req.proto, None, req.port or port, req.size, req.df, req.ttl)
        where = src.start if isinstance(src.start, NsRef) else src.start.ns
        reason = f"{dns.name} does not resolve from {src.label} (last answer {dns.rcode})"
        t = Trace((Hop(where, (dns,)),), Disposition.NXDOMAIN, pkt, reason=reason)
        return TraceReport(TraceResult((t,)))
    if dst.is_multicast or dst == ip_address("255.255.255.255") or (dst.version == 4 and dst in _THIS_NETWORK):
        raise TraceError(f"--to {dst}: multicast, broadcast and 0.0.0.0/8 destinations are not traced (only unicast)")
    packet = build_packet(req, _source_ip(dp, src, dst), dst, port)
    result = trace(dp, packet, src.start, all_branches=req.all_branches, state=state, seed=req.seed)
    warnings = _policy_warnings(network, dst)
    traces = tuple(_decorate(t, dns, warnings) for t in result.traces)
    forward = TraceResult(traces)
    reply = None
    if req.reply:
        done = next((t for t in traces if t.success), None)
        if done is not None and done.final_packet is not None:
            last = done.hops[-1]
            back = done.final_packet.reversed().with_(ttl=64, df=req.df)
            # the branch's own conntrack when --all-branches forked it, else the shared one
            branch_state = done.nf_state if done.nf_state is not None else state
            reply = trace(dp, back, last.ns, state=branch_state, seed=req.seed)
            if isinstance(src.start, Injection):
                reply = TraceResult(tuple(_at_edge(t, packet.src) for t in reply.traces))
    return TraceReport(forward, reply, isinstance(src.start, Injection))


def _at_edge(t: Trace, client: IPAddress) -> Trace:
    """Say so when a reply to an outside client ends where that client is."""
    final = t.final_packet
    if t.disposition in _EDGE and final is not None and final.dst == client:
        return replace(t, reason=f"{t.reason}: back at the edge where the outside client {client} is")
    return t


def _decorate(t: Trace, dns: DnsStep | None, warnings: tuple[str, ...]) -> Trace:
    if dns is not None and t.hops:
        first = t.hops[0]
        t = replace(t, hops=(replace(first, steps=(dns, *first.steps)), *t.hops[1:]))
    if warnings:
        t = replace(t, warnings=t.warnings + warnings)
    return t


def _policy_warnings(network: Programmed, dst: IPAddress) -> tuple[str, ...]:
    """A NetworkPolicy selects the destination pod but the driver does not enforce policy."""
    driver, cluster = network.driver, network.cluster
    if driver.enforces_policy or not cluster.network_policies:
        return ()
    pod = next((p for p in cluster.pods if dst in p.ips), None)
    if pod is None:
        return ()
    out = []
    for pol in cluster.network_policies:
        if pol.namespace == pod.namespace and pol.pod_selector.matches(pod.labels):
            out.append(f"NetworkPolicy {pol.key} selects {pod.key}, but the {driver.name} driver does not enforce NetworkPolicy")
    return tuple(out)
