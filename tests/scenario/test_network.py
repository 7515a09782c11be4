"""The network the scenario reports is the project's own: its shares are what
``overlaynet kube-proxy rules`` + ``overlaynet iptables trace --all-branches`` say."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main
from overlaynet.scenario import read_scenario, run
from overlaynet.topology import load_cluster

PROBES = "topologies/scenarios/probes.yaml"


def test_shares_equal_iptables_trace_all_branches_over_kube_proxy_rules(tmp_path: Path) -> None:
    timeline = run(load_cluster([PROBES]), read_scenario("kind: Scenario\nspec:\n  steps:\n    - wait: 1\n"))
    # the file's first Service (kubernetes and kube-dns, which every cluster has, come first)
    view = next(s for s in timeline.initial.services if s.service not in ("default/kubernetes", "kube-system/kube-dns"))
    ip, port = view.address.split(":")
    runner = CliRunner()
    rules = runner.invoke(main, ["kube-proxy", "rules", PROBES, "--node", "node-1", "--full"])
    assert rules.exit_code == 0, rules.output
    save = tmp_path / "node-1.save"
    save.write_text(rules.output)
    res = runner.invoke(main, ["iptables", "trace", str(save), "--src", "198.51.100.254", "--dst", ip, "--dport", port,
                               "--all-branches", "--json", "--local-ip", "192.168.0.11"])
    assert res.exit_code == 0, res.output
    outcomes = json.loads(res.output)["outcomes"]
    assert {o["destination"]: Fraction(o["probability"]) for o in outcomes} == {e.address: e.probability for e in view.endpoints}
    assert len(outcomes) == 3
