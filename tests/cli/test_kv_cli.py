"""``overlaynet kv dump``: the store after allocation, as etcdctl prints it, and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

TOPO = str(Path(__file__).resolve().parents[2] / "topologies" / "docker-k8s.yaml")


def test_dump_docker_layout() -> None:
    res = CliRunner().invoke(main, ["kv", "dump", TOPO])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    keys = lines[0::2]
    assert "docker/network/v1.0/idm/vxlan-id/" in keys
    assert "docker/network/v1.0/ipam/default/data/GlobalDefault/10.0.0.0/24/" in keys
    assert sum(k.startswith("docker/network/v1.0/endpoint/") for k in keys) == 8  # 6 on app (2 of them the CoreDNS pods), 2 on data
    assert keys == sorted(keys)


def test_dump_json_with_prefix() -> None:
    res = CliRunner().invoke(main, ["kv", "dump", TOPO, "--prefix", "docker/network/v1.0/overlay/", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert sorted(d["value"]["subnets"][0]["Vni"] for d in data) == [256, 257]
    assert all(d["version"] == 1 for d in data)


def test_dump_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Cluster\nspec: {network: {driver: docker-overlay, options: {networks: [{name: a, subnet: 10.0.0.1/24}]}}}\n")
    res = CliRunner().invoke(main, ["kv", "dump", str(bad)])
    assert res.exit_code == 2 and "Traceback" not in res.output
