"""What the web view draws: the layout and a trace's path over it."""

from __future__ import annotations

from overlaynet.network import load
from overlaynet.web.view import topology_view, trace_view

DEMO = load(["topologies/demo.yaml"])
FRONTEND = "default/frontend-dtz8lffdhv-blt7m"


def test_layout_puts_hosts_in_their_segment_column_and_pods_inside_their_host() -> None:
    v = topology_view(DEMO.cluster)
    segs = {s["name"]: s for s in v["segments"]}
    hosts = {h["name"]: h for h in v["hosts"]}
    assert hosts["node-1"]["x"] == hosts["node-2"]["x"] == segs["rack-a"]["x"]
    assert hosts["node-3"]["x"] == segs["rack-b"]["x"]
    assert hosts["node-2"]["y"] > hosts["node-1"]["y"] + hosts["node-1"]["h"]  # stacked, no overlap
    for p in v["pods"]:
        h = hosts[p["host"]]
        assert h["x"] < p["x"] < h["x"] + h["w"] and h["y"] < p["y"] < h["y"] + h["h"]
    assert {p["name"] for p in v["pods"]} == {p.key for p in DEMO.cluster.pods if not p.host_network}
    [core] = v["routers"]
    assert segs["rack-a"]["x"] < core["x"] + core["w"] / 2 < segs["rack-b"]["x"] + segs["rack-b"]["w"]
    assert topology_view(DEMO.cluster) == v  # the same picture every time


def test_trace_path_layers_and_marks_match_the_tracer() -> None:
    report = DEMO.trace(FRONTEND, "web:80")
    view = trace_view(DEMO.cluster, report)
    [b] = view["branches"]
    cli = report.forward.trace
    assert b["path"] == [("pod:" + h.ns.name) if h.ns.kind.value == "pod" else
                         ("router:" if h.ns.host == "core" else "host:") + h.ns.host for h in cli.hops]
    assert b["path"] == ["pod:" + FRONTEND, "host:node-1", "router:core", "host:node-3",
                         "pod:default/backend-lm568x9xcq-qjb4k"]
    assert [ln["layer"] for ln in b["links"]] == ["veth", "tunnel", "tunnel", "veth"]
    assert [ln["via"] for ln in b["links"]][1:3] == ["segment:rack-a", "segment:rack-b"]
    marks = {h["id"]: h["marks"] for h in b["hops"]}
    assert marks["host:node-1"] == ["encap"] and marks["host:node-3"] == ["decap"]
    assert b["encapsulations"][0].startswith("vxlan encap on flannel.1 VNI 1")


def test_all_branches_carry_their_probabilities() -> None:
    view = trace_view(DEMO.cluster, DEMO.trace(FRONTEND, "web:80", all_branches=True))
    assert sorted(b["probability"] for b in view["branches"]) == ["1/3", "1/3", "1/3"]
    assert len({b["path"][-1] for b in view["branches"]}) == 3


def test_a_denied_trace_marks_where_and_why() -> None:
    net = load(["topologies/calico-policy.yaml"])
    [b] = trace_view(net.cluster, net.trace("qa/frontend", "prod/api", port=8080))["branches"]
    assert b["disposition"] == "DENIED" and not b["success"]
    last = b["hops"][-1]
    assert last["drop"] == b["reason"] and "drop" in last["marks"]
    assert "prod/default-deny-ingress" in b["reason"] or "prod/default-deny-ingress" in " ".join(
        s["summary"] for h in b["hops"] for s in h["steps"])
