"""The dataplane IR: what a Linux kernel holds per network namespace, as plain data.

Drivers and kube-proxy write into it exactly what flanneld, Felix, libnetwork or kube-proxy
would write into a kernel; the tracer walks it; the materializer applies it with netlink.
Nothing here forwards a packet (that is ``overlaynet.trace``) or knows a driver.

Naming: a namespace's identity is an ``NsRef`` value (host, kind, name), never a string to
parse: see its docstring. Every entry carries ``origin``: who wrote it and why (shown by the
tracer and ``routes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Self, SupportsIndex, TypeVar

from overlaynet.dataplane.netfilter import IpSet, Ruleset
from overlaynet.model.base import IPAddress, IPNetwork

if TYPE_CHECKING:
    from overlaynet.model import Pod

InterfaceKind = Literal["loopback", "phys", "veth", "bridge", "vxlan", "ipip", "tun", "dummy"]
RouteType = Literal["unicast", "local", "blackhole", "unreachable", "prohibit", "throw"]


class NsKind(StrEnum):
    """What a network namespace on a host is there for."""

    ROOT = "root"  # the host's own namespace (a node's, or a router's: a router is a host)
    POD = "pod"  # one pod's sandbox; its name is the pod's key ``<namespace>/<name>``
    NETWORK = "network"  # one an agent creates for itself (Docker overlay's per-network ``1-<id>``)


@dataclass(frozen=True, slots=True, order=True)
class NsRef:
    """A network namespace's identity: the host it is on, what kind it is, and its name there.

    A value, like an ``ipaddress`` object: built by its constructors, validated on
    construction, compared and hashed by its fields, never parsed back from a string by the
    code that holds it. Whoever creates a namespace names it with one of these:

    - ``NsRef.root(host)`` (or ``NsRef(host)``): a node's or a router's own namespace;
    - ``NsRef.pod(host, "default/web-0")`` / ``NsRef.of_pod(pod)``: a pod's namespace;
    - ``NsRef.network(host, "1-abc")``: a namespace an agent creates for its own use.

    ``label`` and ``str()`` are its rendering (``root``, ``pod:default/web-0``, ``1-abc``;
    ``node-1/pod:default/web-0``), the one place that spelling lives; ``parse`` and ``on``
    read it back where a user or a file gives it as text.

    >>> NsRef.pod("node-1", "default/web-0")
    NsRef(host='node-1', kind=<NsKind.POD: 'pod'>, name='default/web-0')
    >>> str(NsRef.pod("node-1", "default/web-0")), NsRef.parse("node-1/pod:default/web-0").pod_key
    ('node-1/pod:default/web-0', 'default/web-0')
    """

    host: str
    kind: NsKind = NsKind.ROOT
    name: str = ""

    def __post_init__(self) -> None:
        kind = NsKind(self.kind)  # a plain "pod" is accepted and stored as the enum
        if kind is not self.kind:
            object.__setattr__(self, "kind", kind)
        if not self.host or "/" in self.host:
            raise ValueError(f"namespace host {self.host!r}: expected a node or router name (no '/')")
        if kind is NsKind.ROOT:
            if self.name:
                raise ValueError(f"a root namespace has no name (got {self.name!r})")
        elif kind is NsKind.POD:
            ns, sep, pod = self.name.partition("/")
            if not (ns and sep and pod) or "/" in pod:
                raise ValueError(f"pod namespace name {self.name!r}: expected <namespace>/<pod>")
        elif not self.name or self.name == "root" or self.name.startswith("pod:"):
            raise ValueError(f"namespace name {self.name!r}: expected a name that is not 'root' or 'pod:...'")

    @classmethod
    def root(cls, host: str) -> NsRef:
        return cls(host)

    @classmethod
    def pod(cls, host: str, key: str) -> NsRef:
        """The namespace of the pod ``key`` (``<namespace>/<name>``) on ``host``."""
        return cls(host, NsKind.POD, key)

    @classmethod
    def of_pod(cls, pod: Pod) -> NsRef:
        """A scheduled pod's own namespace (a hostNetwork pod's is its node's root)."""
        if pod.node is None:
            raise ValueError(f"pod {pod.key} is not scheduled on a node")
        return cls(pod.node) if pod.host_network else cls(pod.node, NsKind.POD, pod.key)

    @classmethod
    def network(cls, host: str, name: str) -> NsRef:
        return cls(host, NsKind.NETWORK, name)

    @classmethod
    def on(cls, host: str, label: str) -> NsRef:
        """The namespace ``label`` names on ``host``: ``root``, ``pod:<ns>/<name>`` or
        another name (an agent's own namespace); the inverse of ``label``."""
        if label in ("", "root"):
            return cls(host)
        if label.startswith("pod:"):
            return cls(host, NsKind.POD, label[4:])
        return cls(host, NsKind.NETWORK, label)

    @classmethod
    def parse(cls, text: str) -> NsRef:
        """The inverse of ``str()``: ``node-1``, ``node-1/pod:default/web-0``, ``node-1/1-abc``."""
        host, _, label = text.partition("/")
        return cls.on(host, label)

    @property
    def is_root(self) -> bool:
        return self.kind is NsKind.ROOT

    @property
    def pod_key(self) -> str | None:
        """``<namespace>/<name>`` of the pod this namespace belongs to, else None."""
        return self.name if self.kind is NsKind.POD else None

    @property
    def label(self) -> str:
        """The namespace's name on its host as traces and ``--namespace`` spell it."""
        if self.kind is NsKind.ROOT:
            return "root"
        return f"pod:{self.name}" if self.kind is NsKind.POD else self.name

    def __str__(self) -> str:
        return self.host if self.kind is NsKind.ROOT else f"{self.host}/{self.label}"


