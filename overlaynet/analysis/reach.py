"""All-pairs pod-to-pod reachability, policy and routing together, by equivalence classes.

Pods that no policy can tell apart (same namespace and namespace labels, same pod labels,
same named ports, same side of every ipBlock, same node when routing is considered) form one
class; each class pair is decided once, with bit vectors over classes. Changing one policy
re-decides only the classes that policy selected before or after the change.

Routing comes in as a callable ``(src_pod, dst_pod) -> bool`` asked once per node pair
(``network_routing`` builds one from traces of the assembled dataplane).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from overlaynet.model import Cluster, IPBlock, NetworkPolicy, Pod, PolicyRule
from overlaynet.model.netpol import peer_matches, port_matches

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


class ReachAnalyzer:
    """Holds classes and per-class decision vectors so one policy change is cheap."""

    def __init__(self, cluster: Cluster, query: ReachQuery = ReachQuery(), routing: RouteFn | None = None) -> None:
        self.cluster = cluster
        self.query = query
        self.routing = routing
        self._route_cache: dict[tuple[str | None, str | None], bool] = {}
        self._build()

    # --- classes ------------------------------------------------------------------------
    def _signature(self, pod: Pod, blocks: Sequence[IPBlock]) -> tuple[Any, ...]:
        return (
            pod.namespace,
            self.cluster.namespace_labels(pod.namespace),
            pod.labels,
            tuple(sorted((p.name, p.protocol, p.port) for p in pod.ports if p.name)),
            tuple(any(b.contains(ip) for ip in pod.ips) for b in blocks),
            pod.node if self.routing is not None else None,
        )

    def _build(self) -> None:
        ns_filter = set(self.query.namespaces)
        self.pods = [p for p in self.cluster.pods if p.ips and not p.host_network and (not ns_filter or p.namespace in ns_filter)]
        self.blocks = _ip_blocks(self.cluster.network_policies)
        sig_index: dict[tuple[Any, ...], int] = {}
        class_of = []
        self.reps: list[Pod] = []
        for pod in self.pods:
            sig = self._signature(pod, self.blocks)
            if sig not in sig_index:
                sig_index[sig] = len(self.reps)
                self.reps.append(pod)
            class_of.append(sig_index[sig])
        self.class_of = np.array(class_of, dtype=np.int64)
        n = len(self.reps)
        self.ingress = np.ones((n, n), dtype=bool)  # ingress[dst, src]
        self.egress = np.ones((n, n), dtype=bool)  # egress[src, dst]
        for c in range(n):
            self._decide_class(c)
        self._routing_matrix()

    def _rule_peer_vector(self, policy: NetworkPolicy, rule: PolicyRule) -> np.ndarray:
        n = len(self.reps)
        if not rule.peers:
            return np.ones(n, dtype=bool)
        vec = np.zeros(n, dtype=bool)
        for k, rep in enumerate(self.reps):
            vec[k] = any(peer_matches(self.cluster, policy, peer, rep, rep.ips[0]) for peer in rule.peers)
        return vec

    def _port_ok(self, rule: PolicyRule, dst: Pod) -> bool:
        """Does the rule's port list admit the query? Without ``--port``: any port of the protocol."""
        if not rule.ports:
            return True
        if self.query.port is None:
            return any(p.protocol.lower() == self.query.proto.lower() for p in rule.ports)
        return any(port_matches(p, self.query.proto, self.query.port, dst) for p in rule.ports)

    def _decide_class(self, c: int) -> None:
        rep = self.reps[c]
        n = len(self.reps)
        pols = [p for p in self.cluster.network_policies if p.namespace == rep.namespace and p.pod_selector.matches(rep.labels)]
        ing = [p for p in pols if "Ingress" in p.policy_types]
        egr = [p for p in pols if "Egress" in p.policy_types]
        row = np.ones(n, dtype=bool)
        if ing:
            row = np.zeros(n, dtype=bool)
            for pol in ing:
                for rule in pol.ingress:
                    if self._port_ok(rule, rep):
                        row |= self._rule_peer_vector(pol, rule)
        self.ingress[c, :] = row
        row = np.ones(n, dtype=bool)
        if egr:
            row = np.zeros(n, dtype=bool)
            for pol in egr:
                for rule in pol.egress:
                    vec = self._rule_peer_vector(pol, rule)
                    if rule.ports:  # named ports resolve per destination class
                        ports = np.array([self._port_ok(rule, d) for d in self.reps], dtype=bool)
                        vec = vec & ports
                    row |= vec
        self.egress[c, :] = row

    def _routing_matrix(self) -> None:
        n = len(self.reps)
        self.route = np.ones((n, n), dtype=bool)
        if self.routing is None:
            return
        for a in range(n):
            for b in range(n):
                key = (self.reps[a].node, self.reps[b].node)
                if key not in self._route_cache:
                    self._route_cache[key] = self.routing(self.reps[a], self.reps[b])
                self.route[a, b] = self._route_cache[key]

    # --- answers ------------------------------------------------------------------------
    def class_matrix(self) -> np.ndarray:
        return self.egress & self.ingress.T & self.route

    def matrix(self) -> ReachMatrix:
        cm = self.class_matrix()
        full = cm[np.ix_(self.class_of, self.class_of)]
        np.fill_diagonal(full, True)  # a pod cannot block itself
        return ReachMatrix(self.pods, full, self.class_of, len(self.reps))

    def allowed(self, src: Pod, dst: Pod) -> bool:
        i = self.pods.index(src)
        j = self.pods.index(dst)
        return bool(self.class_matrix()[self.class_of[i], self.class_of[j]])

    def replace_policy(self, old: NetworkPolicy | None, new: NetworkPolicy | None) -> None:
        """Apply one policy change; re-decide only the classes it touches."""
        pols = [p for p in self.cluster.network_policies if old is None or p.key != old.key]
        if new is not None:
            pols.append(new)
        self.cluster = replace(self.cluster, network_policies=tuple(pols))
        if _ip_blocks(self.cluster.network_policies) != self.blocks:
            self._build()  # a new ipBlock splits classes: start over
            return
        touched = {
            c
            for c, rep in enumerate(self.reps)
            for pol in (old, new)
            if pol is not None and pol.namespace == rep.namespace and pol.pod_selector.matches(rep.labels)
        }
        for c in touched:
            self._decide_class(c)


def reach(cluster: Cluster, query: ReachQuery = ReachQuery(), routing: RouteFn | None = None) -> ReachMatrix:
    return ReachAnalyzer(cluster, query, routing).matrix()


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
