"""Safe YAML reading with line/column: compose the node tree, refuse bombs, convert to ``Y``.

Only the composer runs (no object construction beyond plain scalars), so no tag can build
arbitrary objects; aliases are measured before anything is expanded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from overlaynet.errors import Diagnostic

MAX_FILE_BYTES = 10 * 1024 * 1024
# A document whose aliases expand it past this many nodes (and far past what was written)
# is refused: the "billion laughs" pattern.
MAX_EXPANDED_NODES = 200_000
MAX_EXPANSION_RATIO = 10
MAX_DEPTH = 100  # far deeper than any topology; keeps the recursive walks inside Python's limit

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Y:
    """A located YAML value: ``value`` is ``dict[str, Y]``, ``list[Y]`` or a plain scalar.

    ``line``/``column`` (1-based) point at the value; ``key_line``/``key_column`` at its key in
    the parent mapping (the value itself for list items and documents).
    """

    value: Any
    line: int
    column: int
    path: str
    key_line: int
    key_column: int
    tag: str = ""

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    def get(self, key: str) -> Y | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def child_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class _BadDocument(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def read_documents(filename: str, text: str) -> tuple[list[Y], list[Diagnostic]]:
    """Compose every document of ``text``; return the converted documents and the errors."""
    diags: list[Diagnostic] = []
    if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        size = len(text.encode("utf-8", errors="replace"))
        diags.append(
            Diagnostic(filename, 1, 1, "", f"file too large: expected at most {MAX_FILE_BYTES} bytes (10 MiB), found {size} bytes")
        )
        return [], diags
    docs: list[Y] = []
    loader = _Loader(text)
    try:
        for node in _compose(loader):
            if node is None:
                continue
            try:
                _check_expansion(node)
                conv = _Converter(filename, diags)
                doc = conv.convert(node, "", node.start_mark.line + 1, node.start_mark.column + 1)
                if not conv.refused_tag:  # a document with a refused tag is not read on (no cascade)
                    docs.append(doc)
            except _BadDocument as exc:
                diags.append(Diagnostic(filename, exc.line, exc.column, "", exc.message))
            except RecursionError:
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
                diags.append(Diagnostic(filename, line, col, "", f"YAML nested too deeply: expected at most {MAX_DEPTH} levels"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = exc.problem or "malformed YAML"
        ctx = f" ({exc.context})" if exc.context else ""
        diags.append(Diagnostic(filename, line, col, "", f"YAML syntax error: {what}{ctx}"))
    except RecursionError:  # the pure-Python composer recurses per level
        diags.append(Diagnostic(filename, 1, 1, "", f"YAML nested too deeply: expected at most {MAX_DEPTH} levels"))
    except yaml.YAMLError as exc:  # reader errors (bad characters) carry a position too
        line = getattr(exc, "position", 0) or 0
        diags.append(Diagnostic(filename, 1, 1, "", f"YAML error: {exc} (at character {line})"))
    finally:
        loader.dispose()
    return docs, diags


def _compose(loader: Any) -> Iterator[yaml.Node | None]:
    while loader.check_node():
        yield loader.get_node()


def _check_expansion(root: yaml.Node) -> None:
    """Measure the expanded size of a document without expanding it; refuse alias bombs."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    written = 0

    def size(node: yaml.Node, depth: int = 0) -> int:
        nonlocal written
        if depth > MAX_DEPTH:
            raise _BadDocument(
                node.start_mark.line + 1, node.start_mark.column + 1,
                f"YAML nested too deeply: expected at most {MAX_DEPTH} levels",
            )
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _BadDocument(
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "recursive YAML alias: expected a tree, found a node that contains itself",
            )
        active.add(key)
        written += 1
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item, depth + 1)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        active.discard(key)
        sizes[key] = total
        return total

    expanded = size(root)  # deep nesting is refused (MAX_DEPTH) before the stack overflows
    if expanded > MAX_EXPANDED_NODES and expanded > MAX_EXPANSION_RATIO * written:
        raise _BadDocument(
            root.start_mark.line + 1,
            root.start_mark.column + 1,
            f"YAML aliases would expand this document from {written} to {expanded} nodes; "
            f"refusing to expand (expected at most {MAX_EXPANDED_NODES} nodes: an alias bomb?)",
        )


_STR_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
_CORE = "tag:yaml.org,2002:"
#: The tags plain YAML data has (what kubectl and the safe loader produce); ``!`` is the
#: non-specific tag of a quoted scalar.
_DATA_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")} | {"!"}


def _tag_problem(tag: str) -> str | None:
    """Why a node's tag is refused: Python object tags are never constructed, and a local tag
    (``!Ref``, CloudFormation's) has no meaning in a topology; neither is dropped silently."""
    if tag in _DATA_TAGS:
        return None
    shown = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
    if tag.startswith(f"{_CORE}python/"):
        return f"unsupported YAML tag {shown!r}: Python object tags are never constructed; expected plain YAML data"
    if tag.startswith(_CORE):
        return f"unsupported YAML tag {shown!r}: expected plain YAML data (strings, numbers, booleans, null, mappings, lists)"
    return f"unknown local YAML tag {shown!r}: expected plain YAML data (a tag such as !Ref is not expanded here)"


class _Converter:
    """Turns composed nodes into ``Y`` values; plain scalars resolved as the safe loader does."""

    def __init__(self, filename: str, diags: list[Diagnostic]) -> None:
        self.filename = filename
        self.diags = diags
        self.constructor = yaml.constructor.SafeConstructor()
        self.refused_tag = False

    def convert(self, node: yaml.Node, path: str, key_line: int, key_col: int) -> Y:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        problem = _tag_problem(node.tag)
        if problem is not None:
            self.refused_tag = True
            self._err(node, path, problem)
            return Y(None, line, col, path, key_line, key_col, node.tag)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Y] = {}
            for k, v in self._pairs(node):
                if not isinstance(k, yaml.ScalarNode):
                    self._err(k, path, "expected a plain mapping key, found a nested mapping or list")
                    continue
                key = str(self._scalar(k))
                kpath = child_path(path, key)
                if key in out:
                    self._err(k, kpath, f"duplicate key {key!r} (the first is at line {out[key].key_line})")
                    continue
                out[key] = self.convert(v, kpath, k.start_mark.line + 1, k.start_mark.column + 1)
            return Y(out, line, col, path, key_line, key_col, node.tag)
        if isinstance(node, yaml.SequenceNode):
            items = [
                self.convert(item, child_path(path, i), item.start_mark.line + 1, item.start_mark.column + 1)
                for i, item in enumerate(node.value)
            ]
            return Y(items, line, col, path, key_line, key_col, node.tag)
        return Y(self._scalar(node), line, col, path, key_line, key_col, node.tag)

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Mapping pairs with ``<<`` merge keys applied (explicit keys win)."""
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge":
                sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        merged.extend(self._pairs(src))
                continue
            pairs.append((k, v))
        explicit = {str(self._scalar(k)) for k, _ in pairs if isinstance(k, yaml.ScalarNode)}
        seen: set[str] = set()
        for k, v in merged:
            name = str(self._scalar(k))
            if name not in explicit and name not in seen:
                seen.add(name)
                pairs.append((k, v))
        return pairs

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag in _STR_TAGS or not node.tag.startswith("tag:yaml.org,2002:"):
            return str(node.value)
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):
            return str(node.value)

    def _err(self, node: yaml.Node, path: str, message: str) -> None:
        self.diags.append(
            Diagnostic(self.filename, node.start_mark.line + 1, node.start_mark.column + 1, path, message)
        )
