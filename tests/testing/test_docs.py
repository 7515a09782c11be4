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
    # the examples' own settings inherit this profile: the same examples on every run
    settings.register_profile("docs-before", settings())
    settings.register_profile("docs-derandomized", settings(), derandomize=True)
    settings.load_profile("docs-derandomized")
    try:
        exec(compile(_blocks()[block], f"{DOC}:{label}", "exec"), namespace)
        tests = [v for k, v in namespace.items() if k.startswith("test_")]
        assert len(tests) == expected
        for test in tests:
            test()
    finally:
        settings.load_profile("docs-before")


def test_trace_properties_run_with_public_names_only() -> None:
    """The page opens with properties over traces, written with public names alone: every
    name it imports from overlaynet is in its module's ``__all__``, no module is private."""
    import importlib

    block = _blocks()[0]
    for module, names in re.findall(r"^from (overlaynet[\w.]*) import (.+)$", block, flags=re.M):
        assert not any(part.startswith("_") for part in module.split(".")), module
        public = importlib.import_module(module).__all__
        for name in (n.strip() for n in names.split(",")):
            assert name in public, f"{module}.{name} is not public"
    assert re.search(r"^import overlaynet$", block, flags=re.M)
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
