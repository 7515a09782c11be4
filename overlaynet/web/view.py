"""What the web view and the report draw, as plain JSON-able data (no I/O, no HTML).

``topology_view`` lays the cluster out once, deterministically: one column per underlay
segment (a long segment wraps into several columns), its hosts stacked in it with their pods
in a grid inside the host's box, routers in a row above the segments they join. Coordinates
are SVG user units; the page only draws them, so a few hundred pods stay readable and every
render of the same topology is the same picture.

``trace_view`` turns a ``TraceReport`` into per-branch paths over those drawn ids: each hop
with its steps, each link between hops with its layer (``veth`` inside a host, ``underlay``
between hosts, ``tunnel`` when the packet crossed the underlay encapsulated), where the
encapsulation happened and where and why the packet was dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from overlaynet.dataplane.ir import NsKind, NsRef

if TYPE_CHECKING:
    from overlaynet.analysis.reach import ReachMatrix
    from overlaynet.model import Cluster
    from overlaynet.network.request import TraceReport
    from overlaynet.trace.model import Trace

__all__ = ["element_id", "reach_view", "topology_view", "trace_view"]

HOST_W = 250  # a host's box
POD = 26  # a pod's grid cell
PODS_PER_ROW = (HOST_W - 16) // POD
COL_GAP = 90
HOSTS_PER_COLUMN = 12
TOP = 150  # where the segments' bars are


def element_id(ref: NsRef, routers: frozenset[str] = frozenset()) -> str:
    """The drawn element a namespace belongs to: its pod, else its host or router."""
    if ref.kind is NsKind.POD:
        return f"pod:{ref.name}"
    return f"router:{ref.host}" if ref.host in routers else f"host:{ref.host}"


def topology_view(cluster: Cluster) -> dict[str, Any]:
    """Elements with positions: segments, routers, hosts, pods; edges; Services."""
    pods_by_node: dict[str, list[Any]] = {}
    for pod in sorted(cluster.pods, key=lambda p: p.key):
        if pod.node is not None and not pod.host_network:
            pods_by_node.setdefault(pod.node, []).append(pod)
    hosts_by_seg: dict[str, list[Any]] = {s.name: [] for s in cluster.underlay.segments}
    for node in sorted(cluster.nodes, key=lambda n: n.name):
        hosts_by_seg.setdefault(node.segment, []).append(node)
    segments: list[dict[str, Any]] = []
    hosts: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    x = 40
    seg_x: dict[str, tuple[int, int]] = {}
    height = TOP
    for seg in cluster.underlay.segments or ():
        nodes = hosts_by_seg.get(seg.name, [])
        columns = [nodes[i : i + HOSTS_PER_COLUMN] for i in range(0, len(nodes), HOSTS_PER_COLUMN)] or [[]]
        width = len(columns) * (HOST_W + 30) - 30
        segments.append({"id": f"segment:{seg.name}", "name": seg.name, "cidr": str(seg.cidr), "mtu": seg.mtu,
                         "x": x, "y": TOP, "w": width, "h": 26})
        seg_x[seg.name] = (x, width)
        for ci, column in enumerate(columns):
            cx = x + ci * (HOST_W + 30)
            y = TOP + 60
            for node in column:
                mine = pods_by_node.get(node.name, [])
                rows = max(1, -(-len(mine) // PODS_PER_ROW))
                h = 52 + rows * POD
                hosts.append({"id": f"host:{node.name}", "name": node.name, "ip": str(node.ip), "segment": seg.name,
                              "pod_cidrs": [str(c) for c in node.pod_cidrs], "x": cx, "y": y, "w": HOST_W, "h": h})
                edges.append({"a": f"host:{node.name}", "b": f"segment:{seg.name}", "kind": "underlay"})
                for i, pod in enumerate(mine):
                    pods.append({"id": f"pod:{pod.key}", "name": pod.key, "ip": str(pod.ip or ""), "host": node.name,
                                 "labels": dict(pod.labels), "ready": pod.ready,
                                 "x": cx + 12 + (i % PODS_PER_ROW) * POD + POD // 2,
                                 "y": y + 44 + (i // PODS_PER_ROW) * POD + POD // 2})
                y += h + 18
            height = max(height, y)
        x += width + COL_GAP
    routers: list[dict[str, Any]] = []
    for i, router in enumerate(sorted(cluster.underlay.routers, key=lambda r: r.name)):
        joined = [seg_x[s] for s in router.interfaces if s in seg_x]
        centre = sum(sx + w / 2 for sx, w in joined) / len(joined) if joined else 40 + i * 200
        routers.append({"id": f"router:{router.name}", "name": router.name,
                        "interfaces": {k: str(v) for k, v in router.interfaces.items()},
                        "x": round(centre) - 60, "y": 20 + (i % 2) * 55, "w": 120, "h": 40})
        for seg_name in router.interfaces:
            edges.append({"a": f"router:{router.name}", "b": f"segment:{seg_name}", "kind": "underlay"})
    services = []
    for svc in sorted(cluster.services, key=lambda s: s.key):
        services.append({
            "id": f"service:{svc.key}", "name": svc.key, "type": svc.type,
            "cluster_ips": [str(ip) for ip in svc.cluster_ips], "headless": svc.headless,
            "ports": [{"name": p.name or "", "port": p.port, "protocol": p.protocol, "node_port": p.node_port}
                      for p in svc.ports],
        })
    return {
        "name": cluster.name, "driver": cluster.network.driver,
        "width": max(x, 400), "height": height + 20,
        "segments": segments, "routers": routers, "hosts": hosts, "pods": pods, "edges": edges,
        "services": services,
    }


def _layer(a: NsRef, b: NsRef, tunnelled: bool) -> str:
    if a.host == b.host:
        return "veth"
    return "tunnel" if tunnelled else "underlay"


def _branch(t: Trace, routers: frozenset[str]) -> dict[str, Any]:
    hops: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    depth = 0
    prev: NsRef | None = None
    prev_depth = 0
    via: str | None = None
    for i, hop in enumerate(t.hops):
        ref = hop.ns
        if prev is not None:
            # the link the packet took into this hop, encapsulated when a tunnel was open,
            # over the segment the previous hop's underlay step named
            links.append({"from": element_id(prev, routers), "to": element_id(ref, routers),
                          "layer": _layer(prev, ref, prev_depth > 0), "via": via})
        steps = []
        marks: list[str] = []
        for s in hop.steps:
            steps.append({"kind": s.kind, "summary": s.summary()})
            if s.kind == "encap":
                depth += 1
                marks.append("encap")
            elif s.kind == "decap":
                depth = max(0, depth - 1)
                marks.append("decap")
            elif s.kind == "drop":
                marks.append("drop")
        via = next((f"segment:{seg}" for s in reversed(hop.steps) if (seg := getattr(s, "segment", None))), None)
        last = i == len(t.hops) - 1
        hops.append({
            "id": element_id(ref, routers), "host": ref.host, "namespace": ref.label,
            "steps": steps, "marks": marks,
            "drop": t.reason if last and not t.success else None,
        })
        prev, prev_depth = ref, depth
    encaps = [s.summary() for h in t.hops for s in h.steps if s.kind == "encap"]
    return {
        "probability": str(t.probability), "disposition": t.disposition.value, "reason": t.reason,
        "success": t.success, "hops": hops, "links": links, "encapsulations": encaps,
        "path": [h["id"] for h in hops],
    }


def trace_view(cluster: Cluster, report: TraceReport) -> dict[str, Any]:
    """Every forward branch (and the reply's, when traced) as paths over drawn ids."""
    routers = frozenset(r.name for r in cluster.underlay.routers)
    out: dict[str, Any] = {"branches": [_branch(t, routers) for t in report.forward.traces]}
    if report.reply is not None:
        out["reply"] = [_branch(t, routers) for t in report.reply.traces]
    p = report.forward.trace.packet
    out["packet"] = {"src": str(p.src), "dst": str(p.dst), "proto": p.proto, "dport": p.dport,
                     "size": p.size, "df": p.df}
    return out


def reach_view(matrix: ReachMatrix, names: Sequence[str] | None = None) -> dict[str, Any]:
    pods = list(names) if names is not None else [p.key for p in matrix.pods]
    return {"pods": pods, "allowed": matrix.allowed.astype(bool).tolist(), "classes": matrix.classes}
