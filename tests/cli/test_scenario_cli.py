"""CLI: ``scenario run`` and ``scenario trace`` — text, --json, --plot, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from overlaynet.cli import main

PROBES = "topologies/scenarios/probes.yaml"
OUTAGE = "topologies/scenarios/readiness-outage.yaml"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_run_prints_a_table_per_step_with_shares() -> None:
    res = cli("scenario", "run", "topologies/ab-test.yaml", "topologies/scenarios/ab-shift.yaml")
    assert res.exit_code == 0, res.output
    assert "step 2 scale: scale ReplicationController/node-js-scale-b to 1" in res.output
    assert "default/node-js-scale 4/4/0 of 4 a 75% b 25%" in res.output
    assert "default/node-js-scale 4/4/0 of 4 a 100%" in res.output
    assert "clients (ClientIP affinity, expires" in res.output


def test_run_json_has_every_frame(tmp_path: Path) -> None:
    png = tmp_path / "shares.png"
    res = cli("scenario", "run", PROBES, OUTAGE, "--json", "--plot", str(png))
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["scenario"] == "readiness-outage"
    frames = data["steps"][0]["frames"]
    at_15 = next(f for f in frames if f["time"] == 15)
    eps = at_15["services"][0]["endpoints"]
    assert sorted(e["share"] for e in eps) == ["0", "1/2", "1/2"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trace_at_a_step(tmp_path: Path) -> None:
    res = cli("scenario", "trace", PROBES, OUTAGE, "--at", "1", "--from", "default/client", "--to", "default/web", "--all-branches", "--json")
    assert res.exit_code == 0, res.output
    branches = json.loads(res.output)
    assert len(branches) == 2  # the unready pod is no longer a branch
    before = cli("scenario", "trace", PROBES, OUTAGE, "--at", "0", "--from", "default/client", "--to", "default/web", "--all-branches", "--json")
    assert len(json.loads(before.output)) == 3


def test_bad_scenario_exits_2_with_the_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Scenario\nspec:\n  steps:\n    - scale: {kind: rc, name: node-js, replicas: -1}\n")
    res = cli("scenario", "run", "topologies/node-js.yaml", str(bad))
    assert res.exit_code == 2
    assert f"{bad}:4:" in res.output and "expected a replica count in 0-10000, found -1" in res.output
    missing = tmp_path / "missing.yaml"
    missing.write_text("kind: Scenario\nspec:\n  steps:\n    - deletePod: {pod: nope}\n")
    res = cli("scenario", "run", "topologies/node-js.yaml", str(missing))
    assert res.exit_code == 2
    assert f"{missing}:4:7: spec.steps[0]: expected one running pod named default/nope, found no pod" in res.output
    res = cli("scenario", "trace", PROBES, OUTAGE, "--at", "9", "--from", "default/client", "--to", "default/web")
    assert res.exit_code == 2 and "expected a step number 0-2, found 9" in res.output
