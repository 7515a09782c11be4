"""Probes against materialized namespaces: TCP connect, capture on an underlay segment."""

from __future__ import annotations

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.materialize import Materialized, materialize
from overlaynet.materialize.probe import Capture, ping, tcp_connect

from . import irs

pytestmark = pytest.mark.root


def test_tcp_connect_listener_and_refusal(run_id: str) -> None:
    with materialize(irs.two_namespaces(), run_id=run_id) as m:
        ok = tcp_connect(m, NsRef("a"), "10.0.0.2", 8080, listen_in=NsRef("b"))
        assert (ok.status, ok.accepted_from) == ("connected", "10.0.0.1")
        refused = tcp_connect(m, NsRef("a"), "10.0.0.2", 8081)
        assert (refused.status, refused.connected) == ("refused", False)
        nowhere = ping(m, NsRef("a"), "10.200.0.1", timeout=0.5)
        assert (nowhere.status, nowhere.local) == ("unreachable", True)


def test_ping_through_a_router_with_a_smaller_mtu_beyond(run_id: str) -> None:
    with materialize(irs.routed_pair(far_mtu=1400), run_id=run_id) as m:
        a = NsRef("a")
        reply = ping(m, a, "10.0.2.2")
        assert (reply.status, reply.ttl) == ("reply", 63)  # the router forwards the reply once
        # the router refuses a DF packet that its far link cannot carry, naming that MTU ...
        first = ping(m, a, "10.0.2.2", size=1401, df=True)
        assert (first.status, first.mtu, first.local, first.reply_from) == ("frag_needed", 1400, False, "10.0.1.1")
        assert "Frag needed and DF set (mtu = 1400)" in first.message
        # ... and the sender's kernel now knows the path MTU: it refuses the next one itself
        second = ping(m, a, "10.0.2.2", size=1401, df=True)
        assert (second.status, second.mtu, second.local) == ("frag_needed", 1400, True)
        assert ping(m, a, "10.0.2.2", size=1400, df=True).status == "reply"
        assert ping(m, a, "10.0.2.2", size=4000).status == "reply"  # DF clear: fragmented


@pytest.mark.tshark
def test_capture_on_the_underlay_decodes_vxlan(vxlan_by_hand: Materialized) -> None:
    m = vxlan_by_hand
    pod = NsRef.pod("node-1", "default/pod-a")
    cap = Capture(m, "lan")
    try:
        with cap:
            assert ping(m, pod, "10.244.2.2", size=1000).status == "reply"
        frames = cap.vxlan()
    finally:
        cap.close()
    request, reply = frames
    assert (request.outer_src, request.outer_dst, request.dport, request.vni) == ("192.168.50.1", "192.168.50.2", 8472, 1)
    assert (request.inner_src, request.inner_dst, request.inner_proto) == ("10.244.1.2", "10.244.2.2", "icmp")
    assert (reply.inner_src, reply.inner_dst) == ("10.244.2.2", "10.244.1.2")
    # VXLAN: +50 against the underlay MTU, +64 on the wire (outer Ethernet included)
    assert (request.inner_ip_len, request.outer_ip_len, request.frame_len) == (1000, 1050, 1064)
    # each frame is seen once, where it enters the segment
    assert sorted(f.length for f in cap.frames if f.length > 100) == [1064, 1064]
    assert {(f.segment, f.ifname) for f in cap.frames} <= {("lan", "node-1"), ("lan", "node-2")}
