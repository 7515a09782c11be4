"""Session affinity (ClientIP) holds across new connections from the same client while the
``recent`` entry is fresh, and lapses after the timeout (netfilter engine, stateful)."""

from __future__ import annotations

import random
from fractions import Fraction
from ipaddress import ip_address

from overlaynet.dataplane.netfilter import HookContext, NetfilterState, parse_save, run_hook
from overlaynet.dataplane.packet import Packet
from overlaynet.kubeproxy import generate_full

from .proxier_cases import TEST_NODE_IP, ep, eps, fake_config, svc
from .trace_helpers import hook

LOCAL = frozenset({TEST_NODE_IP})
CLIENT = ip_address("10.99.0.7")


def _ruleset(timeout: int = 600):  # type: ignore[no-untyped-def]
    services = [svc("default", "node-js-scale", "10.96.0.1", session_affinity="ClientIP",
                    session_affinity_timeout=timeout)]
    slices = [eps("default", "node-js-scale", *(ep(f"10.244.{i}.2") for i in range(4)))]
    return parse_save(generate_full(services, slices, fake_config(nfacct=False)))


def test_affinity_holds_for_new_connections_then_lapses() -> None:
    ruleset = _ruleset(timeout=600)
    state = NetfilterState()
    first = None
    for k in range(8):  # 8 new connections (new source ports), 8 different random seeds
        state.rng = random.Random(k)
        ctx = HookContext("PREROUTING", "eth0", None, LOCAL, lambda _i, _v: TEST_NODE_IP, state, namespace="node")
        out = run_hook(ruleset, Packet(CLIENT, ip_address("10.96.0.1"), "tcp", 40000 + k, 80), ctx)[0]
        state.advance(10)
        first = first or out.packet.dst
        assert out.packet.dst == first
        assert any("--rcheck" in h.text for h in out.hits) == (k > 0)
    # after the timeout the recent entry is reaped: every endpoint is possible again
    state.advance(601)
    outcomes = hook(ruleset, "PREROUTING", Packet(CLIENT, ip_address("10.96.0.1"), "tcp", 50000, 80), LOCAL, state)
    assert {o.packet.dst for o in outcomes} == {ip_address(f"10.244.{i}.2") for i in range(4)}
    assert all(o.probability == Fraction(1, 4) for o in outcomes)


def test_all_branches_with_fresh_affinity_is_one_endpoint() -> None:
    ruleset = _ruleset()
    state = NetfilterState()
    first = hook(ruleset, "PREROUTING", Packet(CLIENT, ip_address("10.96.0.1"), "tcp", 40000, 80), LOCAL, state)
    assert len(first) == 4  # a new client: four branches, each records its own affinity
    chosen = first[2]
    assert chosen.state is not None
    again = hook(ruleset, "PREROUTING", Packet(CLIENT, ip_address("10.96.0.1"), "tcp", 40001, 80), LOCAL, chosen.state)
    assert [(o.packet.dst, o.probability) for o in again] == [(chosen.packet.dst, Fraction(1))]
