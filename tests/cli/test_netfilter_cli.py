"""``overlaynet iptables trace`` and ``overlaynet rules``: outputs, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main
from overlaynet.dataplane.netfilter import parse_save

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "dataplane" / "netfilter" / "golden" / "kube-proxy-node.save"
DEMO = ROOT / "topologies" / "demo.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def trace_json(*args: str, path: Path = GOLDEN) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, err = run("iptables", "trace", str(path), "--json", *args)
    assert code in (0, 1), err
    return code, json.loads(out)


def test_cluster_ip_all_branches_lists_every_endpoint_with_its_probability() -> None:
    code, data = trace_json("--src", "10.180.0.9", "--dst", "172.30.0.41", "--dport", "80", "--all-branches")
    assert code == 0 and data["verdict"] == "ACCEPT"
    assert sorted(o["destination"] for o in data["outcomes"]) == ["10.180.0.1:80", "10.180.1.2:80", "10.180.2.3:80"]
    assert {o["probability"] for o in data["outcomes"]} == {"1/3"}
    assert not any(o["masquerade"] for o in data["outcomes"])  # a pod source is not masqueraded
    assert data["outcomes"][0]["rules"][1].startswith("nat KUBE-SERVICES 1 -A KUBE-SERVICES -d 172.30.0.41/32")


def test_nodeport_from_outside_is_masqueraded() -> None:
    code, data = trace_json("--src", "8.8.8.8", "--dst", "192.168.0.11", "--dport", "30080",
                            "--local-ip", "192.168.0.11", "--seed", "3")
    assert code == 0 and len(data["outcomes"]) == 1
    [outcome] = data["outcomes"]
    # the rules say MASQUERADE --random-fully: the kernel draws the source port (1024-65535
    # for an unprivileged one), it does not keep 40000; the draw is deterministic per seed
    ip, port = outcome["source"].rsplit(":", 1)
    assert outcome["masquerade"] is True and ip == "192.168.0.11" and 1024 <= int(port) <= 65535
    assert trace_json("--src", "8.8.8.8", "--dst", "192.168.0.11", "--dport", "30080",
                      "--local-ip", "192.168.0.11", "--seed", "3")[1]["outcomes"][0]["source"] == outcome["source"]
    assert outcome["destination"].endswith(":80")


def test_a_dump_with_dash_policies_traces(tmp_path: Path) -> None:
    dump = tmp_path / "dash.save"
    dump.write_text("*filter\n:INPUT - [0:0]\n:FORWARD - [0:0]\n:OUTPUT - [0:0]\n"
                    "-A FORWARD -p tcp --dport 22 -j DROP\nCOMMIT\n")
    assert trace_json("--src", "10.0.0.1", "--dst", "10.0.0.2", "--dport", "80", path=dump)[1]["verdict"] == "ACCEPT"
    code, data = trace_json("--src", "10.0.0.1", "--dst", "10.0.0.2", "--dport", "22", path=dump)
    assert code == 1 and data["verdict"] == "DROP"


def test_service_without_endpoints_is_rejected_with_exit_1() -> None:
    code, data = trace_json("--src", "10.180.0.9", "--dst", "172.30.0.43", "--dport", "443")
    assert code == 1 and data["verdict"] == "REJECT"
    assert data["outcomes"][0]["destination"] is None
    assert "has no endpoints" in data["outcomes"][0]["rules"][-1]


def test_kube_proxy_jumps_make_payload_dumps_trace_like_full_ones(tmp_path: Path) -> None:
    payload = tmp_path / "payload.save"
    lines = [line for line in GOLDEN.read_text().splitlines()
             if not (line.startswith(("-A PREROUTING", "-A OUTPUT", "-A POSTROUTING", "-A INPUT", "-A FORWARD")))]
    payload.write_text("\n".join(lines) + "\n")
    args = ("--src", "10.180.0.9", "--dst", "172.30.0.43", "--dport", "443")
    assert trace_json(*args, path=payload)[1]["verdict"] == "ACCEPT"  # nothing hangs off the built-ins
    code, data = trace_json(*args, "--kube-proxy-jumps", path=payload)
    assert code == 1 and data == trace_json(*args)[1]


def test_text_output_and_sampled_mode() -> None:
    code, out, _ = run("iptables", "trace", str(GOLDEN), "--src", "10.180.0.9", "--dst", "172.30.0.42",
                       "--dport", "53", "--proto", "udp")
    assert code == 0
    assert "outcome 1: ACCEPT  probability 1  destination 10.180.0.5:53" in out
    assert "KUBE-SEP-RV3GXH2MD6OGQK7C" in out


def test_syntax_error_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.save"
    bad.write_text("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0 -j DROP\nCOMMIT\n")
    code, _, err = run("iptables", "trace", str(bad), "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "1")
    assert code == 2
    assert f"{bad}:3:" in err and "owner" in err and "Traceback" not in err


def test_bad_arguments_exit_2() -> None:
    assert run("iptables", "trace", str(GOLDEN), "--src", "nope", "--dst", "2.2.2.2", "--dport", "1")[0] == 2
    assert run("iptables", "trace", str(GOLDEN), "--src", "1.1.1.1", "--dst", "2.2.2.2")[0] == 2  # tcp needs --dport
    assert run("iptables", "trace", str(GOLDEN), "--src", "1.1.1.1", "--dst", "::1", "--dport", "1")[0] == 2


def test_rules_prints_a_restorable_ruleset_for_a_node() -> None:
    code, out, err = run("rules", str(DEMO), "--node", "node-1")
    assert code == 0, err
    ruleset = parse_save(out)
    assert "KUBE-SERVICES" in ruleset.tables["nat"].chains
    assert out.index("*filter") < out.index("*nat")
    code, nat_only, _ = run("rules", str(DEMO), "--node", "node-1", "--table", "nat")
    assert code == 0 and nat_only.startswith("*nat\n:PREROUTING ACCEPT [0:0]") and "*filter" not in nat_only


def test_rules_unknown_node_exits_2() -> None:
    code, _, err = run("rules", str(DEMO), "--node", "no-such-node")
    assert code == 2 and "no such node or router 'no-such-node'" in err


def test_rules_json() -> None:
    code, out, _ = run("rules", str(DEMO), "--node", "node-1", "--table", "nat", "--json")
    data = json.loads(out)
    assert code == 0 and list(data["tables"]) == ["nat"]
    assert data["tables"]["nat"]["PREROUTING"]["policy"] == "ACCEPT"
    assert any(r.startswith("-A KUBE-SERVICES ") for r in data["tables"]["nat"]["KUBE-SERVICES"]["rules"])


DUMPS = ROOT / "tests" / "dataplane" / "netfilter" / "data" / "iptables-dumps"


def test_masquerade_source_is_the_first_local_ip_given_not_the_smallest() -> None:
    args = ("--src", "8.8.8.8", "--dst", "192.168.0.11", "--dport", "30080", "--seed", "3")
    data = trace_json(*args, "--local-ip", "192.168.0.12", "--local-ip", "192.168.0.11")[1]
    assert data["outcomes"][0]["source"].startswith("192.168.0.12:")


def test_iface_gives_masquerade_the_out_interfaces_primary_address() -> None:
    args = ("--src", "8.8.8.8", "--dst", "192.168.0.11", "--dport", "30080", "--seed", "3")
    data = trace_json(*args, "--iface", "eth0=192.168.0.12/24,192.168.0.11/24", "--iface", "eth1=10.0.0.1/8")[1]
    assert data["outcomes"][0]["source"].startswith("192.168.0.12:")  # .11 is a secondary address
    data = trace_json(*args, "--iface", "eth0=192.168.0.12/24", "--iface", "eth1=192.168.0.11/32,172.16.0.1/16",
                      "--out-iface", "eth1")[1]
    assert data["outcomes"][0]["source"].startswith("192.168.0.11:")
    code, _, err = run("iptables", "trace", str(GOLDEN), *args, "--iface", "eth0:10.0.0.1")
    assert code == 2 and "--iface" in err and "expected NAME=ADDR/PLEN" in err


def test_hook_output_to_the_nodes_own_nodeport_comes_back_through_input() -> None:
    code, data = trace_json("--hook", "output", "--src", "192.168.1.5", "--dst", "192.168.1.5", "--dport", "31306",
                            "--iface", "eth0=192.168.1.5/24", path=DUMPS / "helowd-master01-broken.iptables-save")
    assert code == 1 and data["verdict"] == "REJECT"
    assert data["outcomes"][0]["hooks"] == ["OUTPUT", "POSTROUTING", "PREROUTING", "INPUT"]


def test_list_rules_output_traces_as_the_filter_table() -> None:
    code, data = trace_json("--src", "10.244.0.5", "--dst", "168.63.129.16", "--dport", "80",
                            path=DUMPS / "aks-calico-kubenet.list-rules")
    assert code == 1 and data["verdict"] == "DROP"
    assert data["outcomes"][0]["rules"][-1] == "filter FORWARD 6 -A FORWARD -d 168.63.129.16/32 -p tcp -m tcp --dport 80 -j DROP"


def test_anonymised_addresses_are_bad_input_with_the_line() -> None:
    code, _, err = run("iptables", "trace", str(DUMPS / "jijisa-ares-k29.iptables-save"),
                       "--src", "1.2.3.4", "--dst", "10.24.0.1", "--dport", "443")
    assert code == 2 and "jijisa-ares-k29.iptables-save:39:" in err and "x.x.x.x/32" in err
