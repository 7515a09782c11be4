"""Does ``iptables trace`` agree with the kernel on any ruleset? ``verify_ruleset`` loads it
into a throwaway node namespace between a client and a backend, sends one TCP connection
or UDP datagram per probe through the kernel, and compares what happened with
``flow.trace_packet``.

The lab (materialized like any dataplane: ``onet-<run>-…`` namespaces, removed afterwards)::

    client 198.51.100.2/24 ──eth0── node ──ep0── 192.0.2.2/29 backend
                         198.51.100.1/24  192.0.2.6/29 (primary), 192.0.2.1/29 (secondary)
                                                          (+ every probed address, /32)

The node forwards, its default route goes to the backend (MASQUERADE out of ep0 must take
its primary address, 192.0.2.6, not the numerically smaller secondary one), and the ruleset
under test is loaded into it with iptables-restore (each ``-m set`` set created empty
first). Listeners
on the backend and on the node accept every probed port and report, per connection (named
by a token the client sends), the address it came from and the one it arrived at. So the
kernel's answer to a probe is: ACCEPT and *forwarded* (the backend saw it: destination
after DNAT, source after SNAT/MASQUERADE), ACCEPT and *local* (the node saw it), REJECT (the
client was refused or told unreachable) or DROP (its connect timed out).

Probes come from the ruleset (``derive_probes``): every ``-d IP/32 --dport N`` TCP/UDP rule
(ClusterIPs, external IPs) from the client and from the node itself; every port rule
without ``-d`` (NodePorts, kube-proxy's KUBE-EXTERNAL-SERVICES, a node's own services) to
the node's address, from the client and from the node (the loopback re-entry); every DNAT
target; and one port nothing names (TCP and UDP). A UDP listener echoes each datagram;
the client takes an ICMP error (IP_RECVERR) as REJECT and silence as DROP. The tracer must
have the kernel's outcome among its outcomes (all statistic branches followed): same
verdict, same place, same destination and source. Limits: IPv4 only; a reply the ruleset drops makes an accepted SYN look dropped
(the listener needs the handshake).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from overlaynet.dataplane.ir import Address, Dataplane, Interface, NsRef, Route
from overlaynet.dataplane.netfilter import Ruleset, render_save
from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.flow import FlowOutcome, trace_packet
from overlaynet.dataplane.netfilter.hostaddr import HostAddresses
from overlaynet.dataplane.packet import Packet
from overlaynet.errors import MaterializeError
from overlaynet.materialize.apply import Materialized, materialize

__all__ = ["RuleProbe", "RulesetComparison", "RulesetReport", "derive_probes", "verify_ruleset"]

NODE, CLIENT, BACKEND = NsRef("node"), NsRef("client"), NsRef("backend")
NODE_IP = ipaddress.IPv4Address("198.51.100.1")
CLIENT_IP = ipaddress.IPv4Address("198.51.100.2")
NODE_EP = ipaddress.IPv4Address("192.0.2.6")
NODE_EP_SECONDARY = ipaddress.IPv4Address("192.0.2.1")
BACKEND_IP = ipaddress.IPv4Address("192.0.2.2")
LAB = frozenset({NODE_IP, CLIENT_IP, NODE_EP, NODE_EP_SECONDARY, BACKEND_IP})
UNNAMED_PORT = 9  # a port the rulesets do not name: the policies' answer
Where = Literal["forwarded", "local"]


Proto = Literal["tcp", "udp"]
Hook = Literal["prerouting", "output"]


@dataclass(frozen=True, slots=True)
class RuleProbe:
    """One TCP connection or UDP datagram: from the client (``prerouting``) or a process on
    the node (``output``) to ``dst:port``; ``why`` says which rule it comes from."""

    hook: Hook
    dst: ipaddress.IPv4Address
    port: int
    why: str
    proto: Proto = "tcp"

    @property
    def src(self) -> ipaddress.IPv4Address:
        if self.hook == "prerouting":
            return CLIENT_IP
        return self.dst if self.dst == NODE_IP else NODE_EP  # the kernel's source for the route

    def __str__(self) -> str:
        return f"{'client' if self.hook == 'prerouting' else 'node'} → {self.dst}:{self.port}/{self.proto} ({self.why})"


@dataclass(frozen=True, slots=True)
class Observed:
    """What happened to one probe, in the kernel or by the tracer."""

    verdict: str  # ACCEPT | REJECT | DROP
    where: Where | None = None
    destination: str | None = None  # ip:port it arrived at
    source: str | None = None  # ip it came from (after SNAT)

    def __str__(self) -> str:
        if self.verdict != "ACCEPT":
            return self.verdict
        return f"ACCEPT {self.where} to {self.destination} from {self.source}"


@dataclass(frozen=True, slots=True)
class RulesetComparison:
    probe: RuleProbe
    kernel: Observed
    tracer: tuple[Observed, ...]  # every outcome, all statistic branches
    agree: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"probe": str(self.probe), "hook": self.probe.hook, "dst": f"{self.probe.dst}:{self.probe.port}",
                "kernel": str(self.kernel), "tracer": [str(o) for o in self.tracer], "agree": self.agree,
                "detail": self.detail}


@dataclass(frozen=True)
class RulesetReport:
    run_id: str
    comparisons: tuple[RulesetComparison, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def disagreements(self) -> list[RulesetComparison]:
        return [c for c in self.comparisons if not c.agree]

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "run_id": self.run_id, "probes": len(self.comparisons),
                "disagreements": len(self.disagreements), "seconds": round(self.seconds, 3),
                "notes": list(self.notes), "comparisons": [c.to_dict() for c in self.comparisons]}


# --- probes from the ruleset ---------------------------------------------------------------
def derive_probes(ruleset: Ruleset, *, limit: int = 60) -> list[RuleProbe]:
    """The probes the ruleset is about (see the module docstring), deduplicated and sorted,
    at most ``limit``."""
    found: dict[tuple[Hook, ipaddress.IPv4Address, int, Proto], str] = {}

    def add(hook: Hook, dst: ipaddress.IPv4Address, port: int, why: str, proto: Proto) -> None:
        if dst in LAB - {NODE_IP} or dst.is_loopback or dst.is_multicast or dst.is_unspecified or not 0 < port < 65536:
            return
        found.setdefault((hook, dst, port, proto), why)

    for table in ruleset.ordered_tables():
        for chain in table.ordered_chains():
            for rule in chain.rules:
                found_port = _port(rule)
                if isinstance(rule.target, t.Dnat) and isinstance(rule.target.to.lo, ipaddress.IPv4Address):
                    to, proto = rule.target.to, found_port[1] if found_port else _proto(rule)
                    port = to.ports.lo if to.ports else found_port[0] if found_port else None
                    if port is not None and proto is not None:
                        add("prerouting", to.lo, port, f"DNAT target in {chain.name}", proto)  # type: ignore[arg-type]
                if found_port is None:
                    continue
                port, proto = found_port
                dst = _host_destination(rule)
                if dst is None and not any(isinstance(x, m.Destination) for x in rule.matches):
                    dst, why = NODE_IP, f"port rule in {table.name} {chain.name}"
                else:
                    why = f"{table.name} {chain.name}"
                if dst is not None:
                    add("prerouting", dst, port, why, proto)
                    add("output", dst, port, why, proto)
    for proto in ("tcp", "udp"):
        add("prerouting", NODE_IP, UNNAMED_PORT, "a port no rule names", proto)  # type: ignore[arg-type]
        add("output", NODE_IP, UNNAMED_PORT, "a port no rule names", proto)  # type: ignore[arg-type]
    probes = [RuleProbe(hook, dst, port, why, proto) for (hook, dst, port, proto), why in found.items()]
    probes.sort(key=lambda p: (p.hook != "prerouting", int(p.dst), p.port, p.proto))
    return probes[:limit]


def _proto(rule: Any) -> Proto | None:
    for x in rule.matches:
        if isinstance(x, m.Protocol_) and not x.negated and x.number in (6, 17):
            return "tcp" if x.number == 6 else "udp"
    return None


def _port(rule: Any) -> tuple[int, Proto] | None:
    """The (first) destination port a TCP or UDP rule names, with its protocol."""
    proto = _proto(rule)
    for x in rule.matches:
        if isinstance(x, m.Ports) and x.proto in ("tcp", "udp") and x.dport is not None and not x.dport_negated:
            return x.dport.lo, x.proto  # type: ignore[return-value]
        if proto is not None and isinstance(x, m.Multiport) and x.kind in ("dports", "ports") and not x.negated:
            return x.ports[0].lo, proto
    return None


def _host_destination(rule: Any) -> ipaddress.IPv4Address | None:
    for x in rule.matches:
        if isinstance(x, m.Destination) and not x.negated and x.net.version == 4 and x.net.prefixlen == 32:
            return x.net.network_address
    return None


# --- the lab ---------------------------------------------------------------------------------
def lab_dataplane(probed: Iterable[ipaddress.IPv4Address]) -> Dataplane:
    """Client, node and backend (see the module docstring); the node's ruleset stays empty
    here (``verify_ruleset`` loads it after creating its ipsets)."""
    dp = Dataplane()
    lo = [Address(ipaddress.IPv4Address("127.0.0.1"), 8)]
    node = dp.add_namespace(NODE, "host")
    node.add_interface(Interface("lo", "loopback", mtu=65536, addresses=list(lo)))
    node.add_interface(Interface("eth0", "veth", addresses=[Address(NODE_IP, 24)], peer=(CLIENT, "eth0")))
    node.add_interface(Interface("ep0", "veth", addresses=[Address(NODE_EP, 29), Address(NODE_EP_SECONDARY, 29)],
                                 peer=(BACKEND, "eth0")))
    node.add_route(Route(ipaddress.ip_network("0.0.0.0/0"), dev="ep0", via=BACKEND_IP))
    node.sysctls["net.ipv4.ip_forward"] = "1"
    client = dp.add_namespace(CLIENT, "other")
    client.add_interface(Interface("lo", "loopback", mtu=65536, addresses=list(lo)))
    client.add_interface(Interface("eth0", "veth", addresses=[Address(CLIENT_IP, 24)], peer=(NODE, "eth0")))
    client.add_route(Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", via=NODE_IP))
    backend = dp.add_namespace(BACKEND, "other")
    targets = sorted({ip for ip in probed if ip not in LAB})
    backend.add_interface(Interface("lo", "loopback", mtu=65536,
                                    addresses=[*lo, *(Address(ip, 32) for ip in targets)]))
    backend.add_interface(Interface("eth0", "veth", addresses=[Address(BACKEND_IP, 29)], peer=(NODE, "ep0")))
    backend.add_route(Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", via=NODE_EP))
    return dp


def node_addresses(eth0: str = "eth0", ep0: str = "ep0") -> HostAddresses:
    """The node's addresses for the tracer, under the interface names the kernel gave."""
    return HostAddresses.build([(eth0, (ipaddress.ip_interface(f"{NODE_IP}/24"),)),
                                (ep0, (ipaddress.ip_interface(f"{NODE_EP}/29"),
                                       ipaddress.ip_interface(f"{NODE_EP_SECONDARY}/29")))])


