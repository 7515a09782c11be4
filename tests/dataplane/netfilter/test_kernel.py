"""The kernel accepts what the renderer writes: ``iptables-restore --test`` inside a
throwaway namespace ``onet-nf-<pid>`` (never the host's own tables)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaynet.dataplane.netfilter import parse_save, render_save

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"onet-nf-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def restore(netns: str, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, "iptables-restore", *args], input=text, text=True,
                          capture_output=True, timeout=60)


@pytest.mark.root
@pytest.mark.iptables
@pytest.mark.parametrize("golden", ["kube-proxy-node.save", "kube-proxy-loadbalancer.save", "extensions.restore"])
def test_iptables_restore_accepts_rendered_rules(netns: str, golden: str) -> None:
    text = render_save(parse_save((GOLDEN / golden).read_text()), counters=True)
    result = restore(netns, text, "--test")
    assert result.returncode == 0, result.stderr


@pytest.mark.root
@pytest.mark.iptables
def test_kernel_saves_what_we_render(netns: str) -> None:
    rendered = render_save(parse_save((GOLDEN / "kube-proxy-node.save").read_text()))
    assert restore(netns, rendered).returncode == 0
    saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], text=True, capture_output=True, check=True).stdout
    assert parse_save(saved) == parse_save(rendered)


@pytest.mark.root
@pytest.mark.iptables
def test_a_nodes_whole_ruleset_restores(netns: str) -> None:
    """What ``overlaynet rules`` prints for a demo node is accepted by iptables-restore."""
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.network import assemble
    from overlaynet.topology import load

    root = Path(__file__).resolve().parents[3]
    network = assemble(load([str(root / "topologies" / "demo.yaml")]).cluster)
    node = network.cluster.nodes[0].name
    text = render_save(network.dataplane.namespace(NsRef(node, "root")).netfilter)
    assert "*nat" in text
    result = restore(netns, text, "--test")
    assert result.returncode == 0, result.stderr


@pytest.mark.root
@pytest.mark.iptables
def test_dash_policy_of_a_builtin_chain_is_what_iptables_restore_accepts(netns: str) -> None:
    """``:FORWARD - [0:0]`` is valid restore input; with --noflush the kernel keeps the policy
    it had, as our parser keeps the one it had."""
    text = "*filter\n:INPUT - [0:0]\n:FORWARD - [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
    assert restore(netns, text, "--test").returncode == 0
    subprocess.run(["ip", "netns", "exec", netns, "iptables", "-P", "FORWARD", "DROP"], check=True)
    assert restore(netns, text, "--noflush").returncode == 0
    saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save", "-t", "filter"], text=True,
                           capture_output=True, check=True).stdout
    ours = parse_save("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n" + text)
    assert parse_save(saved).tables["filter"].chains["FORWARD"].policy == "DROP"
    assert ours.tables["filter"].chains["FORWARD"].policy == "DROP"


@pytest.mark.root
@pytest.mark.iptables
def test_nflog_and_checksum_render_as_iptables_save_prints_them(netns: str) -> None:
    text = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o virbr0 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill\n"
            "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A FORWARD -o weave -m state --state NEW -j NFLOG --nflog-group 86\n"
            '-A FORWARD -j NFLOG --nflog-prefix "a b" --nflog-group 5 --nflog-size 128 --nflog-threshold 2\nCOMMIT\n')
    assert restore(netns, text).returncode == 0
    saved = subprocess.run(["ip", "netns", "exec", netns, "iptables-save"], text=True, capture_output=True, check=True).stdout
    kernel = [line for line in saved.splitlines() if line.startswith("-A")]
    assert kernel == [line for line in render_save(parse_save(text)).splitlines() if line.startswith("-A")]
