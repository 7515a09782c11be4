"""Issue 4's acceptance, end to end through ``overlaynet trace`` (tracer + kube-proxy rules)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main
from overlaynet.topology import load_cluster

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "topologies" / "demo.yaml"
AB_TEST = ROOT / "topologies" / "ab-test.yaml"


def _trace(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["trace", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return doc if isinstance(doc, list) else [doc]


def _netfilter_chains(trace: dict) -> list[str]:  # type: ignore[type-arg]
    return [s["chain"] for hop in trace["hops"] for s in hop["steps"] if s["kind"] == "netfilter"]


def _dnat(trace: dict) -> str:  # type: ignore[type-arg]
    after = next(s["after"] for hop in trace["hops"] for s in hop["steps"] if s["kind"] == "dnat")
    return f"{after[0]}:{after[1]}"


def test_all_branches_lists_every_backend_with_1_over_n() -> None:
    cluster = load_cluster([DEMO])
    web = cluster.service("default", "web")
    frontend = next(p for p in cluster.pods if p.labels.get("app") == "frontend")
    slices = cluster.slices_for(web)
    backends = {f"{e.addresses[0]}:{s.ports[0].port}" for s in slices for e in s.endpoints if e.ready}
    traces = _trace(str(DEMO), "--from", frontend.key, "--to", f"{web.cluster_ip}:80", "--all-branches")
    assert {_dnat(t) for t in traces} == backends
    assert all(Fraction(t["probability"]) == Fraction(1, len(backends)) for t in traces)
    assert all(t["disposition"] == "DELIVERED" for t in traces)
    for t in traces:
        chains = _netfilter_chains(t)
        assert "KUBE-SERVICES" in chains
        assert any(c.startswith("KUBE-SVC-") for c in chains)
        assert any(c.startswith("KUBE-SEP-") for c in chains)


def test_session_affinity_holds_across_stateful_traces(tmp_path: Path) -> None:
    cluster = load_cluster([AB_TEST])
    svc = cluster.service("default", "node-js-scale")
    client = cluster.pods[0]
    state = tmp_path / "client-state.json"
    target = f"{svc.cluster_ip}:80"
    stateless = {_dnat(_trace(str(AB_TEST), "--from", client.key, "--to", target, "--seed", str(s))[0]) for s in range(6)}
    assert len(stateless) > 1  # without state the seeded choice varies
    chosen = {
        _dnat(_trace(str(AB_TEST), "--from", client.key, "--to", target, "--seed", str(s), "--client-state", str(state))[0])
        for s in range(6)
    }
    assert len(chosen) == 1  # ClientIP affinity keeps the client on one endpoint


LB_FRONTEND = """metadata: {name: frontend}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  loadBalancerSourceRanges: [203.0.113.0/24]
  selector: {app: frontend}
  ports:
    - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.10}]"""


def _demo_with_lb(tmp_path: Path) -> Path:
    text = DEMO.read_text()
    start = text.index("metadata: {name: frontend}")
    end = text.index("nodePort: 30080}", start) + len("nodePort: 30080}")
    path = tmp_path / "demo-lb.yaml"
    path.write_text(text[:start] + LB_FRONTEND + text[end:])
    return path


def test_nodeport_from_outside_with_external_traffic_policy_local(tmp_path: Path) -> None:
    topo = _demo_with_lb(tmp_path)
    cluster = load_cluster([topo])
    frontends = [p for p in cluster.pods if p.labels.get("app") == "frontend"]
    with_frontend = {p.node for p in frontends}
    for node in cluster.nodes:
        result = CliRunner().invoke(main, ["trace", str(topo), "--from", "203.0.113.9", "--to",
                                           f"{node.ip}:30080", "--all-branches", "--json"])
        traces = json.loads(result.stdout)
        traces = traces if isinstance(traces, list) else [traces]
        if node.name in with_frontend:
            local = {f"{p.ip}:8080" for p in frontends if p.node == node.name}
            assert result.exit_code == 0
            assert {_dnat(t) for t in traces} == local  # only this node's endpoints
            assert not any(s["kind"] == "snat" for t in traces for h in t["hops"] for s in h["steps"])
        else:
            assert result.exit_code == 1
            assert [t["disposition"] for t in traces] == ["DENIED"]  # KUBE-EXTERNAL-SERVICES DROP


def test_pod_outside_load_balancer_source_ranges_is_dropped(tmp_path: Path) -> None:
    topo = _demo_with_lb(tmp_path)
    backend = next(p for p in load_cluster([topo]).pods if p.labels.get("app") == "backend")
    result = CliRunner().invoke(main, ["trace", str(topo), "--from", backend.key, "--to", "198.51.100.10:80", "--json"])
    assert result.exit_code == 1
    trace = json.loads(result.stdout)
    trace = trace[0] if isinstance(trace, list) else trace
    assert trace["disposition"] == "DENIED"
    assert "KUBE-PROXY-FIREWALL" in _netfilter_chains(trace)
    assert any(c.startswith("KUBE-FW-") for c in _netfilter_chains(trace))
