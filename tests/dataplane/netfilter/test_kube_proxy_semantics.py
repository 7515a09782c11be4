"""kube-proxy behaviour through the engine on a LoadBalancer dump (source ranges, eTP=Local,
health-check node port), with the whole host path (flow.trace_packet)."""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from pathlib import Path

from overlaynet.dataplane.netfilter import parse_save
from overlaynet.dataplane.netfilter.flow import overall_verdict, trace_packet

from .conftest import tcp

LB = parse_save((Path(__file__).parent / "golden" / "kube-proxy-loadbalancer.save").read_text())
NODE = [ipaddress.ip_address("192.168.0.11")]


def flows(src: str, dst: str, port: int, hook: str = "prerouting") -> list:  # type: ignore[type-arg]
    return trace_packet(LB, tcp(src, dst, port), hook=hook, local_ips=NODE, all_branches=True)  # type: ignore[arg-type]


def test_allowed_source_range_reaches_only_the_local_endpoint_with_client_ip_kept() -> None:
    [out] = flows("203.0.113.7", "5.6.7.8", 80)
    assert out.verdict == "ACCEPT" and str(out.destination[0]) == "10.180.0.20"
    assert not out.masquerade and str(out.packet.src) == "203.0.113.7"
    assert any("KUBE-FW-" in h.chain for h in out.hits)


def test_other_sources_fall_through_kube_fw_and_are_dropped_by_the_proxy_firewall() -> None:
    [out] = flows("198.51.100.1", "5.6.7.8", 80)
    assert out.verdict == "DROP" and out.destination is None
    assert out.hits[-1].chain == "KUBE-PROXY-FIREWALL"
    assert any(h.chain.startswith("KUBE-FW-") and h.verdict is None for h in out.hits)  # the comment-only rule


def test_nodeport_from_outside_with_local_policy_keeps_the_client_ip() -> None:
    [out] = flows("8.8.8.8", "192.168.0.11", 31000)
    assert str(out.destination[0]) == "10.180.0.20" and not out.masquerade


def test_nodeport_from_the_node_itself_is_masqueraded_and_balanced() -> None:
    outs = flows("192.168.0.11", "192.168.0.11", 31000, hook="output")
    assert sorted(str(o.destination[0]) for o in outs) == ["10.180.0.20", "10.180.1.21"]
    assert all(o.probability == Fraction(1, 2) and o.masquerade for o in outs)


def test_pod_traffic_to_the_external_address_short_circuits_to_the_service() -> None:
    outs = flows("10.180.0.9", "192.168.0.11", 31000)
    assert len(outs) == 2 and not any(o.masquerade for o in outs)


def test_health_check_node_port_is_accepted_locally() -> None:
    [out] = flows("8.8.8.8", "192.168.0.11", 32000)
    assert out.hooks == ("PREROUTING", "INPUT") and overall_verdict([out]) == "ACCEPT"
    assert any(h.chain == "KUBE-NODEPORTS" and h.verdict == "ACCEPT" for h in out.hits)


def test_kube_proxy_jumps_are_added_in_kube_proxys_order_and_only_once() -> None:
    from overlaynet.dataplane.netfilter import render_save
    from overlaynet.dataplane.netfilter.flow import kube_proxy_jumps

    text = (Path(__file__).parent / "golden" / "kube-proxy-loadbalancer.save").read_text()
    payload = "\n".join(line for line in text.splitlines()
                        if not line.startswith(("-A INPUT", "-A FORWARD", "-A OUTPUT", "-A PREROUTING", "-A POSTROUTING")))
    ruleset = parse_save(payload)
    added = kube_proxy_jumps(ruleset)
    assert len(added) == 12  # 9 in filter, 3 in nat
    assert render_save(ruleset) == render_save(LB)  # exactly the jumps a real node has
    assert kube_proxy_jumps(ruleset) == []


def test_overall_verdict_is_the_agreed_or_most_likely_one() -> None:
    ruleset = parse_save("*filter\n-A FORWARD -m statistic --mode random --probability 0.25 -j DROP\n"
                         "-A FORWARD -m statistic --mode random --probability 0.5 -j REJECT\nCOMMIT\n")
    outs = trace_packet(ruleset, tcp("1.1.1.1", "2.2.2.2", 80), all_branches=True)
    assert sorted((o.verdict, o.probability) for o in outs) == [
        ("ACCEPT", Fraction(3, 8)), ("DROP", Fraction(1, 4)), ("REJECT", Fraction(3, 8))]
    assert overall_verdict(outs) == "ACCEPT"  # tie between ACCEPT and REJECT: ACCEPT
    assert overall_verdict([o for o in outs if o.verdict != "ACCEPT"]) == "REJECT"
