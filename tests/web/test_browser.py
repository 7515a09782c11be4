"""The web view and the report in a real headless Chromium: the page loads without console
errors, a trace drawn from the URL's form values highlights exactly the hops the CLI prints,
and screenshots are kept in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.network import load
from overlaynet.web.report import build_report
from overlaynet.web.view import element_id

from .browser import load as browse

FRONTEND = "default/frontend-dtz8lffdhv-blt7m"
pytestmark = [pytest.mark.chromium, pytest.mark.slow]




def _cli_hops(network_files: list[str], src: str, dst: str) -> str:
    net = load(network_files)
    t = net.trace(src, dst).forward.trace
    routers = frozenset(r.name for r in net.cluster.underlay.routers)
    return " ".join(element_id(h.ns, routers) for h in t.hops)


def test_page_loads_without_console_errors(base: str) -> None:
    page = browse(base + "/")
    assert page.body()["state"] == "ready"
    assert page.console == []
    assert 'id="host:node-3"' in page.dom and f'id="pod:{FRONTEND}"' in page.dom


def test_trace_from_the_form_highlights_the_hops_the_cli_prints(base: str) -> None:
    page = browse(f"{base}/?from={FRONTEND}&to=web:80", screenshot="ui-demo-trace.png")
    body = page.body()
    assert page.console == []
    assert body["state"] == "traced" and body["disposition"] == "DELIVERED"
    assert body["trace-hops"] == _cli_hops(["topologies/demo.yaml"], FRONTEND, "web:80")
    assert body["trace-layers"] == "veth tunnel tunnel veth"
    # both hosts' flannel.1 on the picture: encapsulation at node-1, decapsulation at node-3
    assert "⊕ vxlan encap on flannel.1 VNI 1" in page.dom and "⊖ vxlan decap on flannel.1" in page.dom
    assert (Path("test-artifacts") / "ui-demo-trace.png").stat().st_size > 10_000


def test_bad_words_show_the_error_not_a_blank_page(base: str) -> None:
    page = browse(f"{base}/?from=nope&to=web:80")
    assert page.body()["state"] == "error"
    assert "--from &#39;nope&#39;: not a pod" in page.dom or "--from 'nope': not a pod" in page.dom


def test_the_report_opens_offline_and_shows_the_same(tmp_path: Path) -> None:
    net = load(["topologies/demo.yaml"])
    html = build_report(net, [(FRONTEND, "web:80")])
    assert 'src="http' not in html and 'href="http' not in html  # nothing to fetch
    out = tmp_path / "report.html"
    out.write_text(html)
    page = browse(out.as_uri(), screenshot="report-demo.png")
    body = page.body()
    assert page.console == []
    assert body["state"] == "traced" and body["branches"] == "3"
    assert body["reach"] == str(len(net.cluster.pods))
