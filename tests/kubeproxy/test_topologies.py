"""The example topologies: golden rules per node, and every ruleset loads in a real kernel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from overlaynet.kubeproxy.node import config_for_node, node_rules
from overlaynet.model import Cluster

from .golden import check_golden
from .netns import netns, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("demo", "node-js", "ab-test", "custom-service")


@cache
def _cluster(name: str) -> Cluster:
    from overlaynet.network import assemble
    from overlaynet.topology import load_cluster

    path = ROOT / "topologies" / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    return assemble(load_cluster([path])).cluster


def _cases() -> list[tuple[str, str]]:
    out = []
    for name in EXAMPLES:
        path = ROOT / "topologies" / f"{name}.yaml"
        if not path.exists():
            out.append((name, "-"))
            continue
        out.extend((name, node.name) for node in _cluster(name).nodes)
    return out


@pytest.mark.parametrize(("topology", "node"), _cases())
def test_topology_golden(topology: str, node: str) -> None:
    cluster = _cluster(topology)
    text = node_rules(cluster, config_for_node(cluster, node))
    check_golden(f"topology-{topology}-{node}.rules", text)


@pytest.mark.root
@pytest.mark.iptables
@pytest.mark.parametrize("topology", EXAMPLES)
def test_topology_rulesets_pass_iptables_restore_test(topology: str) -> None:
    cluster = _cluster(topology)
    with netns() as ns:
        for node in cluster.nodes:
            cfg = config_for_node(cluster, node.name)
            for full in (False, True):
                text = node_rules(cluster, cfg, full=full)
                args = ["iptables-restore", "--test"] + ([] if full else ["--noflush"])
                result = run(ns, *args, input=text, check=False)
                assert result.returncode == 0, f"{node.name} full={full}: {result.stderr}"
