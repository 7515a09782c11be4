"""Helpers for the netfilter tests: hook contexts and packets in one line."""

from __future__ import annotations

import ipaddress

import pytest

from overlaynet.dataplane.netfilter import HookContext, NetfilterState
from overlaynet.dataplane.packet import Packet

NODE_IP = ipaddress.ip_address("192.168.0.11")


def make_ctx(hook: str, state: NetfilterState, *, in_iface: str | None = "eth0", out_iface: str | None = None,
             all_branches: bool = False, local: tuple[str, ...] = ("192.168.0.11",)) -> HookContext:
    return HookContext(
        hook,  # type: ignore[arg-type]
        in_iface,
        out_iface,
        frozenset(ipaddress.ip_address(a) for a in local),
        lambda name, version: NODE_IP if version == 4 else None,
        state,
        all_branches=all_branches,
        namespace="node-1",
    )


def tcp(src: str, dst: str, dport: int, sport: int = 40000, **kw: object) -> Packet:
    return Packet(ipaddress.ip_address(src), ipaddress.ip_address(dst), "tcp", sport, dport, **kw)  # type: ignore[arg-type]


@pytest.fixture
def state() -> NetfilterState:
    return NetfilterState(seed=7)
