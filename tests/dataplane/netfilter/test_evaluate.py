"""Evaluation semantics: hook order, jumps/goto/RETURN, policies, marks, conntrack and NAT,
recent with a fake clock, statistic sampling and all-branches probabilities."""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from pathlib import Path

import pytest

from overlaynet.dataplane.netfilter import IpSet, NetfilterState, Ruleset, parse_save, run_hook
from overlaynet.dataplane.netfilter.evaluate import HOOK_TABLES

from .conftest import make_ctx, tcp

GOLDEN = Path(__file__).parent / "golden"


def rs(text: str) -> Ruleset:
    return parse_save(text)


def test_empty_ruleset_accepts(state: NetfilterState) -> None:
    [out] = run_hook(Ruleset(), tcp("1.1.1.1", "2.2.2.2", 80), make_ctx("PREROUTING", state))
    assert out.verdict == "ACCEPT" and out.hits == ()


def test_hook_table_order_follows_kernel_priorities() -> None:
    assert HOOK_TABLES["PREROUTING"] == ("raw", "mangle", "nat")
    assert HOOK_TABLES["OUTPUT"] == ("raw", "mangle", "nat", "filter")
    assert HOOK_TABLES["INPUT"] == ("mangle", "filter", "nat")
    assert HOOK_TABLES["POSTROUTING"] == ("mangle", "nat")


def test_tables_are_walked_in_priority_order_and_marks_carry(state: NetfilterState) -> None:
    ruleset = rs("*nat\n-A OUTPUT -m mark --mark 0x2 -j ACCEPT\nCOMMIT\n"
                 "*filter\n-A OUTPUT -m mark --mark 0x3 -j DROP\nCOMMIT\n"
                 "*mangle\n-A OUTPUT -m mark --mark 0x1 -j MARK --set-mark 0x2\nCOMMIT\n"
                 "*raw\n-A OUTPUT -j MARK --set-mark 0x1\nCOMMIT\n".replace("*raw\n-A OUTPUT -j MARK --set-mark 0x1",
                                                                             "*raw\n-A OUTPUT -j LOG"))
    [out] = run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", 80, mark=1), make_ctx("OUTPUT", state))
    assert [(h.table, h.chain) for h in out.hits] == [("raw", "OUTPUT"), ("mangle", "OUTPUT"), ("nat", "OUTPUT")]
    assert out.packet.mark == 2 and out.verdict == "ACCEPT"


def test_jump_return_goto_and_policy(state: NetfilterState) -> None:
    ruleset = rs("*filter\n:INPUT DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n"
                 "-A INPUT -j A\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
                 "-A A -g B\n-A A -j DROP\n"          # goto: B's end returns to INPUT, not to A
                 "-A B -p tcp --dport 80 -j RETURN\n-A B -j C\n-A B -p tcp --dport 81 -j ACCEPT\n"
                 "-A C -p tcp --dport 81 -j RETURN\n-A C -p tcp --dport 82 -j REJECT\nCOMMIT\n")
    verdict = {port: run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", port), make_ctx("INPUT", NetfilterState()))[0]
               for port in (22, 80, 81, 82)}
    assert verdict[22].verdict == "ACCEPT"
    assert [h.chain for h in verdict[22].hits] == ["INPUT", "A", "B", "INPUT"]
    assert verdict[80].verdict == "DROP"  # RETURN from B goes back to INPUT; policy DROP
    assert verdict[81].verdict == "ACCEPT"
    assert verdict[82].verdict == "REJECT" and verdict[82].reject_with == "icmp-port-unreachable"