@dataclass(frozen=True, slots=True)
class Address:
    """An interface address: ``ip/prefixlen`` as ``ip addr`` shows it."""

    ip: IPAddress
    prefixlen: int

    @property
    def network(self) -> IPNetwork:
        from ipaddress import ip_network

        return ip_network(f"{self.ip}/{self.prefixlen}", strict=False)

    def __str__(self) -> str:
        return f"{self.ip}/{self.prefixlen}"


@dataclass(frozen=True, slots=True)
class VxlanInfo:
    vni: int
    local: IPAddress | None
    port: int = 8472
    dev: str | None = None  # underlay device
    learning: bool = False
    gbp: bool = False
    #: The namespace the device was created in, when it was then moved (Docker overlay's
    #: vxlan0 lives in a per-network namespace): its UDP socket and the outer packets'
    #: routing stay there. None: the device's own namespace.
    link_ns: NsRef | None = None


@dataclass(frozen=True, slots=True)
class IpipInfo:
    local: IPAddress | None = None
    remote: IPAddress | None = None  # None: any (tunl0-style catch-all)


@dataclass(frozen=True, slots=True)
class TunInfo:
    """A TUN device whose packets go to a userspace forwarder in the same namespace."""

    forwarder: str  # key into NetNamespace.forwarders


#: How many writes any ``Interface`` has seen (a field set, its address list changed): the
#: indexes ``dataplane.lookup`` and ``trace.l2`` derive from interfaces are rebuilt when it
#: moves, so a lookup checks one integer instead of re-reading every device.
_INTERFACE_EDITS = [0]


def interface_edits() -> int:
    """The interface write counter (see ``_INTERFACE_EDITS``)."""
    return _INTERFACE_EDITS[0]


_T = TypeVar("_T")


class WatchedList(list[_T]):
    """A plain list that calls ``_edited`` before every write (indexes over it check a write
    counter instead of re-reading it)."""

    def _edited(self) -> None:
        raise NotImplementedError

    def append(self, item: _T) -> None:
        self._edited()
        list.append(self, item)

    def extend(self, items: Iterable[_T]) -> None:
        self._edited()
        list.extend(self, items)

    def insert(self, index: SupportsIndex, item: _T) -> None:
        self._edited()
        list.insert(self, index, item)

    def remove(self, item: _T) -> None:
        self._edited()
        list.remove(self, item)

    def pop(self, index: SupportsIndex = -1) -> _T:
        self._edited()
        return list.pop(self, index)

    def clear(self) -> None:
        self._edited()
        list.clear(self)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._edited()
        list.sort(self, *args, **kwargs)

    def reverse(self) -> None:
        self._edited()
        list.reverse(self)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._edited()
        list.__setitem__(self, index, value)

    def __delitem__(self, index: Any) -> None:
        self._edited()
        list.__delitem__(self, index)

    def __iadd__(self, items: Iterable[_T]) -> Self:  # type: ignore[override,misc]
        self._edited()
        return list.__iadd__(self, items)

    def __imul__(self, n: SupportsIndex) -> Self:
        self._edited()
        return list.__imul__(self, n)


