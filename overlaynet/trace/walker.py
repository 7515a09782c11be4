"""The walker: a small Linux IPv4 forwarding path over the dataplane IR.

Pure: a ``Dataplane``, a ``Packet`` and where it starts go in, ``Trace``s come out. It knows no
driver; every decision comes from IR entries (routes, neighbours, FDB, devices, netfilter).
Per namespace it does what the kernel does: local delivery check, netfilter hooks, route
lookup, TTL, MTU, neighbour resolution, veth/bridge crossing, tunnels in and out.
Tunnels and the underlay live in ``tunnels.py``; L2 resolution in ``l2.py``.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from overlaynet.dataplane.iproute import format_route
from overlaynet.dataplane.ir import Dataplane, Diagnosis, NetNamespace, NsRef, Route
from overlaynet.dataplane.lookup import (
    connected_route,
    iface_address,
    is_local,
    local_addresses,
    lookup_route,
    select_source,
)
from overlaynet.dataplane.netfilter import ChainRole, Hook, HookContext, NetfilterState, RuleHit
from overlaynet.dataplane.netfilter.evaluate import run_hook
from overlaynet.dataplane.packet import Packet
from overlaynet.errors import TraceError
from overlaynet.model.base import IPAddress
from overlaynet.trace.encap import fragment_sizes
from overlaynet.trace.flight import Cont, Flight, Injection, ident
from overlaynet.trace.model import Disposition, Trace
from overlaynet.trace.steps import (
    DecapStep,
    DeliverStep,
    DnatStep,
    FragmentStep,
    NetfilterStep,
    PolicyStep,
    RouteStep,
    SnatStep,
    Step,
    WarningStep,
)
from overlaynet.trace.tunnels import send_on_device, try_decap

__all__ = ["MAX_HOPS", "Flight", "Injection", "Walker"]

#: A trace visiting more namespaces than this is reported as a LOOP.
MAX_HOPS = 128

#: Verdicts of a rule in a policy chain that decide (or end the chain's say): reported as a
#: ``policy`` step besides the rule hit.
_POLICY_VERDICTS = frozenset({"ACCEPT", "DROP", "REJECT", "RETURN"})


def _policy_name(comment: str | None, chain: str) -> str:
    """What a policy rule's comment says without the word "policy" its agent put first
    (Calico's ``policy ns/name ingress rule 1: Allow``): the step says "policy" itself."""
    if not comment:
        return chain
    words = comment.split(maxsplit=1)
    if len(words) == 2 and words[0].lower().rstrip(":") == "policy":
        return words[1]
    return comment


#: The steps of a rule hit at a hook, by ``id`` of the (frozen) hit, holding it: a remembered
#: netfilter walk gives the same hits again, so a warm trace builds their steps once.
_HIT_STEPS: dict[int, tuple[RuleHit, str, tuple[Step, ...]]] = {}


def _hit_steps(hook: str, hit: RuleHit) -> tuple[Step, ...]:
    found = _HIT_STEPS.get(id(hit))
    if found is not None and found[0] is hit and found[1] == hook:
        return found[2]
    steps: tuple[Step, ...] = (NetfilterStep(hook, hit.table, hit.chain, hit.number, hit.text, hit.verdict, hit.comment, hit.role),)
    if hit.role is ChainRole.POLICY and hit.verdict in _POLICY_VERDICTS:
        steps += (PolicyStep(_policy_name(hit.comment, hit.chain), hit.verdict, f"{hit.table}/{hit.chain} #{hit.number}"),)
    if len(_HIT_STEPS) >= 1 << 16:
        _HIT_STEPS.clear()
    _HIT_STEPS[id(hit)] = (hit, hook, steps)
    return steps


class Walker:
    """One trace request's walk; holds the dataplane and the options, no packet state."""

    def __init__(self, dp: Dataplane, *, all_branches: bool = False, state: NetfilterState | None = None, seed: int = 0) -> None:
        self.dp = dp
        self.all_branches = all_branches
        self.state = state if state is not None else NetfilterState(seed=seed)
        self.seed = seed
        # the dataplane does not change during one walk: memoise each namespace's addresses
        self._locals: dict[NsRef, frozenset[IPAddress]] = {}

    def local_ips(self, ns: NetNamespace) -> frozenset[IPAddress]:
        found = self._locals.get(ns.ref)
        if found is None:
            found = self._locals[ns.ref] = local_addresses(ns)
        return found

    def is_local(self, ns: NetNamespace, ip: IPAddress) -> bool:
        return is_local(ns, ip, self.local_ips(ns))

    # --- entry points ---------------------------------------------------------------------
    def start(self, packet: Packet, source: NsRef | Injection) -> list[Trace]:
        ref = source.ns if isinstance(source, Injection) else source
        try:
            ns = self.dp.namespace(ref)
        except KeyError:
            raise TraceError(f"the dataplane has no namespace {ref} to start from") from None
        if isinstance(source, Injection):
            if source.iface not in ns.interfaces:
                raise TraceError(f"{ref} has no device {source.iface} to inject on")
            return self.receive(Flight(packet, packet, ref), source.iface)
        return self.local_out(Flight(packet, packet, ref))

    # --- netfilter ------------------------------------------------------------------------
    def hook(
        self, f: Flight, hook: Hook, in_iface: str | None, out_iface: str | None, cont: Cont,
        physdev: tuple[str | None, str | None] = (None, None),
    ) -> list[Trace]:
        ns = self.dp.namespace(f.ns)
        if ns.netfilter.is_empty():
            return cont(f)
        ctx = HookContext(
            hook=hook,
            in_iface=in_iface,
            out_iface=out_iface,
            local_addresses=self.local_ips(ns),
            iface_address=lambda name, version: iface_address(ns, name, version),
            state=f.nf_state if f.nf_state is not None else self.state,
            all_branches=self.all_branches,
            namespace=str(ns.ref),
            ipsets=ns.ipsets,
            physdev_in=physdev[0],
            physdev_out=physdev[1],
        )
        outcomes = run_hook(ns.netfilter, f.packet, ctx)  # the engine itself: not empty, checked above
        if not self.all_branches:
            outcomes = outcomes[:1]
        traces: list[Trace] = []
        for out in outcomes:
            steps: list[Step] = []
            for hit in out.hits:
                steps.extend(_hit_steps(hook, hit))
            for nat in out.nat:
                if nat.side == "dst":
                    steps.append(DnatStep(nat.before, nat.after, nat.chain, nat.kind))
                else:
                    steps.append(SnatStep(nat.before, nat.after, nat.chain, nat.kind))
            probability = f.probability if out.probability == 1 else f.probability * out.probability
            # after a fork each branch carries on with the state it left (its own conntrack
            # bindings, recent lists, marks), as the kernel would for that connection
            branch_state = out.state if len(outcomes) > 1 and out.state is not None else f.nf_state
            g = f.evolve(packet=out.packet, probability=probability, steps=f.steps + tuple(steps), nf_state=branch_state)
            last = out.hits[-1] if out.hits else None
            rule = f"{last.table}/{last.chain} #{last.number}: {last.text}" if last else f"{hook} policy"
            if out.verdict == "DROP":
                traces.append(g.drop(Disposition.DENIED, f"dropped at {hook} by {rule}", detail=f"{hook}: {rule}"))
            elif out.verdict == "REJECT":
                traces.append(g.drop(Disposition.REJECTED, f"rejected at {hook} by {rule}", detail=f"{hook}: {rule}"))
            else:
                traces.extend(cont(g))
        return traces

    # --- the forwarding path --------------------------------------------------------------
    def _loop(self, f: Flight, key: object) -> tuple[Flight, Trace | None]:
        if key in f.seen:
            where = str(f.ns)
            return f, f.drop(Disposition.LOOP, f"the same packet came back to {where}", detail=f"packet revisits {where} unchanged")
        if len(f.hops) > MAX_HOPS:
            return f, f.drop(Disposition.LOOP, f"more than {MAX_HOPS} hops", detail=f"hop limit {MAX_HOPS} reached")
        return f.evolve(seen=f.seen | {key}), None

    def _state_key(self, f: Flight, tag: str) -> object:
        """The packet state a loop repeats: everything but the TTL, per layer."""
        layers = tuple(ident(p) for _, p, _ in f.stack)
        return (f.ns, tag, ident(f.packet), layers)

    def local_out(self, f: Flight) -> list[Trace]:
        """A packet sent by a process (or a tunnel device) in ``f.ns``: OUTPUT path."""
        f, looped = self._loop(f, self._state_key(f, "out"))
        if looped is not None:
            return [looped]
        ns = self.dp.namespace(f.ns)
        if self.is_local(ns, f.packet.dst):
            local_dst = f.packet.dst

            def after_local_output(g: Flight) -> list[Trace]:
                if g.packet.dst == local_dst or self.is_local(ns, g.packet.dst):
                    return self.hook(g, "INPUT", "lo", None, lambda h: self.deliver(h, "lo"))
                # DNAT in OUTPUT away from a local address (a NodePort on 127.0.0.1 or on
                # the node's own IP): the kernel routes the packet again
                return self.reroute(g, ns)

            return self.hook(f, "OUTPUT", None, "lo", after_local_output)
        routed = self.route(f, ns, forwarded=False)
        if isinstance(routed, Trace):
            return [routed]
        g, route, dev = routed

        def after_output(h: Flight) -> list[Trace]:
            if h.packet.dst == g.packet.dst:
                return self.hook(h, "POSTROUTING", None, dev, lambda k: self.transmit(k, route, dev))
            # DNAT in OUTPUT: the kernel routes the packet again (ip_route_me_harder)
            if self.is_local(ns, h.packet.dst):
                return self.hook(h, "INPUT", "lo", None, lambda k: self.deliver(k, "lo"))
            return self.reroute(h, ns)

        return self.hook(g, "OUTPUT", None, dev, after_output)

    def reroute(self, f: Flight, ns: NetNamespace) -> list[Trace]:
        """A locally sent packet whose destination OUTPUT's DNAT changed: route it again
        (``ip_route_me_harder``), then POSTROUTING and egress. A 127/8 source may leave by a
        non-loopback device only with ``route_localnet`` (kube-proxy sets it for localhost
        NodePorts); otherwise the kernel refuses the route (EINVAL) and drops the packet."""
        again = self.route(f, ns, forwarded=False)
        if isinstance(again, Trace):
            return [again]
        k, route, dev = again
        src = k.packet.src
        iface = ns.interfaces.get(dev)
        if isinstance(src, IPv4Address) and src.is_loopback and iface is not None and iface.kind != "loopback":
            sysctl = ns.sysctls
            localnet = max(
                int(sysctl.get("net.ipv4.conf.all.route_localnet", "0")),
                int(sysctl.get(f"net.ipv4.conf.{dev}.route_localnet", "0")),
            )
            if localnet == 0:
                reason = (
                    f"source {src} may not leave {ns.ref} by {dev} (net.ipv4.conf.{dev}.route_localnet=0): "
                    f"the kernel refuses the route after the DNAT to {k.packet.dst}"
                )
                return [k.drop(Disposition.NO_ROUTE, reason, dev=dev)]
        return self.hook(k, "POSTROUTING", None, dev, lambda m: self.transmit(m, route, dev))

    def receive(self, f: Flight, in_iface: str) -> list[Trace]:
        """A packet arriving on ``in_iface`` of ``f.ns``: PREROUTING, then input or forward."""
        f, looped = self._loop(f, self._state_key(f, f"in:{in_iface}"))
        if looped is not None:
            return [looped]
        ns = self.dp.namespace(f.ns)
        dropped = self.rp_filter(f, ns, in_iface)
        if dropped is not None:
            return [dropped]

        def after_prerouting(g: Flight) -> list[Trace]:
            martian = self.martian(g, ns, in_iface)
            if martian is not None:
                return [martian]
            if self.is_local(ns, g.packet.dst):
                return self.hook(g, "INPUT", in_iface, None, lambda h: self.local_in(h, in_iface))
            return self.forward(g, ns, in_iface)

        return self.hook(f, "PREROUTING", in_iface, None, after_prerouting)

    def martian(self, f: Flight, ns: NetNamespace, in_iface: str) -> Trace | None:
        """``ip_route_input_slow``'s martian checks on a received IPv4 packet: a multicast,
        limited-broadcast or 0/8 source, or a 127/8 source or destination on a device
        without ``route_localnet``, is dropped before any route lookup."""
        p = f.packet
        if in_iface == "lo" or not isinstance(p.src, IPv4Address) or not isinstance(p.dst, IPv4Address):
            return None
        sysctl = ns.sysctls
        localnet = max(int(sysctl.get("net.ipv4.conf.all.route_localnet", "0")), int(sysctl.get(f"net.ipv4.conf.{in_iface}.route_localnet", "0")))
        what = None
        src, dst = int(p.src), int(p.dst)  # (224/4 multicast, 127/8 loopback, 0/8)
        if src >> 28 == 14 or src == 0xFFFFFFFF or src >> 24 == 0:
            what = f"martian source {p.src}"
        elif src >> 24 == 127 and not localnet:
            what = f"martian source {p.src} (route_localnet=0 on {in_iface})"
        elif dst >> 24 == 0:
            what = f"martian destination {p.dst}"
        elif dst >> 24 == 127 and not localnet:
            what = f"martian destination {p.dst} (route_localnet=0 on {in_iface})"
        if what is None:
            return None
        reason = f"{ns.ref} drops a {what} received on {in_iface}"
        return f.drop(Disposition.DENIED, reason, dev=in_iface)

    def bridged(self, f: Flight, bridge: str, cont: Cont, ports: tuple[str | None, str | None] = (None, None)) -> list[Trace]:
        """br_netfilter: an IPv4 frame ``bridge`` forwards between two of its ports passes
        PREROUTING, FORWARD and POSTROUTING of ``f.ns`` with the bridge as in and out
        device, so conntrack un-NATs a reply that goes pod to pod on one bridge, and
        FORWARD rules see same-node pod traffic. On unless the namespace sets
        ``net.bridge.bridge-nf-call-iptables=0`` (the default once the module is loaded,
        and what kubeadm's preflight and kube-proxy's iptables mode require). A DNAT in
        PREROUTING makes the kernel route the packet instead (``br_nf_pre_routing_finish``).
        ``ports``: the bridge ports the frame enters and leaves by (``-m physdev``)."""
        ns = self.dp.namespace(f.ns)
        if ns.sysctls.get("net.bridge.bridge-nf-call-iptables", "1") != "1" or f.packet.version != 4 or ns.netfilter.is_empty():
            return cont(f)
        dst = f.packet.dst

        def after_prerouting(g: Flight) -> list[Trace]:
            if g.packet.dst != dst:
                if self.is_local(ns, g.packet.dst):
                    return self.hook(g, "INPUT", bridge, None, lambda h: self.local_in(h, bridge))
                return self.forward(g, ns, bridge)
            return self.hook(g, "FORWARD", bridge, bridge, lambda h: self.hook(h, "POSTROUTING", bridge, bridge, cont, ports), ports)

        return self.hook(f, "PREROUTING", bridge, None, after_prerouting, (ports[0], None))

    def local_in(self, f: Flight, in_iface: str) -> list[Trace]:
        decapped = try_decap(self, f, in_iface)
        if decapped is not None:
            return decapped
        return self.deliver(f, in_iface)

    def deliver(self, f: Flight, in_iface: str) -> list[Trace]:
        ns = self.dp.namespace(f.ns)
        p = f.packet
        if ns.kind == "pod":
            who = f"pod {ns.ref.pod_key or ns.ref.label}"
            disposition = Disposition.DELIVERED
        else:
            who = f"{'router' if ns.kind == 'router' else 'host'} {ns.ref}"
            disposition = Disposition.ACCEPTED
        step = DeliverStep(in_iface, p.dst, p.dport, p.proto, who)
        return [f.end(disposition, f"delivered to {who}", step)]

    def rp_filter(self, f: Flight, ns: NetNamespace, in_iface: str) -> Trace | None:
        """Reverse-path filter: mode = max(conf.all, conf.<dev> or conf.default)."""
        if in_iface == "lo":
            return None
        sysctl = ns.sysctls
        dev_mode = sysctl.get(f"net.ipv4.conf.{in_iface}.rp_filter", sysctl.get("net.ipv4.conf.default.rp_filter", "0"))
        mode = max(int(sysctl.get("net.ipv4.conf.all.rp_filter", "0")), int(dev_mode))
        if mode == 0 or f.packet.version != 4:
            return None
        back = lookup_route(ns, f.packet.src)
        ok = back is not None and back.type == "unicast"
        if ok and mode == 1 and back is not None:
            ok = self._route_dev(ns, back) == in_iface
        if ok:
            return None
        how = "strict" if mode == 1 else "loose"
        reason = f"rp_filter ({how}) on {in_iface}: no route back to {f.packet.src}" + (f" out {in_iface}" if mode == 1 else "")
        return f.drop(Disposition.DENIED, reason, dev=in_iface)

    def _route_dev(self, ns: NetNamespace, route: Route) -> str | None:
        if route.dev is not None or route.via is None:
            return route.dev
        conn = connected_route(ns, route.via, None)
        return conn.dev if conn is not None else None

    def route(self, f: Flight, ns: NetNamespace, *, forwarded: bool) -> Trace | tuple[Flight, Route, str]:
        """Route lookup for ``f.packet``; on success the flight (TTL decremented when
        forwarded), the route and the egress device; else the trace that ends here."""
        p = f.packet
        route = lookup_route(ns, p.dst)
        if ns.diagnostics and (route is None or route.dst.prefixlen == 0):
            # only what concerns this destination: the one refused route that would have
            # carried it, not every peer's
            said = (f"{ns.ref}: {d}" for d in ns.diagnostics if not isinstance(d, Diagnosis) or d.concerns(p.dst))
            fresh = tuple(n for n in said if n not in f.notes)
            f = f.evolve(notes=f.notes + fresh).add(*(WarningStep(n) for n in fresh))
        if route is None:
            reason = f"no route to {p.dst} in {ns.ref}"
            return f.drop(Disposition.NO_ROUTE, reason)
        text = format_route(route)
        endings = {
            "blackhole": (Disposition.NULL_ROUTED, "blackhole route"),
            "unreachable": (Disposition.NO_ROUTE, "unreachable route (ICMP host unreachable)"),
            "prohibit": (Disposition.REJECTED, "prohibit route (ICMP administratively prohibited)"),
            "throw": (Disposition.NO_ROUTE, "throw route (no other table is consulted)"),
        }
        if route.type in endings:
            disposition, what = endings[route.type]
            reason = f"{what}: {text}"
            step = RouteStep(p.dst, text, route.dev, route.via, route.table, route.origin)
            return f.drop(disposition, reason, step, dev=route.dev, origin=route.origin)
        dev = route.dev
        if route.via is not None and not route.onlink:
            conn = connected_route(ns, route.via, route.dev)
            if conn is None:
                on = f" of dev {route.dev}" if route.dev else ""
                reason = (
                    f"gateway {route.via} of route '{text}' is not on a connected network{on} "
                    f"(the kernel refuses such a route: 'Nexthop has invalid gateway'; it needs "
                    f"the gateway to be L2-adjacent or the route to be onlink)"
                )
                step = RouteStep(p.dst, text, route.dev, route.via, route.table, route.origin)
                return f.drop(Disposition.NO_ROUTE, reason, step, dev=route.dev, origin=route.origin)
            dev = dev or conn.dev
        if dev is None or dev not in ns.interfaces:
            reason = f"route '{text}' names no usable device"
            return f.drop(Disposition.NO_ROUTE, reason, origin=route.origin)
        ttl = None
        layer = self._layer(f, ns, dev) if forwarded else ""
        if forwarded:
            if p.ttl <= 1:
                step = RouteStep(p.dst, text, dev, route.via, route.table, route.origin, layer=layer)
                which = f"{layer} TTL" if layer else "TTL"
                reason = f"{which} {p.ttl} expires when {ns.ref} forwards (ICMP time exceeded)"
                return f.drop(Disposition.TTL_EXCEEDED, reason, step, dev=dev)
            ttl = p.ttl - 1
            f = f.evolve(packet=p.with_(ttl=ttl))
        return f.add(RouteStep(p.dst, text, dev, route.via, route.table, route.origin, ttl, layer)), route, dev

    def _layer(self, f: Flight, ns: NetNamespace, dev: str) -> str:
        """Which TTL a forwarding namespace lowers, when a tunnel is involved: a router of
        the underlay routes a tunnel's ``outer`` packet (the inner one's TTL is untouched);
        a host routes the ``inner`` packet into a tunnel device or after one unwrapped it."""
        if f.stack:
            return "outer"
        if ns.interfaces[dev].kind in ("vxlan", "ipip", "tun") or any(isinstance(s, DecapStep) for s in f.steps):
            return "inner"
        return ""

    def forward(self, f: Flight, ns: NetNamespace, in_iface: str) -> list[Trace]:
        if not ns.ip_forward:
            reason = f"{ns.ref} does not forward (net.ipv4.ip_forward=0) and {f.packet.dst} is not local"
            return [f.drop(Disposition.NO_ROUTE, reason, dev=in_iface)]
        routed = self.route(f, ns, forwarded=True)
        if isinstance(routed, Trace):
            return [routed]
        g, route, dev = routed
        # ip_forward() refuses a DF packet bigger than the egress MTU before the FORWARD
        # hook runs: no FORWARD or POSTROUTING rule sees it
        too_big = self._frag_needed(g, ns, dev, forwarded=True)
        if too_big is not None:
            return [too_big]
        return self.hook(
            g, "FORWARD", in_iface, dev, lambda h: self.hook(h, "POSTROUTING", in_iface, dev, lambda k: self.transmit(k, route, dev))
        )

    def transmit(self, f: Flight, route: Route, dev: str) -> list[Trace]:
        """Egress on ``dev``: MTU check, then by device kind (tunnels.py does the rest)."""
        ns = self.dp.namespace(f.ns)
        iface = ns.interfaces[dev]
        p = f.packet
        if p.size > iface.mtu:
            too_big = self._frag_needed(f, ns, dev)
            if too_big is not None:
                return [too_big]
            # a datagram reassembled by conntrack is cut again to the largest fragment it
            # came in (``frag_max_size``), or to this MTU if that is smaller
            mtu = min(iface.mtu, f.frag_mtu or iface.mtu)
            datagrams = f.datagrams()
            count = sum(len(fragment_sizes(d, mtu, p.version)) for d in datagrams)
            step = FragmentStep(dev, iface.mtu, p.size, count, outer=bool(f.stack), packets=len(datagrams))
            f = f.evolve(frag_mtu=mtu).add(step)
        nexthop = route.via if route.via is not None else p.dst
        return send_on_device(self, f, ns, iface, route, nexthop)

    def _frag_needed(self, f: Flight, ns: NetNamespace, dev: str, *, forwarded: bool = False) -> Trace | None:
        """The FRAG_NEEDED ending when ``f.packet`` has DF set and exceeds ``dev``'s MTU. A
        forwarding namespace answers with an ICMP error whose source is the address it would
        send to the packet's source from (``icmp_send`` routes the error back, as
        ``icmp_errors_use_inbound_ifaddr=0`` has it); the sender's own stack refuses the send
        (EMSGSIZE) and sends nothing. A router refuses any IPv6 packet too big, DF or not
        (Packet Too Big): only an IPv6 source fragments."""
        iface = ns.interfaces[dev]
        p = f.packet
        v6_router = forwarded and p.version == 6
        if v6_router:
            # IPv6 routers never fragment (ip6_forward): whatever does not fit, in the pieces
            # it came in (conntrack's frag_max_size), is answered with Packet Too Big
            if max(f.pieces()) <= iface.mtu:
                return None
        elif p.size <= iface.mtu or not p.df:
            return None
        link = f"{dev} (veth to {iface.peer[0]}:{iface.peer[1]})" if iface.peer else f"{dev} ({iface.kind})"
        mtu, to, size = iface.mtu, p.src, p.size
        if forwarded or f.stack:
            if not forwarded:
                # a tunnel packet this namespace wraps (IPIP copies the inner DF): the tunnel
                # checks the path first and answers the inner sender (``tnl_update_pmtu``)
                enc, inner, _ = f.stack[-1]
                mtu, to, size = iface.mtu - enc.overhead, inner.src, inner.size
            back = lookup_route(ns, to)
            icmp_from = select_source(ns, back, to) if back is not None and back.type == "unicast" else None
            what = "ICMPv6 packet too big" if v6_router else "ICMP fragmentation needed"
            answer = f"{what}, mtu {mtu}, from {icmp_from or '(no address)'} to {to}"
        else:
            icmp_from = None
            answer = f"the sender's own stack refuses it: message too long, mtu {mtu}"
        df = "" if v6_router else " with DF set"
        reason = f"packet of {p.size} bytes{df} exceeds MTU {iface.mtu} of {link} in {ns.ref} ({answer})"
        return f.drop(Disposition.FRAG_NEEDED, reason, dev=dev, size=size, mtu=mtu, icmp_from=icmp_from)