def test_ipsets_physdev_addrtype(state: NetfilterState) -> None:
    ruleset = rs("*filter\n-A INPUT -m set --match-set allow src -j ACCEPT\n"
                 "-A INPUT -m addrtype --dst-type LOCAL -j REJECT\n-A INPUT -j DROP\nCOMMIT\n")
    state.ipsets["allow"] = IpSet("allow", "hash:net", frozenset({(ipaddress.ip_network("10.0.0.0/8"),)}))
    assert run_hook(ruleset, tcp("10.1.1.1", "9.9.9.9", 80), make_ctx("INPUT", state))[0].verdict == "ACCEPT"
    assert run_hook(ruleset, tcp("11.1.1.1", "192.168.0.11", 80), make_ctx("INPUT", state))[0].verdict == "REJECT"
    assert run_hook(ruleset, tcp("11.1.1.1", "9.9.9.9", 80), make_ctx("INPUT", state))[0].verdict == "DROP"


NAT = """*nat
:SVC - [0:0]
-A PREROUTING -d 172.30.0.1/32 -p tcp -m tcp --dport 80 -j SVC
-A SVC -p tcp -j DNAT --to-destination 10.180.1.5:8080
-A POSTROUTING -o eth0 -s 10.180.0.0/16 ! -d 10.180.0.0/16 -j MASQUERADE
COMMIT
*filter
-A FORWARD -m conntrack --ctstate DNAT -m conntrack --ctstate NEW -j LOG
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
"""


def test_conntrack_new_then_established_and_reverse_nat(state: NetfilterState) -> None:
    ruleset = rs(NAT)
    first = tcp("10.180.0.9", "172.30.0.1", 80)
    [pre] = run_hook(ruleset, first, make_ctx("PREROUTING", state, in_iface="cni0"))
    assert (str(pre.packet.dst), pre.packet.dport) == ("10.180.1.5", 8080)
    assert pre.nat[0].kind == "DNAT"
    [fwd] = run_hook(ruleset, pre.packet, make_ctx("FORWARD", state, in_iface="cni0", out_iface="eth0"))
    assert fwd.hits[0].verdict == "LOG"  # NEW and DNAT
    [post] = run_hook(ruleset, fwd.packet, make_ctx("POSTROUTING", state, out_iface="eth0"))
    assert post.nat == ()  # destination is in the pod range: no masquerade
    # the reply comes back from the endpoint and is translated from conntrack, nat not walked
    reply = post.packet.reversed()
    [rpre] = run_hook(ruleset, reply, make_ctx("PREROUTING", state, in_iface="eth0"))
    [rfwd] = run_hook(ruleset, rpre.packet, make_ctx("FORWARD", state, in_iface="eth0", out_iface="cni0"))
    assert rfwd.hits[0].text.endswith("--ctstate ESTABLISHED -j ACCEPT")
    [rpost] = run_hook(ruleset, rfwd.packet, make_ctx("POSTROUTING", state, out_iface="cni0"))
    assert (str(rpost.packet.src), rpost.packet.sport) == ("172.30.0.1", 80)
    assert rpost.nat[0].kind == "conntrack" and not any(h.table == "nat" for h in rpost.hits)
    # a second packet of the same connection: ESTABLISHED now, translated without walking nat
    [again] = run_hook(ruleset, first.with_(tcp_flags=frozenset({"ACK"})), make_ctx("PREROUTING", state, in_iface="cni0"))
    assert again.hits == () and again.nat[0].kind == "conntrack" and str(again.packet.dst) == "10.180.1.5"


def test_masquerade_and_reply_undoes_it(state: NetfilterState) -> None:
    ruleset = rs(NAT)
    out = tcp("10.180.0.9", "8.8.8.8", 53)
    [pre] = run_hook(ruleset, out, make_ctx("PREROUTING", state, in_iface="cni0"))
    [post] = run_hook(ruleset, pre.packet, make_ctx("POSTROUTING", state, out_iface="eth0"))
    assert str(post.packet.src) == "192.168.0.11" and post.nat[0].kind == "MASQUERADE"
    [rpre] = run_hook(ruleset, post.packet.reversed(), make_ctx("PREROUTING", state))
    assert str(rpre.packet.dst) == "10.180.0.9" and rpre.packet.dport == 40000


