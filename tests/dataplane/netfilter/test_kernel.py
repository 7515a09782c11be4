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
    from overlaynet.assemble import assemble
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.topology import load

    root = Path(__file__).resolve().parents[3]
    network = assemble(load([str(root / "topologies" / "demo.yaml")]).cluster)
    node = network.cluster.nodes[0].name
    text = render_save(network.dataplane.namespace(NsRef(node, "root")).netfilter)
    assert "*nat" in text
    result = restore(netns, text, "--test")
    assert result.returncode == 0, result.stderr
