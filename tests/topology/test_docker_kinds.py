"""Plain Docker in a topology: Container documents and pasted `docker network inspect`."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.errors import TopologyError
from overlaynet.topology import load_text

PLAIN = Path(__file__).resolve().parents[2] / "topologies" / "docker-plain.yaml"
HEAD = """apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: t}
spec:
  network: {driver: docker-overlay}
  nodes: [{name: h1, ip: 192.168.1.11}]
---
"""


def test_containers_become_pods_and_docker_records() -> None:
    cluster = load_text(PLAIN.read_text(), str(PLAIN)).cluster
    api = cluster.pod("default", "api-1")
    assert (api.node, api.labels["docker.overlaynet.io/container"], [p.port for p in api.ports]) == ("host-2", "api-1", [8080])
    records = {(k, r["name"] if k == "Container" else r["network"]["name"]): r for k, r in cluster.extra["docker"]}
    assert [n["name"] for n in records[("Container", "api-1")]["networks"]] == ["front", "back"]
    assert records[("Container", "api-1")]["networks"][1]["aliases"] == ("backend",)
    back = records[("Network", "back")]
    assert dict(back["network"]) == {"name": "back", "subnet": "10.2.0.0/24", "gateway": "10.2.0.1", "internal": True,
                                     "attachable": False, "vni": 4097}
    assert dict(back["containers"]) == {"db": "10.2.0.7"}


def test_container_errors_name_the_line() -> None:
    text = HEAD + "apiVersion: overlaynet/v1\nkind: Container\nmetadata: {name: c1}\nspec: {networks: [a, a], image: x}\n"
    with pytest.raises(TopologyError) as err:
        load_text(text, "t.yaml")
    msg = str(err.value)
    assert "t.yaml:11:7: spec.host" in msg and "t.yaml:11:18: spec.networks" in msg and "missing required field 'host'" in msg and "joins network a twice" in msg


def test_inspect_of_a_bridge_network_is_ignored_with_a_warning() -> None:
    text = HEAD + '[{"Name": "bridge", "Driver": "bridge", "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}]\n'
    result = load_text(text, "t.yaml")
    assert "docker" not in result.cluster.extra
    assert any("not overlay" in str(w) for w in result.warnings)
