"""A traffic result as Prometheus' text exposition format (version 0.0.4), with cAdvisor's
and node_exporter's metric names where they exist, so dashboards built for real clusters read
the emulated one:

- ``container_network_{receive,transmit}_{bytes,packets}_total{namespace,pod,interface}``
  (cAdvisor, per pod interface);
- ``node_network_{receive,transmit}_{bytes,packets}_total{node,device}`` (node_exporter, per
  host interface; routers too);
- ``overlaynet_underlay_{bytes,frames,encapsulation_bytes}_total{segment}``,
  ``overlaynet_link_utilisation_ratio{segment}`` (mean over the mix), ``overlaynet_drops_total
  {disposition,where,reason}``, ``overlaynet_connections_total{flow,endpoint,outcome}``.

``serve`` answers ``GET /metrics`` with it from the standard library's HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from overlaynet.traffic.simulate import TrafficResult

__all__ = ["exposition", "make_metrics_server"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _family(out: list[str], name: str, kind: str, help_text: str, samples: Iterable[tuple[Iterable[tuple[str, str]], float]]) -> None:
    rows = [f"{name}{_labels(labels)} {value:g}" if isinstance(value, float) else f"{name}{_labels(labels)} {value}"
            for labels, value in samples]
    if not rows:
        return
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    out.extend(rows)


def exposition(result: TrafficResult) -> str:
    c = result.counts
    out: list[str] = []
    ifaces = sorted(set(c.tx_bytes) | set(c.rx_bytes))
    pod_ifaces = [(i, result.pods[(i[0], i[1])]) for i in ifaces if (i[0], i[1]) in result.pods]
    host_ifaces = [i for i in ifaces if i[1] == "root"]
    for direction, word in (("rx", "receive"), ("tx", "transmit")):
        for unit in ("bytes", "packets"):
            counter = getattr(c, f"{direction}_{unit}")
            _family(out, f"container_network_{word}_{unit}_total", "counter",
                    f"Cumulative count of {unit} {word}d (cAdvisor's name)",
                    ((((("namespace", pod.split("/", 1)[0]), ("pod", pod.split("/", 1)[1]), ("interface", i[2]))),
                      counter[i]) for i, pod in pod_ifaces))
            _family(out, f"node_network_{word}_{unit}_total", "counter",
                    f"Network device statistic {word}_{unit} (node_exporter's name)",
                    (((("node", i[0]), ("device", i[2])), counter[i]) for i in host_ifaces))
    segments = sorted(result.capacities)
    _family(out, "overlaynet_underlay_bytes_total", "counter", "Bytes of every frame on the underlay segment",
            (((("segment", s),), c.segment_bytes[s]) for s in segments))
    _family(out, "overlaynet_underlay_frames_total", "counter", "Frames on the underlay segment",
            (((("segment", s),), c.segment_frames[s]) for s in segments))
    _family(out, "overlaynet_underlay_encapsulation_bytes_total", "counter",
            "Bytes of outer headers (encapsulation) on the underlay segment",
            (((("segment", s),), c.encap_bytes[s]) for s in segments))
    util = result.utilisation()
    _family(out, "overlaynet_link_utilisation_ratio", "gauge", "Mean bits per second over the mix divided by the capacity",
            (((("segment", s),), float(util[s])) for s in segments))
    _family(out, "overlaynet_drops_total", "counter", "Packets dropped, by disposition, where and why",
            (((("disposition", d), ("where", w), ("reason", r)), n) for (d, w, r), n in sorted(c.drops.items())))
    conns: list[tuple[Iterable[tuple[str, str]], Any]] = []
    for f in result.flows:
        conns += [((("flow", f.name), ("endpoint", ep), ("outcome", "DELIVERED")), n) for ep, n in sorted(f.by_endpoint.items())]
        conns += [((("flow", f.name), ("endpoint", ""), ("outcome", d)), n) for d, n in sorted(f.failed.items())]
    _family(out, "overlaynet_connections_total", "counter", "Connections opened, by flow, endpoint and outcome", conns)
    return "\n".join(out) + "\n"


def make_metrics_server(text: str, host: str = "127.0.0.1", port: int = 9100) -> ThreadingHTTPServer:
    """A server answering ``GET /metrics`` with ``text`` (port 0: any free port)."""
    body = text.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    return ThreadingHTTPServer((host, port), Handler)
