"""With several branches, the text rendering ends with one line per outcome."""

from __future__ import annotations

from pathlib import Path

from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster
from overlaynet.trace.render import render_result

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


def test_all_branches_summary_lists_each_endpoint_with_its_chains() -> None:
    net = assemble(load_cluster([DEMO]))
    frontend = next(p for p in net.cluster.pods if p.labels.get("app") == "frontend")
    report = run(net, TraceRequest(frontend.key, "default/web", all_branches=True))
    text = render_result(report.forward)
    summary = text[text.index("3 outcomes:"):].splitlines()[1:]
    backends = {str(p.ip) for p in net.cluster.pods if p.labels.get("app") == "backend"}
    assert len(summary) == 3
    for line in summary:
        assert line.split()[0] == "1/3" and "DELIVERED" in line and "KUBE-SVC-" in line and "KUBE-SEP-" in line
    assert {line.split()[2] for line in summary} == backends
