"""Parser tests: every extension, quoting, negation, errors with line numbers, golden texts."""

from __future__ import annotations

import ipaddress
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter import matches_ct as ct
from overlaynet.dataplane.netfilter import parse_save, render_save
from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.errors import IptablesSyntaxError, UnsupportedExtension

GOLDEN = Path(__file__).parent / "golden"


def one_rule(options: str, *, table: str = "filter", chains: str = "") -> Rule:
    decl = "".join(f":{c} - [0:0]\n" for c in chains.split()) if chains else ""
    rs = parse_save(f"*{table}\n{decl}-A {'PREROUTING' if table in ('nat', 'raw') else 'INPUT'} {options}\nCOMMIT\n")
    chain = rs.tables[table].chains["PREROUTING" if table in ("nat", "raw") else "INPUT"]
    assert len(chain.rules) == 1
    return chain.rules[0]


def roundtrip(rule_text: str, table: str = "filter") -> str:
    chain = "INPUT" if table == "filter" else "PREROUTING"
    if "SNAT" in rule_text or "MASQUERADE" in rule_text:
        chain = "POSTROUTING"
    rs = parse_save(f"*{table}\n-A {chain} {rule_text}\nCOMMIT\n")
    out = render_save(rs)
    assert parse_save(out) == rs
    return [line for line in out.splitlines() if line.startswith("-A")][0].split(" ", 2)[2]


@pytest.mark.parametrize(("text", "needle"), [
    ("*nat\n-A PREROUTING -j DROP\n", '"nat" table is not intended for filtering'),
    ("*nat\n:X - [0:0]\n-A POSTROUTING -j X\n-A X -j DNAT --to-destination 1.1.1.1\n", "reached from POSTROUTING"),
    ("*filter\n-A INPUT -j MASQUERADE\n", "only valid in the nat table"),
    ("*nat\n-A PREROUTING -j MASQUERADE\n", "only usable from POSTROUTING"),
    ("*nat\n-A PREROUTING -j REJECT\n", "only usable from FORWARD, INPUT, OUTPUT"),
    ("*mangle\n-A PREROUTING -j NOTRACK\n", "only valid in the raw table"),
])
def test_rules_the_kernel_refuses_at_commit(text: str, needle: str) -> None:
    with pytest.raises(IptablesSyntaxError) as err:
        parse_save(text + "COMMIT\n")
    assert needle in str(err.value) and err.value.line > 1
    parse_save(text + "COMMIT\n", strict=False)  # the format itself is fine


def test_basic_matches_and_host_addresses_as_slash_32() -> None:
    rule = one_rule("-s 10.0.0.1 ! -d 10.0.0.0/255.0.0.0 -i eth+ ! -o lo -p tcp -j ACCEPT")
    assert rule.matches == (
        m.Source(ipaddress.ip_network("10.0.0.1/32")),
        m.Destination(ipaddress.ip_network("10.0.0.0/8"), negated=True),
        m.InIface("eth+"),
        m.OutIface("lo", negated=True),
        m.Protocol_(6),
    )
    assert rule.target == t.Verdict_("ACCEPT")


def test_canonical_order_hoists_builtin_matches() -> None:
    text = roundtrip('-m tcp -p tcp -d 172.30.0.1 --dport 80 ! -s 10.244.0.0/16 -m comment --comment "a b" -j KUBE-MARK-MASQ'
                     .replace("KUBE-MARK-MASQ", "DROP"))
    assert text == '! -s 10.244.0.0/16 -d 172.30.0.1/32 -p tcp -m tcp --dport 80 -m comment --comment "a b" -j DROP'


def test_implicit_protocol_match_is_loaded_where_its_option_appears() -> None:
    assert roundtrip('-p tcp -m comment --comment x --dport 80 -j ACCEPT') == \
        '-p tcp -m comment --comment x -m tcp --dport 80 -j ACCEPT'.replace("--comment x", '--comment "x"')


