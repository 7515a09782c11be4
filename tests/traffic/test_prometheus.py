"""A real Prometheus (Debian's package) scrapes ``overlaynet traffic --serve`` on loopback, and
its HTTP API gives back the counters the simulation computed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from overlaynet.network import load
from overlaynet.traffic import read_mix_file, simulate

MIX = "topologies/traffic/demo-mix.yaml"
pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(port: int, promql: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as r:
        data = json.loads(r.read())
    assert data["status"] == "success"
    return data["data"]["result"]  # type: ignore[no-any-return]


def _wait(predicate: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not within {seconds} s")


def test_prometheus_scrapes_the_simulated_counters(tmp_path: Path) -> None:
    expected = simulate(load(["topologies/demo.yaml"]), read_mix_file(MIX))
    metrics_port, prom_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: overlaynet, static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]}}\n"
    )
    overlaynet = str(Path(sys.executable).parent / "overlaynet")
    server = subprocess.Popen([overlaynet, "traffic", "topologies/demo.yaml", "--mix", MIX, "--serve", f"127.0.0.1:{metrics_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    prom = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _query(prom_port, 'up{job="overlaynet"} == 1'), 60)
        pod = "frontend-dtz8lffdhv-blt7m"
        series = _query(prom_port, f'container_network_receive_bytes_total{{pod="{pod}"}}')
        [one] = series
        want = expected.counts.rx_bytes[("node-1", f"pod:default/{pod}", "eth0")]
        assert int(float(one["value"][1])) == want  # type: ignore[index]
        assert one["metric"]["namespace"] == "default" and one["metric"]["interface"] == "eth0"  # type: ignore[index]
        [enc] = _query(prom_port, 'overlaynet_underlay_encapsulation_bytes_total{segment="rack-a"}')
        assert int(float(enc["value"][1])) == expected.counts.encap_bytes["rack-a"]  # type: ignore[index]
        delivered = _query(prom_port, 'sum(overlaynet_connections_total{flow="browse",outcome="DELIVERED"})')
        assert int(float(delivered[0]["value"][1])) == 1800  # type: ignore[index]
    finally:
        for p in (prom, server):
            p.kill()
            p.wait(timeout=30)
