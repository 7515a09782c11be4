"""``overlaynet weave status`` and the Weave overhead modes, through click as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_status_text_shows_connections_routes_and_the_ring() -> None:
    code, out, _ = _run("weave", "status", str(TOPOLOGIES / "weave-partial-mesh.yaml"), "--node", "node-2")
    assert code == 0
    assert "established fastdp" in out and "established sleeve" in out
    assert "fastdp off: UDP 6784 blocked by blocked[0]" in out
    assert "weave status ipam on node-2 (10.32.0.0/12)" in out
    assert "524288 IPs (50.0% of total)" in out


def test_status_json_lists_failed_connections_and_unreachable_peers(tmp_path: Path) -> None:
    text = (TOPOLOGIES / "weave-partial-mesh.yaml").read_text().replace(
        "connections: [[node-1, node-2], [node-2, node-3]]",
        "blocked_placeholder: 0").replace("blocked_placeholder: 0\n      blocked:\n        - {peers: [node-2, node-3], ports: [udp/6784]}",
                                         "blocked:\n        - {peers: ['*', node-3], ports: [tcp/6783]}")
    path = tmp_path / "w.yaml"
    path.write_text(text)
    code, out, err = _run("weave", "status", str(path), "--node", "node-1", "--json")
    assert code == 0, err
    data = json.loads(out)
    conns = {c["nickname"]: c for c in data["peers"][0]["connections"]}
    assert conns["node-2"]["state"] == "established" and conns["node-2"]["datapath"] == "fastdp"
    assert conns["node-3"]["state"] == "failed" and "TCP 6783 blocked by blocked[0]" in conns["node-3"]["reason"]
    ring = {r["nickname"]: r for r in data["ipam"]}
    assert ring["node-3"]["reachable"] is False and ring["node-2"]["reachable"] is True
    assert sum(r["ips"] for r in data["ipam"]) == 1 << 20


def test_status_bad_input_exits_2() -> None:
    code, _, err = _run("weave", "status", str(TOPOLOGIES / "weave-full-mesh.yaml"), "--node", "node-9")
    assert code == 2 and "no such peer" in err
    code, _, err = _run("weave", "status", str(TOPOLOGIES / "calico-mesh.yaml"))
    assert code == 2 and "not weave" in err


def test_overhead_modes_all_lists_the_four_weave_modes_from_frames() -> None:
    code, out, err = _run("overhead", str(TOPOLOGIES / "weave-full-mesh.yaml"), "--modes", "all", "--json")
    assert code == 0, err
    modes = {m["mode"]: m for m in json.loads(out)["modes"] if m["mode"].startswith("weave:")}
    assert sorted(modes) == ["weave:fastdp", "weave:fastdp-encrypted", "weave:sleeve", "weave:sleeve-encrypted"]
    got = {k: (m["encapsulation"], m["overhead_bytes"], m["frames_agree"]) for k, m in modes.items()}
    assert got["weave:fastdp"] == ("vxlan", 50, True)
    assert got["weave:sleeve"] == ("udp", 62, True)
    assert got["weave:sleeve-encrypted"] == ("udp", 86, True)
    enc, over, agree = got["weave:fastdp-encrypted"]
    assert enc == "vxlan" and 84 <= over <= 87 and agree
    assert all(m["pod_mtu"] == 1376 for m in modes.values())
