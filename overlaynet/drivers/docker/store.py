"""The libnetwork objects in the KV store: keys as ``datastore.Key`` builds them and values
as their ``MarshalJSON`` writes them (trimmed of fields a classic overlay never sets).

``datastore.Key(parts...)`` is ``docker/network/v1.0/`` + ``"/".join(parts)`` + ``/``
(``datastore/datastore.go``: ``defaultRootChain``). The objects, with their ``Key()``:

=========================================================  ===================================
``docker/network/v1.0/network/<nid>/``                     the network (``network.go``)
``docker/network/v1.0/endpoint/<nid>/<epid>/``             an endpoint (``endpoint.go``)
``docker/network/v1.0/endpoint_count/<nid>/``              ``{"Count": n}`` (``endpoint_cnt.go``)
``docker/network/v1.0/overlay/network/<nid>/``             the overlay driver's VNI map (``ov_network.go``)
``docker/network/v1.0/idm/vxlan-id/``                      the VNI bit sequence (``idm.go``, ``overlay.go``)
``docker/network/v1.0/ipam/default/config/GlobalDefault/`` the address space's pools (``ipam/store.go``)
``docker/network/v1.0/ipam/default/data/GlobalDefault/<subnet>/``  a pool's address bit sequence
=========================================================  ===================================
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

__all__ = [
    "ADDRESS_SPACE",
    "ROOT",
    "EndpointRecord",
    "NetworkRecord",
    "endpoint_id",
    "key",
    "mac_from_ip",
    "network_id",
    "pool_id",
]

ROOT = "docker/network/v1.0"
ADDRESS_SPACE = "GlobalDefault"  # globalAddressSpace in ipam/allocator.go
IPAM_CONFIG = f"ipam/default/config/{ADDRESS_SPACE}"  # dsConfigKey + "/" + as
IPAM_DATA = "ipam/default/data"  # dsDataKey
VNI_IDM = ("idm", "vxlan-id")  # bitseq.NewHandle("idm", ds, "vxlan-id", ...)


def key(*parts: str) -> str:
    """``datastore.Key``: the root chain, the parts, a trailing slash.

    >>> key("network", "3f2a")
    'docker/network/v1.0/network/3f2a/'
    """
    return "/".join((ROOT, *parts)) + "/"


def _hex_id(text: str) -> str:
    # dockerd's stringid.GenerateRandomID: 64 hex digits (random there, derived here)
    return hashlib.sha256(text.encode()).hexdigest()


def network_id(cluster: str, name: str) -> str:
    return _hex_id(f"network:{cluster}:{name}")


def endpoint_id(nid: str, container: str) -> str:
    return _hex_id(f"endpoint:{nid}:{container}")


def pool_id(subnet: IPv4Network, ip_range: IPv4Network | None = None) -> str:
    """``SubnetKey.String()``: ``GlobalDefault/<subnet>[/<child subnet>]``."""
    out = f"{ADDRESS_SPACE}/{subnet}"
    return f"{out}/{ip_range}" if ip_range is not None else out


def mac_from_ip(ip: IPv4Address) -> str:
    """``netutils.GenerateMACFromIP``: ``02:42`` and the four address bytes.

    >>> mac_from_ip(IPv4Address("10.0.0.2"))
    '02:42:0a:00:00:02'
    """
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def dumps(obj: Any) -> str:
    """Go's ``json.Marshal`` of a map: keys sorted, no spaces."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class NetworkRecord:
    """A network as the store holds it: libnetwork's object plus the overlay driver's."""

    id: str
    name: str
    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None
    vni: int
    encrypted: bool
    internal: bool
    attachable: bool
    mtu: int  # the option as given, 0 when unset (as the overlay driver stores it)

    @property
    def pool(self) -> str:
        return pool_id(self.subnet, self.ip_range)

    def libnetwork_value(self) -> str:
        """``network.MarshalJSON`` (``network.go``): ipamV4Config/ipamV4Info are JSON
        strings inside the JSON, as libnetwork nests them."""
        generic: dict[str, Any] = {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": {}}
        opts = generic["com.docker.network.generic"]
        if self.encrypted:
            opts["encrypted"] = ""
        if self.mtu:
            opts["com.docker.network.driver.mtu"] = str(self.mtu)
        config = [{"PreferredPool": str(self.subnet), "SubPool": str(self.ip_range or ""),
                   "Gateway": str(self.gateway), "AuxAddresses": None}]
        data = {"AddressSpace": ADDRESS_SPACE, "Gateway": f"{self.gateway}/{self.subnet.prefixlen}",
                "Pool": str(self.subnet)}
        info = [{"PoolID": self.pool, "IPAMData": dumps(data)}]
        return dumps({
            "addrSpace": ADDRESS_SPACE, "attachable": self.attachable, "configFrom": "", "configOnly": False,
            "created": "0001-01-01T00:00:00Z", "enableIPv6": False, "generic": generic, "id": self.id,
            "inDelete": False, "ingress": False, "internal": self.internal, "ipamOptions": {},
            "ipamType": "default", "ipamV4Config": dumps(config), "ipamV4Info": dumps(info), "labels": {},
            "loadBalancerIP": "", "loadBalancerMode": "NAT", "name": self.name, "networkType": "overlay",
            "persist": True, "postIPv6": False, "scope": "global",
        })

    def overlay_value(self) -> str:
        """``network.Value()`` of the overlay driver: the VNI of each subnet."""
        subnets = [{"SubnetIP": str(self.subnet), "GwIP": f"{self.gateway}/{self.subnet.prefixlen}", "Vni": self.vni}]
        return dumps({"mtu": self.mtu, "secure": self.encrypted, "subnets": subnets})

    @classmethod
    def parse(cls, libnetwork: str, overlay: str) -> NetworkRecord:
        net = json.loads(libnetwork)
        ov = json.loads(overlay)
        config = json.loads(net["ipamV4Config"])[0]
        sub = ov["subnets"][0]
        subnet = IPv4Network(sub["SubnetIP"])
        return cls(
            id=net["id"], name=net["name"], subnet=subnet,
            gateway=IPv4Address(sub["GwIP"].split("/")[0]),
            ip_range=IPv4Network(config["SubPool"]) if config.get("SubPool") else None,
            vni=int(sub["Vni"]), encrypted=bool(ov.get("secure")), internal=bool(net.get("internal")),
            attachable=bool(net.get("attachable")), mtu=int(ov.get("mtu") or 0),
        )


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An endpoint: a container's interface on one network, and the host it lives on
    (``locator``, the daemon's ``--cluster-advertise`` address: its VTEP)."""

    id: str
    network: str  # network id
    name: str  # the container name
    ip: IPv4Address
    prefixlen: int
    mac: str
    locator: IPv4Address
    aliases: tuple[str, ...] = ()

    def value(self, pool: str) -> str:
        """``endpoint.MarshalJSON`` (``endpoint.go``, ``endpoint_info.go``)."""
        iface = {"addr": f"{self.ip}/{self.prefixlen}", "dstPrefix": "eth", "mac": self.mac, "routes": None,
                 "srcName": "", "v4PoolID": pool, "v6PoolID": ""}
        return dumps({
            "anonymous": False, "disableResolution": False, "ep_iface": iface, "exposed_ports": [],
            "id": self.id, "ingressPorts": None, "joinInfo": None, "loadBalancer": False,
            "locator": str(self.locator), "myAliases": list(self.aliases), "name": self.name,
            "sandbox": "", "svcAliases": None, "svcID": "", "svcName": "", "virtualIP": "<nil>",
        })

    @classmethod
    def parse(cls, network: str, text: str) -> EndpointRecord:
        obj = json.loads(text)
        addr, _, plen = obj["ep_iface"]["addr"].partition("/")
        return cls(
            id=obj["id"], network=network, name=obj["name"], ip=IPv4Address(addr), prefixlen=int(plen),
            mac=obj["ep_iface"]["mac"], locator=IPv4Address(obj["locator"]),
            aliases=tuple(obj.get("myAliases") or ()),
        )
