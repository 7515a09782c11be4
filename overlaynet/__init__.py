"""overlaynet: a network overlay and service-routing emulator for Kubernetes-style clusters.

describe (topology → model) → program (drivers, kube-proxy → dataplane IR) → walk (tracer) /
apply (materializer). The names here are the public API::

    import overlaynet

    net = overlaynet.load("topologies/demo.yaml")
    report = net.trace("default/frontend-dtz8lffdhv-blt7m", "web:80")
    assert report.success, report.trace.reason

``import overlaynet`` stays light: every name is imported on first use (no scapy, pyroute2,
numpy or dnspython here).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from overlaynet.analysis.reach import ReachMatrix
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.dataplane.packet import Packet
    from overlaynet.errors import OverlaynetError, TopologyError, TraceError
    from overlaynet.model import Cluster
    from overlaynet.network import Network, assemble, load
    from overlaynet.network.request import TraceReport
    from overlaynet.trace import Disposition, Hop, Step, Trace, TraceResult

__version__ = "0.1.0"
__all__ = [
    "Cluster",
    "Disposition",
    "Hop",
    "Network",
    "NsRef",
    "OverlaynetError",
    "Packet",
    "ReachMatrix",
    "Step",
    "TopologyError",
    "Trace",
    "TraceError",
    "TraceReport",
    "TraceResult",
    "__version__",
    "assemble",
    "load",
]

#: where each public name lives (imported on first access, PEP 562)
_HOME = {
    "Cluster": "overlaynet.model",
    "Disposition": "overlaynet.trace",
    "Hop": "overlaynet.trace",
    "Network": "overlaynet.network",
    "NsRef": "overlaynet.dataplane.ir",
    "OverlaynetError": "overlaynet.errors",
    "Packet": "overlaynet.dataplane.packet",
    "ReachMatrix": "overlaynet.analysis.reach",
    "Step": "overlaynet.trace",
    "TopologyError": "overlaynet.errors",
    "Trace": "overlaynet.trace",
    "TraceError": "overlaynet.errors",
    "TraceReport": "overlaynet.network.request",
    "TraceResult": "overlaynet.trace",
    "assemble": "overlaynet.network",
    "load": "overlaynet.network",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'overlaynet' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
