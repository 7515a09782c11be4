"""``overlaynet report``: the web view as one self-contained HTML file — the page, its script
and style inlined, and the data it would ask the server for embedded (the topology, the
traces asked for, the reach matrix, the overhead chart as a PNG), so it opens offline and can
be attached to a ticket."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from overlaynet.web.server import static_text
from overlaynet.web.view import reach_view, topology_view, trace_view

if TYPE_CHECKING:
    from overlaynet.network import Network

__all__ = ["build_report", "overhead_chart"]


def overhead_chart(network: Network) -> bytes:
    """The overhead of every registered driver mode on this network's topology, as a PNG."""
    import tempfile
    from pathlib import Path

    from overlaynet.analysis.overhead_plot import plot_efficiency
    from overlaynet.network.overhead import compare_overhead

    result = compare_overhead(network.cluster, seed=network.driver.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overhead.png"
        plot_efficiency(result, path)
        return path.read_bytes()


def _script_safe(data: Any) -> str:
    # JSON inside <script>: "</" and "<!--" must not appear, whatever the user's names are
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_report(
    network: Network,
    traces: Sequence[tuple[str, str]] = (),
    *,
    port: int | None = None,
    reach: bool = True,
    overhead: bool = True,
) -> str:
    """The report's HTML. ``traces``: (from, to) pairs in the CLI's words (a trace that fails
    to resolve raises TraceError, as the CLI would); ``overhead``: include the chart of every
    driver mode's overhead on this topology."""
    data: dict[str, Any] = {"topology": topology_view(network.cluster), "traces": []}
    for src, dst in traces:
        report = network.trace(src, dst, port=port, all_branches=True)
        data["traces"].append({"key": f"{src} {dst}", "from": src, "to": dst, "view": trace_view(network.cluster, report)})
    if reach:
        data["reach"] = reach_view(network.reach(port=port))
    if overhead:
        data["overhead_png"] = base64.b64encode(overhead_chart(network)).decode()
    page = static_text("index.html")
    style = static_text("app.css")
    script = static_text("app.js")
    page = page.replace('<link rel="stylesheet" href="static/app.css">', f"<style>\n{style}</style>")
    page = page.replace(
        '<script src="static/app.js"></script>',
        f"<script>window.OVERLAYNET_DATA = {_script_safe(data)};</script>\n<script>\n{script}</script>",
    )
    return page
