"""The dataplane IR (namespaces, interfaces, routes, neighbours, FDB, netfilter) and the
packet type; only the tracer walks it, only drivers and kube-proxy write it."""

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    FdbEntry,
    Forwarder,
    ForwarderEntry,
    FrameRoute,
    Interface,
    IpipInfo,
    L2Segment,
    Neighbor,
    NetNamespace,
    NsKind,
    NsRef,
    Route,
    TunInfo,
    VxlanInfo,
    XfrmPolicy,
)
from overlaynet.dataplane.packet import Packet

__all__ = [
    "Address",
    "Dataplane",
    "FdbEntry",
    "Forwarder",
    "FrameRoute",
    "ForwarderEntry",
    "Interface",
    "IpipInfo",
    "L2Segment",
    "Neighbor",
    "NetNamespace",
    "NsKind",
    "NsRef",
    "Packet",
    "Route",
    "TunInfo",
    "VxlanInfo",
    "XfrmPolicy",
]
