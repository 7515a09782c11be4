"""``overlaynet ui`` and ``overlaynet report`` as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

FRONTEND = "default/frontend-dtz8lffdhv-blt7m"


def test_report_writes_one_offline_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", "topologies/demo.yaml", "--trace", FRONTEND, "web:80", "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    data = json.loads(html.split("window.OVERLAYNET_DATA = ", 1)[1].split(";</script>", 1)[0])
    assert [t["key"] for t in data["traces"]] == [f"{FRONTEND} web:80"]
    assert len(data["traces"][0]["view"]["branches"]) == 3
    assert data["overhead_png"].startswith("iVBORw0KGgo")  # a PNG, base64
    assert len(data["reach"]["pods"]) == len(data["topology"]["pods"])
    assert 'src="http' not in html and 'href="http' not in html


def test_report_bad_trace_words_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["report", "topologies/demo.yaml", "--trace", "nope", "web:80", "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: --from 'nope': not a pod (ns/name), a node, a router or an IP address"
    assert not (tmp_path / "r.html").exists()


def test_ui_serves_on_the_address_given_and_refuses_a_bad_one() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).parent / "overlaynet")
    proc = subprocess.Popen([exe, "ui", "topologies/demo.yaml", "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/topology", timeout=5) as resp:
                    assert json.loads(resp.read())["name"] == "demo"
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    r = CliRunner().invoke(main, ["ui", "topologies/demo.yaml", "--listen", "nowhere"])
    assert r.exit_code == 2 and "--listen 'nowhere': expected HOST:PORT" in r.stderr
