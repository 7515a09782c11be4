"""All-pairs pod-to-pod reachability, policy and routing together, by equivalence classes.

Pods that no policy can tell apart (same namespace and namespace labels, same pod labels,
same named ports, same side of every ipBlock, same node when routing is considered) form one
class; each class pair is decided once, with bit vectors over classes. Changing one policy
re-decides only the classes that policy selected before or after the change.

Policy semantics follow the driver: Kubernetes NetworkPolicy (vectorized over classes),
Calico's ordered policies (decided per class pair), or none for drivers that enforce none.
Routing comes in as a callable ``(src_pod, dst_pod) -> bool`` asked once per node pair
(``overlaynet.network.traced_routing`` builds one from traces of an assembled network); a
callable with a ``key(pod)`` attribute is asked once per pair of such keys instead (pods
on one node whose interfaces sit on different networks route differently: Docker overlay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from overlaynet.model import (
    Cluster,
    IPBlock,
    IPNetwork,
    LabelSelector,
    NetworkPolicy,
    Pod,
    PolicyRule,
)
from overlaynet.policy.calico import CalicoPolicy, cluster_policies
from overlaynet.policy.calico import decide as calico_decide

RouteFn = Callable[[Pod, Pod], bool]


@dataclass(frozen=True, slots=True)
class ReachQuery:
    port: int | None = None
    proto: str = "TCP"
    namespaces: tuple[str, ...] = ()


def _ip_blocks(policies: Iterable[NetworkPolicy]) -> list[IPBlock]:
    seen: dict[IPBlock, None] = {}
    for pol in policies:
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                if peer.ip_block is not None:
                    seen.setdefault(peer.ip_block, None)
    return list(seen)


@dataclass
class ReachMatrix:
    """The answer: ``pods`` in order and a boolean matrix ``allowed[i, j]`` (i → j)."""

    pods: list[Pod]
    allowed: np.ndarray
    class_of: np.ndarray = field(repr=False)
    classes: int = 0

    def index(self, key: str) -> int:
        for i, p in enumerate(self.pods):
            if p.key == key:
                return i
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pods": [p.key for p in self.pods],
            "allowed": self.allowed.astype(bool).tolist(),
            "classes": self.classes,
        }


class _ClassIndex:
    """Bit vectors over classes: which classes carry a label, sit in a namespace, and so on,
    so a selector becomes a few vector operations instead of a loop over classes."""

    def __init__(self, cluster: Cluster, reps: list[Pod], blocks: Sequence[IPBlock]) -> None:
        n = len(reps)
        self.n = n
        self.pod_kv: dict[tuple[str, str], np.ndarray] = {}
        self.pod_key: dict[str, np.ndarray] = {}
        self.ns_kv: dict[tuple[str, str], np.ndarray] = {}
        self.ns_key: dict[str, np.ndarray] = {}
        self.ns: dict[str, np.ndarray] = {}
        self.named: dict[tuple[str, str, int], np.ndarray] = {}
        self.block: dict[IPBlock, np.ndarray] = {}

        def bit(table: dict[Any, np.ndarray], key: Any, i: int) -> None:
            vec = table.get(key)
            if vec is None:
                vec = table[key] = np.zeros(n, dtype=bool)
            vec[i] = True

        for i, rep in enumerate(reps):
            for k, v in rep.labels.items():
                bit(self.pod_kv, (k, v), i)
                bit(self.pod_key, k, i)
            for k, v in cluster.namespace_labels(rep.namespace).items():
                bit(self.ns_kv, (k, v), i)
                bit(self.ns_key, k, i)
            bit(self.ns, rep.namespace, i)
            for port in rep.ports:
                if port.name:
                    bit(self.named, (port.name, port.protocol, port.port), i)
            for b in blocks:
                if any(b.contains(ip) for ip in rep.ips):
                    bit(self.block, b, i)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.n, dtype=bool)

    def ones(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def _get(self, table: dict[Any, np.ndarray], key: Any) -> np.ndarray:
        vec = table.get(key)
        return vec if vec is not None else self.zeros()

    def selector(self, sel: LabelSelector, *, of_namespace: bool) -> np.ndarray:
        kv, keys = (self.ns_kv, self.ns_key) if of_namespace else (self.pod_kv, self.pod_key)
        out = self.ones()
        for k, v in sel.match_labels.items():
            out &= self._get(kv, (k, v))
        for req in sel.match_expressions:
            anyof = self.zeros()
            for v in req.values:
                anyof |= self._get(kv, (req.key, v))
            if req.operator == "In":
                out &= anyof
            elif req.operator == "NotIn":
                out &= ~anyof
            elif req.operator == "Exists":
                out &= self._get(keys, req.key)
            else:
                out &= ~self._get(keys, req.key)
        return out

    def namespace(self, name: str) -> np.ndarray:
        return self._get(self.ns, name)


@dataclass
class _PolicyVectors:
    """One policy over classes: whom it selects, and what each of its directions admits.

    ``ingress``: (destination classes a rule applies to, source classes it admits) per rule;
    ``egress``: the destination classes its rules admit; None when it lacks that direction.
    """

    selected: np.ndarray
    ingress: list[tuple[np.ndarray, np.ndarray]] | None
    egress: np.ndarray | None


PolicyFlavour = Literal["kubernetes", "calico", "none"]


class ReachAnalyzer:
    """Holds classes and per-policy vectors so one policy change is cheap.

    ``policies`` says whose semantics decide: ``kubernetes`` (NetworkPolicy, vectorized),
    ``calico`` (Kubernetes and ``projectcalico.org/v3`` policies in Calico's order, with Deny
    and Pass; decided per class pair, rebuilt on change), or ``none`` (a driver that enforces
    no policy).
    """

    def __init__(
        self,
        cluster: Cluster,
        query: ReachQuery = ReachQuery(),
        routing: RouteFn | None = None,
        *,
        policies: PolicyFlavour = "kubernetes",
    ) -> None:
        self.cluster = cluster
        self.query = query
        self.routing = routing
        self.flavour = policies
        self._route_cache: dict[tuple[Any, Any], bool] = {}
        self._build()

    # --- classes ------------------------------------------------------------------------
    def _signature(self, pod: Pod, blocks: Sequence[IPBlock], nets: Sequence[IPNetwork] = ()) -> tuple[Any, ...]:
        return (
            pod.namespace,
            pod.labels,
            tuple(sorted((p.name, p.protocol, p.port) for p in pod.ports if p.name)),
            tuple(any(b.contains(ip) for ip in pod.ips) for b in blocks),
            tuple(any(ip in n for ip in pod.ips if ip.version == n.version) for n in nets),
            self._route_key(pod) if self.routing is not None else None,
        )

    def _route_key(self, pod: Pod) -> Any:
        """What a pod's routing depends on: its node, unless the routing callable says more
        with a ``key`` attribute (pods on one node but on different networks)."""
        key = getattr(self.routing, "key", None)
        return key(pod) if key is not None else pod.node

    def _build(self) -> None:
        self._cm: np.ndarray | None = None
        ns_filter = set(self.query.namespaces)
        self.pods = [p for p in self.cluster.pods if p.ips and not p.host_network and (not ns_filter or p.namespace in ns_filter)]
        self.blocks = _ip_blocks(self.cluster.network_policies) if self.flavour == "kubernetes" else []
        calico = cluster_policies(self.cluster) if self.flavour == "calico" else []
        nets = _calico_nets(calico)
        sig_index: dict[tuple[Any, ...], int] = {}
        class_of = []
        self.reps: list[Pod] = []
        for pod in self.pods:
            sig = self._signature(pod, self.blocks, nets)
            if sig not in sig_index:
                sig_index[sig] = len(self.reps)
                self.reps.append(pod)
            class_of.append(sig_index[sig])
        self.class_of = np.array(class_of, dtype=np.int64)
        self.index = _ClassIndex(self.cluster, self.reps, self.blocks)
        self._vectors: dict[str, _PolicyVectors] = {}
        if self.flavour == "kubernetes":
            for pol in self.cluster.network_policies:
                self._vectors[pol.key] = self._policy_vectors(pol)
        n = len(self.reps)
        self.ingress = np.ones((n, n), dtype=bool)  # ingress[dst, src]
        self.egress = np.ones((n, n), dtype=bool)  # egress[src, dst]
        if self.flavour == "kubernetes":
            self._decide(np.ones(n, dtype=bool))
        elif self.flavour == "calico" and calico:
            self._decide_calico(calico)
        self._routing_matrix()
        self._cm = self.egress & self.ingress.T & self.route

    def _peer_vector(self, policy: NetworkPolicy, rule: PolicyRule) -> np.ndarray:
        ix = self.index
        if not rule.peers:
            return ix.ones()
        out = ix.zeros()
        for peer in rule.peers:
            if peer.ip_block is not None:
                out |= ix._get(ix.block, peer.ip_block)
                continue
            vec = (
                ix.selector(peer.namespace_selector, of_namespace=True)
                if peer.namespace_selector is not None
                else ix.namespace(policy.namespace).copy()
            )
            if peer.pod_selector is not None:
                vec &= ix.selector(peer.pod_selector, of_namespace=False)
            out |= vec
        return out

    def _port_vector(self, rule: PolicyRule) -> np.ndarray:
        """Classes (as the destination) whose port admits the query under this rule."""
        ix = self.index
        if not rule.ports:
            return ix.ones()
        q = self.query
        out = ix.zeros()
        for p in rule.ports:
            if p.protocol.lower() != q.proto.lower():
                continue
            if p.port is None or q.port is None:
                return ix.ones()  # any port of the protocol (or the query names none)
            if isinstance(p.port, str):
                out |= ix._get(ix.named, (p.port, p.protocol, q.port))
            elif p.port <= q.port <= (p.end_port if p.end_port is not None else p.port):
                return ix.ones()
        return out

    def _policy_vectors(self, pol: NetworkPolicy) -> _PolicyVectors:
        ix = self.index
        selected = ix.namespace(pol.namespace) & ix.selector(pol.pod_selector, of_namespace=False)
        ing: list[tuple[np.ndarray, np.ndarray]] | None = None
        egr: np.ndarray | None = None
        if "Ingress" in pol.policy_types:
            # which sources a rule admits is one vector; which selected classes it applies to
            # depends on their named ports (the rule's port vector over destinations)
            ing = []
            for rule in pol.ingress:
                rows = selected & self._port_vector(rule)
                if rows.any():
                    ing.append((rows, self._peer_vector(pol, rule)))
        if "Egress" in pol.policy_types:
            egr = ix.zeros()
            for rule in pol.egress:
                egr |= self._peer_vector(pol, rule) & self._port_vector(rule)
        return _PolicyVectors(selected, ing, egr)

    def _decide(self, classes: np.ndarray) -> None:
        """Recompute the ingress/egress rows of ``classes`` from the cached policy vectors."""
        n = len(self.reps)
        rows = np.flatnonzero(classes)
        pos = np.full(n, -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        iso_in = np.zeros(len(rows), dtype=bool)
        iso_out = np.zeros(len(rows), dtype=bool)
        allow_in = np.zeros((len(rows), n), dtype=bool)
        allow_out = np.zeros((len(rows), n), dtype=bool)
        for pv in self._vectors.values():
            sel = pv.selected & classes
            if not sel.any():
                continue
            if pv.ingress is not None:
                iso_in[pos[sel]] = True
                for applies, sources in pv.ingress:
                    hit = applies & classes
                    if hit.any():
                        allow_in[pos[hit]] |= sources
            if pv.egress is not None:
                iso_out[pos[sel]] = True
                allow_out[pos[sel]] |= pv.egress
        self.ingress[rows] = np.where(iso_in[:, None], allow_in, True)
        self.egress[rows] = np.where(iso_out[:, None], allow_out, True)
        if self._cm is not None:  # keep the combined matrix current: only rows/columns ``rows``
            self._cm[rows, :] = self.egress[rows, :] & self.ingress[:, rows].T & self.route[rows, :]
            self._cm[:, rows] = self.egress[:, rows] & self.ingress[rows, :].T & self.route[:, rows]

    def _decide_calico(self, pols: list[CalicoPolicy]) -> None:
        """Calico's ordered semantics (Deny, Pass, Log) do not reduce to unions of allows:
        each class pair is decided by walking the policies, once per direction."""
        q = self.query
        for d, dst in enumerate(self.reps):
            # without --port: some port must pass both directions; the candidates are every
            # port the rules name (numbers, range starts, dst's named ports) and one they don't
            ports: list[int | None] = [q.port] if q.port is not None else _candidate_ports(pols, dst)
            for s_, src in enumerate(self.reps):
                ok = any(
                    calico_decide(self.cluster, pols, src, "Egress", dst, dst.ips[0], q.proto, port).allowed
                    and calico_decide(self.cluster, pols, dst, "Ingress", src, src.ips[0], q.proto, port).allowed
                    for port in ports
                )
                self.egress[s_, d] = ok
                self.ingress[d, s_] = True

    def _routing_matrix(self) -> None:
        n = len(self.reps)
        self.route = np.ones((n, n), dtype=bool)
        if self.routing is None:
            return
        for a in range(n):
            for b in range(n):
                key = (self._route_key(self.reps[a]), self._route_key(self.reps[b]))
                if key not in self._route_cache:
                    self._route_cache[key] = self.routing(self.reps[a], self.reps[b])
                self.route[a, b] = self._route_cache[key]

    # --- answers ------------------------------------------------------------------------
    def class_matrix(self) -> np.ndarray:
        """``[src class, dst class]``: egress at the source, ingress at the destination, routing."""
        assert self._cm is not None
        return self._cm

    def matrix(self) -> ReachMatrix:
        cm = self.class_matrix()
        full = cm[np.ix_(self.class_of, self.class_of)]
        np.fill_diagonal(full, True)  # a pod cannot block itself
        return ReachMatrix(self.pods, full, self.class_of, len(self.reps))

    def allowed(self, src: Pod, dst: Pod) -> bool:
        i = self.pods.index(src)
        j = self.pods.index(dst)
        return i == j or bool(self.class_matrix()[self.class_of[i], self.class_of[j]])

    def replace_policy(self, old: NetworkPolicy | None, new: NetworkPolicy | None) -> None:
        """Apply one policy change; re-decide only the classes it selects before or after."""
        pols = [p for p in self.cluster.network_policies if old is None or p.key != old.key]
        if new is not None:
            pols.append(new)
        self.cluster = replace(self.cluster, network_policies=tuple(pols))
        if self.flavour != "kubernetes" or _ip_blocks(self.cluster.network_policies) != self.blocks:
            self._build()  # a new ipBlock splits classes: start over
            return
        touched = self.index.zeros()
        if old is not None and old.key in self._vectors:
            touched |= self._vectors.pop(old.key).selected
        if new is not None:
            self._vectors[new.key] = self._policy_vectors(new)
            touched |= self._vectors[new.key].selected
        if touched.any():
            self._decide(touched)


def _candidate_ports(pols: Sequence[CalicoPolicy], dst: Pod) -> list[int | None]:
    named = {p.name: p.port for p in dst.ports if p.name}
    ranges: list[tuple[int, int]] = []
    out: set[int] = set()
    for pol in pols:
        for rule in (*pol.ingress, *pol.egress):
            for spec in (*rule.destination.ports, *rule.destination.not_ports):
                if spec.name is not None:
                    if spec.name in named:
                        out.add(named[spec.name])
                elif spec.lo is not None and spec.hi is not None:
                    out.update((spec.lo, spec.hi))
                    ranges.append((spec.lo, spec.hi))
    free = next((p for p in range(1, 65536) if p not in out and not any(lo <= p <= hi for lo, hi in ranges)), None)
    candidates: list[int | None] = [*sorted(out)]
    if free is not None:
        candidates.append(free)
    return candidates


def _calico_nets(pols: Sequence[CalicoPolicy]) -> list[IPNetwork]:
    seen: dict[IPNetwork, None] = {}
    for pol in pols:
        for rule in (*pol.ingress, *pol.egress):
            for ent in (rule.source, rule.destination):
                for n in (*ent.nets, *ent.not_nets):
                    seen.setdefault(n, None)
    return list(seen)


def reach(
    cluster: Cluster,
    query: ReachQuery = ReachQuery(),
    routing: RouteFn | None = None,
    *,
    policies: PolicyFlavour = "kubernetes",
) -> ReachMatrix:
    return ReachAnalyzer(cluster, query, routing, policies=policies).matrix()


@dataclass(frozen=True, slots=True)
class ReachChange:
    src: str
    dst: str
    before: bool | None  # None: the pair does not exist on that side
    after: bool | None


def diff(a: ReachMatrix, b: ReachMatrix) -> list[ReachChange]:
    """Pairs (by pod key) whose reachability differs between two matrices."""
    ia = {p.key: i for i, p in enumerate(a.pods)}
    ib = {p.key: i for i, p in enumerate(b.pods)}
    keys = sorted(set(ia) | set(ib))
    out: list[ReachChange] = []
    for s in keys:
        for d in keys:
            if s == d:
                continue
            va = bool(a.allowed[ia[s], ia[d]]) if s in ia and d in ia else None
            vb = bool(b.allowed[ib[s], ib[d]]) if s in ib and d in ib else None
            if va != vb:
                out.append(ReachChange(s, d, va, vb))
    return out