def test_stateless_reply_is_established_without_nat(state: NetfilterState) -> None:
    ruleset = rs(NAT)
    reply = tcp("172.30.0.1", "10.180.0.9", 40000, sport=80).with_(reply=True)
    [out] = run_hook(ruleset, reply, make_ctx("FORWARD", state, out_iface="cni0"))
    assert out.hits[0].text.endswith("-j ACCEPT") and out.nat == ()


def test_notrack_makes_untracked_and_skips_nat(state: NetfilterState) -> None:
    ruleset = rs("*raw\n-A PREROUTING -j CT --notrack\nCOMMIT\n" + NAT.replace("-j LOG", "-j DROP")
                 + "*mangle\n-A PREROUTING -m state --state UNTRACKED -j MARK --set-mark 9\nCOMMIT\n")
    [pre] = run_hook(ruleset, tcp("10.180.0.9", "172.30.0.1", 80), make_ctx("PREROUTING", state))
    assert pre.nat == () and pre.packet.mark == 9


def test_connmark_save_and_restore(state: NetfilterState) -> None:
    ruleset = rs("*mangle\n-A PREROUTING -m connmark --mark 0x7 -j CONNMARK --restore-mark\n"
                 "-A PREROUTING -m connmark --mark 0x0 -j MARK --set-mark 0x7\n"
                 "-A PREROUTING -j CONNMARK --save-mark\nCOMMIT\n")
    pkt = tcp("1.1.1.1", "2.2.2.2", 80)
    [first] = run_hook(ruleset, pkt, make_ctx("PREROUTING", state))
    run_hook(ruleset, first.packet, make_ctx("POSTROUTING", state))
    [second] = run_hook(ruleset, pkt, make_ctx("PREROUTING", state))
    assert second.packet.mark == 7 and second.hits[0].verdict == "CONNMARK"


AFFINITY = (GOLDEN / "kube-proxy-node.save").read_text()


def _endpoint(state: NetfilterState, src: str) -> str:
    [pre] = run_hook(parse_save(AFFINITY), tcp(src, "172.30.0.44", 80), make_ctx("PREROUTING", state, in_iface="cni0"))
    return f"{pre.packet.dst}:{pre.packet.dport}"


def test_recent_session_affinity_holds_and_expires() -> None:
    state = NetfilterState(seed=3)
    chosen = {_endpoint(state, "10.180.0.9") for _ in range(10)}
    assert len(chosen) == 1  # every new connection from the client lands on the same endpoint
    other = {_endpoint(state, "10.180.5.5") for _ in range(5)}
    assert len(other) == 1
    state.advance(10801)  # past the 10800 s timeout: the lists are reaped, a fresh choice
    seen = set()
    for _ in range(40):
        state.advance(10801)
        seen.add(_endpoint(state, "10.180.0.9"))
    assert seen == {"10.180.0.7:8080", "10.180.1.8:8080"}


def test_recent_hitcount_with_fake_clock() -> None:
    now = [100.0]
    state = NetfilterState(clock=lambda: now[0])
    ruleset = rs("*filter\n-A INPUT -m recent --update --seconds 10 --hitcount 3 --name scan -j DROP\n"
                 "-A INPUT -m recent --set --name scan -j ACCEPT\nCOMMIT\n")
    pkt = tcp("5.5.5.5", "192.168.0.11", 22)
    verdicts = []
    for _ in range(4):
        verdicts.append(run_hook(ruleset, pkt, make_ctx("INPUT", state))[0].verdict)
        now[0] += 1
    assert verdicts == ["ACCEPT", "ACCEPT", "ACCEPT", "DROP"]
    now[0] += 60
    assert run_hook(ruleset, pkt, make_ctx("INPUT", state))[0].verdict == "ACCEPT"


def _cascade(n: int) -> Ruleset:
    lines = ["*nat", ":SVC - [0:0]", "-A PREROUTING -d 172.30.0.1/32 -p tcp -m tcp --dport 80 -j SVC"]
    for i in range(n):
        stat = f" -m statistic --mode random --probability {1 / (n - i):.10f}" if i < n - 1 else ""
        lines.append(f"-A SVC -p tcp{stat} -j DNAT --to-destination 10.180.0.{i + 1}:80")
    return parse_save("\n".join(lines + ["COMMIT", ""]))


