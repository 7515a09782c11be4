"""The reach and diff commands, through click as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_reach_json_default_deny_matrix() -> None:
    code, out, _ = _run("reach", str(TOPOLOGIES / "calico-policy.yaml"), "--port", "8080", "--json")
    assert code == 0
    data = json.loads(out)
    pods = data["pods"]
    allowed = data["allowed"]
    # the 9 pods of the file and the 2 CoreDNS pods every cluster has (kube-system has no policy)
    assert len(pods) == 11 and len(allowed) == 11 and all(len(r) == 11 for r in allowed)
    api = pods.index("prod/api")
    assert allowed[pods.index("prod/frontend")][api] and not allowed[pods.index("qa/frontend")][api]


def test_every_pod_reaches_cluster_dns() -> None:
    code, out, _ = _run("reach", str(TOPOLOGIES / "calico-policy.yaml"), "--port", "53", "--proto", "udp", "--json")
    assert code == 0
    data = json.loads(out)
    coredns = [i for i, p in enumerate(data["pods"]) if p.startswith("kube-system/coredns-")]
    assert len(coredns) == 2
    assert all(row[j] for row in data["allowed"] for j in coredns)


def test_reach_explain_exit_status_follows_the_trace() -> None:
    code, out, _ = _run("reach", str(TOPOLOGIES / "calico-policy.yaml"), "--explain", "qa/frontend", "prod/api", "--port", "8080")
    assert code == 1 and "DENIED" in out
    code, _, _ = _run("reach", str(TOPOLOGIES / "calico-policy.yaml"), "--explain", "prod/frontend", "prod/api", "--port", "8080")
    assert code == 0


def test_reach_warns_when_the_driver_ignores_policy(tmp_path: Path) -> None:
    text = (TOPOLOGIES / "calico-policy.yaml").read_text().replace("driver: calico", "driver: flannel")
    text = text.replace("options: {encapsulation: ipip}", "options: {backend: vxlan}")
    f = tmp_path / "flannel-policy.yaml"
    f.write_text(text)
    code, out, err = _run("reach", str(f), "--port", "8080", "--json", "--no-routing")
    assert code == 0 and "does not enforce network policy" in err
    assert all(all(row) for row in json.loads(out)["allowed"])


def test_diff_lists_pairs_a_policy_change_blocks(tmp_path: Path) -> None:
    before = TOPOLOGIES / "calico-policy.yaml"
    after = tmp_path / "after.yaml"
    after.write_text(
        before.read_text()
        + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-qa, namespace: qa}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
"""
    )
    code, out, _ = _run("diff", str(before), str(after), "--port", "8080", "--json")
    assert code == 1
    changes = json.loads(out)
    assert changes and all(c["dst"] == "qa/db" and c["before"] and not c["after"] for c in changes)
    code, out, _ = _run("diff", str(before), str(before), "--port", "8080")
    assert code == 0 and "0 pair(s) change" in out


def test_reach_on_flannel_host_gw_routes_within_the_rack_only() -> None:
    """The shipped host-gw example: its options were validated twice and refused the second
    time ("option 'vni': only the vxlan backend(s) take it")."""
    code, out, err = _run("reach", str(TOPOLOGIES / "flannel-host-gw.yaml"), "--json")
    assert code == 0, err
    data = json.loads(out)
    pods, allowed = data["pods"], data["allowed"]
    a1, a2, b1 = (pods.index(k) for k in ("default/a1", "default/a2", "default/b1"))
    assert allowed[a1][a2] and allowed[a2][a1]
    assert not allowed[a1][b1] and not allowed[b1][a1]  # node-3 sits behind the router


def test_diff_from_flannel_udp_to_host_gw_cuts_the_rack_behind_the_router(tmp_path: Path) -> None:
    """udp encapsulates across the router; host-gw cannot route there. Both topologies failed
    to load before (their validated options were refused on the second check)."""
    udp = tmp_path / "udp.yaml"
    udp.write_text((TOPOLOGIES / "flannel-host-gw.yaml").read_text().replace("{backend: host-gw}", "{backend: udp}"))
    code, out, err = _run("diff", str(udp), str(TOPOLOGIES / "flannel-host-gw.yaml"), "--json")
    assert code == 1, err
    changed = {(d["src"], d["dst"], d["before"], d["after"]) for d in json.loads(out)}
    node = {p["namespace"] + "/" + p["name"]: p["node"] for p in json.loads(_run("show", str(udp), "--json")[1])["pods"]}
    # every pair between node-3 (behind the router) and rack-a changes, the CoreDNS pods' too
    expected = {(a, b, True, False) for a in node for b in node if (node[a] == "node-3") != (node[b] == "node-3")}
    assert ("default/a1", "default/b1", True, False) in expected
    assert changed == expected
