"""What the Weave driver writes into netfilter: for every weave example topology and every
node, the rules (iptables-save text) and each chain's origin and role match the golden files;
and programming builds typed rules, parsing no iptables text."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from overlaynet.network import Network, assemble
from overlaynet.topology import load_cluster

from ..helpers import check_golden, node_rules_text

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = sorted(p.stem for p in TOPOLOGIES.glob("weave-*.yaml"))


#: the weave-npc case: an example with every kind of policy peer and port
NPC = "weave-full-mesh+policies"


def _paths(name: str) -> list[Path]:
    if name == NPC:
        return [TOPOLOGIES / "weave-full-mesh.yaml", Path(__file__).parent / "policies.yaml"]
    return [TOPOLOGIES / f"{name}.yaml"]


@cache
def _net(name: str) -> Network:
    net = assemble(load_cluster(_paths(name)))
    net.build_all()
    return net


def _cases() -> list[tuple[str, str]]:
    return [(name, node.name) for name in [*EXAMPLES, NPC] for node in _net(name).cluster.nodes]


def test_there_are_weave_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("topology", "node"), _cases())
def test_rules_match_the_golden_file(topology: str, node: str) -> None:
    text = node_rules_text(_net(topology), node)
    assert "-A WEAVE ! -s " in text  # weave expose's masquerade is there on every node
    if topology == NPC:
        assert "-A WEAVE-NPC-INGRESS" in text and "-A WEAVE-NPC-EGRESS-CUSTOM" in text
    check_golden(GOLDEN / f"{topology}-{node}.rules", text)


def test_programming_parses_no_text(no_text_parsing: None) -> None:
    """The driver builds typed rules: no tokenizer or parser runs while it programs."""
    from overlaynet.dataplane.netfilter import render_save

    _assert_no_module_caches()
    for name in [*EXAMPLES, NPC]:
        net = assemble(load_cluster(_paths(name)))
        net.build_all()
        text = render_save(net.rules(net.cluster.nodes[0].name))
        assert "-j WEAVE" in text, name
    assert "-j WEAVE-NPC-EGRESS-ACCEPT" in text


def _assert_no_module_caches() -> None:
    """No module of the driver keeps a cache of its own (a cache belongs to the network): a
    warm one would also hide a parse from the test above."""
    import importlib
    import pkgutil

    import overlaynet.drivers.weave as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        cached = [name for name, value in vars(module).items()
                  if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", None) == module.__name__]
        assert not cached, f"{module.__name__} keeps module-level caches: {cached}"
