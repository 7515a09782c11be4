"""Interfaces: the underlay segments (a bridge per L2Segment, a veth per phys port), veth
pairs across namespaces, bridges and their ports, VXLAN, IP-in-IP and dummy devices, then
MTU, MAC, master and link state. TUN devices are skipped: their userspace forwarder (flannel
udp's flanneld, Weave sleeve) has no kernel counterpart to run."""

from __future__ import annotations

from typing import Any

from overlaynet.dataplane.ir import Interface, NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize._batch import Batch
from overlaynet.materialize._state import ApplyState, refused
from overlaynet.materialize.naming import IFNAMSIZ, NameMap

SEGMENT_BRIDGE = "br0"
_EOPNOTSUPP = 95
_EEXIST = 17


def _segment_ports(state: ApplyState) -> dict[str, list[tuple[NsRef, str]]]:
    """Segment name → the phys ports plugged into it, among the applied namespaces."""
    ports: dict[str, list[tuple[NsRef, str]]] = {}
    for ref in state.refs:
        for iface in state.ns(ref).interfaces.values():
            if iface.kind == "phys" and iface.segment is not None:
                ports.setdefault(iface.segment, []).append((ref, iface.name))
    for name, seg in state.dp.segments.items():
        for ref, ifname in seg.ports:
            if ref in state.ns_names and (ref, ifname) not in ports.get(name, []):
                ports.setdefault(name, []).append((ref, ifname))
    return ports


def create_segments(state: ApplyState) -> None:
    """One namespace per L2 segment holding bridge ``br0``; each phys port is a veth pair,
    the IR's interface in the host namespace and a bridge port in the segment namespace."""
    for segname, ports in sorted(_segment_ports(state).items()):
        seg = state.dp.segments.get(segname)
        if seg is None:
            for ref, ifname in ports:
                state.skip(ref, f"phys {ifname}", f"segment {segname!r} is not in the dataplane: created as a dummy (no link)")
            continue
        nsname = state.segment_ns[segname]
        ipr = state.ipr(nsname)
        state.call(nsname, f"bridge {SEGMENT_BRIDGE}", ipr.link, "add", ifname=SEGMENT_BRIDGE, kind="bridge")
        bridge = state.index(nsname, SEGMENT_BRIDGE)
        state.call(nsname, f"bridge {SEGMENT_BRIDGE}", ipr.link, "set", index=bridge, mtu=seg.mtu)
        portnames = NameMap(IFNAMSIZ)
        portnames.used.update({"lo", SEGMENT_BRIDGE})
        for ref, ifname in sorted(ports, key=lambda p: (p[0].host, p[0].label, p[1])):
            port = portnames.take(ref.host)
            host_if = state.ifname(ref, ifname)
            obj = f"veth {port} <-> {state.ns_names[ref]}:{host_if} (segment {segname})"
            state.call(nsname, obj, ipr.link, "add", ifname=port, kind="veth",
                       peer={"ifname": host_if, "net_ns_fd": state.ns_names[ref]})
            idx = state.index(nsname, port)
            state.call(nsname, obj, ipr.link, "set", index=idx, mtu=seg.mtu, master=bridge, state="up")
        state.call(nsname, f"bridge {SEGMENT_BRIDGE}", ipr.link, "set", index=bridge, state="up")


def _plugged(state: ApplyState, ref: NsRef, iface: Interface) -> bool:
    return iface.segment is not None and iface.segment in state.dp.segments


