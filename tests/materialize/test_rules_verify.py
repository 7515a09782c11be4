"""``iptables verify``: real nodes' published rulesets loaded into a namespace, probed through
the kernel, and the tracer agreeing on every probe (tests/dataplane/netfilter/data/
iptables-dumps/README.md says where each dump comes from and how each is read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from overlaynet.cli import main
from overlaynet.dataplane.netfilter import parse_save
from overlaynet.dataplane.netfilter.parse import is_list_rules
from overlaynet.materialize.naming import list_namespaces, run_prefix
from overlaynet.materialize.rules_verify import NODE_IP, derive_probes, verify_ruleset

DUMPS = Path(__file__).resolve().parents[1] / "dataplane" / "netfilter" / "data" / "iptables-dumps"
ANONYMISED = "203.0.113.29"  # for the x.x.x.x the author of jijisa-ares-k29 left (see the README)


def load(name: str):  # type: ignore[no-untyped-def]
    text = (DUMPS / name).read_text().replace("x.x.x.x", ANONYMISED)
    return parse_save(text, file=name, implicit_table="filter" if is_list_rules(text) else None)


def test_probes_come_from_the_ruleset() -> None:
    probes = {(p.hook, str(p.dst), p.port, p.proto) for p in derive_probes(load("helowd-master01-fixed.iptables-save"))}
    assert ("prerouting", "10.2.0.10", 53, "udp") in probes and ("prerouting", "10.2.0.10", 53, "tcp") in probes
    assert ("output", "10.2.73.220", 443, "tcp") in probes  # a ClusterIP from the node
    assert ("prerouting", str(NODE_IP), 31674, "tcp") in probes and ("output", str(NODE_IP), 31674, "tcp") in probes
    assert ("prerouting", "10.1.0.66", 80, "tcp") in probes and ("prerouting", "10.1.0.64", 53, "udp") in probes
    assert ("prerouting", str(NODE_IP), 9, "tcp") in probes and ("output", str(NODE_IP), 9, "udp") in probes
    jijisa = {(str(p.dst), p.port) for p in derive_probes(load("jijisa-ares-k29.iptables-save"))}
    assert {("10.5.6.29", 53), (ANONYMISED, 53)} <= jijisa  # both external IPs


@pytest.mark.root
@pytest.mark.iptables
@pytest.mark.ipset
@pytest.mark.parametrize("dump", sorted(p.name for p in DUMPS.iterdir() if p.suffix != ".md"))
def test_the_tracer_agrees_with_the_kernel_on_every_probe_of_a_real_dump(dump: str, run_id: str) -> None:
    report = verify_ruleset(load(dump), run_id=run_id)
    bad = [f"{c.probe}: kernel {c.kernel}, tracer {[str(o) for o in c.tracer]}" for c in report.disagreements]
    assert not bad, "\n".join(bad)
    assert len(report.comparisons) >= 3 and report.ok
    assert not list_namespaces(run_prefix(run_id))  # the lab is gone
    kernel = {(str(c.probe.dst), c.probe.port, c.probe.proto, c.probe.hook): c.kernel for c in report.comparisons}
    if dump == "helowd-master01-broken.iptables-save":
        # the node reaching its own NodePort without endpoints: out through lo, back in, REJECTed
        assert kernel[(str(NODE_IP), 31306, "tcp", "output")].verdict == "REJECT"
        assert kernel[(str(NODE_IP), 53, "udp", "output")].where == "local"  # -i lo -j ACCEPT on the way back
        assert kernel[(str(NODE_IP), 53, "udp", "prerouting")].verdict == "REJECT"  # host-prohibited from outside
    if dump == "helowd-master01-fixed.iptables-save":
        # KUBE-MARK-MASQ'd from outside: MASQUERADE takes ep0's primary 192.0.2.6, not the secondary .1
        seen = kernel[("10.2.0.1", 443, "tcp", "prerouting")]
        assert (seen.verdict, seen.destination, seen.source) == ("ACCEPT", "192.168.1.5:6443", "192.0.2.6")
        nodeport = kernel[(str(NODE_IP), 32117, "tcp", "output")]
        assert (nodeport.destination, nodeport.source) == ("10.1.0.63:8080", "192.0.2.6")
        dns = kernel[("10.2.0.10", 53, "udp", "prerouting")]
        assert dns.destination in ("10.1.0.64:53", "10.1.0.67:53") and dns.source == "192.0.2.6"


@pytest.mark.root
@pytest.mark.iptables
def test_verify_command_reports_every_probe_as_json(run_id: str) -> None:
    result = CliRunner().invoke(main, ["iptables", "verify", str(DUMPS / "aks-calico-kubenet.list-rules"),
                                       "--run-id", run_id, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["disagreements"] == 0 and data["probes"] == len(data["comparisons"])
    drop = next(c for c in data["comparisons"] if c["dst"] == "168.63.129.16:80")
    assert drop["kernel"] == "DROP" and drop["tracer"] == ["DROP"] and drop["agree"]