def test_legacy_negation_after_option() -> None:
    assert one_rule("-s ! 10.0.0.0/8 -p tcp --dport ! 22 -j DROP") == one_rule("! -s 10.0.0.0/8 -p tcp ! --dport 22 -j DROP")


def test_protocol_numbers_and_all() -> None:
    assert one_rule("-p 17 -j ACCEPT").matches == (m.Protocol_(17),)
    assert roundtrip("-p 17 -j ACCEPT") == "-p udp -j ACCEPT"
    assert one_rule("-p all -j ACCEPT").matches == ()
    assert roundtrip("-p 47 -j ACCEPT") == "-p gre -j ACCEPT"


@pytest.mark.parametrize(("given", "saved"), [
    ("-p tcp --sport 1000:2000 ! --dport 80", "-p tcp -m tcp --sport 1000:2000 ! --dport 80"),
    ("-p tcp --syn", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"),
    ("-p tcp --tcp-flags ALL NONE", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG,ECE,CWR NONE"),
    ("-p udp --dport 53", "-p udp -m udp --dport 53"),
    ("-p sctp --dport 5", "-p sctp -m sctp --dport 5"),
    ("-p icmp --icmp-type echo-request", "-p icmp -m icmp --icmp-type 8"),
    ("-p icmp --icmp-type 3/4", "-p icmp -m icmp --icmp-type 3/4"),
    ("-p tcp -m multiport --dports 80,443,1000:2000", "-p tcp -m multiport --dports 80,443,1000:2000"),
    ("-p udp -m multiport ! --sports 5", "-p udp -m multiport ! --sports 5"),
    ("-m addrtype --dst-type LOCAL --limit-iface-in", "-m addrtype --dst-type LOCAL --limit-iface-in"),
    ("-m addrtype ! --src-type LOCAL,BROADCAST", "-m addrtype ! --src-type LOCAL,BROADCAST"),
    ("-m mark --mark 0x4000/0x4000", "-m mark --mark 0x4000/0x4000"),
    ("-m mark ! --mark 16", "-m mark ! --mark 0x10"),
    ("-m connmark --mark 0x1/0xff", "-m connmark --mark 0x1/0xff"),
    ("-m conntrack --ctstate ESTABLISHED,NEW", "-m conntrack --ctstate NEW,ESTABLISHED"),
    ("-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1", "-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1"),
    ("-m state ! --state INVALID", "-m state ! --state INVALID"),
    ("-m statistic --mode random --probability 0.3333333333", "-m statistic --mode random --probability 0.33333333349"),
    ("-m statistic --mode nth --every 3 --packet 1", "-m statistic --mode nth --every 3 --packet 1"),
    ("-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource",
     "-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource"),
    ("-m recent --update --hitcount 3 --seconds 60 --name a --rdest",
     "-m recent --update --seconds 60 --hitcount 3 --name a --mask 255.255.255.255 --rdest"),
    ("-m recent ! --set", "-m recent ! --set --name DEFAULT --mask 255.255.255.255 --rsource"),
    ("-m set --match-set myset src,dst", "-m set --match-set myset src,dst"),
    ("-m set ! --match-set other dst", "-m set ! --match-set other dst"),
    ("-m physdev --physdev-in eth0 --physdev-is-bridged", "-m physdev --physdev-in eth0 --physdev-is-bridged"),
    ("-m physdev ! --physdev-out veth+ ! --physdev-is-in", "-m physdev ! --physdev-out veth+ ! --physdev-is-in"),
    ("-m limit --limit 5/minute --limit-burst 10", "-m limit --limit 5/min --limit-burst 10"),
    ("-m limit --limit 2/s", "-m limit --limit 2/sec"),
    ('-m comment --comment "a \\"quoted\\" \\\\ thing"', '-m comment --comment "a \\"quoted\\" \\\\ thing"'),
    ("-m comment --comment 'single quoted'", '-m comment --comment "single quoted"'),
    ("-f", "-f"),
    ("-p 4", "-p ipencap"),
    ("-p 99", "-p 99"),
])
def test_match_extensions_render_as_iptables_save(given: str, saved: str) -> None:
    assert roundtrip(f"{given} -j ACCEPT") == f"{saved} -j ACCEPT"


@pytest.mark.parametrize(("table", "given", "saved"), [
    ("filter", "-j REJECT", "-j REJECT --reject-with icmp-port-unreachable"),
    ("filter", "-p tcp -j REJECT --reject-with tcp-reset", "-p tcp -j REJECT --reject-with tcp-reset"),
    ("filter", "-j RETURN", "-j RETURN"),
    ("filter", "-j DROP", "-j DROP"),
    ("nat", "-p tcp -j DNAT --to-destination 10.1.0.1:8080", "-p tcp -j DNAT --to-destination 10.1.0.1:8080"),
    ("nat", "-j DNAT --to-destination 10.1.0.1", "-j DNAT --to-destination 10.1.0.1"),
    ("nat", "-p tcp -j DNAT --to-destination [fd00::1]:8080", "-p tcp -j DNAT --to-destination [fd00::1]:8080"),
    ("nat", "-j DNAT --to-destination 10.0.0.1-10.0.0.9", "-j DNAT --to-destination 10.0.0.1-10.0.0.9"),
    ("nat", "-p udp -j SNAT --to-source 1.2.3.4:100-200 --random", "-p udp -j SNAT --to-source 1.2.3.4:100-200 --random"),
    ("nat", "-j MASQUERADE --random-fully", "-j MASQUERADE --random-fully"),
    ("nat", "-p tcp -j MASQUERADE --to-ports 1000-2000", "-p tcp -j MASQUERADE --to-ports 1000-2000"),
    ("nat", "-p tcp -j REDIRECT --to-ports 8080", "-p tcp -j REDIRECT --to-ports 8080"),
    ("nat", "-j MARK --or-mark 0x4000", "-j MARK --set-xmark 0x4000/0x4000"),
    ("nat", "-j MARK --xor-mark 0x4000", "-j MARK --set-xmark 0x4000/0x0"),
    ("nat", "-j MARK --and-mark 0xff", "-j MARK --set-xmark 0x0/0xffffff00"),
    ("nat", "-j MARK --set-mark 5", "-j MARK --set-xmark 0x5/0xffffffff"),
    ("nat", "-j CONNMARK --save-mark", "-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff"),
    ("nat", "-j CONNMARK --restore-mark --mask 0xff", "-j CONNMARK --restore-mark --nfmask 0xff --ctmask 0xff"),
    ("nat", "-j CONNMARK --set-mark 0x2", "-j CONNMARK --set-xmark 0x2/0xffffffff"),
    ("nat", '-j LOG --log-prefix "x y: " --log-level 4', '-j LOG --log-prefix "x y: "'),
    ("nat", "-j LOG --log-level debug --log-uid", "-j LOG --log-level 7 --log-uid"),
    ("raw", "-j NOTRACK", "-j NOTRACK"),
    ("raw", "-j CT --notrack", "-j CT --notrack"),
])
def test_targets_render_as_iptables_save(table: str, given: str, saved: str) -> None:
    assert roundtrip(given, table) == saved


def test_ip6tables_icmpv6_as_ip6tables_save_prints_it() -> None:
    assert roundtrip("-s fd00::1 -p icmpv6 --icmpv6-type echo-request -j ACCEPT") == \
        "-s fd00::1/128 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT"
    assert roundtrip("-p ipv6-icmp -m icmp6 ! --icmpv6-type 1/3 -j DROP") == "-p ipv6-icmp -m icmp6 ! --icmpv6-type 1/3 -j DROP"


def test_jump_goto_and_targetless_rules() -> None:
    rs = parse_save("*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A A -g B\n-A B -m comment --comment c\nCOMMIT\n")
    chains = rs.tables["nat"].chains
    assert chains["A"].rules[0].target == t.Jump("B")
    assert chains["A"].rules[1].target == t.Goto("B")
    assert chains["B"].rules[0].target is None
    assert "-A A -g B\n" in render_save(rs)


def test_policies_counters_and_commands() -> None:
    text = ("*filter\n:INPUT DROP [5:300]\n:X - [0:0]\n:Y - [0:0]\n[1:2] -A INPUT -j X\n-A X -j ACCEPT\n"
            "-I X -j DROP\n-I X 2 -j RETURN\n-N Z\n-A Z -j DROP\n-F Z\n-X Y\n-P OUTPUT DROP\nCOMMIT\n")
    rs = parse_save(text)
    table = rs.tables["filter"]
    assert table.chains["INPUT"].policy == "DROP"
    assert (table.chains["INPUT"].packets, table.chains["INPUT"].bytes) == (5, 300)
    assert [r.target for r in table.chains["X"].rules] == [t.Verdict_("DROP"), t.Verdict_("RETURN"), t.Verdict_("ACCEPT")]
    assert table.chains["Z"].rules == [] and "Y" not in table.chains
    assert table.chains["OUTPUT"].policy == "DROP"
    assert table.chains["INPUT"].rules[0].counters == (1, 2)
    saved = render_save(rs, counters=True)
    assert ":INPUT DROP [5:300]" in saved and "[1:2] -A INPUT -j X" in saved
    assert parse_save(saved) == rs


def test_dash_policy_of_a_builtin_chain_keeps_the_current_policy() -> None:
    """iptables-restore takes '-' as a built-in chain's policy and leaves the policy as it is
    (ACCEPT in a fresh table; the earlier policy when the table is given again, as --noflush)."""
    rs = parse_save("*filter\n:INPUT - [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT - [3:4]\n-A INPUT -j ACCEPT\nCOMMIT\n")
    chains = rs.tables["filter"].chains
    assert (chains["INPUT"].policy, chains["FORWARD"].policy, chains["OUTPUT"].policy) == ("ACCEPT", "DROP", "ACCEPT")
    assert (chains["OUTPUT"].packets, chains["OUTPUT"].bytes) == (3, 4)
    again = parse_save("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n*filter\n:FORWARD - [0:0]\nCOMMIT\n")
    assert again.tables["filter"].chains["FORWARD"].policy == "DROP"
    with pytest.raises(IptablesSyntaxError, match="ACCEPT, DROP or '-'"):
        parse_save("*filter\n:INPUT REJECT [0:0]\nCOMMIT\n")


def test_probability_rule_gives_exact_fractions() -> None:
    for n in range(1, 1001):
        assert ct.parse_probability(f"{1 / n:.10f}") == Fraction(1, n)  # kube-proxy's %0.10f
        assert ct.parse_probability(ct.render_probability(Fraction(1, n))) == Fraction(1, n)  # iptables-save's
    assert ct.parse_probability("0.25") == Fraction(1, 4)
    assert ct.parse_probability("0.123") == Fraction(123, 1000)


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("*filter\n-A INPUT -j ACCEPT\n", 2, "expected COMMIT"),
    ("-A INPUT -j ACCEPT\n", 1, "expected a table header"),
    ("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", 2, "chain 'NOPE' does not exist"),
    ("*filter\n\n# c\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n", 4, "expected an address or CIDR"),
    ("*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n", 2, "out of range"),
    ("*filter\n-A INPUT --dport 80 -j ACCEPT\nCOMMIT\n", 2, "unknown option --dport"),
    ("*filter\n-A INPUT -m comment --comment \"open\nCOMMIT\n", 2, "bad quoting"),
    ("*filter\n:INPUT MAYBE [0:0]\nCOMMIT\n", 2, "must be ACCEPT, DROP or '-'"),
    ("*filter\n:INPUT ACCEPT [x]\nCOMMIT\n", 2, "expected counters"),
    ("*filter\n-A INPUT -j ACCEPT !\nCOMMIT\n", 2, "negates nothing"),
    ("*filter\n-A INPUT -m comment ! --comment x -j ACCEPT\nCOMMIT\n", 2, "cannot be negated"),
    ("*filter\n-A INPUT -m statistic --mode random --probability 2 -j ACCEPT\nCOMMIT\n", 2, "between 0 and 1"),
    ("*filter\n-A INPUT -m tcp --dport 1 -j ACCEPT\nCOMMIT\n", 2, "-m tcp needs -p tcp"),
    ("*filter\n-A INPUT -s 1.2.3.4,5.6.7.8 -j ACCEPT\nCOMMIT\n", 2, "one rule per address"),
    ("*bogus\nCOMMIT\n", 1, "unknown table"),
    ("*filter\n*nat\n", 2, "expected COMMIT before *nat"),
    ("*filter\n-Z INPUT\nCOMMIT\n", 2, "expected -A, -I"),
    ("*filter\n-A INPUT -m statistic --mode random --probability inf\nCOMMIT\n", 2, "bad probability"),
    ("*filter\n-A INPUT -c x y\nCOMMIT\n", 2, "-c: expected a packet count"),
    ("*filter\n-A INPUT -p tcp -m multiport --dports ,\nCOMMIT\n", 2, "expected a port"),
])
def test_syntax_errors_name_the_line_and_what_was_expected(text: str, line: int, needle: str) -> None:
    with pytest.raises(IptablesSyntaxError) as err:
        parse_save(text, file="rules.save")
    assert err.value.line == line
    assert needle in str(err.value)
    assert str(err.value).startswith(f"rules.save:{line}:")


