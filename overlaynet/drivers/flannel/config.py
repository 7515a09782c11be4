"""Flannel's options and network config: validation, flannel's defaults, the config JSON.

``validate_options`` checks what the topology's ``network.options`` say; ``resolve_config``
fills the defaults that depend on the cluster (Network, SubnetLen/Min/Max, and with
``enableIPv6`` IPv6Network, IPv6SubnetLen/Min/Max) with the rules of flannel's
``CheckNetworkConfig`` (pkg/subnet/config.go) and their error messages.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from overlaynet.errors import DriverOptionError
from overlaynet.model import Cluster

__all__ = [
    "BACKENDS",
    "DEFAULT_PORTS",
    "OPTION_DEFAULTS",
    "IPV6_BACKENDS",
    "BackendConfig",
    "IPv6Config",
    "NetworkConfig",
    "resolve_config",
    "validate_options",
]

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address
IPv6Network = ipaddress.IPv6Network
IPv6Address = ipaddress.IPv6Address

DRIVER = "flannel"
BACKENDS = ("vxlan", "host-gw", "udp")
DEFAULT_PORTS = {"vxlan": 8472, "udp": 8285}
#: Overhead each backend subtracts from the external interface MTU (reference §5).
OVERHEAD = {"vxlan": 50, "host-gw": 0, "udp": 28}
DEFAULT_NETWORK = IPv4Network("10.244.0.0/16")  # kube-flannel.yml's net-conf.json
#: Backends with an IPv6 data path in flannel (vxlan: flannel-v6.<VNI>; host-gw: v6 routes
#: via PublicIPv6). udp has none (pkg/backend/udp never reads EnableIPv6).
IPV6_BACKENDS = ("vxlan", "host-gw")

#: Every option with its default; None means "derived from the cluster or the node".
OPTION_DEFAULTS: dict[str, Any] = {
    "backend": "vxlan",
    "vni": 1,
    "port": None,
    "directRouting": False,
    "mtu": None,
    "network": None,
    "subnetLen": None,
    "subnetMin": None,
    "subnetMax": None,
    "subnetManager": "kube",
    "ipMasq": True,
    "etcdPrefix": "/coreos.com/network",
    "enableIPv6": False,
    "ipv6Network": None,
    "ipv6SubnetLen": None,
    "ipv6SubnetMin": None,
    "ipv6SubnetMax": None,
}
_IPV6_ONLY = ("ipv6Network", "ipv6SubnetLen", "ipv6SubnetMin", "ipv6SubnetMax")
_BACKEND_ONLY = {"vni": ("vxlan",), "directRouting": ("vxlan",), "port": ("vxlan", "udp")}


def _fail(option: str, message: str, *, unknown: bool = False) -> DriverOptionError:
    return DriverOptionError(DRIVER, option, message, unknown=unknown)


def _int(options: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(key, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _fail(key, f"must be between {lo} and {hi}, got {value}")
    return value


def _bool(options: Mapping[str, Any], key: str) -> bool | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(key, f"expected true or false, got {value!r}")
    return value


def _choice(options: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(key, f"expected one of {', '.join(choices)}, got {value!r}{hint}")
    return str(value)


def _net(options: Mapping[str, Any], key: str) -> IPv4Network | None:
    net = _cidr(options, key, 4)
    assert net is None or isinstance(net, IPv4Network)
    return net


def _net6(options: Mapping[str, Any], key: str) -> IPv6Network | None:
    net = _cidr(options, key, 6)
    assert net is None or isinstance(net, IPv6Network)
    return net


def _cidr(options: Mapping[str, Any], key: str, version: int) -> IPv4Network | IPv6Network | None:
    """The option ``key`` as a CIDR of IP ``version`` (flannel's Network or IPv6Network)."""
    value = options.get(key)
    if value is None:
        return None
    example, own, other = (("10.244.0.0/16", "Network", "ipv6Network") if version == 4
                           else ("fd00:10:244::/56", "IPv6Network", "network"))
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise _fail(key, f"expected an IPv{version} CIDR such as {example}, got {value!r} ({exc})") from exc
    if net.version != version:
        raise _fail(key, f"flannel's {own} is IPv{version} (IPv{10 - version} uses {other}), got {value!r}")
    return net


def _addr(options: Mapping[str, Any], key: str) -> IPv4Address | None:
    value = options.get(key)
    if value is None:
        return None
    try:
        return IPv4Address(str(value))
    except ValueError as exc:
        raise _fail(key, f"expected an IPv4 address such as 10.244.1.0, got {value!r}") from exc


def _addr6(options: Mapping[str, Any], key: str) -> IPv6Address | None:
    value = options.get(key)
    if value is None:
        return None
    try:
        return IPv6Address(str(value))
    except ValueError as exc:
        raise _fail(key, f"expected an IPv6 address such as fd00:10:244:1::, got {value!r}") from exc


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``network.options`` and fill the defaults that do not depend on the cluster.

    >>> validate_options({"backend": "udp"})["port"]
    8285
    >>> validate_options({"backend": "vxlan", "vnii": 2})
    Traceback (most recent call last):
    ...
    overlaynet.errors.DriverOptionError: flannel: option 'vnii': unknown option; did you mean 'vni'? (known: backend, directRouting, enableIPv6, etcdPrefix, ipMasq, ipv6Network, ipv6SubnetLen, ipv6SubnetMax, ipv6SubnetMin, mtu, network, port, subnetLen, subnetManager, subnetMax, subnetMin, vni)
    """
    for key in options:
        if key not in OPTION_DEFAULTS:
            close = difflib.get_close_matches(str(key), list(OPTION_DEFAULTS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _fail(str(key), f"unknown option; {hint}(known: {', '.join(sorted(OPTION_DEFAULTS))})", unknown=True)
    backend = _choice(options, "backend", BACKENDS) or OPTION_DEFAULTS["backend"]
    for key, backends in _BACKEND_ONLY.items():
        # null (or directRouting: false) sets nothing, so other backends accept it: this is
        # also what validation fills in for them, and validated options must validate again.
        if options.get(key) is not None and options.get(key) is not False and backend not in backends:
            raise _fail(key, f"only the {' and '.join(backends)} backend(s) take it, not {backend}")
    out = dict(OPTION_DEFAULTS)
    out["backend"] = backend
    out["vni"] = _int(options, "vni", 0, 2**24 - 1)
    if out["vni"] is None:
        out["vni"] = OPTION_DEFAULTS["vni"] if backend == "vxlan" else None
    out["port"] = _int(options, "port", 1, 65535) or DEFAULT_PORTS.get(backend)
    direct = _bool(options, "directRouting")
    out["directRouting"] = bool(direct)
    out["mtu"] = _int(options, "mtu", 68 + OVERHEAD[backend], 65535)
    out["network"] = _net(options, "network")
    out["subnetLen"] = _int(options, "subnetLen", 1, 32)
    out["subnetMin"] = _addr(options, "subnetMin")
    out["subnetMax"] = _addr(options, "subnetMax")
    out["subnetManager"] = _choice(options, "subnetManager", ("kube", "etcd")) or "kube"
    masq = _bool(options, "ipMasq")
    out["ipMasq"] = True if masq is None else masq
    prefix = options.get("etcdPrefix", OPTION_DEFAULTS["etcdPrefix"])
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise _fail("etcdPrefix", f"expected a key prefix such as /coreos.com/network, got {prefix!r}")
    out["etcdPrefix"] = prefix
    out["enableIPv6"] = bool(_bool(options, "enableIPv6"))
    if not out["enableIPv6"]:
        given = [k for k in _IPV6_ONLY if options.get(k) is not None]
        if given:
            raise _fail(given[0], "only read with enableIPv6: true (flannel ignores the IPv6 fields otherwise)")
    elif backend not in IPV6_BACKENDS:
        raise _fail("enableIPv6", (
            f"the {backend} backend has no IPv6 data path in flannel; "
            f"IPv6 needs the {' or '.join(IPV6_BACKENDS)} backend"))
    out["ipv6Network"] = _net6(options, "ipv6Network")
    out["ipv6SubnetLen"] = _int(options, "ipv6SubnetLen", 1, 128)
    out["ipv6SubnetMin"] = _addr6(options, "ipv6SubnetMin")
    out["ipv6SubnetMax"] = _addr6(options, "ipv6SubnetMax")
    return out


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """The ``Backend`` object of flannel's config."""

    type: str
    vni: int | None = None
    port: int | None = None
    direct_routing: bool = False
    mtu: int | None = None  # None: each node's external interface MTU

    @property
    def overhead(self) -> int:
        return OVERHEAD[self.type]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type}
        if self.type == "vxlan":
            out.update(VNI=self.vni, Port=self.port, DirectRouting=self.direct_routing)
        elif self.type == "udp":
            out["Port"] = self.port
        if self.mtu is not None:
            out["MTU"] = self.mtu
        return out


