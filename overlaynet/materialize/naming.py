"""Names of what the materializer creates in the kernel, and finding/removing them again.

Every network namespace is ``onet-<run id>-<label>``; every interface lives inside one of
them, so removing a run's namespaces removes everything the run created. Interface names
longer than the kernel's 15 characters are shortened with a hash suffix (kept in a name map).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable

from overlaynet.dataplane.ir import NsKind, NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize import _netns
from overlaynet.materialize._netns import NETNS_DIR, PREFIX

IFNAMSIZ = 15  # the kernel's limit on interface names, without the NUL

_RUN_ID = re.compile(r"^[a-z0-9]{1,12}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_BAD_IFNAME = re.compile(r"[/:\s]")


def new_run_id() -> str:
    """A fresh random run id: 6 lowercase hex characters."""
    return secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is 1-12 lowercase letters or digits, else raise."""
    if not _RUN_ID.match(run_id):
        raise MaterializeError(
            f"run id {run_id!r}: expected 1-12 lowercase letters or digits (it prefixes "
            f"namespace names as {PREFIX}<run id>-)"
        )
    return run_id


def run_prefix(run_id: str) -> str:
    return f"{PREFIX}{check_run_id(run_id)}-"


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode()).hexdigest()[:4]
    return f"{text[: limit - 5]}-{digest}"


def namespace_label(ref: NsRef) -> str:
    """A readable label for an IR namespace: ``node-1``, ``node-1.frontend-0``."""
    if ref.is_root:
        label = ref.host
    elif ref.kind is NsKind.POD:
        label = f"{ref.host}.{ref.name.rsplit('/', 1)[-1]}"
    else:
        label = f"{ref.host}.{ref.name}"
    return _short(_UNSAFE.sub("_", label), 40)


def segment_label(segment: str) -> str:
    return _short("seg." + _UNSAFE.sub("_", segment), 40)


class NameMap:
    """Allocates unique names in one scope (the run's namespaces, or one namespace's links)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name = _short(wanted, self.limit)
        n = 2
        while name in self.used:
            suffix = f"-{n}"
            name = _short(wanted, self.limit - len(suffix)) + suffix
            n += 1
        self.used.add(name)
        return name


def kernel_ifname(wanted: str) -> str:
    """``wanted`` if the kernel accepts it as an interface name, else a safe ≤15-char form."""
    cleaned = _BAD_IFNAME.sub("_", wanted) or "if"
    if cleaned in (".", ".."):
        cleaned = "if" + cleaned
    return _short(cleaned, IFNAMSIZ)


def list_namespaces(prefix: str = PREFIX) -> list[str]:
    """Names of the network namespaces (``ip netns`` ones) starting with ``prefix``."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def remove_namespaces(names: Iterable[str]) -> list[str]:
    """Remove these namespaces (their interfaces go with them); returns the ones removed.

    Only names starting with ``onet-`` are ever touched. Each is removed as ``ip netns
    delete`` does (detach the bind mount, remove the file), in this process.
    """
    names = list(names)
    for name in names:
        if not name.startswith(PREFIX) or "/" in name:
            raise MaterializeError(f"refusing to remove namespace {name!r}: not an {PREFIX} one")
    removed: list[str] = []
    errors: list[str] = []
    for name in names:
        try:
            if _netns.remove(name):
                removed.append(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise MaterializeError("could not remove namespaces: " + "; ".join(errors))
    return removed


def remove_run(run_id: str) -> list[str]:
    """Remove every namespace of one run (``onet-<run id>-*``)."""
    return remove_namespaces(list_namespaces(run_prefix(run_id)))


def run_ids(names: Iterable[str]) -> list[str]:
    """The run ids present among ``onet-<run id>-…`` namespace names."""
    found = set()
    for name in names:
        if name.startswith(PREFIX):
            rid = name[len(PREFIX) :].split("-", 1)[0]
            if _RUN_ID.match(rid):
                found.add(rid)
    return sorted(found)
