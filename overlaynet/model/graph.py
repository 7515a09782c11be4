"""The networkx view of a cluster: hosts, pods, segments and routers as nodes; links with MTU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overlaynet.model.cluster import Cluster

if TYPE_CHECKING:
    import networkx as nx


def to_graph(cluster: Cluster) -> nx.Graph:
    """Return an undirected graph of the cluster's physical and pod attachments.

    Graph nodes are keyed ``("segment", name)``, ``("router", name)``, ``("node", name)`` and
    ``("pod", "ns/name")``; each carries ``kind`` and ``label``. Edges carry ``mtu`` and, where
    one end has an address on the link, ``ip``.
    """
    import networkx as nx  # imported here: ``import overlaynet`` stays fast

    g: nx.Graph = nx.Graph(name=cluster.name)
    for seg in cluster.underlay.segments:
        g.add_node(("segment", seg.name), kind="segment", label=f"{seg.name}\n{seg.cidr}", cidr=str(seg.cidr), mtu=seg.mtu)
    for router in cluster.underlay.routers:
        g.add_node(("router", router.name), kind="router", label=router.name)
        for seg_name, ip in router.interfaces.items():
            mtu = cluster.segment(seg_name).mtu
            g.add_edge(("router", router.name), ("segment", seg_name), mtu=mtu, ip=str(ip))
    for node in cluster.nodes:
        g.add_node(
            ("node", node.name),
            kind="node",
            label=f"{node.name}\n{node.ip}",
            ip=str(node.ip),
            pod_cidrs=[str(c) for c in node.pod_cidrs],
        )
        mtu = cluster.segment(node.segment).mtu if node.segment in cluster._segment_index else cluster.underlay.mtu
        g.add_edge(("node", node.name), ("segment", node.segment), mtu=mtu, ip=str(node.ip))
    for pod in cluster.pods:
        g.add_node(
            ("pod", pod.key),
            kind="pod",
            label=f"{pod.key}\n{pod.ip or ''}",
            ips=[str(i) for i in pod.ips],
            labels=dict(pod.labels),
        )
        if pod.node is not None:
            g.add_edge(("pod", pod.key), ("node", pod.node), mtu=None, ip=str(pod.ip or ""))
    return g