def create_links(state: ApplyState) -> None:
    """Create every interface of every applied namespace (phys ports already exist)."""
    made_pairs: set[frozenset[tuple[NsRef, str]]] = set()
    # bridges first (others may name them as master), VXLAN last (it names its underlay dev)
    order = {"bridge": 0, "dummy": 1, "phys": 1, "veth": 2, "ipip": 3, "tun": 3, "vxlan": 4, "loopback": 5}
    todo = [(ref, iface) for ref in state.refs for iface in state.ns(ref).interfaces.values()]
    veths: dict[str, Batch] = {}  # veth pairs: one batch per namespace that creates them
    try:
        for ref, iface in sorted(todo, key=lambda t: order.get(t[1].kind, 9)):
            if iface.kind != "veth" and veths:
                _flush(veths)  # the veths all come together, before what may name them
            nsname = state.ns_names[ref]
            name = state.ifname(ref, iface.name)
            obj = f"{iface.kind} {iface.name}"
            if iface.kind == "loopback" or (iface.kind == "phys" and _plugged(state, ref, iface)):
                continue
            if iface.kind == "bridge":
                state.call(nsname, obj, state.ipr(nsname).link, "add", ifname=name, kind="bridge")
            elif iface.kind in ("dummy", "phys"):
                _create_dummy(state, ref, iface)
            elif iface.kind == "veth":
                _create_veth(state, ref, iface, made_pairs, veths)
            elif iface.kind == "vxlan":
                _create_vxlan(state, ref, iface)
            elif iface.kind == "ipip":
                _create_ipip(state, ref, iface)
            elif iface.kind == "tun":
                state.skipped_ifaces.add((ref, iface.name))
                state.skip(ref, obj, "a TUN device feeds a userspace forwarder (flannel udp's flanneld, "
                           "Weave sleeve) that has no kernel counterpart; not created")
        _flush(veths)
    finally:
        for batch in veths.values():
            batch.discard()


def _flush(batches: dict[str, Batch]) -> None:
    for batch in batches.values():
        batch.flush()
    batches.clear()


def _create_dummy(state: ApplyState, ref: NsRef, iface: Interface) -> None:
    """A dummy device. A phys port plugged into no segment, and a dummy on a kernel built
    without the dummy link type, get a veth whose peer stays down beside it: a link with no
    carrier, which like a dummy swallows what is routed to it."""
    from pyroute2.netlink.exceptions import NetlinkError

    nsname = state.ns_names[ref]
    obj = f"{iface.kind} {iface.name}"
    name = state.ifname(ref, iface.name)
    if iface.kind == "dummy":
        try:
            state.ipr(nsname).link("add", ifname=name, kind="dummy")
            return
        except NetlinkError as exc:
            if exc.code != _EOPNOTSUPP:
                raise refused(nsname, obj, exc) from exc
        why = "this kernel has no dummy link type"
    else:
        why = "not plugged into a known segment"
    peer = state.ifname(ref, f"{iface.name}~nc")
    state.call(nsname, obj, state.ipr(nsname).link, "add", ifname=name, kind="veth", peer={"ifname": peer})
    state.skip(ref, obj, f"{why}: a veth whose peer {peer} stays down stands in (no carrier)")


def _create_veth(state: ApplyState, ref: NsRef, iface: Interface, made: set[frozenset[tuple[NsRef, str]]],
                 batches: dict[str, Batch]) -> None:
    nsname = state.ns_names[ref]
    name = state.ifname(ref, iface.name)
    if iface.peer is None:
        peer_ref, peer_ir = ref, f"{iface.name}-peer"
        state.skip(ref, f"veth {iface.name}", "no peer in the IR: its peer is created down in the same namespace")
    else:
        peer_ref, peer_ir = iface.peer
    key = frozenset({(ref, iface.name), (peer_ref, peer_ir)})
    if key in made:
        return
    if peer_ref not in state.ns_names:
        state.skipped_ifaces.add((ref, iface.name))
        state.skip(ref, f"veth {iface.name}", f"its peer namespace {peer_ref} is not materialized")
        return
    made.add(key)
    peer_name = state.ifname(peer_ref, peer_ir)
    if nsname not in batches:
        batches[nsname] = state.batch(nsname)
    batches[nsname].veth_add(f"veth {iface.name} <-> {peer_ref}:{peer_ir}", name, peer_name, state.ns_names[peer_ref])


