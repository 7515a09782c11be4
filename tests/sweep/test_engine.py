"""A sweep equals a loop of single traces over the same flows, embedded or on a LocalCluster."""

from __future__ import annotations

from typing import Any

from overlaynet.network.request import TraceRequest, run
from overlaynet.sweep import FlowFilter, TopologySource, run_sweep
from overlaynet.sweep.engine import chunks
from overlaynet.sweep.task import network_for

DEMO = "topologies/demo.yaml"


def _signature(results: object) -> list[tuple[object, ...]]:
    return [(r.flow.key, r.verdict, tuple((b.endpoint, b.disposition, b.probability) for b in r.branches))
            for r in results]  # type: ignore[attr-defined]


def _endpoint(pods: dict[Any, str], t: Any) -> str:
    """A pod by its key; an endpoint off the pod network (the apiserver on a node) as IP:port."""
    final = t.final_packet or t.packet
    if final.dst in pods:
        return pods[final.dst]
    return f"{final.dst}:{final.dport}" if t.disposition.value == "ACCEPTED" else ""


def test_sweep_equals_a_loop_of_single_traces() -> None:
    result = run_sweep([DEMO])
    network = network_for(TopologySource.read([DEMO]))
    pods = {ip: p.key for p in network.cluster.pods for ip in p.ips}
    assert len(result.results) == 50  # with kubernetes and kube-dns, which every cluster has
    for r in result.results:
        f = r.flow
        report = run(network, TraceRequest(f.source, f.target, port=f.port, proto=f.proto, all_branches=True))
        expected = sorted(
            (_endpoint(pods, t), t.disposition.value, str(t.probability))
            for t in report.forward.traces
        )
        assert sorted((b.endpoint, b.disposition, b.probability) for b in r.branches) == expected


def test_demo_verdicts_are_the_known_ones() -> None:
    result = run_sweep([DEMO], flow_filter=FlowFilter(services=("web",)))
    assert {r.verdict for r in result.results} == {"DELIVERED"}
    for r in result.results:
        assert sorted(b.probability for b in r.branches) == ["1/3", "1/3", "1/3"]
        assert len({b.endpoint for b in r.branches}) == 3
        assert all(b.endpoint.startswith("default/backend-") for b in r.branches)


def test_local_cluster_of_two_workers_gives_the_embedded_result() -> None:
    embedded = run_sweep([DEMO])
    seen: list[tuple[int, int]] = []
    parallel = run_sweep([DEMO], workers=2, chunk_size=3, progress=lambda d, t: seen.append((d, t)))
    assert parallel.engine == {"mode": "local-cluster", "workers": 2}
    assert _signature(parallel.results) == _signature(embedded.results)
    assert seen[-1] == (50, 50)
    assert embedded.to_dict()["flows"] == parallel.to_dict()["flows"]


def test_chunks_cover_every_flow_once_in_order() -> None:
    flows = list(run_sweep([DEMO]).plan.flows)
    parts = chunks(flows, 2)
    assert [f for part in parts for f in part] == flows
    assert max(len(p) for p in parts) == 4  # 14 flows / (2 workers x 8) rounds up to the floor of 4
    assert [len(p) for p in chunks(flows, 1, size=5)] == [5] * 10  # 50 flows: the demo's and those to kubernetes and kube-dns