class AddressList(WatchedList[Address]):
    """An interface's address list: every write moves the global interface counter."""

    def _edited(self) -> None:
        _INTERFACE_EDITS[0] += 1


class EntryList(WatchedList[_T]):
    """A namespace's routes, neighbours or FDB entries: every write moves ``edits``, so the
    indexes of ``dataplane.lookup`` know the list changed by comparing one integer (with the
    list's identity) instead of the whole list."""

    edits: int = 0

    def _edited(self) -> None:
        self.edits += 1

    def append(self, item: _T) -> None:  # the agents' usual write, kept cheap
        self.edits += 1
        list.append(self, item)


#: The NetNamespace fields kept as ``EntryList``s.
_ENTRY_LISTS = frozenset({"routes", "neighbors", "fdb"})


@dataclass
class Interface:
    name: str
    kind: InterfaceKind
    mtu: int = 1500
    mac: str | None = None
    addresses: list[Address] = field(default_factory=list)
    up: bool = True
    master: str | None = None  # the bridge this port belongs to
    peer: tuple[NsRef, str] | None = None  # veth: the other end (namespace, ifname)
    segment: str | None = None  # phys: the underlay segment (L2 domain) it is plugged into
    vxlan: VxlanInfo | None = None
    ipip: IpipInfo | None = None
    tun: TunInfo | None = None
    proxy_arp: bool = False
    origin: str = ""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "addresses" and not isinstance(value, AddressList):
            value = AddressList(value)  # type: ignore[call-overload]
        _INTERFACE_EDITS[0] += 1
        object.__setattr__(self, name, value)


class InterfaceMap(dict[str, Interface]):
    """A namespace's devices by name: a plain dict whose every write moves the global
    interface counter, as an edit of a device does (``interface_edits``)."""

    def __setitem__(self, key: str, value: Interface) -> None:
        _INTERFACE_EDITS[0] += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        _INTERFACE_EDITS[0] += 1
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        _INTERFACE_EDITS[0] += 1
        return super().pop(*args)

    def popitem(self) -> tuple[str, Interface]:
        _INTERFACE_EDITS[0] += 1
        return super().popitem()

    def clear(self) -> None:
        _INTERFACE_EDITS[0] += 1
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        _INTERFACE_EDITS[0] += 1
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        _INTERFACE_EDITS[0] += 1
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
        _INTERFACE_EDITS[0] += 1
        return super().__ior__(other)


@dataclass(frozen=True, slots=True)
class Route:
    dst: IPNetwork
    dev: str | None = None
    via: IPAddress | None = None
    type: RouteType = "unicast"
    onlink: bool = False
    src: IPAddress | None = None
    metric: int = 0
    proto: str = "static"  # kernel | static | boot | bird | flannel | felix ...
    scope: Literal["global", "link", "host"] = "global"
    table: str = "main"
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Neighbor:
    ip: IPAddress
    dev: str
    lladdr: str | None  # None with state FAILED/INCOMPLETE
    state: Literal["PERMANENT", "REACHABLE", "STALE", "NOARP", "FAILED"] = "PERMANENT"
    origin: str = ""


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """A bridge FDB entry. For a VXLAN device (``self``): ``dst`` is the remote VTEP IP."""

    mac: str
    dev: str
    dst: IPAddress | None = None
    master: str | None = None
    self_: bool = True
    permanent: bool = True
    vni: int | None = None
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ForwarderEntry:
    """One entry of a userspace forwarder's table: inner destination → UDP peer."""

    dst: IPNetwork
    peer: IPAddress
    port: int
    origin: str = ""


