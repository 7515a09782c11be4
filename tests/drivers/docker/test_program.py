"""What the Docker overlay driver writes into netfilter: for every docker example topology and every
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
EXAMPLES = sorted(p.stem for p in TOPOLOGIES.glob("docker-*.yaml"))


@cache
def _net(name: str) -> Network:
    net = assemble(load_cluster([TOPOLOGIES / f"{name}.yaml"]))
    net.build_all()
    return net


def _cases() -> list[tuple[str, str]]:
    return [(name, node.name) for name in EXAMPLES for node in _net(name).cluster.nodes]


def test_there_are_docker_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("topology", "node"), _cases())
def test_rules_match_the_golden_file(topology: str, node: str) -> None:
    text = node_rules_text(_net(topology), node)
    assert "*nat" in text
    check_golden(GOLDEN / f"{topology}-{node}.rules", text)


def test_programming_parses_no_text(no_text_parsing: None) -> None:
    """The driver builds typed rules: no tokenizer or parser runs while it programs."""
    from overlaynet.dataplane.netfilter import render_save

    _assert_no_module_caches()
    for name in EXAMPLES:
        net = assemble(load_cluster([TOPOLOGIES / f"{name}.yaml"]))
        net.build_all()
        text = render_save(net.rules(net.cluster.nodes[0].name))
        assert "-A POSTROUTING" in text, name


def _assert_no_module_caches() -> None:
    """No module of the driver keeps a cache of its own (a cache belongs to the network): a
    warm one would also hide a parse from the test above."""
    import importlib
    import pkgutil

    import overlaynet.drivers.docker as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        cached = [name for name, value in vars(module).items()
                  if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", None) == module.__name__]
        assert not cached, f"{module.__name__} keeps module-level caches: {cached}"
