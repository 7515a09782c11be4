"""Docker overlay options (``spec.network.options``): the networks as ``docker network
create -d overlay`` describes them, and the daemon-wide settings.

``networks: [{name, subnet, gateway, ipRange, encrypted, internal, attachable, mtu,
podSelector}]``; without any, one network ``overlay`` from the default global pool.
``mtu`` is ``com.docker.network.driver.mtu`` (the network MTU the driver subtracts its 50
bytes from, ``ov_network.go``), ``encrypted`` is ``--opt encrypted``; top-level ``mtu`` and
``encrypted`` are the defaults for networks that do not say. ``mode: swarm`` takes VNIs
from 4096 as the swarm manager does (``ovmanager.go``); ``classic`` (the default) from 256.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from overlaynet.errors import DriverOptionError
from overlaynet.model.base import FrozenDict

__all__ = ["DEFAULT_NETWORK", "DockerOptions", "NetworkConf", "parse_options", "validate_options"]

DRIVER = "docker-overlay"
DEFAULT_NETWORK = "overlay"
KNOWN = ("mode", "networks", "mtu", "encrypted", "gwbridgeSubnet", "vxlanPort")
NETWORK_KEYS = ("name", "subnet", "gateway", "ipRange", "encrypted", "internal", "attachable", "mtu", "podSelector", "vni")

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class NetworkConf:
    """One overlay network as the user asked for it (subnet/gateway None: IPAM chooses)."""

    name: str
    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    ip_range: IPv4Network | None = None
    encrypted: bool = False
    internal: bool = False
    attachable: bool = False
    mtu: int | None = None  # com.docker.network.driver.mtu; None: 1500
    vni: int | None = None  # a VXLAN ID the store already gave it (docker network inspect)
    #: the pods that join (labels they must carry; empty: every pod); None: only pods no
    #: other network selects, and only when this is the first network
    pod_selector: FrozenDict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class DockerOptions:
    mode: Literal["classic", "swarm"]
    networks: tuple[NetworkConf, ...]
    gwbridge_subnet: IPv4Network
    vxlan_port: int


def _close(word: str, known: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {near[0]!r}?)" if near else f"; known: {', '.join(known)}"


def _fail(option: str, message: str) -> DriverOptionError:
    return DriverOptionError(DRIVER, option, message)


def _net(value: Any, option: str) -> IPv4Network:
    try:
        return IPv4Network(str(value))
    except ValueError as exc:
        raise _fail(option, f"expected an IPv4 CIDR with no host bits, got {value!r} ({exc})") from None


def _mtu(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 68 + 50 <= value <= 65535:
        raise _fail(option, f"expected an MTU between 118 and 65535, got {value!r}")
    return value


def _bool(value: Any, option: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(option, f"expected true or false, got {value!r}")
    return value


def _network(raw: Any, index: int, defaults: Mapping[str, Any]) -> dict[str, Any]:
    where = f"networks[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(where, f"expected a mapping with {', '.join(NETWORK_KEYS)}, got {raw!r}")
    for key in raw:
        if key not in NETWORK_KEYS:
            raise _fail(f"{where}.{key}", "unknown network field" + _close(str(key), NETWORK_KEYS))
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise _fail(f"{where}.name", f"expected a network name, got {name!r}")
    out: dict[str, Any] = {"name": name}
    subnet = _net(raw["subnet"], f"{where}.subnet") if raw.get("subnet") is not None else None
    if subnet is not None and subnet.prefixlen > 30:
        raise _fail(f"{where}.subnet", f"{subnet} leaves no room for a gateway and endpoints")
    out["subnet"] = str(subnet) if subnet else None
    if raw.get("gateway") is not None:
        if subnet is None:
            raise _fail(f"{where}.gateway", "a gateway needs a subnet (docker: 'every ip-range or gateway must have a corresponding subnet')")
        try:
            gw = IPv4Address(str(raw["gateway"]))
        except ValueError:
            raise _fail(f"{where}.gateway", f"expected an IPv4 address, got {raw['gateway']!r}") from None
        if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
            raise _fail(f"{where}.gateway", f"{gw} is not a host address of {subnet}")
        out["gateway"] = str(gw)
    if raw.get("ipRange") is not None:
        if subnet is None:
            raise _fail(f"{where}.ipRange", "an ipRange needs a subnet")
        rng = _net(raw["ipRange"], f"{where}.ipRange")
        if not rng.subnet_of(subnet):
            raise _fail(f"{where}.ipRange", f"{rng} is not inside the subnet {subnet}")
        out["ipRange"] = str(rng)
    for flag in ("encrypted", "internal", "attachable"):
        default = defaults.get(flag, False)
        out[flag] = _bool(raw.get(flag, default), f"{where}.{flag}")
    mtu = raw.get("mtu", defaults.get("mtu"))
    out["mtu"] = _mtu(mtu, f"{where}.mtu") if mtu is not None else None
    selector = raw.get("podSelector")
    if selector is not None and (not isinstance(selector, Mapping) or not all(isinstance(v, str) for v in selector.values())):
        raise _fail(f"{where}.podSelector", f"expected a mapping of label to value, got {selector!r}")
    out["podSelector"] = {str(k): v for k, v in selector.items()} if selector is not None else None
    vni = raw.get("vni")
    if vni is not None and (isinstance(vni, bool) or not isinstance(vni, int) or not 1 <= vni <= (1 << 24) - 1):
        raise _fail(f"{where}.vni", f"expected a VXLAN ID 1-16777215, got {vni!r}")
    out["vni"] = vni
    return out


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with defaults filled in, as plain data; ``DriverOptionError`` names the
    first bad key.

    >>> validate_options({})["networks"][0]["name"]
    'overlay'
    >>> validate_options({"networks": [{"name": "a", "sbunet": "10.1.0.0/24"}]})
    Traceback (most recent call last):
    ...
    overlaynet.errors.DriverOptionError: docker-overlay: option 'networks[0].sbunet': unknown network field (did you mean 'subnet'?)
    """
    for key in options:
        if key not in KNOWN:
            raise _fail(str(key), "unknown option" + _close(str(key), KNOWN))
    mode = options.get("mode", "classic")
    if mode not in ("classic", "swarm"):
        raise _fail("mode", f"expected classic or swarm, got {mode!r}")
    defaults: dict[str, Any] = {"encrypted": _bool(options.get("encrypted", False), "encrypted")}
    if options.get("mtu") is not None:
        defaults["mtu"] = _mtu(options["mtu"], "mtu")
    raw_networks = options.get("networks") or [{"name": DEFAULT_NETWORK}]
    if isinstance(raw_networks, (str, bytes, Mapping)) or not isinstance(raw_networks, Sequence):
        raise _fail("networks", f"expected a list of networks, got {raw_networks!r}")
    networks = [_network(raw, i, defaults) for i, raw in enumerate(raw_networks)]
    seen: dict[str, int] = {}
    for i, net in enumerate(networks):
        if net["name"] in seen:
            raise _fail(f"networks[{i}].name", f"network {net['name']!r} is defined twice (first at networks[{seen[net['name']]}])")
        seen[net["name"]] = i
    given = [(i, IPv4Network(n["subnet"])) for i, n in enumerate(networks) if n["subnet"]]
    for a, (i, x) in enumerate(given):
        for j, y in given[a + 1:]:
            if x.overlaps(y):
                raise _fail(f"networks[{j}].subnet", f"{y} overlaps {x} of networks[{i}] (docker: 'Pool overlaps with other one on this address space')")
    gw_subnet = _net(options.get("gwbridgeSubnet", "172.18.0.0/16"), "gwbridgeSubnet")
    port = options.get("vxlanPort", 4789)
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 49151:
        # overlayutils.ConfigVXLANUDPPort accepts only 1024-49151
        raise _fail("vxlanPort", f"expected a UDP port in 1024-49151, got {port!r}")
    return {"mode": mode, "networks": networks, "encrypted": defaults["encrypted"], "mtu": defaults.get("mtu"),
            "gwbridgeSubnet": str(gw_subnet), "vxlanPort": port}


def parse_options(options: Mapping[str, Any]) -> DockerOptions:
    """Validated options (``validate_options``'s output) as typed values."""
    nets = tuple(
        NetworkConf(
            name=n["name"],
            subnet=IPv4Network(n["subnet"]) if n.get("subnet") else None,
            gateway=IPv4Address(n["gateway"]) if n.get("gateway") else None,
            ip_range=IPv4Network(n["ipRange"]) if n.get("ipRange") else None,
            encrypted=n["encrypted"],
            internal=n["internal"],
            attachable=n["attachable"],
            mtu=n["mtu"],
            vni=n.get("vni"),
            pod_selector=FrozenDict(n["podSelector"]) if n["podSelector"] is not None else None,
        )
        for n in options["networks"]
    )
    return DockerOptions(options["mode"], nets, IPv4Network(options["gwbridgeSubnet"]), options["vxlanPort"])
