"""An on-disk cache of loaded topologies: ``load_cached`` answers a load of files it has seen
before, unchanged, with the ``LoadResult`` the first load pickled, so only the first command
on a large cluster pays for parsing, checks and controllers.

The key is a SHA-256 over the cache format, overlaynet's version, a digest of every source
file of the package (any change to the code makes old entries unreachable), Python's version,
whether the network driver was judged, and each file's name and bytes. Entries live in
``$OVERLAYNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/overlaynet``, else ``~/.cache/overlaynet``
(safe to delete at any time); ``OVERLAYNET_NO_CACHE=1`` turns the cache off. An entry that
cannot be read (truncated, corrupt, another format, not ours) is ignored and rewritten:
the cache never turns a good load into an error. Loads with errors are not cached.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from overlaynet.topology.endpoints import remember_reconciled
from overlaynet.topology.loader import LoadResult, NetworkCheck, _load, read_files

#: Bump when what is pickled changes shape in a way the code digest would not see.
FORMAT = 1
_MAGIC = b"overlaynet-load-cache\n"


def cache_dir() -> Path:
    """Where entries live: ``$OVERLAYNET_CACHE_DIR``, ``$XDG_CACHE_HOME/overlaynet`` or
    ``~/.cache/overlaynet``."""
    explicit = os.environ.get("OVERLAYNET_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "overlaynet"


@cache
def code_digest() -> str:
    """SHA-256 over the names and contents of the package's source files (this process's)."""
    root = Path(__file__).resolve().parents[1]  # the overlaynet package
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(texts: Sequence[tuple[str, str]], *, checked: bool) -> str:
    """The entry name for these ``(file name, text)`` pairs, loaded with or without the
    network driver's check."""
    h = hashlib.sha256()
    for part in (str(FORMAT), _package_version(), code_digest(), sys.version, str(checked)):
        h.update(part.encode() + b"\0")
    for name, text in texts:
        data = text.encode()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


@contextmanager
def _gc_paused(*, freeze: bool = False) -> Iterator[None]:
    # (un)pickling a graph of 10^6 objects triggers the cyclic GC thousands of times for
    # nothing; and the first collection after it scans them all, unless they are frozen first
    enabled = gc.isenabled()
    if freeze:
        gc.collect()  # what is garbage now must not be frozen with the result (cheap: before it exists)
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def _read(path: Path, *, keep: bool = False) -> LoadResult | None:
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o022:
            return None  # only entries this user wrote, and no one else could have
        with path.open("rb") as f:
            if f.read(len(_MAGIC)) != _MAGIC:
                return None
            with _gc_paused(freeze=keep):
                result = pickle.load(f)  # noqa: S301 - our own file in our own directory
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a corrupt entry of any kind is a miss, never an error
        return None
    return result if isinstance(result, LoadResult) else None


def _write(path: Path, result: LoadResult) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".load-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC)
                with _gc_paused():
                    pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # readers see the old entry or the whole new one
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, pickle.PicklingError, RecursionError, TypeError):
        pass  # a read-only or full disk only costs the next load its time


def entry_path(texts: Sequence[tuple[str, str]], *, checked: bool) -> Path:
    return cache_dir() / f"load-{cache_key(texts, checked=checked)}.pickle"


def load_cached(
    paths: Sequence[str | os.PathLike[str]], *, network_check: NetworkCheck | None = None, keep: bool = False
) -> LoadResult:
    """``topology.load(paths)``, answered from the on-disk cache when these files, with these
    contents, were loaded before by this version of the code.

    ``keep``: the caller keeps the result as long as the process lives (a CLI command), so an
    entry read from disk is frozen out of the cyclic collector's scans (``gc.freeze``): at
    150,000 pods the collector's first pass over the fresh objects would cost a quarter of
    the read."""
    texts, ctx = read_files(paths)
    if ctx.diagnostics or os.environ.get("OVERLAYNET_NO_CACHE"):
        return _load(texts, ctx, network_check)
    path = entry_path(texts, checked=network_check is not None)
    hit = _read(path, keep=keep)
    if hit is not None:
        remember_reconciled(hit.cluster)  # the loader's last step made its slices
        return hit
    result = _load(texts, ctx, network_check)
    _write(path, result)
    return result


def _package_version() -> str:
    """The installed overlaynet's version (no import of the top level from down here)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("overlaynet")
    except PackageNotFoundError:
        return "0+unknown"
