"""Plain-data views of a loaded cluster for ``show`` and ``graph``: a JSON-able summary, the
networkx graph as DOT text, node-link JSON, or a PNG drawn with matplotlib (Agg backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from overlaynet.model import Cluster, EndpointSlice, Service, to_graph


def _endpoints(cluster: Cluster, svc: Service) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for sl in cluster.slices_for(svc):
        for ep in sl.endpoints:
            out.append({
                "addresses": [str(a) for a in ep.addresses],
                "ready": ep.ready,
                "serving": ep.serving,
                "terminating": ep.terminating,
                "node": ep.node_name,
                "pod": f"{ep.target_ref.namespace}/{ep.target_ref.name}" if ep.target_ref else None,
                "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in sl.ports],
                "slice": sl.name,
            })
    return out


def _slice(sl: EndpointSlice) -> dict[str, Any]:
    return {"name": sl.name, "namespace": sl.namespace, "service": sl.service, "addressType": sl.address_type,
            "managedBy": sl.managed_by, "endpoints": len(sl.endpoints)}


def summary(cluster: Cluster) -> dict[str, Any]:
    """Every node, pod and service (with endpoints) of ``cluster`` as JSON-able data."""
    return {
        "cluster": {
            "name": cluster.name,
            "domain": cluster.domain,
            "podCIDRs": [str(c) for c in cluster.pod_cidrs],
            "serviceCIDRs": [str(c) for c in cluster.service_cidrs],
            "serviceNodePortRange": f"{cluster.node_port_range[0]}-{cluster.node_port_range[1]}",
            "dnsIP": str(cluster.dns_ip) if cluster.dns_ip else None,
            "driver": cluster.network.driver,
            "driverOptions": json.loads(json.dumps(cluster.network.options, default=_plain)),
        },
        "segments": [{"name": s.name, "cidr": str(s.cidr) if not s.extra_cidrs else [str(x) for x in s.cidrs], "mtu": s.mtu} for s in cluster.underlay.segments],
        "routers": [{"name": r.name, "interfaces": {k: str(v) for k, v in r.interfaces.items()}} for r in cluster.underlay.routers],
        "nodes": [
            {"name": n.name, "ip": str(n.ip), "segment": n.segment, "podCIDRs": [str(c) for c in n.pod_cidrs],
             "podCIDRsAllocated": n.pod_cidrs_allocated, "labels": dict(n.labels)}
            for n in cluster.nodes
        ],
        "pods": [
            {"namespace": p.namespace, "name": p.name, "ips": [str(i) for i in p.ips], "node": p.node,
             "labels": dict(p.labels), "ready": p.ready, "terminating": p.terminating, "hostNetwork": p.host_network,
             "owner": p.owner, "ports": [{"name": c.name, "port": c.port, "protocol": c.protocol} for c in p.ports]}
            for p in cluster.pods
        ],
        "services": [
            {"namespace": s.namespace, "name": s.name, "type": s.type, "headless": s.headless,
             "clusterIPs": [str(i) for i in s.cluster_ips], "ipFamilies": list(s.ip_families),
             "selector": dict(s.selector) if s.selector is not None else None,
             "sessionAffinity": s.session_affinity, "externalName": s.external_name,
             "externalIPs": [str(i) for i in s.external_ips], "loadBalancerIPs": [str(i) for i in s.load_balancer_ips],
             "ports": [{"name": p.name, "protocol": p.protocol, "port": p.port,
                        "targetPort": p.target_port if p.target_port is not None else p.port, "nodePort": p.node_port}
                       for p in s.ports],
             "endpoints": _endpoints(cluster, s)}
            for s in cluster.services
        ],
        "endpointSlices": [_slice(sl) for sl in cluster.endpoint_slices],
        "networkPolicies": [{"namespace": p.namespace, "name": p.name, "policyTypes": list(p.policy_types)} for p in cluster.network_policies],
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return dict(value.items())
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _key(node: Any) -> str:
    return ":".join(map(str, node)) if isinstance(node, tuple) else str(node)


def graph_data(cluster: Cluster) -> nx.Graph:
    """The cluster's networkx graph with string node ids (``kind:name``)."""
    return nx.relabel_nodes(to_graph(cluster), _key, copy=True)


