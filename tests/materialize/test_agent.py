"""The in-namespace agent refuses to enter namespaces that are not a run's."""

from __future__ import annotations

import json
import subprocess

import pytest

from overlaynet.materialize._state import agent_cmd


@pytest.mark.parametrize("name", ["default", "onet-x/../../x"])
def test_capture_refuses_namespaces_that_are_not_onet_ones(name: str) -> None:
    proc = subprocess.run(agent_cmd("capture", json.dumps({"netns": [name], "pcap": "/dev/null"})),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and not proc.stdout
    assert f"refusing to enter namespace {name!r}" in proc.stderr
