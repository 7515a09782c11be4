"""kube-proxy (iptables mode): Services and EndpointSlices → the rules kube-proxy writes.

``generate`` is the pure generator (one IP family per call, like one proxier),
``generate_full`` adds the jumps kube-proxy installs outside its restore payload, and
``program_node`` writes a node's rules into the dataplane IR. ``build_payload`` gives the
rules as typed values (``render_payload`` prints them), ``build_text`` as payload text made
straight from the same rule shapes (what ``generate`` prints).
"""

from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.full import generate_full, render_full
from overlaynet.kubeproxy.generate import build_payload, build_text, generate, render_payload
from overlaynet.kubeproxy.names import port_proto_hash, probability, sep_chain

__all__ = [
    "ProxierConfig",
    "build_payload",
    "build_text",
    "generate",
    "generate_full",
    "port_proto_hash",
    "probability",
    "render_full",
    "render_payload",
    "sep_chain",
]
