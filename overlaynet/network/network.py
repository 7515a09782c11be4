"""The composition layer: a model becomes a programmed network. ``assemble`` runs the
driver's IPAM and the endpoints controller, builds the underlay, and programs each host
lazily (underlay set-up, driver, kube-proxy) on first access; ``Network`` answers questions
about the result in the words the CLI takes (``trace``, ``reach``, ``routes``, ``rules``).

The design envelope (5,000 nodes, 150,000 pods) rules out programming every node up front: a
trace builds only the hosts it enters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from overlaynet.dataplane.ir import Dataplane, NsRef, Route
from overlaynet.dataplane.underlay import build_underlay, program_host
from overlaynet.drivers.base import Driver
from overlaynet.errors import TraceError
from overlaynet.kubeproxy.program import KubeProxyCache
from overlaynet.model import Cluster

if TYPE_CHECKING:
    from overlaynet.analysis.reach import ReachMatrix
    from overlaynet.dataplane.netfilter import NetfilterState, Ruleset
    from overlaynet.kv.base import KVStore
    from overlaynet.network.request import TraceReport

__all__ = ["Network", "assemble", "load", "traced_routing"]

Proto = Literal["tcp", "udp", "icmp"]


@dataclass
class Network:
    """A cluster with its driver and its (lazily programmed) dataplane."""

    cluster: Cluster  # as allocated: node pod CIDRs, pod IPs, EndpointSlices filled in
    dataplane: Dataplane
    driver: Driver
    #: what the loader warned about (a policy that selects no pod, ...)
    warnings: tuple[str, ...] = ()
    #: kube-proxy's per-service rule fragments, shared by the nodes of this network
    kube_proxy_cache: KubeProxyCache = field(default_factory=KubeProxyCache)

    def build_all(self) -> Dataplane:
        """Program every node now (the materializer and the benchmarks' eager baseline)."""
        for node in self.cluster.nodes:
            self.dataplane.ensure_host(node.name)
        return self.dataplane

    # --- questions, in the CLI's words -----------------------------------------------------
    def trace(
        self,
        src: str,
        dst: str,
        *,
        port: int | None = None,
        proto: Proto = "tcp",
        size: int = 64,
        df: bool = False,
        ttl: int = 64,
        reply: bool = False,
        all_branches: bool = False,
        seed: int = 0,
        state: NetfilterState | None = None,
    ) -> TraceReport:
        """Trace a packet from ``src`` to ``dst`` as ``overlaynet trace --from SRC --to DST``
        does: ``src`` a pod (``"default/web-0"``, a unique prefix is enough), a node, a router
        or an IP; ``dst`` also a Service (``"default/web"``), ``IP:PORT`` or a DNS name
        resolved from ``src``'s resolv.conf (``"web:80"``). Bad words raise ``TraceError``.

        The report's ``trace`` is the (first) forward trace; ``forward`` holds every branch
        with ``all_branches``; ``reply`` the answer traced back with ``reply=True``."""
        from overlaynet.network.request import TraceRequest, run

        req = TraceRequest(src, dst, port, proto, size, df, ttl, reply, all_branches, seed)
        return run(self, req, state)

    def reach(
        self,
        *,
        port: int | None = None,
        proto: str = "tcp",
        namespaces: tuple[str, ...] = (),
        routing: bool = True,
    ) -> ReachMatrix:
        """All-pairs pod reachability as ``overlaynet reach``: the policies the driver
        enforces (with its semantics; none for a driver that enforces none), and with
        ``routing`` a trace between each pair of pods' nodes through a policy-free copy of
        this network."""
        from overlaynet.analysis.reach import ReachQuery, reach

        query = ReachQuery(port=port, proto=proto.upper(), namespaces=namespaces)
        route = traced_routing(self.without_policies(), port=port or 80, proto=proto) if routing else None
        flavour = self.driver.policy_semantics if self.driver.enforces_policy else "none"
        return reach(self.cluster, query, route, policies=flavour)  # type: ignore[arg-type]

    def without_policies(self) -> Network:
        """The same cluster and driver with no NetworkPolicy or Calico policy object."""
        from overlaynet.model import FrozenDict

        # only the policies go: other drivers' objects (Docker's containers) stay
        extra = FrozenDict({k: v for k, v in self.cluster.extra.items() if k != "calico"})
        bare = replace(self.cluster, network_policies=(), extra=extra)
        return assemble(bare, driver=self.driver.name, driver_options=self.driver.options, seed=self.driver.seed)

    def namespace_of(self, node: str, namespace: NsRef | str = "root") -> NsRef:
        """``node``'s namespace: an ``NsRef``, or ``"root"``, a pod ``NS/NAME`` or the name of
        a namespace an agent created; TraceError when there is no such host or namespace."""
        hosts = {n.name for n in self.cluster.nodes} | {r.name for r in self.cluster.underlay.routers}
        if node not in hosts:
            raise TraceError(f"no such node or router {node!r}; known: {', '.join(sorted(hosts)[:20])}")
        ref = namespace if isinstance(namespace, NsRef) else _namespace_words(node, namespace)
        self.dataplane.ensure_host(node)
        if ref not in self.dataplane.namespaces:
            names = sorted(r.label for r in self.dataplane.namespaces if r.host == node)
            raise TraceError(f"{node} has no namespace {ref.label!r}; it has: {', '.join(names)}")
        return ref

    def routes(self, node: str, namespace: NsRef | str = "root") -> list[Route]:
        """The routes of ``node``'s namespace as the kernel holds them (local and main
        tables, connected routes included), in ``ip route`` order."""
        from overlaynet.dataplane.lookup import effective_routes

        ns = self.dataplane.namespaces[self.namespace_of(node, namespace)]
        return sorted(effective_routes(ns), key=lambda r: (r.dst.version, int(r.dst.network_address), -r.dst.prefixlen))

    def rules(self, node: str, namespace: NsRef | str = "root") -> Ruleset:
        """The netfilter ruleset of ``node``'s namespace (``str()`` it with
        ``overlaynet.dataplane.netfilter.render_save`` for iptables-save text)."""
        return self.dataplane.namespaces[self.namespace_of(node, namespace)].netfilter


def _namespace_words(host: str, text: str) -> NsRef:
    try:
        if "/" in text and not text.startswith("pod:"):
            return NsRef.pod(host, text)
        return NsRef.on(host, text)
    except ValueError as e:
        raise TraceError(f"namespace {text!r}: {e}") from None


def traced_routing(network: Network, *, port: int = 80, proto: str = "tcp") -> Any:
    """A reach ``RouteFn`` that traces one packet from pod to pod through ``network`` (give
    a policy-free one, so routing is judged apart from policy)."""
    from overlaynet.model import Pod

    def route(a: Pod, b: Pod) -> bool:
        return network.trace(a.key, b.key, port=port, proto=proto.lower()).forward.success  # type: ignore[arg-type]

    def key(pod: Pod) -> Any:
        # pods route alike when they share a node and the networks their interfaces are on
        from overlaynet.dataplane.ir import NsRef

        try:
            ns = network.dataplane.namespace(NsRef.of_pod(pod))
        except (KeyError, ValueError):
            return (pod.node, ())
        return (pod.node, tuple(sorted(str(a.network) for _, a in ns.addresses() if not a.ip.is_loopback)))

    route.key = key  # type: ignore[attr-defined]
    return route


def assemble(
    cluster: Cluster,
    *,
    seed: int = 0,
    kv: KVStore | None = None,
    driver: str | type[Driver] | None = None,
    driver_options: Mapping[str, Any] | None = None,
) -> Network:
    """Turn a loaded cluster into a ``Network`` ready to trace.

    ``driver`` defaults to ``cluster.network.driver`` (a registry name, or a Driver class for
    drivers that are not registered); ``driver_options`` default to the cluster's. ``kv``
    defaults to the store the cluster's ``kv:`` section names (in-memory unless told); ``seed`` makes the driver's random choices
    (flannel's subnet pick) repeatable.
    """
    from overlaynet.drivers.registry import get_driver
    from overlaynet.topology.controllers import reconcile_endpoints

    if driver is None or isinstance(driver, str):
        driver_cls = get_driver(driver or cluster.network.driver)
    else:
        driver_cls = driver
    if driver_options is None:
        driver_options = dict(cluster.network.options) if driver is None or driver == cluster.network.driver else {}
    if kv is None:
        from overlaynet.kv import open_kv

        kv = open_kv(cluster.kv)
    drv = driver_cls(cluster, driver_options, kv=kv, seed=seed)
    allocated = reconcile_endpoints(drv.allocate())
    dp = build_underlay(allocated)
    network = Network(cluster=allocated, dataplane=dp, driver=drv)
    nodes = {n.name: n for n in allocated.nodes}

    def build_host(dp: Dataplane, host: str) -> None:
        node = nodes.get(host)
        if node is None:
            return  # a router (built with the underlay) or a name that is not a node
        program_host(dp, network.cluster, node)
        drv.program_node(dp, node)
        # kube-proxy programs here
        from overlaynet.kubeproxy.program import program_node as program_kube_proxy

        program_kube_proxy(dp, network.cluster, node, cache=network.kube_proxy_cache)

    dp.builder = build_host
    return network


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, seed: int = 0) -> Network:
    """Load topology files (a file, a directory, or several) and assemble them: the network
    ``overlaynet trace FILES`` works on. Bad files raise ``TopologyError`` carrying every
    error (file:line:column); the loader's warnings are kept on ``Network.warnings``.

    >>> net = load("topologies/demo.yaml")
    >>> net.trace("default/frontend-dtz8lffdhv-blt7m", "default/web").trace.disposition
    <Disposition.DELIVERED: 'DELIVERED'>
    """
    from overlaynet.topology import load as load_topology

    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    result = load_topology(files)
    return replace(assemble(result.cluster, seed=seed), warnings=tuple(str(w) for w in result.warnings))