@dataclass(frozen=True, slots=True)
class FrameRoute:
    """One entry of a frame forwarder's table: a station (MAC, and the address it answers
    ARP for) and how the forwarder sends frames for it.

    ``peer`` None: the station is behind the forwarder's own device (frames for it are
    injected there). Otherwise the frame is encapsulated (``encap`` "vxlan" or "udp" with
    ``framing_bytes`` of the forwarder's own header) to ``peer``:``port``; ``relay`` says why
    when that next hop is not the station's own host. ``dst_ident`` is the identity of the
    forwarder the station lives behind, carried in the tunnel key (see ``Forwarder.key_shifts``).
    """

    mac: str
    ip: IPAddress | None
    peer: IPAddress | None
    encap: str = "vxlan"
    port: int = 0
    sport: int | None = None  # a fixed outer source port (a userspace socket); None: flow hash
    framing_bytes: int = 0
    dst_ident: int | None = None
    df: bool = False  # the outer packet's DF bit
    cipher: str = ""  # what the forwarder itself encrypts the frame with (its framing has the bytes)
    relay: str = ""
    origin: str = ""
    #: set when the forwarder knows the station but cannot reach its host: why (ARP for it fails)
    unreachable: str = ""
    #: the identity of the next hop's forwarder (``dst_ident`` when the station is on it)
    via_ident: int | None = None


@dataclass
class Forwarder:
    """A userspace datapath (flannel udp's flanneld, Weave's router): reads the TUN, sends
    each packet as the payload of a UDP datagram to the peer for its destination.

    ``frames`` True: an L2 forwarder (Weave's router over sleeve or the kernel datapath it
    programs): ``tun`` is the device it captures Ethernet frames from and injects them into,
    ``stations`` its MAC table; it receives tunnel packets on every ``(encap, port)`` of
    ``listen`` and relays frames whose station is on another host. Its tunnel key (VXLAN VNI)
    is ``ident << key_shifts[0] | dst_ident << key_shifts[1]``, the frame's first forwarder's
    identity kept across relays.
    """

    name: str
    tun: str
    port: int
    framing_bytes: int = 0  # bytes added inside the UDP payload besides the inner packet
    table: list[ForwarderEntry] = field(default_factory=list)
    origin: str = ""
    #: how much the forwarder lowers the inner packet's TTL when it sends and again when it
    #: receives (flanneld's proxy: 1 each way, a packet reaching 0 is discarded silently)
    ttl_decrement: int = 0
    frames: bool = False
    stations: list[FrameRoute] = field(default_factory=list)
    listen: tuple[tuple[str, int], ...] = ()
    ident: int | None = None
    key_shifts: tuple[int, int] = (0, 12)

    def station(self, mac: str | None, ip: IPAddress | None = None) -> FrameRoute | None:
        """The table entry for ``mac`` (else for ``ip``), or None."""
        wanted = mac.lower() if mac is not None else None
        by_ip = None
        for s in self.stations:
            if wanted is not None and s.mac.lower() == wanted:
                return s
            if by_ip is None and ip is not None and s.ip == ip:
                by_ip = s
        return by_ip if wanted is None else None


