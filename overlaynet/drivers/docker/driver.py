"""``DockerOverlayDriver``: dockerd with libnetwork's overlay driver over a KV store.

``allocate`` creates the networks and one endpoint per container and network in the store
(``ipam.py``), as the daemons of a classic cluster do through ``--cluster-store``;
``program_node`` reads the endpoints back, as each daemon learns its peers, and writes the
sandbox namespaces, bridges, VXLAN devices, peers and the gateway bridge (``program.py``).

Pods attach to the networks whose ``podSelector`` matches their labels, in network order;
a pod no selector matches attaches to the first network. The first attachment is ``eth0``
and gives the pod its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.drivers.base import Driver
from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, FrozenDict, IPNetwork, Node, Pod

from .containers import ENDPOINTS_EXTRA, DockerObjects
from .ipam import Allocator, IPAMError
from .options import NetworkConf, parse_options, validate_options
from .program import Attachment, HostPlan, max_mtu, program_host
from .store import EndpointRecord, NetworkRecord

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore

__all__ = ["DockerOverlayDriver"]

IPv4Address = ipaddress.IPv4Address


def _where(obj: Pod | Node) -> tuple[str, int, int]:
    src = obj.source
    return (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)


class DockerOverlayDriver(Driver):
    """Docker's overlay driver: one flat subnet per network across hosts, a sandbox
    namespace per network and host with ``br0`` + ``vxlan0``, per-endpoint peers.

    >>> from overlaynet.model import Cluster, Node, Pod, Segment, Underlay, ip_address, ip_network
    >>> seg = Segment("rack", ip_network("192.168.10.0/24"))
    >>> nodes = (Node("h1", ip_address("192.168.10.11"), "rack"), Node("h2", ip_address("192.168.10.12"), "rack"))
    >>> pods = (Pod("web", node="h1"), Pod("db", node="h2"))
    >>> drv = DockerOverlayDriver(Cluster(underlay=Underlay(segments=(seg,)), nodes=nodes, pods=pods))
    >>> [(p.name, str(p.ip)) for p in drv.allocate().pods]
    [('web', '10.0.0.2'), ('db', '10.0.0.3')]
    >>> drv.networks[0].vni
    256
    """

    name: ClassVar[str] = "docker-overlay"
    enforces_policy: ClassVar[bool] = False

    def __init__(
        self,
        cluster: Cluster,
        options: Mapping[str, Any] | None = None,
        *,
        kv: KVStore | None = None,
        seed: int = 0,
    ) -> None:
        self.docker = DockerObjects.of(cluster)
        super().__init__(cluster, self.docker.merged_options(options or {}), kv=kv, seed=seed)
        self.opts = parse_options(self.options)
        self.allocator = Allocator(self.kv, cluster=cluster.name, mode=self.opts.mode)
        self.networks: tuple[NetworkRecord, ...] = ()
        self._attachments: dict[str, tuple[Attachment, ...]] = {}
        self._allocated: Cluster | None = None
        self._peers: dict[str, tuple[int, list[EndpointRecord]]] = {}

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return validate_options(options)

    @classmethod
    def modes(cls) -> dict[str, dict[str, Any]]:
        return {"vxlan": {}, "encrypted": {"encrypted": True}}

    # --- IPAM -----------------------------------------------------------------------------
    def attachments_of(self, pod: Pod) -> list[NetworkConf]:
        """The networks ``pod`` joins, in interface order: a Container's own list, else by
        ``podSelector``, else the first network."""
        container = self.docker.containers.get(pod.key)
        if container is not None:
            confs = {c.name: c for c in self.opts.networks}
            missing = [n for n in container.networks if n not in confs]
            if missing:
                src = pod.source
                where = (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)
                raise TopologyError([Diagnostic(*where, "spec.networks", (
                    f"container {container.name}: network {missing[0]} not found (docker: 'network {missing[0]} not "
                    f"found'); define it in spec.network.options.networks or paste its docker network inspect"))])
            return [confs[n] for n in container.networks]
        chosen = [
            c for c in self.opts.networks
            if c.pod_selector is not None and all(pod.labels.get(k) == v for k, v in c.pod_selector.items())
        ]
        return chosen or [self.opts.networks[0]]

    def allocate(self) -> Cluster:
        cluster = self.cluster
        records = {c.name: self.allocator.create_network(c) for c in self.opts.networks}
        self.networks = tuple(records.values())
        nodes = {n.name: n for n in cluster.nodes}
        pods = list(cluster.pods)
        errors: list[Diagnostic] = []
        self._attachments = {}
        order = sorted(range(len(pods)), key=lambda i: (pods[i].creation_index, i))
        # addresses the file gave are reserved first, as containers started with --ip
        given = [i for i in order if not pods[i].allocated and pods[i].ip is not None]
        rest = [i for i in order if i not in set(given)]
        for index in given + rest:
            pod = pods[index]
            if pod.host_network or pod.node is None or pod.node not in nodes:
                continue
            node = nodes[pod.node]
            if not isinstance(node.ip, IPv4Address):
                errors.append(Diagnostic(*_where(node), "ip", f"node {node.name}: the overlay needs an IPv4 advertise address, got {node.ip}"))
                continue
            atts: list[Attachment] = []
            for position, conf in enumerate(self.attachments_of(pod)):
                net = records[conf.name]
                want = pod.ip if position == 0 and not pod.allocated and isinstance(pod.ip, IPv4Address) else None
                want = self.docker.address(pod.key, conf.name) or want
                aliases = self.docker.aliases(pod.key, conf.name)
                try:
                    ep = self.allocator.create_endpoint(net, pod.key, node.ip, ip=want, aliases=aliases)
                except IPAMError as exc:
                    errors.append(Diagnostic(*_where(pod), "status.podIP", f"pod {pod.key}: {exc}"))
                    break
                atts.append(Attachment(net, ep))
            if len(atts) != len(self.attachments_of(pod)):
                continue
            self._attachments[pod.key] = tuple(atts)
            primary = atts[0].endpoint.ip
            if pod.ip != primary:
                pods[index] = replace(pod, ips=(primary,), allocated=True)
        if errors:
            raise TopologyError(errors)
        # what Docker's embedded DNS serves: each container's name and aliases per network
        endpoints = FrozenDict({
            key: tuple((a.net.name, a.endpoint.ip, a.endpoint.aliases) for a in atts) for key, atts in self._attachments.items()
        })
        self._allocated = replace(cluster, pods=tuple(pods), extra=FrozenDict({**cluster.extra, ENDPOINTS_EXTRA: endpoints}))
        return self._allocated

    def _state(self) -> Cluster:
        return self._allocated if self._allocated is not None else self.allocate()

    def pod_networks(self, node: Node) -> tuple[IPNetwork, ...]:
        """Every network's subnet: one flat subnet per network spans all hosts."""
        self._state()
        return tuple(n.subnet for n in self.networks)

    def attachments(self, pod: Pod | str) -> tuple[Attachment, ...]:
        """The pod's interfaces on overlay networks (network and endpoint), in order."""
        self._state()
        return self._attachments.get(pod if isinstance(pod, str) else pod.key, ())

    # --- per host -------------------------------------------------------------------------
    def endpoints(self, net: NetworkRecord) -> list[EndpointRecord]:
        """The network's endpoints as the store holds them now (listed once per store
        revision: every host reads the same list)."""
        revision = self.kv.revision()
        hit = self._peers.get(net.id)
        if hit is None or hit[0] != revision:
            hit = self._peers[net.id] = (revision, self.allocator.endpoints(net.id))
        return hit[1]

    def pod_mtu(self, node: Node) -> int:
        """The MTU of eth0 on the first network: ``maxMTU()``, whatever the host's NIC."""
        self._state()
        return max_mtu(self.networks[0])

    def program_node(self, dp: Dataplane, node: Node) -> None:
        cluster = self._state()
        root = dp.namespaces[NsRef(node.name)]
        containers = [(p, self._attachments[p.key]) for p in cluster.pods_on(node.name) if p.key in self._attachments]
        nets = {a.net.id: a.net for _, atts in containers for a in atts}
        plan = HostPlan(
            node=node, containers=containers, peers={nid: self.endpoints(n) for nid, n in nets.items()},
            gwbridge=self.opts.gwbridge_subnet, port=self.opts.vxlan_port,
        )
        program_host(dp, root, plan)
