"""``overlaynet materialize up|verify|down|list`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from overlaynet.cli import main
from overlaynet.materialize import list_namespaces
from overlaynet.materialize.naming import run_prefix

TOPOLOGY = str(Path(__file__).parent / "topologies" / "flannel-hostgw-1segment.yaml")


def test_down_needs_exactly_one_selector() -> None:
    result = CliRunner().invoke(main, ["materialize", "down"])
    assert result.exit_code == 2 and "exactly one of --run-id ID or --all" in result.output


@pytest.mark.root
def test_up_list_down(run_id: str) -> None:
    runner = CliRunner()
    up = runner.invoke(main, ["materialize", "up", TOPOLOGY, "--run-id", run_id, "--json"])
    assert up.exit_code == 0, up.output
    created = json.loads(up.output)
    assert created["run_id"] == run_id
    names = {row["namespace"]: row["netns"] for row in created["namespaces"]}
    assert names["node-1/pod:default/a1"] == f"onet-{run_id}-node-1.a1"
    assert names["segment lan"] == f"onet-{run_id}-seg.lan"
    assert sorted(names.values()) == list_namespaces(run_prefix(run_id))
    listed = json.loads(runner.invoke(main, ["materialize", "list", "--json"]).output)
    assert listed["runs"][run_id] == sorted(names.values())
    text = runner.invoke(main, ["materialize", "list"]).output
    assert f"run {run_id}: 9 namespaces" in text  # with the 2 CoreDNS pods
    down = runner.invoke(main, ["materialize", "down", "--run-id", run_id])
    assert down.exit_code == 0 and "9 namespaces removed" in down.output
    assert list_namespaces(run_prefix(run_id)) == []


@pytest.mark.root
def test_verify_one_pair(run_id: str) -> None:
    result = CliRunner().invoke(main, ["materialize", "verify", TOPOLOGY, "--pair", "default/a1", "default/c1",
                                       "--run-id", run_id, "--no-capture", "--tcp", "8080"])
    assert result.exit_code == 0, result.output
    assert "ok   ttl         default/c1 → default/a1: tracer 62 (2 routed hops) | kernel 62" in result.output
    assert "ok   tcp         default/a1 → default/c1: tracer DELIVERED, SYN-ACK DELIVERED | kernel connected" in result.output
    assert "ok   tcp_peer    default/a1 → default/c1: tracer 10.244.0.2 | kernel 10.244.0.2" in result.output
    assert "1 pairs: 6 compared, 6 agree, 0 disagree, 0 not compared" in result.output
    assert result.output.rstrip().endswith("tracer and kernel agree")
    assert list_namespaces(run_prefix(run_id)) == []


@pytest.mark.root
def test_up_with_a_bad_run_id_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["materialize", "up", TOPOLOGY, "--run-id", "NOPE"])
    assert result.exit_code == 2 and "run id 'NOPE'" in result.output
