"""overlaynet: a network overlay and service-routing emulator for Kubernetes-style clusters.

describe (topology → model) → program (drivers, kube-proxy → dataplane IR) → walk (tracer) /
apply (materializer). ``import overlaynet`` stays light: no scapy or pyroute2 here.
"""

from overlaynet.errors import OverlaynetError, TopologyError
from overlaynet.model import Cluster

__version__ = "0.1.0"
__all__ = ["Cluster", "OverlaynetError", "TopologyError", "__version__"]
