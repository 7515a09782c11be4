"""The tracer: walk a packet through the dataplane IR hop by hop and say where it goes and why.

``trace()`` is the pure core; ``request`` turns user-level names (pods, nodes, DNS names) into
a packet and a source; ``render`` and ``pcap`` present a trace.
"""

from overlaynet.trace.api import trace
from overlaynet.trace.model import Disposition, Encapsulation, Hop, Trace, TraceResult, Wire
from overlaynet.trace.steps import (
    BridgeStep,
    DecapStep,
    DeliverStep,
    DnatStep,
    DnsStep,
    DropStep,
    EncapStep,
    ForwardStep,
    FragmentStep,
    NeighborStep,
    NetfilterStep,
    PolicyStep,
    RelayStep,
    RouteStep,
    SnatStep,
    Step,
    UnderlayStep,
    WarningStep,
)
from overlaynet.trace.walker import Injection

__all__ = [
    "BridgeStep",
    "DecapStep",
    "DeliverStep",
    "DnatStep",
    "DnsStep",
    "Disposition",
    "DropStep",
    "EncapStep",
    "Encapsulation",
    "ForwardStep",
    "FragmentStep",
    "Hop",
    "Injection",
    "NeighborStep",
    "NetfilterStep",
    "PolicyStep",
    "RelayStep",
    "RouteStep",
    "SnatStep",
    "Step",
    "Trace",
    "TraceResult",
    "UnderlayStep",
    "WarningStep",
    "Wire",
    "trace",
]