def to_dot(g: nx.Graph) -> str:
    """DOT text of a cluster graph (written by hand: no pydot/graphviz needed)."""
    shapes = {"segment": "ellipse", "router": "diamond", "node": "box", "pod": "box"}
    styles = {"pod": ', style="rounded"'}

    def q(text: object) -> str:
        return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"graph {q(g.graph.get('name', 'cluster'))} {{", "  node [fontname=Helvetica];"]
    for n, data in g.nodes(data=True):
        kind = data.get("kind", "")
        lines.append(f"  {q(n)} [label={q(data.get('label', n))}, shape={shapes.get(kind, 'box')}{styles.get(kind, '')}];")
    for a, b, data in g.edges(data=True):
        parts = [p for p in (data.get("ip") or "", f"mtu {data['mtu']}" if data.get("mtu") else "") if p]
        label = f" [label={q(' '.join(parts))}]" if parts else ""
        lines.append(f"  {q(a)} -- {q(b)}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(g: nx.Graph) -> dict[str, Any]:
    try:
        return nx.node_link_data(g, edges="links")
    except TypeError:  # networkx < 3.4 has no ``edges`` keyword; "links" is its default
        return nx.node_link_data(g)


def layered_layout(g: nx.Graph) -> dict[Any, tuple[float, float]]:
    """Routers on top, segments, hosts, then pods below their host; x centred over children."""
    kind = nx.get_node_attributes(g, "kind")
    level = {"router": 3.0, "segment": 2.0, "node": 1.0, "pod": 0.0}
    pos: dict[Any, tuple[float, float]] = {}
    slot = 0.0
    segments = sorted(n for n in g if kind.get(n) == "segment")
    hosts_of = {s: sorted(h for h in g[s] if kind.get(h) == "node") for s in segments}
    placed_hosts: set[Any] = set()
    for seg in segments:
        xs = []
        for host in hosts_of[seg]:
            pods = sorted(p for p in g[host] if kind.get(p) == "pod")
            px = []
            for pod in pods:
                pos[pod] = (slot, level["pod"])
                px.append(slot)
                slot += 1.0
            if not px:
                px.append(slot)
                slot += 1.0
            pos[host] = (sum(px) / len(px), level["node"])
            placed_hosts.add(host)
            xs.append(pos[host][0])
        if not xs:
            xs.append(slot)
            slot += 1.0
        pos[seg] = (sum(xs) / len(xs), level["segment"])
        slot += 0.5
    for n in g:  # anything not reached through a segment (pods without a host, lone hosts)
        if n not in pos and kind.get(n) != "router":
            pos[n] = (slot, level.get(kind.get(n, "pod"), 0.0))
            slot += 1.0
    for r in sorted(n for n in g if kind.get(n) == "router"):
        xs = [pos[s][0] for s in g[r] if s in pos] or [slot]
        pos[r] = (sum(xs) / len(xs), level["router"])
    return pos


def draw_png(g: nx.Graph, path: str | Path) -> None:
    """Draw the graph with matplotlib's Agg backend: segments, routers, hosts, pods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"segment": "#9ecae1", "router": "#fdae6b", "node": "#a1d99b", "pod": "#dadaeb"}
    width = max(8.0, min(40.0, 1.6 * sum(1 for _, d in g.nodes(data=True) if d.get("kind") in ("pod", "node"))))
    fig, ax = plt.subplots(figsize=(width, 7.0))
    try:
        pos = layered_layout(g)
        kinds = nx.get_node_attributes(g, "kind")
        nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#888888")
        for kind, color in colors.items():
            nodes = [n for n in g if kinds.get(n) == kind]
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=color, node_size=1800 if kind != "pod" else 1100,
                                   node_shape="s" if kind in ("node", "pod") else ("D" if kind == "router" else "o"), ax=ax, label=kind)
        nx.draw_networkx_labels(g, pos, labels={n: d.get("label", n) for n, d in g.nodes(data=True)}, font_size=7, ax=ax)
        # Underlay links carry the address on the link and the segment MTU; pod links none
        # (the pod's address is already in its label).
        edge_labels = {
            (a, b): " ".join(x for x in (d.get("ip") or "", f"mtu {d['mtu']}" if d.get("mtu") else "") if x)
            for a, b, d in g.edges(data=True)
            if kinds.get(a) != "pod" and kinds.get(b) != "pod"
        }
        nx.draw_networkx_edge_labels(g, pos, edge_labels=edge_labels, font_size=6, ax=ax, rotate=False)
        ax.legend(scatterpoints=1, loc="upper left", fontsize=8, markerscale=0.25, labelspacing=1.2)
        ax.set_title(str(g.graph.get("name", "cluster")))
        ax.axis("off")
        fig.tight_layout()
        fig.savefig(str(path), dpi=110)
    finally:
        plt.close(fig)
