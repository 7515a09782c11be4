"""The bgp command, through click as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_bgp_mesh_and_reflector_session_counts_in_json() -> None:
    code, out, _ = _run("bgp", str(TOPOLOGIES / "calico-mesh.yaml"), "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["sessions"]) == 6 and data["as_number"] == 64512
    assert all(s["state"] == "Established" for s in data["sessions"])
    code, out, _ = _run("bgp", str(TOPOLOGIES / "calico-rr.yaml"), "--json")
    data = json.loads(out)
    assert len(data["sessions"]) == (6 - 2) * 2 + 1 and data["route_reflectors"] == ["node-1", "node-4"]


def test_bgp_table_names_bird_protocols() -> None:
    code, out, _ = _run("bgp", str(TOPOLOGIES / "calico-mesh.yaml"), "--node", "node-1")
    assert code == 0 and "Mesh_192_168_10_12" in out and "full node-to-node mesh" in out


def test_bgp_errors_are_clean() -> None:
    code, _, err = _run("bgp", str(TOPOLOGIES / "demo.yaml"))
    assert code == 2 and "only calico speaks BGP" in err and "Traceback" not in err
    code, _, err = _run("bgp", str(TOPOLOGIES / "calico-mesh.yaml"), "--node", "nope")
    assert code == 2 and "no such node" in err
