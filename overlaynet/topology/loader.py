"""Read topology files (multi-document YAML or directories of ``*.yaml``) into a ``Cluster``.

The public entry points are re-exported by ``overlaynet.topology``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overlaynet.errors import Diagnostic, DriverOptionError, TopologyError, UnknownDriver
from overlaynet.model import Cluster, NetworkSpec
from overlaynet.topology.assemble import assemble
from overlaynet.topology.checks import check
from overlaynet.topology.documents import read_document
from overlaynet.topology.fields import Ctx, Where
from overlaynet.topology.parsed import Parsed
from overlaynet.topology.yamlsrc import MAX_FILE_BYTES, read_documents


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A loaded cluster and the warnings found on the way (errors raise TopologyError)."""

    cluster: Cluster
    warnings: tuple[Diagnostic, ...]


def _files(paths: Sequence[str | os.PathLike[str]], ctx: Ctx) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        shown = os.fspath(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                ctx.diagnostics.append(Diagnostic(shown, 1, 1, "", "expected a directory with *.yaml topology files, found none"))
            targets = [(os.path.join(shown, p.name), p) for p in found]
        else:
            targets = [(shown, path)]
        for name, p in targets:
            try:
                size = p.stat().st_size
                if size > MAX_FILE_BYTES:
                    ctx.diagnostics.append(Diagnostic(name, 1, 1, "", f"file too large: expected at most {MAX_FILE_BYTES} bytes (10 MiB), found {size} bytes"))
                    continue
                data = p.read_bytes()
            except OSError as exc:
                ctx.diagnostics.append(Diagnostic(name, 1, 1, "", f"cannot read topology file: {exc.strerror or exc}"))
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                ctx.diagnostics.append(Diagnostic(name, 1, 1, "", f"expected UTF-8 text, found a byte 0x{data[exc.start]:02x} at offset {exc.start}"))
                continue
            out.append((name, text))
    return out


def _sorted(diags: list[Diagnostic], files: list[str]) -> list[Diagnostic]:
    """Diagnostics in file order, then by position (stable for equal positions)."""
    rank = {name: i for i, name in enumerate(files)}
    return sorted(diags, key=lambda d: (rank.get(d.file, -1), d.line, d.column))


#: Judges a topology's ``network``: raises UnknownDriver or DriverOptionError (the topology
#: knows no driver; ``overlaynet.drivers.check_network`` is the one the CLI passes).
NetworkCheck = Callable[[str, Mapping[str, Any]], object]


def _check_network(ctx: Ctx, network: NetworkSpec, check: NetworkCheck, files: list[str]) -> None:
    """Report a driver the registry does not know, or options it refuses, where they are written."""
    fallback = Where(files[0] if files else ctx.file, 1, 1, "")
    try:
        check(network.driver, network.options)
    except UnknownDriver as exc:
        close = difflib.get_close_matches(exc.name, exc.known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        ctx.error(ctx.where.get(("network", "driver"), fallback),
                  f"unknown network driver {exc.name!r}: {hint}(known: {', '.join(exc.known)})")
    except DriverOptionError as exc:
        kind = "option-key" if exc.unknown else "option"
        where = ctx.where.get(("network", kind, exc.option)) or ctx.where.get(("network", "options")) \
            or ctx.where.get(("network", "driver"), fallback)
        ctx.error(where, f"{exc}", path=f"spec.network.options.{exc.option}")


def _load(texts: list[tuple[str, str]], ctx: Ctx, network_check: NetworkCheck | None = None) -> LoadResult:
    files = [name for name, _ in texts]
    parsed = Parsed()
    for name, text in texts:
        docs, diags = read_documents(name, text)
        ctx.diagnostics.extend(diags)
        if not diags and all(d.value is None for d in docs):  # empty, comments, or bare `---`
            ctx.diagnostics.append(Diagnostic(
                name, 1, 1, "", "the file holds no object: expected Kubernetes objects or a Cluster document", "warning"))
        ctx.file = name
        for doc in docs:
            read_document(ctx, parsed, doc)
    if network_check is not None and texts:
        _check_network(ctx, parsed.cluster.network if parsed.cluster else NetworkSpec(), network_check, files)
    if ctx.errors:  # cross-object checks on broken objects only add noise
        raise TopologyError(_sorted(ctx.diagnostics, files))  # warnings too: they may explain
    cluster, ranges = assemble(ctx, parsed)
    check(ctx, cluster, ranges)
    if ctx.errors:
        raise TopologyError(_sorted(ctx.diagnostics, files))  # warnings too: they may explain
    warnings = tuple(_sorted([d for d in ctx.diagnostics if d.severity == "warning"], files))
    return LoadResult(cluster, warnings)


def load(paths: Sequence[str | os.PathLike[str]], *, network_check: NetworkCheck | None = None) -> LoadResult:
    """Load topology files and directories; raise TopologyError with every error found.

    ``network_check`` (``overlaynet.drivers.check_network``) judges the network driver and
    its options, so that they are reported with the file's other errors, at their place.

    >>> load(["topologies/demo.yaml"]).cluster.name
    'demo'
    """
    texts, ctx = read_files(paths)
    return _load(texts, ctx, network_check)


def read_files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> tuple[list[tuple[str, str]], Ctx]:
    """The (name, text) of every topology file named (a directory gives its *.yaml files),
    with what could not be read as diagnostics in the context; TopologyError when nothing
    was named at all."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    ctx = Ctx()
    texts = _files(paths, ctx)
    if not texts and not ctx.diagnostics:
        raise TopologyError([Diagnostic("<topology>", 1, 1, "", "expected at least one topology file, found none")])
    return texts, ctx


def load_cluster(paths: Sequence[str | os.PathLike[str]]) -> Cluster:
    """``load(paths).cluster``: the cluster without the warnings."""
    return load(paths).cluster


def load_text(text: str, filename: str = "<string>", *, network_check: NetworkCheck | None = None) -> LoadResult:
    """Load a topology from a string (``filename`` is used in diagnostics)."""
    return _load([(filename, text)], Ctx(file=filename), network_check)


def load_texts(files: Sequence[tuple[str, str]], *, network_check: NetworkCheck | None = None) -> LoadResult:
    """Load a topology from ``(file name, text)`` pairs, judged together as ``load`` judges
    files (the names are used in diagnostics)."""
    texts = list(files)
    if not texts:
        raise TopologyError([Diagnostic("<topology>", 1, 1, "", "expected at least one topology file, found none")])
    return _load(texts, Ctx(file=texts[0][0]), network_check)
