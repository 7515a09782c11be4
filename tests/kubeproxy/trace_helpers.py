"""Run packets through generated rulesets with the netfilter engine (all branches)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from ipaddress import ip_address

from overlaynet.dataplane.netfilter import (
    HookContext,
    HookOutcome,
    NetfilterState,
    Ruleset,
    run_hook,
)
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress

MARK = 0x4000


@dataclass(frozen=True)
class Result:
    """One branch: verdict, where the packet goes (None: not DNATed), masquerade or not."""

    verdict: str
    destination: tuple[IPAddress, int | None] | None
    masquerade: bool
    probability: Fraction
    chains: tuple[str, ...]


def hook(ruleset: Ruleset, name: str, packet: Packet, local: Iterable[IPAddress], state: NetfilterState,
         *, in_iface: str | None = "eth0", out_iface: str | None = None) -> list[HookOutcome]:
    node_ip = next(iter(sorted(local, key=str)), ip_address("192.168.0.2"))
    ctx = HookContext(name, in_iface, out_iface, frozenset(local), lambda _i, _v: node_ip,  # type: ignore[arg-type]
                      state, all_branches=True, namespace="node")
    return run_hook(ruleset, packet, ctx)


def trace_inbound(ruleset: Ruleset, packet: Packet, local: Iterable[IPAddress], *, in_iface: str = "eth0") -> list[Result]:
    """A packet arriving on ``in_iface``: PREROUTING, then INPUT (local destination) or FORWARD +
    POSTROUTING (out eth0), each branch with its own state, as the kernel walks it."""
    local = frozenset(local)
    out: list[Result] = []
    for pre in hook(ruleset, "PREROUTING", packet, local, NetfilterState(), in_iface=in_iface):
        assert pre.state is not None
        dnat = next((n.after for n in pre.nat if n.kind == "DNAT"), None)
        chains = tuple(h.chain for h in pre.hits)
        if pre.verdict != "ACCEPT":
            out.append(Result(pre.verdict, dnat, False, pre.probability, chains))
            continue
        pkt = pre.packet
        if pkt.dst in local:
            for inp in hook(ruleset, "INPUT", pkt, local, pre.state, in_iface=in_iface):
                out.append(Result(inp.verdict, dnat, False, pre.probability * inp.probability,
                                  chains + tuple(h.chain for h in inp.hits)))
            continue
        for fwd in hook(ruleset, "FORWARD", pkt, local, pre.state, in_iface=in_iface, out_iface="eth0"):
            if fwd.verdict != "ACCEPT":
                out.append(Result(fwd.verdict, dnat, False, pre.probability * fwd.probability, chains))
                continue
            assert fwd.state is not None
            for post in hook(ruleset, "POSTROUTING", fwd.packet, local, fwd.state, in_iface=None, out_iface="eth0"):
                masq = any(n.kind == "MASQUERADE" for n in post.nat)
                out.append(Result(post.verdict, dnat, masq, pre.probability * fwd.probability * post.probability,
                                  chains + tuple(h.chain for h in fwd.hits) + tuple(h.chain for h in post.hits)))
    return out