@dataclass(frozen=True, slots=True)
class IPv6Config:
    """The IPv6 half of flannel's config (``EnableIPv6``): IPv6Network, IPv6SubnetLen/Min/Max."""

    network: IPv6Network
    subnet_len: int
    subnet_min: IPv6Address
    subnet_max: IPv6Address

    def compatible(self, subnet: IPv6Network) -> bool:
        return (
            self.subnet_min <= subnet.network_address <= self.subnet_max
            and subnet.prefixlen == self.subnet_len
        )


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """flannel's network config after ``CheckNetworkConfig`` filled the defaults;
    ``ipv6`` is None unless ``EnableIPv6``."""

    network: IPv4Network
    subnet_len: int
    subnet_min: IPv4Address
    subnet_max: IPv4Address
    backend: BackendConfig
    ipv6: IPv6Config | None = None

    def to_json(self) -> str:
        """The value flannel reads from ``<prefix>/config`` (compact, as Go marshals it)."""
        out: dict[str, Any] = {
            "Network": str(self.network),
            "SubnetLen": self.subnet_len,
            "SubnetMin": str(self.subnet_min),
            "SubnetMax": str(self.subnet_max),
        }
        if self.ipv6 is not None:
            out.update({
                "EnableIPv6": True,
                "IPv6Network": str(self.ipv6.network),
                "IPv6SubnetLen": self.ipv6.subnet_len,
                "IPv6SubnetMin": str(self.ipv6.subnet_min),
                "IPv6SubnetMax": str(self.ipv6.subnet_max),
            })
        out["Backend"] = self.backend.to_json()
        return json.dumps(out, separators=(",", ":"))

    def compatible(self, subnet: IPv4Network) -> bool:
        """flannel's ``isSubnetConfigCompat``: inside SubnetMin..SubnetMax, of SubnetLen."""
        return (
            self.subnet_min <= subnet.network_address <= self.subnet_max
            and subnet.prefixlen == self.subnet_len
        )


