"""The house's layering holds: every import (module level, function level and under
``TYPE_CHECKING`` alike, read with ``ast``) goes down design.md's table, and no module
imports itself back through others (no import circle)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "overlaynet"

#: design.md's table, "may import" column: each room and the rooms it may import directly;
#: what those may import is allowed too (imports go down the table). ``errors`` (the one
#: exception tree) is open to every room.
MAY_IMPORT: dict[str, set[str]] = {
    "model": set(),
    "topology": {"model"},
    "kv": {"model"},
    "dataplane": {"model"},
    "policy": {"model"},  # one implementation's policy semantics (Calico's), above the model
    "drivers": {"model", "kv", "dataplane", "policy"},
    "kubeproxy": {"model", "dataplane"},
    "dns": {"model"},
    "trace": {"dataplane", "dns"},
    "analysis": {"trace", "dataplane", "policy"},
    "materialize": {"dataplane", "trace"},  # verify judges the tracer against the kernel
    "testing": {"model", "topology", "dataplane"},
    # the composition layer: turns a model into a programmed network, and words into packets
    "network": {"topology", "kv", "drivers", "kubeproxy", "dns", "trace", "analysis"},
    # clusters over time and whole-cluster sweeps ask the network
    "scenario": {"network"},
    "sweep": {"network"},
    # simulated traffic and what monitoring counts of it, from the network's traces
    "traffic": {"network"},
    # the web view and report: a second face over the same library calls as the CLI
    "web": {"network"},
}
#: the faces over the library: the CLI and the package's curated top level
EVERYTHING = {"cli", ""}

#: Circles in rooms whose own issues are open; this list may only shrink (a circle that is
#: gone must leave it, a new one fails).
KNOWN_CIRCLES: set[frozenset[str]] = {
    frozenset({"overlaynet.scenario.engine", "overlaynet.scenario.apply"}),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["overlaynet", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path, text: str | None = None) -> Iterator[tuple[str, int]]:
    """(imported overlaynet module, line) for every import in the file: ``from P import m``
    names the submodule ``P.m`` when there is one, else the package ``P``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES]
            yield from ((s, node.lineno) for s in subs)
            if len(subs) < len(node.names):
                yield module, node.lineno


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _allowed(room: str) -> set[str]:
    seen: set[str] = set()
    todo = [room]
    while todo:
        for below in MAY_IMPORT.get(todo.pop(), set()):
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen | {room, "errors"}


def _edges() -> dict[str, set[tuple[str, int]]]:
    edges: dict[str, set[tuple[str, int]]] = {}
    for name, path in MODULES.items():
        edges[name] = {(m, line) for m, line in _imports(name, path) if m in MODULES}
    return edges


def test_every_room_is_in_the_table() -> None:
    rooms = {_room(m) for m in MODULES} - EVERYTHING - {"errors"}
    assert rooms <= set(MAY_IMPORT), f"rooms missing from the table: {sorted(rooms - set(MAY_IMPORT))}"


def test_imports_go_down_the_table() -> None:
    wrong = []
    for name, targets in _edges().items():
        room = _room(name)
        if room in EVERYTHING or room == "errors":
            continue
        for target, line in sorted(targets):
            if _room(target) not in _allowed(room):
                wrong.append(f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}: {room} imports {target}")
    assert not wrong, "imports up the table:\n" + "\n".join(wrong)


def test_the_tracer_knows_no_driver_and_no_composition() -> None:
    for name, targets in _edges().items():
        if _room(name) == "trace":
            assert not {t for t, _ in targets if _room(t) in ("drivers", "kubeproxy", "network", "analysis")}, name


def _circles(edges: dict[str, set[tuple[str, int]]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {m: {t for t, _ in ts} for m, ts in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    circles = set(_circles(_edges()))
    assert circles <= KNOWN_CIRCLES, f"new import circles: {[sorted(c) for c in circles - KNOWN_CIRCLES]}"
    assert circles >= KNOWN_CIRCLES, f"gone, remove from KNOWN_CIRCLES: {[sorted(c) for c in KNOWN_CIRCLES - circles]}"


def test_the_checker_sees_function_level_and_type_checking_imports() -> None:
    probe = PACKAGE / "trace" / "probe.py"  # never written: the text is given
    inside = "def f() -> None:\n    from overlaynet.drivers import registry\n"
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from overlaynet.network import Network\n"
    relative = "from ..drivers import registry\n"
    assert {m for m, _ in _imports("overlaynet.trace.probe", probe, inside)} == {"overlaynet.drivers.registry"}
    assert "overlaynet.network" in {m for m, _ in _imports("overlaynet.trace.probe", probe, guarded)}
    assert {m for m, _ in _imports("overlaynet.trace.probe", probe, relative)} == {"overlaynet.drivers.registry"}
