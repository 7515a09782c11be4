"""What the network says at one moment of a scenario, asked of the project's own pieces:
the endpoints controller's EndpointSlices, kube-proxy's generated rules walked by the
netfilter evaluator (``--all-branches`` for each endpoint's probability, sampled for the
sample clients, whose ``recent`` lists carry ClientIP affinity from frame to frame), the DNS
resolver for headless services and the env vars a new pod would get.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from overlaynet.dataplane.netfilter import NetfilterState, Ruleset, parse_save
from overlaynet.dataplane.netfilter.flow import FlowOutcome, trace_packet
from overlaynet.dataplane.packet import Packet
from overlaynet.model import Cluster, IPAddress, Pod, Service
from overlaynet.scenario.spec import Scenario
from overlaynet.scenario.state import SimPod, State

DEFAULT_CLIENTS = ipaddress.ip_network("198.51.100.0/24")  # TEST-NET-2: outside every cluster range
_PROBABILITY = re.compile(r"--probability (\S+)")


@dataclass(frozen=True)
class EndpointView:
    pod: str
    address: str  # ip:port
    node: str | None
    version: str
    ready: bool
    serving: bool
    terminating: bool
    probability: Fraction  # share of new connections (all branches of kube-proxy's rules)
    chain: str | None = None  # KUBE-SEP-… when kube-proxy routes to it
    rule: str | None = None  # the statistic probability kube-proxy wrote before its jump

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "address": self.address, "node": self.node, "version": self.version,
                "ready": self.ready, "serving": self.serving, "terminating": self.terminating,
                "share": str(self.probability), "chain": self.chain, "statistic": self.rule}


@dataclass(frozen=True)
class ClientView:
    client: str
    pod: str | None  # backend of a new connection now (None: rejected)
    version: str | None
    expires: float | None  # when its affinity entry would lapse without new connections
    note: str | None = None  # why the connection kube-proxy chose gets no answer

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "pod": self.pod, "version": self.version, "affinity_expires": self.expires,
                "note": self.note}


@dataclass(frozen=True)
class BrokenConnection:
    client: str
    service: str
    pod: str
    address: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"client": self.client, "service": self.service, "pod": self.pod, "address": self.address, "reason": self.reason}


@dataclass(frozen=True)
class ServiceView:
    service: str
    address: str  # clusterIP:port (or "None" for headless)
    chain: str | None
    endpoints: tuple[EndpointView, ...]
    shares: dict[str, Fraction]  # version -> share of new connections
    node_shares: dict[str, Fraction]  # backend node -> share
    rejected: str | None = None  # why a new connection is refused (no endpoints)
    clients: tuple[ClientView, ...] = ()
    dns: tuple[str, ...] | None = None  # A answers of a headless service

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "address": self.address, "chain": self.chain,
                "endpoints": [e.to_dict() for e in self.endpoints],
                "shares": {k: str(v) for k, v in self.shares.items()},
                "node_shares": {k: str(v) for k, v in self.node_shares.items()},
                "rejected": self.rejected, "clients": [c.to_dict() for c in self.clients],
                **({"dns": list(self.dns)} if self.dns is not None else {})}


@dataclass(frozen=True)
class Observation:
    """The cluster and the network at ``time``."""

    time: float
    pods: tuple[tuple[str, str, str | None, str | None, str], ...]  # (pod, version, node, ip, status)
    services: tuple[ServiceView, ...]
    broken: tuple[BrokenConnection, ...] = ()
    env: tuple[str, ...] = ()  # service env var names a pod created now would get
    chains: tuple[str, ...] = ()  # kube-proxy nat chains of the watched services

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time,
                "pods": [{"pod": p, "version": v, "node": n, "ip": ip, "status": s} for p, v, n, ip, s in self.pods],
                "services": [s.to_dict() for s in self.services],
                "broken_connections": [b.to_dict() for b in self.broken],
                "env": list(self.env), "chains": list(self.chains)}


def version_of(pod: Pod | SimPod, label: str | None) -> str:
    """The version a pod counts under: the scenario's label, else ``version``, else its image."""
    labels = pod.labels
    image = pod.template.image if isinstance(pod, SimPod) else pod.image
    if label is not None:
        return labels.get(label, "-")
    return labels.get("version") or image or "-"


def pod_status(pod: SimPod) -> str:
    if pod.deleted is not None:
        return "Terminating"
    if pod.node is None:
        return "Pending"
    if pod.restart_at is not None:
        return "CrashLoopBackOff" if pod.restarts > 1 else "Restarting"
    if pod.started is None:
        return "ContainerCreating"
    return "Ready" if pod.ready else "NotReady"


