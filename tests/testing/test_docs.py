"""The examples in docs/testing.md run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings

DOC = Path(__file__).parents[2] / "docs" / "testing.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _run_tests(block: int, label: str, expected: int) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_blocks()[block], f"{DOC}:{label}", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert len(tests) == expected
    for test in tests:
        test()


def test_trace_properties_run_with_public_names_only() -> None:
    """The page opens with properties over traces, written with the public API alone."""
    block = _blocks()[0]
    imported = set(re.findall(r"^(?:from|import) (overlaynet[\w.]*)", block, flags=re.M))
    assert imported == {"overlaynet", "overlaynet.testing.strategies"}
    _run_tests(0, "trace properties", 3)


def test_first_example_runs() -> None:
    _run_tests(1, "first example", 2)


def test_composing_example_runs() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_blocks()[2], f"{DOC}:composing example", "exec"), namespace)

    @settings(max_examples=10, deadline=None)
    @given(namespace["two_pods_on_one_node"]())
    def check(drawn: tuple[Any, Any, Any]) -> None:
        node, a, b = drawn
        assert a.node == b.node == node.name
        assert not set(a.ips) & set(b.ips)

    check()