def verify_ruleset(ruleset: Ruleset, *, probes: list[RuleProbe] | None = None, timeout: float = 1.0,
                   run_id: str | None = None) -> RulesetReport:
    """Probe ``ruleset`` in the kernel and with the tracer; MaterializeError when the lab
    cannot be built or the kernel refuses the ruleset (the namespaces are removed)."""
    started = time.monotonic()
    probes = probes if probes is not None else derive_probes(ruleset)
    if not probes:
        raise MaterializeError("the ruleset names no port or address to probe")
    ports = {proto: sorted({p.port for p in probes if p.proto == proto} | _dnat_ports(ruleset, proto))
             for proto in ("tcp", "udp")}
    with materialize(lab_dataplane(p.dst for p in probes), run_id=run_id) as lab:
        notes = _load(lab, ruleset)
        kernel = _run_probes(lab, probes, ports, timeout)
        run, names = lab.run_id, (lab.ifname(NODE, "eth0"), lab.ifname(NODE, "ep0"))
    comparisons = tuple(_compare(ruleset, probe, seen, names, 40000 + i)
                        for i, (probe, seen) in enumerate(zip(probes, kernel, strict=True)))
    return RulesetReport(run, comparisons, tuple(notes), time.monotonic() - started)


def _dnat_ports(ruleset: Ruleset, proto: str) -> set[int]:
    return {r.target.to.ports.lo for tb in ruleset.tables.values() for c in tb.chains.values() for r in c.rules
            if isinstance(r.target, t.Dnat) and r.target.to.ports is not None and _proto(r) in (proto, None)}