@pytest.mark.parametrize(("options", "name"), [
    ("-m owner --uid-owner 0 -j ACCEPT", "owner"),
    ("-j TPROXY --on-port 1", "TPROXY"),
    ("-j NFQUEUE --queue-num 1", "NFQUEUE"),
    ("-j NOSUCHCHAIN", "NOSUCHCHAIN"),
    ("-m hashlimit --hashlimit 1/s -j ACCEPT", "hashlimit"),
    ("-m conntrack --ctdir REPLY -j ACCEPT", "--ctdir of conntrack"),
    ("-p tcp --tcp-option 2 -j ACCEPT", "--tcp-option of tcp"),
])
def test_unsupported_extensions_are_named(options: str, name: str) -> None:
    with pytest.raises(UnsupportedExtension) as err:
        parse_save(f"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {options}\nCOMMIT\n")
    assert name in str(err.value)
    assert err.value.line == 3


def _body(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize("name", ["kube-proxy-node.save", "kube-proxy-loadbalancer.save"])
def test_golden_kube_proxy_dumps_round_trip_byte_for_byte(name: str) -> None:
    text = (GOLDEN / name).read_text()
    rs = parse_save(text)
    assert render_save(rs) == _body(text)
    assert rs.tables["nat"].chains["KUBE-SERVICES"].rules[-1].target == t.Jump("KUBE-NODEPORTS")


def _tables(text: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    current = ""
    for line in _body(text).splitlines():
        if line.startswith("*"):
            current = line
        result.setdefault(current, []).append(line)
    return result


def test_renderer_agrees_with_real_iptables_save() -> None:
    """extensions.iptables-save is what iptables-save 1.8.9 printed for extensions.restore."""
    ours = render_save(parse_save((GOLDEN / "extensions.restore").read_text()))
    kernel = (GOLDEN / "extensions.iptables-save").read_text()
    assert _tables(ours) == _tables(kernel)  # same text per table (table order differs by backend)


def test_chain_loops_are_refused_like_the_kernel_does() -> None:
    text = "*filter\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -p tcp -g A\nCOMMIT\n"
    with pytest.raises(IptablesSyntaxError) as err:
        parse_save(text)
    assert "chain loop" in str(err.value) and err.value.line == 6


@given(st.lists(st.sampled_from(["a", "b", " ", "  ", '"', "'", "\\", "x y", '"q r"', "'s t'", "\\\"", "#"]), max_size=12))
@settings(max_examples=200, deadline=None)
def test_tokenizer_agrees_with_posix_shell_splitting(pieces: list[str]) -> None:
    import shlex

    from overlaynet.dataplane.netfilter.parse import _LineError, _tokens

    line = "".join(pieces)
    try:
        expected = shlex.split(line, posix=True)
    except ValueError:
        with pytest.raises(_LineError):
            _tokens(line)
        return
    assert _tokens(line) == expected


def test_public_names_exist() -> None:
    import overlaynet.dataplane.netfilter as nf

    assert all(hasattr(nf, name) for name in nf.__all__)
    assert {"Ruleset", "parse_save", "render_save", "run_hook", "HookContext", "HookOutcome"} <= set(nf.__all__)


def test_docstring_examples_run() -> None:
    import doctest

    from overlaynet.dataplane.netfilter import parse as parse_module

    result = doctest.testmod(parse_module)
    assert result.attempted > 0 and result.failed == 0


def test_parse_rule_raises_located_errors() -> None:
    from overlaynet.dataplane.netfilter import parse_rule

    with pytest.raises(UnsupportedExtension) as err:
        parse_rule(["-m", "owner", "--uid-owner", "0"], line=7, file="gen")
    assert str(err.value).startswith("gen:7:") and "owner" in str(err.value)
    with pytest.raises(IptablesSyntaxError):
        parse_rule(["-p", "tcp", "--dport", "x"])


def test_nflog_and_checksum_targets_round_trip_as_iptables_save_prints_them() -> None:
    assert roundtrip("-o weave -m state --state NEW -j NFLOG --nflog-group 86") == \
        "-o weave -m state --state NEW -j NFLOG --nflog-group 86"
    assert roundtrip('-j NFLOG --nflog-threshold 2 --nflog-group 5 --nflog-prefix "x y" --nflog-size 128') == \
        '-j NFLOG --nflog-prefix "x y" --nflog-group 5 --nflog-size 128 --nflog-threshold 2'
    rs = parse_save("*mangle\n-A POSTROUTING -o virbr0 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill\nCOMMIT\n")
    assert rs.tables["mangle"].chains["POSTROUTING"].rules[0].target == t.Checksum()
    with pytest.raises(IptablesSyntaxError, match="CHECKSUM is only valid in the mangle table"):
        parse_save("*filter\n-A INPUT -j CHECKSUM --checksum-fill\nCOMMIT\n")
    with pytest.raises(IptablesSyntaxError, match="out of range"):
        parse_save("*filter\n-A INPUT -j NFLOG --nflog-group 70000\nCOMMIT\n")


def test_list_rules_output_reads_as_its_table() -> None:
    from overlaynet.dataplane.netfilter.parse import is_list_rules

    text = "-P INPUT ACCEPT\n-P FORWARD DROP\n-N cali-INPUT\n-A INPUT -j cali-INPUT\n-A cali-INPUT -i cali+ -j ACCEPT\n"
    assert is_list_rules(text) and not is_list_rules("*filter\nCOMMIT\n")
    rs = parse_save(text, implicit_table="filter")
    assert rs.tables["filter"].chains["FORWARD"].policy == "DROP"
    assert [r.target for r in rs.tables["filter"].chains["INPUT"].rules] == [t.Jump("cali-INPUT")]
    with pytest.raises(UnsupportedExtension, match="undefined chain 'nope'"):
        parse_save("-A INPUT -j nope\n", implicit_table="filter")
    with pytest.raises(IptablesSyntaxError, match=r"expected iptables -S lines") as err:
        parse_save("-P INPUT ACCEPT\nCOMMIT\n", implicit_table="filter")
    assert err.value.line == 2
