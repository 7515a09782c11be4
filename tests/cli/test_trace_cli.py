"""CLI: ``trace``, ``routes`` and ``demo`` — exit codes, text and --json shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from overlaynet.cli import main
from overlaynet.cli.trace import demo_topology

DEMO = str(demo_topology())


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def pods() -> dict[str, list[str]]:
    from overlaynet.network import assemble
    from overlaynet.topology import load

    net = assemble(load([DEMO]).cluster)
    out: dict[str, list[str]] = {}
    for p in net.cluster.pods:
        out.setdefault(p.name.split("-")[0], []).append(p.key)
    return out


def test_demo_prints_the_vxlan_trace() -> None:
    res = cli("demo")
    assert res.exit_code == 0, res.output
    for text in ("cni0", "flannel.1 VNI 1", "8472", "+50 bytes", "core", "decap", "DELIVERED"):
        assert text in res.output


def test_demo_df_1480_is_frag_needed_and_exit_1() -> None:
    res = cli("demo", "--size", "1480", "--df")
    assert res.exit_code == 1
    assert "FRAG_NEEDED" in res.output and "MTU 1450" in res.output


def test_trace_json_shape(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", pods["backend"][-1], "--port", "8080", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["disposition"] == "DELIVERED"
    assert {"host", "namespace", "steps"} <= set(data["hops"][0])
    encaps = [s for h in data["hops"] for s in h["steps"] if s["kind"] == "encap"]
    for e in encaps:
        assert {"vni", "outer_src", "outer_dst", "outer_sport", "outer_dport", "overhead_bytes", "wire_bytes", "layers"} <= set(e)


def test_ambiguous_pod_prefix_lists_candidates(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", "default/frontend", "--to", pods["backend"][0])
    assert res.exit_code == 2
    assert "matches 2 pods" in res.output and pods["frontend"][0] in res.output
    assert "Traceback" not in res.output


def test_unique_prefix_is_accepted(pods: dict[str, list[str]]) -> None:
    target = pods["backend"][0]
    res = cli("trace", DEMO, "--from", pods["frontend"][0][:-2], "--to", target, "--port", "8080")
    assert res.exit_code in (0, 2)
    if res.exit_code == 2:  # the shortened name happened to match both frontends
        assert "matches" in res.output


def test_bad_source_is_exit_2() -> None:
    res = cli("trace", DEMO, "--from", "default/nope", "--to", "10.244.0.2")
    assert res.exit_code == 2 and "no pod" in res.output


def test_dns_name_target_resolves_from_the_pod(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "web", "--json")
    data = json.loads(res.output)
    first = data["hops"][0]["steps"][0]
    assert first["kind"] == "dns" and first["queries"][0][0].startswith("web.")
    assert re.match(r"10\.9[6-9]\.|10\.1[01]\d\.", first["answer"][0])


def test_unknown_name_is_nxdomain(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "no-such-service")
    assert res.exit_code == 1 and "NXDOMAIN" in res.output


def test_all_branches_lists_traces_with_probabilities(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "default/web", "--all-branches", "--json")
    data = json.loads(res.output)
    assert isinstance(data, list) and len(data) == 3  # web has three ready backends
    from fractions import Fraction

    assert sum(Fraction(t["probability"]) for t in data) == 1


def test_routes_prints_ip_style_tables() -> None:
    res = cli("routes", DEMO, "--node", "node-1")
    assert res.exit_code == 0, res.output
    assert re.search(r"10\.244\.\d+\.0/24 via 10\.244\.\d+\.0 dev flannel\.1 onlink", res.output)
    assert "vxlan id 1" in res.output and "dstport 8472" in res.output
    assert re.search(r"dev flannel\.1 dst 192\.168\.\d+\.\d+ self permanent", res.output)
    assert "net.ipv4.ip_forward = 1" in res.output


def test_routes_json_and_pod_namespace(pods: dict[str, list[str]]) -> None:
    res = cli("routes", DEMO, "--node", "node-1", "--json")
    data = json.loads(res.output)
    assert {"links", "routes", "neighbors", "fdb", "sysctls"} <= set(data)
    res = cli("routes", DEMO, "--node", "core")
    assert res.exit_code == 0 and "default dev uplink" in res.output


def test_routes_unknown_node_is_exit_2() -> None:
    res = cli("routes", DEMO, "--node", "nope")
    assert res.exit_code == 2 and "no such node" in res.output


def test_client_state_keeps_clientip_affinity_across_runs(pods: dict[str, list[str]], tmp_path: Path) -> None:
    sticky = tmp_path / "sticky.yaml"
    sticky.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: sticky}\nspec:\n  selector: {app: backend}\n"
        "  sessionAffinity: ClientIP\n  ports:\n    - {name: http, port: 80, targetPort: http}\n"
    )
    state = tmp_path / "state.json"
    seen = set()
    for seed in range(1, 6):
        res = cli("trace", DEMO, str(sticky), "--from", pods["frontend"][0], "--to", "default/sticky",
                  "--seed", str(seed), "--client-state", str(state), "--json")
        assert res.exit_code == 0, res.output
        seen.add(json.loads(res.output)["final_packet"]["dst"])
    assert len(seen) == 1
    assert json.loads(state.read_text())["recent"]


def test_bad_client_state_is_exit_2(pods: dict[str, list[str]], tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("[1, 2]")
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", pods["backend"][0], "--client-state", str(state))
    assert res.exit_code == 2 and "not a saved client state" in res.output


def test_brief_folds_each_hook_to_the_rules_that_decided(pods: dict[str, list[str]]) -> None:
    res = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "web", "--brief")
    assert res.exit_code == 0, res.output
    assert "FLANNEL-FWD #1: ACCEPT" in res.output and "KUBE-PROXY-FIREWALL" not in res.output
    full = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "web")
    assert "KUBE-PROXY-FIREWALL" in full.output and len(res.output) < len(full.output)


def test_demo_brief() -> None:
    res = cli("demo", "--brief")
    assert res.exit_code == 0, res.output
    assert "FORWARD: filter/FORWARD #5 → FLANNEL-FWD #1: ACCEPT" in res.output


@pytest.mark.parametrize(("target", "port"), [("web:abc", "'abc'"), ("web:0", "'0'"), ("default/web:70000", "'70000'")])
def test_a_bad_port_is_bad_input_not_a_dns_name(pods: dict[str, list[str]], target: str, port: str) -> None:
    r = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", target)
    assert r.exit_code == 2 and r.exception is None or isinstance(r.exception, SystemExit)
    assert r.stderr == f"error: --to {target!r}: expected a port number 1-65535 after ':', found {port}\n"


def test_an_unwritable_pcap_is_bad_input_without_a_traceback(pods: dict[str, list[str]], tmp_path: Path) -> None:
    where = tmp_path / "no-such-dir" / "t.pcap"
    r = cli("trace", DEMO, "--from", pods["frontend"][0], "--to", "web:80", "--pcap", str(where))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr == f"error: {where}: No such file or directory\n"