def _load(lab: Materialized, ruleset: Ruleset) -> list[str]:
    notes = []
    sets = sorted({(x.name, len(x.flags)) for tb in ruleset.tables.values() for c in tb.chains.values()
                   for r in c.rules for x in r.matches if isinstance(x, m.SetMatch)})
    for name, dims in sets:
        kind = {1: "hash:net", 2: "hash:net,port"}.get(dims, "hash:ip,port,ip")
        done = lab.exec(NODE, ["ipset", "create", name, kind], timeout=20)
        if done.returncode != 0:
            raise MaterializeError(f"ipset create {name} {kind}: {done.stderr.strip()}")
        notes.append(f"ipset {name} created empty ({kind}): the dump does not hold its members")
    done = lab.exec(NODE, ["iptables-restore"], timeout=60, input=render_save(ruleset))
    if done.returncode != 0:
        raise MaterializeError(f"iptables-restore refused the ruleset: {done.stderr.strip()}")
    return notes


def _run_probes(lab: Materialized, probes: list[RuleProbe], ports: dict[str, list[int]],
                timeout: float) -> list[Observed]:
    """Send every probe (all at once per source and protocol) and read what the listeners
    on the backend and the node saw, by token."""
    nonce = secrets.token_hex(4)
    life = timeout * 4 + 60
    listeners = []
    for ref in (BACKEND, NODE):
        if ports["tcp"]:
            listeners.append((ref, lab.agent_popen(ref, "serve", {"ports": ports["tcp"], "timeout": life,
                                                                  "report_local": True})))
        if ports["udp"]:
            listeners.append((ref, lab.agent_popen(ref, "udp_serve", {"ports": ports["udp"], "timeout": life})))
    results: dict[int, dict[str, Any]] = {}
    seen: dict[str, tuple[Where, list[Any]]] = {}
    try:
        for src in (CLIENT, NODE):
            for proto, command in (("tcp", "connect_many"), ("udp", "udp_send_many")):
                idx = [i for i, p in enumerate(probes) if (p.hook == "prerouting") == (src == CLIENT) and p.proto == proto]
                if not idx:
                    continue
                targets = [{"dst": str(probes[i].dst), "port": probes[i].port, "token": f"{nonce}-{i}",
                            "src": str(probes[i].src), "sport": 40000 + i} for i in idx]
                answer = lab.agent(src, command, {"targets": targets, "timeout": timeout}, timeout=timeout + 30)
                results.update(zip(idx, answer["results"], strict=True))
        for ref, proc in listeners:
            stdout, _ = proc.communicate(input="", timeout=30)
            lines = stdout.strip().splitlines()
            for peer in (json.loads(lines[-1]).get("peers", []) if lines else []):
                seen[str(peer[2])] = ("forwarded" if ref == BACKEND else "local", peer)
    finally:
        for _, proc in listeners:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    out = []
    for i in range(len(probes)):
        got = seen.get(f"{nonce}-{i}")
        status = results.get(i, {}).get("status", "timeout")
        if got is not None:
            where, peer = got
            out.append(Observed("ACCEPT", where, f"{peer[3]}:{peer[4]}", str(peer[0])))
        elif status in ("refused", "unreachable"):
            out.append(Observed("REJECT"))
        elif status in ("connected", "answered"):
            out.append(Observed("ACCEPT"))  # answered, yet no listener saw it: compared as such
        else:
            out.append(Observed("DROP"))
    return out


def _compare(ruleset: Ruleset, probe: RuleProbe, kernel: Observed, names: tuple[str, str],
             sport: int) -> RulesetComparison:
    packet = Packet(probe.src, probe.dst, probe.proto, sport, probe.port,
                    tcp_flags=frozenset({"SYN"}) if probe.proto == "tcp" else frozenset())
    outcomes = trace_packet(ruleset, packet, hook=probe.hook, in_iface=names[0], out_iface=names[1],
                            host=node_addresses(*names), all_branches=True)
    seen = tuple(dict.fromkeys(_observed(o) for o in outcomes))
    agree = kernel in seen
    detail = "" if agree else f"the kernel's outcome is not among the tracer's {len(seen)}"
    return RulesetComparison(probe, kernel, seen, agree, detail)


def _observed(outcome: FlowOutcome) -> Observed:
    if outcome.verdict != "ACCEPT":
        return Observed(outcome.verdict)
    pkt = outcome.packet
    where: Where = "local" if outcome.hooks[-1] == "INPUT" else "forwarded"
    return Observed("ACCEPT", where, f"{pkt.dst}:{pkt.dport}", str(pkt.src))

