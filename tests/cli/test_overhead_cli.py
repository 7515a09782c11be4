"""CLI: ``overhead`` — table, --json, --plot, and bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from overlaynet.cli import main

DEMO = str(Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_table() -> None:
    r = cli("overhead", DEMO, "--modes", "flannel:vxlan,flannel:host-gw", "--payload", "64,imix", "--message", "5000")
    assert r.exit_code == 0, r.output
    assert "flannel:vxlan" in r.output and "flannel:host-gw" in r.output
    assert "VXLAN 8" in r.output and "inner Ethernet 14" in r.output
    assert "FRAG_NEEDED" in r.output and "flannel.1" in r.output
    assert "same-segment pair" in r.output


def test_json_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "o.png"
    r = cli("overhead", DEMO, "--modes", "flannel:vxlan,flannel:udp", "--payload", "64,1400", "--json", "--plot", str(png))
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [m["mode"] for m in data["modes"]] == ["flannel:vxlan", "flannel:udp"]
    assert [m["overhead_bytes"] for m in data["modes"]] == [50, 28]
    assert data["modes"][0]["payloads"][1]["payload"] == "1400"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_bad_input_exits_2() -> None:
    assert cli("overhead", DEMO, "--payload", "huge").exit_code == 2
    r = cli("overhead", DEMO, "--modes", "flannel:geneve")
    assert r.exit_code == 2 and "known modes" in r.output
    assert cli("overhead", DEMO, "--modes", "weird:x").exit_code == 2
    assert cli("overhead", DEMO, "--underlay-mtu", "100").exit_code == 2


def test_help_has_an_example() -> None:
    r = cli("overhead", "--help")
    assert r.exit_code == 0 and "overlaynet overhead topologies/demo.yaml --modes all" in r.output