@pytest.mark.parametrize("n", range(1, 11))
def test_all_branches_gives_exact_uniform_probabilities(n: int) -> None:
    state = NetfilterState()
    outcomes = run_hook(_cascade(n), tcp("10.180.9.9", "172.30.0.1", 80), make_ctx("PREROUTING", state, all_branches=True))
    assert sorted(str(o.packet.dst) for o in outcomes) == sorted(f"10.180.0.{i + 1}" for i in range(n))
    assert all(o.probability == Fraction(1, n) for o in outcomes)
    assert sum(o.probability for o in outcomes) == 1
    if n > 1:  # forked: every branch has its own state; the caller's gets no shared-tuple entry
        assert len({id(o.state) for o in outcomes}) == n
        assert state.lookup("node-1", ("tcp", ipaddress.ip_address("10.180.9.9"), 40000,
                                       ipaddress.ip_address("172.30.0.1"), 80)) is None
    else:
        assert outcomes[0].state is state and state.conntrack


def test_nth_mode_splits_and_counts() -> None:
    ruleset = rs("*nat\n-A PREROUTING -p tcp -m statistic --mode nth --every 3 --packet 0 "
                 "-j DNAT --to-destination 10.0.0.1\nCOMMIT\n")
    outs = run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", 80), make_ctx("PREROUTING", NetfilterState(), all_branches=True))
    assert sorted(o.probability for o in outs) == [Fraction(1, 3), Fraction(2, 3)]
    state = NetfilterState()
    hits = []
    for port in range(6):  # distinct connections: every third is DNATed
        [out] = run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", 80, sport=1000 + port), make_ctx("PREROUTING", state))
        hits.append(str(out.packet.dst) == "10.0.0.1")
    assert hits == [True, False, False, True, False, False]  # --packet 0: the first, then every third


def test_sampled_mode_is_reproducible_and_covers_endpoints() -> None:
    def sample(seed: int) -> list[str]:
        state = NetfilterState(seed=seed)
        result = []
        for port in range(30):
            [out] = run_hook(_cascade(3), tcp("10.180.9.9", "172.30.0.1", 80, sport=2000 + port), make_ctx("PREROUTING", state))
            result.append(str(out.packet.dst))
        return result

    assert sample(1) == sample(1)
    assert set(sample(1)) == {"10.180.0.1", "10.180.0.2", "10.180.0.3"}


def test_rule_hits_carry_table_chain_number_text_and_comment(state: NetfilterState) -> None:
    ruleset = parse_save(AFFINITY)
    outs = run_hook(ruleset, tcp("10.180.0.9", "172.30.0.41", 80), make_ctx("PREROUTING", state, all_branches=True))
    hits = outs[0].hits
    assert str(hits[0]) == 'nat PREROUTING 1 -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    assert hits[1].chain == "KUBE-SERVICES" and hits[1].number == 1 and hits[1].comment == "ns1/svc1:p80 cluster IP"
    assert hits[-1].verdict == "DNAT"