@dataclass
class Observer:
    """Asks the network about the watched services, frame after frame. Holds the sample
    clients' netfilter state (conntrack and ``recent`` lists) between frames."""

    scenario: Scenario
    seed: int = 0
    netfilter: NetfilterState = field(init=False)
    connections: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (svc, client) -> (pod, address)
    frame: int = 0
    last_seen: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)  # (svc, client) -> (time, pod)
    _rules: dict[str, Ruleset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.netfilter = NetfilterState(seed=self.seed)

    def client_ips(self) -> list[IPAddress]:
        net = self.scenario.clients.cidr or DEFAULT_CLIENTS
        hosts = net.hosts()
        return [ipaddress.ip_address(str(next(hosts))) for _ in range(self.scenario.clients.count)]

    def watched(self, cluster: Cluster) -> list[Service]:
        if self.scenario.services:
            keys = list(self.scenario.services)
            return [s for k in keys for s in cluster.services if s.key == k]
        return [s for s in cluster.services if s.selector is not None and s.type != "ExternalName"]

    def node(self, cluster: Cluster) -> str:
        return self.scenario.clients.node or cluster.nodes[0].name

    def ruleset(self, cluster: Cluster) -> Ruleset:
        from overlaynet.kubeproxy.node import config_for_node, node_rules

        text = node_rules(cluster, config_for_node(cluster, self.node(cluster)), full=True)
        rs = self._rules.get(text)
        if rs is None:
            self._rules.clear()  # one ruleset per frame is enough to keep
            rs = self._rules[text] = parse_save(text, file=f"kube-proxy@{self.node(cluster)}")
        return rs

    def observe(self, state: State, cluster: Cluster) -> Observation:
        self.frame += 1
        self.netfilter.time = state.now
        label = self.scenario.version_label
        by_ip = {p.ip: p for p in state.live_pods() if p.ip is not None}
        node = next(n for n in cluster.nodes if n.name == self.node(cluster))
        ruleset = self.ruleset(cluster) if cluster.nodes else None
        views: list[ServiceView] = []
        broken: list[BrokenConnection] = []
        chains: list[str] = []
        for svc in self.watched(cluster):
            view, lost = self._service(state, cluster, svc, ruleset, node.ips, by_ip, label)
            views.append(view)
            broken += lost
            chains += [c for c in [view.chain, *(e.chain for e in view.endpoints)] if c]
        pods = tuple((p.name, version_of(p, label), p.node, str(p.ip) if p.ip else None, pod_status(p))
                     for p in sorted(state.live_pods(), key=lambda p: p.name))
        return Observation(state.now, pods, tuple(views), tuple(broken), _env(cluster, state), tuple(chains))

    def _service(self, state: State, cluster: Cluster, svc: Service, ruleset: Ruleset | None, local: tuple[IPAddress, ...],
                 by_ip: dict[IPAddress, SimPod], label: str | None) -> tuple[ServiceView, list[BrokenConnection]]:
        slices = [s for s in cluster.endpoint_slices if s.namespace == svc.namespace and s.service == svc.name]
        port = svc.ports[0] if svc.ports else None
        eps = [(e, s) for s in slices for e in s.endpoints]
        if svc.headless or svc.cluster_ip is None or port is None or ruleset is None:
            plain = tuple(self._endpoint(e, s, by_ip, label, Fraction(0), None, None) for e, s in eps)
            return ServiceView(svc.key, "None", None, plain, {}, {}, None, (), _dns(cluster, svc) if svc.headless else None), []
        outcomes = self._trace(ruleset, svc, port.port, local, all_branches=True)
        share: dict[str, Fraction] = {}
        rule: dict[str, str] = {}
        sep: dict[str, str] = {}
        svc_chain = None
        rejected = None
        for out in outcomes:
            dest = out.destination
            if out.verdict != "ACCEPT" or dest is None:
                rejected = _reason(out)
                continue
            addr = f"{dest[0]}:{dest[1]}"
            share[addr] = share.get(addr, Fraction(0)) + out.probability
            for hit in out.hits:
                if hit.chain.startswith(("KUBE-SVC-", "KUBE-SVL-")):
                    svc_chain = hit.chain
                    m = _PROBABILITY.search(hit.text)
                    if m and hit.verdict and hit.verdict.startswith("KUBE-SEP-"):
                        rule[addr] = m.group(1)
                if hit.chain.startswith("KUBE-SEP-"):
                    sep[addr] = hit.chain
        views = []
        for e, s in eps:
            p = s.ports[0].port if s.ports else port.port
            addr = f"{e.addresses[0]}:{p}"
            views.append(self._endpoint(e, s, by_ip, label, share.get(addr, Fraction(0)), sep.get(addr), rule.get(addr)))
        versions: dict[str, Fraction] = {}
        nodes: dict[str, Fraction] = {}
        for v in views:
            if v.probability:
                versions[v.version] = versions.get(v.version, Fraction(0)) + v.probability
                nodes[v.node or "-"] = nodes.get(v.node or "-", Fraction(0)) + v.probability
        clients, lost = self._clients(state, svc, port.port, ruleset, local, by_ip, label)
        return ServiceView(svc.key, f"{svc.cluster_ip}:{port.port}", svc_chain, tuple(sorted(views, key=lambda v: v.pod)),
                           dict(sorted(versions.items())), dict(sorted(nodes.items())), rejected if not share else None, clients), lost

    def _endpoint(self, e: Any, s: Any, by_ip: dict[IPAddress, SimPod], label: str | None, share: Fraction,
                  chain: str | None, rule: str | None) -> EndpointView:
        pod = by_ip.get(e.addresses[0])
        port = s.ports[0].port if s.ports else None
        return EndpointView(e.target_ref.name if e.target_ref else str(e.addresses[0]),
                            f"{e.addresses[0]}:{port}" if port else str(e.addresses[0]), e.node_name,
                            version_of(pod, label) if pod else "-", e.ready, e.serving, e.terminating, share, chain, rule)

    def _trace(self, ruleset: Ruleset, svc: Service, port: int, local: tuple[IPAddress, ...], *, all_branches: bool,
               src: IPAddress | None = None, sport: int = 40000, state: NetfilterState | None = None) -> list[FlowOutcome]:
        assert svc.cluster_ip is not None
        source = src or (self.scenario.clients.cidr or DEFAULT_CLIENTS).broadcast_address - 1
        packet = Packet(source, svc.cluster_ip, _proto(svc), sport, port)
        return trace_packet(ruleset, packet, local_ips=local, all_branches=all_branches,
                            state=state if state is not None else NetfilterState(seed=self.seed))

    def _clients(self, state: State, svc: Service, port: int, ruleset: Ruleset, local: tuple[IPAddress, ...],
                 by_ip: dict[IPAddress, SimPod], label: str | None) -> tuple[tuple[ClientView, ...], list[BrokenConnection]]:
        """Each sample client opens a new connection now (its backend, sticky with ClientIP
        affinity) and holds one long-lived connection, which breaks when its pod goes."""
        views: list[ClientView] = []
        lost: list[BrokenConnection] = []
        for i, ip in enumerate(self.client_ips()):
            key = (svc.key, str(ip))
            held = self.connections.get(key)
            if held is not None:
                pod_name, addr = held
                pod = next((p for p in state.live_pods() if p.name == pod_name and p.namespace == svc.namespace), None)
                reason = None
                if pod is None:
                    reason = "pod deleted"
                elif not state.kubelet_up(pod.node):
                    reason = f"node {pod.node} down"
                elif pod.restart_at is not None or pod.started is None:
                    reason = "container restarted"
                if reason is not None:
                    lost.append(BrokenConnection(str(ip), svc.key, pod_name, addr, reason))
                    del self.connections[key]
            sport = 1024 + (self.frame * 64 + i) % 60000
            outs = self._trace(ruleset, svc, port, local, all_branches=False, src=ip, sport=sport, state=self.netfilter)
            dest = next((o.destination for o in outs if o.verdict == "ACCEPT" and o.destination), None)
            if dest is None:
                views.append(ClientView(str(ip), None, None, None))
                continue
            pod = by_ip.get(dest[0])
            name = pod.name if pod else str(dest[0])
            expires = None
            if svc.session_affinity == "ClientIP":
                expires = state.now + svc.session_affinity_timeout
            note = None
            seen = self.last_seen.get(key)
            self.last_seen[key] = (state.now, name)
            if (svc.session_affinity == "ClientIP" and seen is not None and seen[1] != name
                    and state.now - seen[0] > svc.session_affinity_timeout
                    and any(p.name == seen[1] and p.ready and p.deleted is None for p in state.live_pods())):
                note = f"affinity to {seen[1]} expired: idle since {int(seen[0]) // 60}:{int(seen[0]) % 60:02d}"
            if pod is not None and not state.kubelet_up(pod.node):
                note = f"no answer: node {pod.node} down"
            elif pod is not None and pod.gone_at is not None and pod.gone_at <= state.now:
                note = "no answer: pod stopped"
            views.append(ClientView(str(ip), name, version_of(pod, label) if pod else None, expires, note))
            if note is not None and note.startswith("no answer"):
                continue
            if key not in self.connections:
                self.connections[key] = (name, f"{dest[0]}:{dest[1]}")
        return tuple(views), lost


def _proto(svc: Service) -> Any:
    return (svc.ports[0].protocol if svc.ports else "TCP").lower()


def _reason(out: FlowOutcome) -> str:
    last = out.hits[-1] if out.hits else None
    what = out.verdict + (f" ({out.reject_with})" if out.reject_with else "")
    if last is None:
        return what
    return f"{what} by {last.table} {last.chain}: {last.comment or last.text}"


def _dns(cluster: Cluster, svc: Service) -> tuple[str, ...]:
    from overlaynet.dns.resolver import Resolver

    resp = Resolver(cluster).answer(f"{svc.name}.{svc.namespace}.svc.{cluster.domain}", "A")
    return tuple(sorted(r.data for r in resp.answer if r.type == "A")) or (resp.kind.upper(),)


def _env(cluster: Cluster, state: State) -> tuple[str, ...]:
    from overlaynet.dns.env import pod_environment

    names = sorted({p.namespace for p in state.live_pods()} | {"default"})
    out: list[str] = []
    for ns in names:
        probe = Pod(name="scenario-new-pod", namespace=ns, creation_index=state.counter + 10_000_000)
        out += [v.name for v in pod_environment(cluster, probe).variables if v.name.endswith("_SERVICE_HOST")]
    return tuple(sorted(set(out)))
