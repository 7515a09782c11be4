"""``overlaynet traffic`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

MIX = "topologies/traffic/demo-mix.yaml"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_table_and_json(tmp_path: Path) -> None:
    code, out, _ = _run("traffic", "topologies/demo.yaml", "--mix", MIX, "--plot", str(tmp_path / "t.png"))
    assert code == 0
    assert out.splitlines()[0] == "traffic mix demo-mix: 60 s, seed 7"
    assert "  browse: 1800 connections, 1800 delivered" in out and "drops: none" in out
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = _run("traffic", "topologies/demo.yaml", "--mix", MIX, "--json")
    data = json.loads(out)
    assert [f["connections"] for f in data["flows"]] == [1800, 120, 600]
    assert {s["segment"] for s in data["segments"]} == {"rack-a", "rack-b"}
    assert [s["capacity_bps"] for s in sorted(data["segments"], key=lambda s: s["segment"])] == [1e9, 1e8]


def test_bad_mix_is_exit_2_with_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("kind: TrafficMix\nspec:\n  flows:\n    - {from: nobody/here, to: web:80, rate: 1}\n")
    code, _, err = _run("traffic", "topologies/demo.yaml", "--mix", str(bad))
    assert code == 2
    assert err.strip() == f"error: {bad}:4:7: flow 'flow-1' from nobody/here: no pod 'nobody/here' (expected namespace/name of a pod)"
    code, _, err = _run("traffic", "topologies/demo.yaml", "--mix", MIX, "--serve", "nowhere")
    assert code == 2 and "--serve 'nowhere': expected HOST:PORT" in err
