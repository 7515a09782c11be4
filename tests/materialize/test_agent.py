"""The in-namespace agent refuses to write outside the run's namespaces."""

from __future__ import annotations

import json
import subprocess

import pytest

from overlaynet.errors import MaterializeError
from overlaynet.materialize._state import agent_cmd, netlink_sockets


def _sysctl(batches: dict[str, dict[str, str]]) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(agent_cmd("sysctl", json.dumps(batches)), capture_output=True, text=True, timeout=30)
    return proc.returncode, json.loads(proc.stdout)


def test_sysctl_refuses_namespaces_that_are_not_onet_ones() -> None:
    code, out = _sysctl({"default": {"net/ipv4/ip_forward": "1"}})
    assert code == 1 and "refusing to enter namespace 'default'" in out["errors"][0]  # type: ignore[index]
    code, out = _sysctl({"onet-x/../../x": {"net/ipv4/ip_forward": "1"}})
    assert code == 1 and "refusing" in out["errors"][0]  # type: ignore[index]


def test_sysctl_stops_at_a_namespace_that_does_not_exist() -> None:
    code, out = _sysctl({"onet-nosuchrun-x": {"net/ipv4/ip_forward": "1"}})
    assert code == 1 and out["ok"] is False
    assert "onet-nosuchrun-x" in out["errors"][0]  # type: ignore[index]


def test_netlink_sockets_are_only_opened_in_onet_namespaces() -> None:
    with pytest.raises(MaterializeError, match="namespace default: netlink socket: .*refusing"):
        netlink_sockets(["default"])