@pytest.mark.parametrize(("rule", "packet", "matched"), [
    ("-p tcp -m multiport --dports 80,8000:8100", tcp("1.1.1.1", "2.2.2.2", 8050), True),
    ("-p tcp -m multiport ! --dports 80,8000:8100", tcp("1.1.1.1", "2.2.2.2", 8050), False),
    ("-p tcp -m tcp --sport 40000 --dport 1:1024", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-p tcp --syn", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-p tcp --syn", tcp("1.1.1.1", "2.2.2.2", 443, tcp_flags=frozenset({"ACK"})), False),
    ("-p udp", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("! -p udp", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-s 1.1.1.0/24 -d 2.2.2.2", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("! -s 1.1.1.0/24", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-i eth+", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-i veth+", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-o eth0", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-m mark --mark 0x4000/0x4000", tcp("1.1.1.1", "2.2.2.2", 443, mark=0x4001), True),
    ("-m mark --mark 0x4000", tcp("1.1.1.1", "2.2.2.2", 443, mark=0x4001), False),
    ("-m conntrack --ctstate NEW", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-m conntrack --ctstate ESTABLISHED", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-m conntrack --ctorigdst 2.2.2.0/24", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-m addrtype --src-type UNICAST", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-m addrtype --dst-type MULTICAST", tcp("1.1.1.1", "224.0.0.5", 443), True),
    ("-m physdev --physdev-is-bridged", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-m limit --limit 1/hour", tcp("1.1.1.1", "2.2.2.2", 443), True),
    ("-f", tcp("1.1.1.1", "2.2.2.2", 443), False),
    ("-m comment --comment x", tcp("1.1.1.1", "2.2.2.2", 443), True),
])
def test_match_semantics(rule: str, packet: object, matched: bool) -> None:
    ruleset = rs(f"*filter\n-A FORWARD {rule} -j DROP\nCOMMIT\n")
    [out] = run_hook(ruleset, packet, make_ctx("FORWARD", NetfilterState()))  # type: ignore[arg-type]
    assert (out.verdict == "DROP") == matched


def test_icmp_and_ipv6_packets() -> None:
    from overlaynet.dataplane.packet import Packet

    ruleset = rs("*filter\n-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP\n-A INPUT -s 0.0.0.0/0 -j REJECT\nCOMMIT\n")
    ping = Packet(ipaddress.ip_address("1.1.1.1"), ipaddress.ip_address("2.2.2.2"), "icmp", icmp_type=8)
    assert run_hook(ruleset, ping, make_ctx("INPUT", NetfilterState()))[0].verdict == "DROP"
    v6 = Packet(ipaddress.ip_address("fd00::1"), ipaddress.ip_address("fd00::2"), "tcp", 1, 2)
    assert run_hook(ruleset, v6, make_ctx("INPUT", NetfilterState()))[0].verdict == "ACCEPT"  # an IPv4 rule


def test_drop_in_mangle_stops_later_tables_and_redirect_snat(state: NetfilterState) -> None:
    ruleset = rs("*mangle\n-A PREROUTING -p tcp --dport 9 -j DROP\nCOMMIT\n"
                 "*nat\n-A PREROUTING -p tcp --dport 9 -j LOG\n-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 3128\n"
                 "-A POSTROUTING -p tcp -j SNAT --to-source 5.5.5.5:1000-2000\nCOMMIT\n")
    [dropped] = run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", 9), make_ctx("PREROUTING", state))
    assert dropped.verdict == "DROP" and [h.table for h in dropped.hits] == ["mangle"]
    [pre] = run_hook(ruleset, tcp("1.1.1.1", "2.2.2.2", 80), make_ctx("PREROUTING", state))
    assert (str(pre.packet.dst), pre.packet.dport) == ("192.168.0.11", 3128) and pre.nat[0].kind == "REDIRECT"
    [post] = run_hook(ruleset, tcp("1.1.1.1", "3.3.3.3", 22), make_ctx("POSTROUTING", state, out_iface="eth0"))
    assert (str(post.packet.src), post.packet.sport) == ("5.5.5.5", 1000)


def test_forked_branches_leave_their_unambiguous_bindings_in_the_callers_state() -> None:
    state = NetfilterState()
    outs = run_hook(_cascade(3), tcp("10.180.9.9", "172.30.0.1", 80), make_ctx("PREROUTING", state, all_branches=True))
    assert len(outs) == 3
    for out in outs:  # a caller going on with ctx.state: each branch's reply is still un-DNATed
        reply = out.packet.reversed()
        [back] = run_hook(_cascade(3), reply, make_ctx("POSTROUTING", state))
        assert (str(back.packet.src), back.packet.sport) == ("172.30.0.1", 80)
    assert state.lookup("node-1", ("tcp", ipaddress.ip_address("10.180.9.9"), 40000,
                                   ipaddress.ip_address("172.30.0.1"), 80)) is None  # ambiguous: left out


def test_ipset_ip_port_dimensions() -> None:
    ruleset = rs("*filter\n-A INPUT -m set --match-set svc dst,dst -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n")
    state = NetfilterState()
    state.ipsets["svc"] = IpSet("svc", "hash:ip,port", frozenset({(ipaddress.ip_network("10.96.0.10/32"), ("udp", 53))}))
    from overlaynet.dataplane.packet import Packet

    dns = Packet(ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.96.0.10"), "udp", 5000, 53)
    assert run_hook(ruleset, dns, make_ctx("INPUT", state))[0].verdict == "ACCEPT"
    assert run_hook(ruleset, dns.with_(proto="tcp"), make_ctx("INPUT", state))[0].verdict == "DROP"


@pytest.mark.parametrize(
    ("target", "sport", "lo", "hi", "kept"),
    [
        ("-j MASQUERADE", 40000, 40000, 40000, True),
        ("-j MASQUERADE --random-fully", 40000, 1024, 65535, False),
        ("-j MASQUERADE --random", 700, 600, 1023, False),
        ("-j MASQUERADE --random-fully", 80, 1, 511, False),
        ("-j MASQUERADE --to-ports 1000-2000", 1500, 1500, 1500, True),
        ("-j MASQUERADE --to-ports 1000-2000 --random-fully", 1500, 1000, 2000, False),
        ("-j SNAT --to-source 5.5.5.5 --random-fully", 40000, 1024, 65535, False),
    ],
)
def test_snat_source_port_as_get_unique_tuple_picks_it(target: str, sport: int, lo: int, hi: int, kept: bool) -> None:
    # --random / --random-fully (NF_NAT_RANGE_PROTO_RANDOM_ALL) always draw a new port from
    # the range, or from the original port's class; without them the original port stays
    # when it is in the range. kube-proxy's and flannel's MASQUERADE carry --random-fully.
    ruleset = rs(f"*nat\n-A POSTROUTING -p tcp {target}\nCOMMIT\n")
    pkt = tcp("10.0.0.1", "3.3.3.3", 22, sport=sport)
    ports = set()
    for seed in range(8):
        [out] = run_hook(ruleset, pkt, make_ctx("POSTROUTING", NetfilterState(seed=seed), out_iface="eth0"))
        assert out.packet.sport is not None and lo <= out.packet.sport <= hi
        ports.add(out.packet.sport)
    [again] = run_hook(ruleset, pkt, make_ctx("POSTROUTING", NetfilterState(seed=7), out_iface="eth0"))
    assert again.packet.sport == out.packet.sport  # deterministic per seed
    assert (ports == {sport}) is kept


def test_a_hit_s_rule_text_is_its_own_under_its_own_chain_every_time() -> None:
    """The evaluator remembers the text of rules it matched; a rule reached from two chains,
    or an equal rule object, must each get the text iptables-save prints for it."""
    from overlaynet.dataplane.netfilter.evaluate import _rule_text
    from overlaynet.dataplane.netfilter.render import render_rule

    rs = parse_save(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
        '-A INPUT -s 10.0.0.0/8 -p tcp -m comment --comment "first" -j DROP\n'
        "-A FORWARD -d 10.1.0.0/16 -j ACCEPT\nCOMMIT\n"
    )
    table = rs.tables["filter"]
    drop, accept = table.chains["INPUT"].rules[0], table.chains["FORWARD"].rules[0]
    for _ in range(2):
        assert _rule_text("INPUT", drop) == ('-A INPUT -s 10.0.0.0/8 -p tcp -m comment --comment "first" -j DROP', "first")
        assert _rule_text("OTHER", drop)[0] == render_rule("OTHER", drop)
        assert _rule_text("FORWARD", accept) == ("-A FORWARD -d 10.1.0.0/16 -j ACCEPT", None)