@dataclass(frozen=True, slots=True)
class XfrmPolicy:
    """An outbound IPsec policy with its SA (``ip xfrm policy … dir out tmpl … mode
    transport`` + ``ip xfrm state``): UDP packets to ``dst`` (port ``dport``; of VXLAN
    network ``vni`` when set, which Docker selects with an iptables u32 match and mark
    0xD0C4E3) leave wrapped in ESP, transport mode, AES-GCM with an ``icv``-byte ICV."""

    dst: IPAddress
    src: IPAddress | None = None
    dport: int | None = None
    vni: int | None = None
    spi: int = 0
    icv: int = 16
    origin: str = ""

    def selects(self, dst: IPAddress, dport: int | None, vni: int | None) -> bool:
        return (self.dst == dst and (self.dport is None or self.dport == dport)
                and (self.vni is None or self.vni == vni))


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What an agent tried to write into a namespace and the kernel refused (or the agent
    logged and skipped), in words, with the destinations it leaves without their route
    (``dst``; None: it may concern any)."""

    message: str
    dst: IPNetwork | None = None

    def concerns(self, ip: IPAddress) -> bool:
        return self.dst is None or (ip.version == self.dst.version and ip in self.dst)

    def __str__(self) -> str:
        return self.message


@dataclass
class NetNamespace:
    ref: NsRef
    kind: Literal["host", "pod", "router", "other"] = "other"
    interfaces: dict[str, Interface] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    neighbors: list[Neighbor] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    netfilter: Ruleset = field(default_factory=Ruleset)
    #: ipsets the netfilter rules name (``-m set --match-set``), by name, as ``ipset list`` has them
    ipsets: dict[str, IpSet] = field(default_factory=dict)
    forwarders: dict[str, Forwarder] = field(default_factory=dict)
    xfrm: list[XfrmPolicy] = field(default_factory=list)  # outbound IPsec policies (ESP)
    #: What an agent tried to write here and the kernel refused, or logged and skipped, in
    #: words (flannel host-gw: "... Nexthop has invalid gateway ..."), a ``Diagnosis`` when
    #: it knows which destinations lost their route; the tracer shows those that concern the
    #: packet when a lookup in this namespace fails or it leaves through a default route.
    diagnostics: list[str | Diagnosis] = field(default_factory=list)
    #: Derived indexes (route LPM, neighbour and FDB maps) kept by ``dataplane.lookup``; each
    #: is rebuilt when the list it indexes changes. Not part of the namespace's identity.
    cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        if name in _ENTRY_LISTS and not isinstance(value, EntryList):
            value = EntryList(value)  # type: ignore[call-overload]
        elif name == "interfaces" and not isinstance(value, InterfaceMap):
            value = InterfaceMap(value)  # type: ignore[call-overload]
            _INTERFACE_EDITS[0] += 1
        object.__setattr__(self, name, value)

    # --- writing, as netlink calls do ------------------------------------------------------
    def add_interface(self, iface: Interface) -> Interface:
        if iface.name in self.interfaces:
            raise ValueError(f"{self.ref}: interface {iface.name} exists")
        self.interfaces[iface.name] = iface
        _INTERFACE_EDITS[0] += 1  # a bridge index in another namespace may see it as a peer
        return iface

    def add_route(self, route: Route) -> Route:
        self.routes.append(route)
        return route

    def add_neighbor(self, neigh: Neighbor) -> Neighbor:
        self.neighbors.append(neigh)
        return neigh

    def add_fdb(self, entry: FdbEntry) -> FdbEntry:
        self.fdb.append(entry)
        return entry

    # --- reading --------------------------------------------------------------------------
    @property
    def ip_forward(self) -> bool:
        return self.sysctls.get("net.ipv4.ip_forward", "0") == "1"

    def addresses(self) -> Iterator[tuple[str, Address]]:
        for iface in self.interfaces.values():
            for addr in iface.addresses:
                yield iface.name, addr

    def local_ips(self) -> frozenset[IPAddress]:
        return frozenset(a.ip for _, a in self.addresses())


@dataclass
class L2Segment:
    """An underlay L2 domain: every ``phys`` interface whose ``segment`` names it is plugged in."""

    name: str
    cidr: IPNetwork
    mtu: int
    ports: list[tuple[NsRef, str]] = field(default_factory=list)
    #: Who answers ARP for an address on this segment (address -> port), filled by the
    #: underlay builder from the model so that resolving a neighbour on a lazily built
    #: dataplane builds only the host that owns the address, not every host on the segment.
    directory: dict[IPAddress, tuple[NsRef, str]] = field(default_factory=dict)


@dataclass
class Dataplane:
    """All namespaces of all hosts plus the underlay segments.

    Hosts may be built lazily: ``builder`` (set by whoever assembles the dataplane) is called
    with a host name the first time ``host_namespaces`` or ``namespace`` asks for it.
    """

    namespaces: dict[NsRef, NetNamespace] = field(default_factory=dict)
    segments: dict[str, L2Segment] = field(default_factory=dict)
    built_hosts: set[str] = field(default_factory=set)
    builder: object | None = None  # Callable[[Dataplane, str], None]

    def ensure_host(self, host: str) -> None:
        if host in self.built_hosts:
            return
        self.built_hosts.add(host)
        if self.builder is not None:
            self.builder(self, host)  # type: ignore[operator]

    def namespace(self, ref: NsRef) -> NetNamespace:
        self.ensure_host(ref.host)
        return self.namespaces[ref]

    def add_namespace(self, ref: NsRef, kind: Literal["host", "pod", "router", "other"] = "other") -> NetNamespace:
        if ref in self.namespaces:
            raise ValueError(f"namespace {ref} exists")
        ns = NetNamespace(ref=ref, kind=kind)
        self.namespaces[ref] = ns
        return ns

    def host_namespaces(self, host: str) -> list[NetNamespace]:
        self.ensure_host(host)
        return [ns for ref, ns in self.namespaces.items() if ref.host == host]
