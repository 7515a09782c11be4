"""Weave Net: a router per node (peer) meshed over TCP 6783, frames carried per connection by
fastdp (kernel VXLAN on UDP 6784) or sleeve (userspace UDP 6783), relayed through other peers
over a partial mesh; ring IPAM over ``ipallocRange``; weave-npc for NetworkPolicy.

Module map: ``options`` (validated options), ``mesh`` (peers, connections, routes), ``ipam``
(the ring), ``program`` (what weaver, the CNI plugin and ``weave expose`` write), ``npc``
(weave-npc's chains and ipsets), ``status`` (``weave status``). See docs/weave.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar

from overlaynet.dataplane.ir import Dataplane
from overlaynet.drivers.base import Driver
from overlaynet.errors import Diagnostic, DriverOptionError, TopologyError
from overlaynet.model import Cluster, Node, Pod

from .ipam import RingIPAM
from .mesh import Mesh, build_mesh, peer_name
from .npc import NpcRules
from .options import WeaveOptions, parse_options
from .program import Station, program_host, stations

__all__ = ["WeaveDriver", "WeaveOptions"]

IPv4Address = ipaddress.IPv4Address
EXPOSE = "weave:expose"


class WeaveDriver(Driver):
    """Weave Net as weave-kube runs it.

    >>> from overlaynet.model import Cluster, Node, Segment, Underlay, ip_address, ip_network
    >>> seg = Segment("rack", ip_network("192.168.10.0/24"))
    >>> nodes = tuple(Node(f"node-{i}", ip_address(f"192.168.10.1{i}"), "rack") for i in (1, 2))
    >>> drv = WeaveDriver(Cluster(underlay=Underlay(segments=(seg,)), nodes=nodes))
    >>> c = drv.allocate()
    >>> sorted(str(ip) for ip in drv.expose.values())
    ['10.32.0.1', '10.40.0.0']
    """

    name: ClassVar[str] = "weave"
    enforces_policy: ClassVar[bool] = True
    policy_semantics: ClassVar[str] = "kubernetes"

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return parse_options(options).as_dict()

    @classmethod
    def modes(cls) -> dict[str, dict[str, Any]]:
        return {
            "fastdp": {},
            "sleeve": {"noFastdp": True},
            "fastdp-encrypted": {"password": "overlaynet"},
            "sleeve-encrypted": {"noFastdp": True, "password": "overlaynet"},
        }

    @cached_property
    def opts(self) -> WeaveOptions:
        return parse_options(self.options)

    @cached_property
    def mesh(self) -> Mesh:
        for node in self.cluster.nodes:
            if not isinstance(node.ip, IPv4Address):
                raise DriverOptionError("weave", "ipallocRange", (
                    f"node {node.name} has the IPv6 address {node.ip}: Weave peers connect over IPv4"))
        known = {n.name for n in self.cluster.nodes}
        for pair in self.opts.connections or ():
            for name in pair:
                if name not in known:
                    raise DriverOptionError("weave", "connections", f"no node {name!r}; nodes: {', '.join(sorted(known))}")
        for name in self.opts.former_peers:
            if name in known:
                raise DriverOptionError("weave", "formerPeers", f"{name!r} is a node of the topology, not a gone peer")
        for _, by in self.opts.rmpeer:
            if by not in known:
                raise DriverOptionError("weave", "rmpeer", f"no node {by!r} to run weave rmpeer; nodes: {', '.join(sorted(known))}")
        for block in self.opts.blocked:
            for name in block.peers:
                if name != "*" and name not in known:
                    raise DriverOptionError("weave", "blocked", f"{block.label()}: no node {name!r}; nodes: {', '.join(sorted(known))}")
        return build_mesh(self.cluster, self.opts)

    def components(self) -> list[list[str]]:
        """The peers that can gossip with each other (over established connections), largest first."""
        seen: set[str] = set()
        out: list[list[str]] = []
        for me in sorted(self.mesh.peers, key=lambda n: self.mesh.peers[n].name):
            if me in seen:
                continue
            group = sorted(self.mesh.routes.reachable(me), key=lambda n: self.mesh.peers[n].name)
            seen.update(group)
            out.append(group)
        return sorted(out, key=lambda g: (-len(g), self.mesh.peers[g[0]].name))

    # --- IPAM -----------------------------------------------------------------------------
    def allocate(self) -> Cluster:
        """The ring split among all peers (the consensus), then each node's ``weave
        expose`` address and its pods' addresses from the node's own ranges (donations when
        they run out). Pods whose address the file gave keep it."""
        mesh = self.mesh
        groups = self.components()
        # weave-kube starts every peer with --ipalloc-init consensus=<number of nodes>: the
        # ring is split among all of them once they first met; the split is persisted
        # (weavedb), so a connection lost later does not undo it. Donations need a path.
        # formerPeers took part too and are gone; their ranges stay theirs (unreachable)
        # until a node runs `weave rmpeer` for them (Ring.Transfer)
        names = {n: p.name for n, p in mesh.peers.items()}
        names.update({n: peer_name(n) for n in self.opts.former_peers})
        self.peer_names = names
        quorum = sorted(names, key=lambda n: names[n])
        self.consensus = quorum
        ipam = RingIPAM(self.opts.ipalloc_range, [names[n] for n in quorum], seed=self.seed)
        self.reclaimed = {gone: (by, ipam.rmpeer(names[gone], names[by])) for gone, by in self.opts.rmpeer}
        group_of = {n: g for g in groups for n in g}
        errors: list[Diagnostic] = []
        for pod in self.cluster.pods:
            if pod.node is not None and not pod.allocated and not pod.host_network:
                ip = next((a for a in pod.ips if isinstance(a, IPv4Address)), None)
                if ip is None:
                    continue
                src = pod.source
                where = (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)
                if ip not in self.opts.ipalloc_range:
                    errors.append(Diagnostic(*where, "status.podIP", (
                        f"pod {pod.key} has IP {ip}, outside weave's ipallocRange {self.opts.ipalloc_range}; "
                        "remove status.podIP to let weave's IPAM choose, or set the ipallocRange option")))
                elif (owner := ipam.ring.owner(int(ip))) != mesh.peers[pod.node].name:
                    errors.append(Diagnostic(*where, "status.podIP", (
                        f"pod {pod.key} has IP {ip}, in a range owned by peer {owner} ({self._nick(owner)}), not by "
                        f"{pod.node}: weave's IPAM refuses the claim (address is owned by other peer); remove "
                        "status.podIP to let it choose")))
                elif int(ip) in ipam.used:
                    errors.append(Diagnostic(*where, "status.podIP", (
                        f"pod {pod.key} has IP {ip}, already used by {ipam.used[int(ip)].owner_id}")))
                else:
                    ipam.claim(ip, pod.key)
        if errors:
            raise TopologyError(errors)

        reach_of = {id(g): [mesh.peers[n].name for n in g] for g in groups}

        def take(node: str, owner: str) -> IPv4Address:
            return ipam.allocate(mesh.peers[node].name, owner, reach_of[id(group_of[node])]).ip

        self.expose: dict[str, IPv4Address] = {}
        for node in self.cluster.nodes:
            self.expose[node.name] = take(node.name, f"{EXPOSE} on {node.name}")
        pods: list[Pod] = []
        for pod in sorted(self.cluster.pods, key=lambda p: p.creation_index):
            if pod.node is not None and not pod.host_network and (pod.allocated or not pod.ips):
                pod = replace(pod, ips=(take(pod.node, pod.key),), allocated=True)
            pods.append(pod)
        order = {p.key: i for i, p in enumerate(self.cluster.pods)}
        pods.sort(key=lambda p: order[p.key])
        self.ipam = ipam
        nodes = tuple(
            replace(n, pod_cidrs=tuple(ipam.ranges_of(mesh.peers[n.name].name)) or n.pod_cidrs, pod_cidrs_allocated=True)
            for n in self.cluster.nodes
        )
        self.cluster = replace(self.cluster, nodes=nodes, pods=tuple(pods))
        self._stations: list[Station] = stations(self.cluster.pods, self.expose)
        return self.cluster

    def _nick(self, name: str | None) -> str:
        return next((n for n, p in self.peer_names.items() if p == name), "?")

    # --- dataplane ------------------------------------------------------------------------
    def pod_mtu(self, node: Node) -> int:
        """WEAVE_MTU: the MTU the CNI plugin gives pods (and the bridge, veths, datapath)."""
        return self.opts.mtu

    def program_node(self, dp: Dataplane, node: Node) -> None:
        if not hasattr(self, "ipam"):
            self.allocate()
        n = self.cluster.node(node.name)
        pods = [p for p in self.cluster.pods_on(n.name) if not p.host_network and p.ips]
        program_host(dp, n, self.mesh, self.opts, pods, self._stations, self.expose.get(n.name), npc_rules=self.npc)

    @cached_property
    def npc(self) -> NpcRules:
        """weave-npc's rules and ipsets (the same on every host). weave-kube's manifest runs
        it beside the router; with no NetworkPolicy its default-allow sets hold every pod."""
        from .npc import render_npc

        if not hasattr(self, "ipam"):
            self.allocate()
        return render_npc(self.cluster)
