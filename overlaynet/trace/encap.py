"""Header arithmetic of encapsulations: per-layer sizes, overhead, wire bytes, fragment counts
and the outer UDP source port (a flow hash, as the kernel's ``udp_flow_src_port``).

The pcap writer builds the same frames with scapy; a test proves the sizes agree.
"""

from __future__ import annotations

import hashlib

from overlaynet.dataplane.packet import Packet

__all__ = [
    "ETHERNET",
    "ESP_HEADER",
    "LOCAL_PORT_RANGE",
    "esp_transport_bytes",
    "flow_source_port",
    "fragment_count",
    "fragment_sizes",
    "ip_header",
    "outer_layers",
    "overhead",
]

ETHERNET = 14
ESP_HEADER = 16  # SPI 4 + sequence number 4 + IV 8 (AES-GCM, RFC 4106)
UDP = 8
VXLAN = 8
#: The kernel's default ``net.ipv4.ip_local_port_range`` (32768 60999), which
#: ``udp_flow_src_port`` uses when the VXLAN device has no ``srcport`` range.
LOCAL_PORT_RANGE = (32768, 60999)


def ip_header(version: int) -> int:
    return 20 if version == 4 else 40


def outer_layers(kind: str, version: int, framing_bytes: int = 0, esp_bytes: int = 0) -> tuple[tuple[str, int], ...]:
    """Every header outside the inner IP packet, outermost first, with its size in bytes.

    The outer Ethernet header is included (a capture shows it); it does not count against an
    interface MTU, which limits the IP packet. ``esp_bytes``: an ESP transport-mode wrapper
    around the tunnel's UDP datagram (SPI, sequence number and IV ahead of it, 16 bytes;
    padding, pad length, next header and ICV behind it, the rest).
    """
    layers = _outer_layers(kind, version, framing_bytes)
    if esp_bytes:
        return (*layers[:2], ("ESP", ESP_HEADER), *layers[2:], ("ESP trailer", esp_bytes - ESP_HEADER))
    return layers


def _outer_layers(kind: str, version: int, framing_bytes: int) -> tuple[tuple[str, int], ...]:
    ip_name = "IPv4" if version == 4 else "IPv6"
    if kind == "vxlan":
        return (
            ("Ethernet", ETHERNET),
            (ip_name, ip_header(version)),
            ("UDP", UDP),
            ("VXLAN", VXLAN),
            ("inner Ethernet", ETHERNET),
        )
    if kind == "ipip":
        return (("Ethernet", ETHERNET), (f"{ip_name} (IPIP)", ip_header(version)))
    if kind == "udp":
        layers: tuple[tuple[str, int], ...] = (
            ("Ethernet", ETHERNET),
            (ip_name, ip_header(version)),
            ("UDP", UDP),
        )
        return layers + ((("framing", framing_bytes),) if framing_bytes else ())
    raise ValueError(f"unknown encapsulation {kind!r}")


def overhead(kind: str, version: int, framing_bytes: int = 0, esp_bytes: int = 0) -> int:
    """Bytes the encapsulation adds to the IP packet (what it costs against the MTU): VXLAN
    50 on IPv4, IPIP 20, flannel udp 28."""
    return sum(b for _, b in outer_layers(kind, version, framing_bytes, esp_bytes)) - ETHERNET


def esp_transport_bytes(payload: int, icv: int = 16, iv: int = 8, align: int = 4) -> int:
    """Bytes ESP in transport mode adds around a ``payload``-byte L4 datagram: SPI 4 +
    sequence 4 + IV, then padding so payload + 2 is a multiple of ``align``, pad length 1,
    next header 1 and the ICV. AES-GCM with a 16-byte ICV adds 34 to 37 (RFC 4106).

    >>> [esp_transport_bytes(n) for n in (1450, 1451, 1452, 1453)]
    [34, 37, 36, 35]
    """
    pad = -(payload + 2) % align
    return 4 + 4 + iv + pad + 2 + icv


def fragment_count(size: int, mtu: int, version: int = 4) -> int:
    """How many fragments an IP packet of ``size`` bytes becomes on a link of ``mtu``: each
    fragment repeats the header and carries a multiple of 8 payload bytes."""
    return len(fragment_sizes(size, mtu, version))


def fragment_sizes(size: int, mtu: int | None, version: int = 4) -> tuple[int, ...]:
    """The IP total lengths of the fragments an IP packet of ``size`` bytes becomes on a link
    of ``mtu`` (``(size,)`` when it fits or ``mtu`` is None), as ``ip_do_fragment`` cuts
    them: every fragment but the last carries the largest multiple of 8 payload bytes that
    fits, behind a copy of the header (IPv6 adds its 8-byte fragment header).

    >>> fragment_sizes(4000, 1450)
    (1444, 1444, 1152)
    """
    if mtu is None or size <= mtu:
        return (size,)
    header = ip_header(version) + (8 if version == 6 else 0)
    per_fragment = (mtu - header) // 8 * 8
    if per_fragment <= 0:
        raise ValueError(f"MTU {mtu} leaves no room for a fragment's payload")
    payload = size - ip_header(version)
    full, rest = divmod(payload, per_fragment)
    return (header + per_fragment,) * full + ((header + rest,) if rest else ())


def flow_source_port(inner: Packet, seed: int = 0, port_range: tuple[int, int] = LOCAL_PORT_RANGE) -> int:
    """The outer UDP source port for ``inner``'s flow, in ``port_range`` (inclusive).

    Like the kernel: ``((hash * (max + 1 - min)) >> 32) + min`` over a 32-bit hash of the
    inner flow. The kernel's hash is jhash with a per-boot random key; we use a seeded BLAKE2b
    over the 5-tuple, so a given seed always yields the same port for the same flow.
    """
    low, high = port_range
    key = f"{seed}|{inner.proto}|{inner.src}|{inner.sport}|{inner.dst}|{inner.dport}".encode()
    h = int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big")
    return ((h * (high + 1 - low)) >> 32) + low
