"""kube-proxy's names: chain-name hashes, service-port and endpoint strings, probabilities.

Mirrors ``portProtoHash``/``servicePortEndpointChainName`` and ``computeProbability`` in
kubernetes ``pkg/proxy/iptables/proxier.go`` (see docs/kube-proxy.md for the sources).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable
from functools import cache, lru_cache
from ipaddress import IPv4Address

from overlaynet.dataplane.netfilter import ChainRole
from overlaynet.model.base import IPAddress

SVC_PREFIX = "KUBE-SVC-"
SVL_PREFIX = "KUBE-SVL-"
FW_PREFIX = "KUBE-FW-"
EXT_PREFIX = "KUBE-EXT-"
SEP_PREFIX = "KUBE-SEP-"

_PREFIX_ROLES = ((SVC_PREFIX, ChainRole.SERVICE), (SVL_PREFIX, ChainRole.SERVICE), (EXT_PREFIX, ChainRole.SERVICE_EXTERNAL),
                 (FW_PREFIX, ChainRole.SERVICE_FIREWALL), (SEP_PREFIX, ChainRole.ENDPOINT))
_ROLES = {
    "KUBE-SERVICES": ChainRole.SERVICE_DISPATCH, "KUBE-NODEPORTS": ChainRole.NODEPORTS,
    "KUBE-EXTERNAL-SERVICES": ChainRole.FILTER, "KUBE-FORWARD": ChainRole.FILTER, "KUBE-FIREWALL": ChainRole.FILTER,
    "KUBE-PROXY-FIREWALL": ChainRole.FILTER, "KUBE-PROXY-CANARY": ChainRole.FILTER,
    "KUBE-MARK-MASQ": ChainRole.MASQUERADE, "KUBE-POSTROUTING": ChainRole.MASQUERADE,
}


_BY_PREFIX = dict(_PREFIX_ROLES)


def chain_role(name: str) -> ChainRole:
    """What a chain of kube-proxy's layout is for (kube-proxy names its chains; it knows)."""
    # KUBE-SVC-/SVL-/EXT-/SEP- are nine characters, KUBE-FW- eight: two lookups, no scan
    # (a node at 10,000 Services has 110,000 chains)
    role = _BY_PREFIX.get(name[:9]) or _BY_PREFIX.get(name[:8])
    return role if role is not None else _ROLES.get(name, ChainRole.UNKNOWN)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@cache
def _triples() -> list[str]:
    """15 bits → three base32 characters (made on first use: 32,768 short strings)."""
    return [a + b + c for a in _B32 for b in _B32 for c in _B32]


def _hash16(text: str) -> str:
    """base32(sha256(text))[:16]: the first 80 bits of the digest, 5 bits a character
    (five table lookups of 15 bits and one of 5: a node at 10,000 Services names 110,000
    chains)."""
    bits = int.from_bytes(hashlib.sha256(text.encode()).digest()[:10], "big")
    t = _triples()
    return (t[bits >> 65] + t[(bits >> 50) & 32767] + t[(bits >> 35) & 32767] + t[(bits >> 20) & 32767]
            + t[(bits >> 5) & 32767] + _B32[bits & 31])


def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """The 16-character suffix shared by a service port's SVC/SVL/EXT/FW chains.

    >>> port_proto_hash("ns1/svc1:p80", "tcp")
    'XPGD46QRK7WJZT7O'
    """
    return _hash16(service_port_name + protocol)


def service_port_name(namespace: str, name: str, port_name: str | None) -> str:
    """``ns/name:port`` (or ``ns/name`` for an unnamed port), as ServicePortName.String()."""
    return f"{namespace}/{name}:{port_name}" if port_name else f"{namespace}/{name}"


def address(ip: IPAddress) -> str:
    """An address as kube-proxy prints it (``10.96.0.1``, ``fd00::1``; no /32)."""
    # socket.inet_ntoa: ipaddress's str() is several times slower (100,000 endpoints a node)
    return socket.inet_ntoa(ip.packed) if isinstance(ip, IPv4Address) else str(ip)


def endpoint_string(ip: IPAddress, port: int) -> str:
    """``ip:port``, ``[ip]:port`` for IPv6 (Go's net.JoinHostPort)."""
    return join_host_port(address(ip), ip.version, port)


def join_host_port(host: str, version: int, port: int) -> str:
    """``endpoint_string`` of an address already printed (``address``)."""
    return f"[{host}]:{port}" if version == 6 else f"{host}:{port}"


def svc_chain(spn: str, protocol: str) -> str:
    return SVC_PREFIX + port_proto_hash(spn, protocol)


def svl_chain(spn: str, protocol: str) -> str:
    return SVL_PREFIX + port_proto_hash(spn, protocol)


def ext_chain(spn: str, protocol: str) -> str:
    return EXT_PREFIX + port_proto_hash(spn, protocol)


def fw_chain(spn: str, protocol: str) -> str:
    return FW_PREFIX + port_proto_hash(spn, protocol)


def sep_chain(spn: str, protocol: str, endpoint: str) -> str:
    """KUBE-SEP-<hash of spn + protocol + "ip:port">.

    >>> sep_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80")
    'KUBE-SEP-SXIVWICOYRO3J4NJ'
    """
    return SEP_PREFIX + _hash16(spn + protocol + endpoint)


def sep_chains(spn: str, protocol: str, endpoints: Iterable[str]) -> dict[str, str]:
    """``sep_chain`` of each endpoint string (each once), by endpoint string."""
    prefix = spn + protocol
    out: dict[str, str] = {}
    for endpoint in endpoints:
        if endpoint not in out:
            out[endpoint] = SEP_PREFIX + _hash16(prefix + endpoint)
    return out


@lru_cache(maxsize=4096)
def probability(n: int) -> str:
    """1/n printed as Go's ``fmt.Sprintf("%0.10f", 1.0/float64(n))``.

    >>> probability(3), probability(100001)
    ('0.3333333333', '0.0000099999')
    """
    if n < 1:
        raise ValueError(f"probability needs n >= 1, got {n}")
    return f"{1.0 / n:.10f}"


def masquerade_mark(bit: int) -> str:
    """The mark kube-proxy uses, ``fmt.Sprintf("%#08x", 1<<bit)`` (bit 14 → ``0x004000``)."""
    if not 0 <= bit <= 31:
        raise ValueError(f"masquerade bit must be in 0..31, got {bit}")
    return f"{1 << bit:#08x}"