def resolve_config(options: Mapping[str, Any], cluster: Cluster) -> NetworkConfig:
    """Apply flannel's defaults and coherence checks (``CheckNetworkConfig``) to validated
    options; ``Network`` defaults to the cluster's first IPv4 pod CIDR."""
    network: IPv4Network | None = options["network"]
    if network is None:
        v4 = [c for c in cluster.pod_cidrs if isinstance(c, IPv4Network)]
        network = v4[0] if v4 else DEFAULT_NETWORK
    subnet_len, subnet_min, subnet_max = _subnet_range(options, network, "")
    backend = BackendConfig(
        type=options["backend"], vni=options["vni"], port=options["port"],
        direct_routing=options["directRouting"], mtu=options["mtu"],
    )
    ipv6 = _resolve_ipv6(options, cluster) if options.get("enableIPv6") else None
    return NetworkConfig(network, subnet_len, subnet_min, subnet_max, backend, ipv6)


def _subnet_range(options: Mapping[str, Any], network: IPv4Network | IPv6Network,
                  prefix: str) -> tuple[int, Any, Any]:
    """``CheckNetworkConfig``'s subnet checks for one family: SubnetLen (default /24, or
    /64 for IPv6, unless the network is too small for four of them) and SubnetMin/Max
    (default: the second and the last subnet), with flannel's messages. ``prefix`` is ""
    for the IPv4 options (``subnetLen``) and ``"ipv6"`` for ``ipv6SubnetLen``."""
    bits = network.max_prefixlen
    key = (lambda k: prefix + k[0].upper() + k[1:]) if prefix else (lambda k: k)
    label = (lambda k: "IPv6" + k[0].upper() + k[1:]) if prefix else (lambda k: k[0].upper() + k[1:])
    net_key, net_label = ("ipv6Network", "IPv6Network") if prefix else ("network", "network")
    subnet_len: int | None = options[key("subnetLen")]
    if subnet_len is not None:
        if subnet_len > bits - 2:
            raise _fail(key("subnetLen"), f"SubnetLen must be less than /{bits - 1}, got {subnet_len}")
        if subnet_len < network.prefixlen + 2:
            raise _fail(key("subnetLen"), (
                f"network must be able to accommodate at least four subnets: {network} "
                f"needs {label('subnetLen')} >= {network.prefixlen + 2}, got {subnet_len}"))
    elif network.prefixlen > bits - 4:
        raise _fail(net_key, f"{net_label} is too small. Minimum useful network prefix is /{bits - 4}, got {network}")
    else:
        usual = 64 if prefix else 24
        subnet_len = usual if network.prefixlen <= usual - 2 else network.prefixlen + 2
    size = 1 << (bits - subnet_len)
    subnet_min = options[key("subnetMin")] or network.network_address + size
    subnet_max = options[key("subnetMax")] or type(network.network_address)(int(network.broadcast_address) + 1 - size)
    for opt in ("subnetMin", "subnetMax"):
        value = subnet_min if opt == "subnetMin" else subnet_max
        if value not in network:
            raise _fail(key(opt), f"{label(opt)} is not in the range of the {'IPv6Network' if prefix else 'Network'}: "
                                  f"{value} not in {network}")
        if int(value) % size:
            raise _fail(key(opt), f"{label(opt)} is not on a SubnetLen boundary: {value} "
                                  f"({label('subnetLen')} {subnet_len})")
    if int(subnet_min) > int(subnet_max):
        raise _fail(key("subnetMin"), f"{label('subnetMin')} {subnet_min} is above {label('subnetMax')} {subnet_max}")
    return subnet_len, subnet_min, subnet_max


def _resolve_ipv6(options: Mapping[str, Any], cluster: Cluster) -> IPv6Config:
    """``CheckNetworkConfig``'s IPv6 half; IPv6Network defaults to the cluster's first IPv6
    pod CIDR (flannel has no default: "please define a correct IPv6Network parameter")."""
    network: IPv6Network | None = options["ipv6Network"]
    if network is None:
        v6 = [c for c in cluster.pod_cidrs if isinstance(c, IPv6Network)]
        if not v6:
            raise _fail("ipv6Network", (
                "please define a correct IPv6Network parameter in the flannel config "
                "(enableIPv6 is on and the cluster's podCIDR has no IPv6 CIDR to default to)"))
        network = v6[0]
    subnet_len, subnet_min, subnet_max = _subnet_range(options, network, "ipv6")
    return IPv6Config(network, subnet_len, subnet_min, subnet_max)
