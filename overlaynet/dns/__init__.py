"""Cluster DNS: records from the model, a pure CoreDNS-like resolver, the pod's search walk,
a real UDP/TCP server (``server.py``), zone export (``zone.py``) and env-var discovery
(``env.py``). Only the pure parts are imported here; the server loads on use."""

from overlaynet.dns.client import ClientResolution, Query, client_resolve, resolv_conf
from overlaynet.dns.records import Record
from overlaynet.dns.resolver import Resolver, Response, Upstream, parse_upstream

__all__ = [
    "ClientResolution",
    "Query",
    "Record",
    "Resolver",
    "Response",
    "Upstream",
    "client_resolve",
    "parse_upstream",
    "resolv_conf",
]