def _create_vxlan(state: ApplyState, ref: NsRef, iface: Interface) -> None:
    nsname = state.ns_names[ref]
    info = iface.vxlan
    obj = f"vxlan {iface.name}"
    if info is None:
        raise MaterializeError(f"namespace {nsname}: {obj}: the IR gives no VXLAN parameters (vni, port)")
    kwargs: dict[str, Any] = {"vxlan_id": info.vni, "vxlan_port": info.port, "vxlan_learning": 1 if info.learning else 0}
    if info.local is not None:
        kwargs["vxlan_local" if info.local.version == 4 else "vxlan_local6"] = str(info.local)
    if info.dev is not None:
        kwargs["vxlan_link"] = state.index(nsname, state.ifname(ref, info.dev))
    if info.gbp:
        kwargs["vxlan_gbp"] = True
    if iface.proxy_arp:  # a VXLAN device answers ARP from its neighbour table (``proxy``)
        kwargs["vxlan_proxy"] = 1
    name = state.ifname(ref, iface.name)
    home = state.ns_names.get(info.link_ns) if info.link_ns is not None and info.link_ns != ref else None
    if home is None:
        state.call(nsname, obj, state.ipr(nsname).link, "add", ifname=name, kind="vxlan", **kwargs)
        return
    # created in the namespace its socket belongs to, then moved (Docker overlay's vxlan0:
    # libnetwork creates it in the host namespace and moves it into the network's sandbox)
    state.call(home, obj, state.ipr(home).link, "add", ifname=name, kind="vxlan", **kwargs)
    state.call(home, f"{obj} -> {nsname}", state.ipr(home).link, "set", index=state.index(home, name), net_ns_fd=nsname)
    state.moved(home, name)


def _create_ipip(state: ApplyState, ref: NsRef, iface: Interface) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    nsname = state.ns_names[ref]
    kwargs: dict[str, Any] = {}
    if iface.ipip is not None and iface.ipip.local is not None:
        kwargs["ipip_local"] = str(iface.ipip.local)
    if iface.ipip is not None and iface.ipip.remote is not None:
        kwargs["ipip_remote"] = str(iface.ipip.remote)
    name = state.ifname(ref, iface.name)
    try:
        state.ipr(nsname).link("add", ifname=name, kind="ipip", **kwargs)
    except NetlinkError as exc:
        if exc.code == _EEXIST and not kwargs and _link_kind(state, nsname, name) == "ipip":
            # the ipip module gives every namespace a fallback ``tunl0`` (any local, any
            # remote); Calico takes that device over, and so does the materializer
            return
        if exc.code != _EOPNOTSUPP:
            raise refused(nsname, f"ipip {iface.name}", exc) from exc
        state.skipped_ifaces.add((ref, iface.name))
        state.skip(ref, f"ipip {iface.name}", "this kernel has no ipip link type (module ipip not available)")


def _link_kind(state: ApplyState, nsname: str, name: str) -> str | None:
    """The link type (``IFLA_INFO_KIND``) of an existing device, None if there is none."""
    found = state.ipr(nsname).link_lookup(ifname=name)
    if not found:
        return None
    info = state.ipr(nsname).link("get", index=found[0])[0].get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return str(kind) if kind is not None else None


def configure_links(state: ApplyState) -> None:
    """MTU, MAC and master of every created interface, and bring everything up: every
    MTU first (a bridge given one explicitly keeps it when ports join), then masters. One
    request per interface and step, sent as one batch per namespace: ``up`` rides on the
    MTU request of an interface without a master and on the master request of a port."""
    for ref in state.refs:
        nsname = state.ns_names[ref]
        batch = state.batch(nsname)
        # lo is up already (brought up when its namespace was made)
        ifaces = [i for i in state.ns(ref).interfaces.values()
                  if (ref, i.name) not in state.skipped_ifaces and not (i.kind == "loopback" and i.master is None)]
        for iface in ifaces:
            loopback = iface.kind == "loopback"
            mtu = None if loopback else iface.mtu
            mac = None if loopback else iface.mac
            up = iface.master is None and iface.up
            if mtu is not None or mac is not None or up:
                idx = state.index(nsname, state.ifname(ref, iface.name))
                batch.link_set(f"{iface.kind} {iface.name} (mtu/mac{'/up' if up else ''})", idx, mtu=mtu, address=mac, up=up)
        for iface in ifaces:
            if iface.master is not None:
                master = state.index(nsname, state.ifname(ref, iface.master))
                idx = state.index(nsname, state.ifname(ref, iface.name))
                batch.link_set(f"{iface.kind} {iface.name} master {iface.master}", idx, master=master, up=iface.up)
        batch.flush()
