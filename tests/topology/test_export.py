"""export: the JSON summary, DOT text, node-link JSON and the layered layout."""

from __future__ import annotations

import json
from pathlib import Path

from overlaynet.topology import load_cluster
from overlaynet.topology.export import graph_data, layered_layout, summary, to_dot, to_json

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


def test_summary_is_json_and_complete() -> None:
    c = load_cluster([DEMO])
    data = json.loads(json.dumps(summary(c)))
    assert {p["name"] for p in data["pods"]} == {p.name for p in c.pods}
    assert {s["name"] for s in data["services"]} == {"kubernetes", "kube-dns", "web", "frontend"}
    assert data["cluster"]["driverOptions"] == {"backend": "vxlan"}
    assert [r["name"] for r in data["routers"]] == ["core"]


def test_dot_quotes_and_labels() -> None:
    g = graph_data(load_cluster([DEMO]))
    text = to_dot(g)
    assert text.count(" -- ") == g.number_of_edges()
    assert '"node:node-1" [label="node-1\\n192.168.10.11", shape=box];' in text


def test_node_link_json_and_layout() -> None:
    g = graph_data(load_cluster([DEMO]))
    data = to_json(g)
    assert len(data["nodes"]) == g.number_of_nodes()
    pos = layered_layout(g)
    assert set(pos) == set(g.nodes)
    assert pos["router:core"][1] > pos["segment:rack-a"][1] > pos["node:node-1"][1]
    pod = next(n for n in g if n.startswith("pod:"))
    assert pos[pod][1] == 0.0
