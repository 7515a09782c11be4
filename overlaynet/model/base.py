"""Shared value types of the model: addresses, label maps, source locations, selectors."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    """An immutable, hashable mapping with sorted, deterministic iteration order of insertion."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | None = None, /, **kwargs: V) -> None:
        merged: dict[Any, V] = dict(data or {})
        merged.update(kwargs)
        self._data: dict[K, V] = merged
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._data) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenDict[K, V]], tuple[dict[K, V]]]:
        return (type(self), (self._data,))


T = TypeVar("T")
_EVOLVERS: dict[type, tuple[frozenset[str], Callable[[Any, dict[str, Any]], Any]] | None] = {}


def evolve(obj: T, /, **changes: Any) -> T:
    """``dataclasses.replace(obj, **changes)`` for the model's frozen dataclasses, without a
    call to ``__init__`` (a copy of each field; about twice as fast, which counts where the
    loader copies 150,000 pods several times). Classes with ``__post_init__`` or fields
    outside ``__init__`` go through ``replace``."""
    cls = type(obj)
    if cls not in _EVOLVERS:
        _EVOLVERS[cls] = _evolver(cls)
    entry = _EVOLVERS[cls]
    if entry is None:
        return replace(obj, **changes)  # type: ignore[type-var]
    names, copy = entry
    if not names.issuperset(changes):
        raise TypeError(f"{cls.__name__} has no field {sorted(set(changes) - names)[0]!r}")
    return copy(obj, changes)


def _evolver(cls: type) -> tuple[frozenset[str], Callable[[Any, dict[str, Any]], Any]] | None:
    fs = fields(cls)
    if hasattr(cls, "__post_init__") or any(not f.init for f in fs) or not all(n.isidentifier() for n in (f.name for f in fs)):
        return None
    lines = ["def copy(o, ch):", "    new = new_(cls)"]
    lines += [f"    set_(new, {f.name!r}, ch[{f.name!r}] if {f.name!r} in ch else o.{f.name})" for f in fs]
    lines.append("    return new")
    scope: dict[str, Any] = {"new_": object.__new__, "set_": object.__setattr__, "cls": cls}
    exec("\n".join(lines), scope)  # noqa: S102 - field names of our own dataclasses
    return frozenset(f.name for f in fs), scope["copy"]


def _setstate_by_fields(self: Any, state: list[Any]) -> None:
    # the first object of a class unpickled makes the class its own __setstate__ (below)
    setstate = _unpickler(type(self))
    type(self).__setstate__ = setstate
    setstate(self, state)


def _unpickler(cls: type) -> Callable[[Any, list[Any]], None]:
    """``__setstate__`` for one slotted dataclass as straight-line code: the dataclasses
    one calls ``fields()`` for every object, half of unpickling a cluster of 150,000 pods."""
    lines = ["def setstate(o, state):"]
    lines += [f"    set_(o, {f.name!r}, state[{i}])" for i, f in enumerate(fields(cls))] or ["    pass"]
    scope: dict[str, Any] = {"set_": object.__setattr__}
    exec("\n".join(lines), scope)  # noqa: S102 - field names of our own dataclasses
    return scope["setstate"]


def unpickle_fast(*modules: Any) -> None:
    """Give every slotted dataclass defined in ``modules`` a ``__setstate__`` made for its
    fields (made on first use, so importing costs nothing); the pickled state is the one
    dataclasses writes (a list of field values in order), so entries stay compatible."""
    for module in modules:
        for obj in vars(module).values():
            if (isinstance(obj, type) and obj.__module__ == module.__name__ and "__slots__" in vars(obj)
                    and getattr(vars(obj).get("__setstate__"), "__qualname__", "") == "_dataclass_setstate"):
                obj.__setstate__ = _setstate_by_fields  # type: ignore[attr-defined]


Labels = FrozenDict[str, str]
EMPTY_LABELS: Labels = FrozenDict()


def labels(data: Mapping[str, str] | None = None) -> Labels:
    return data if isinstance(data, FrozenDict) else FrozenDict(data or {})


@dataclass(frozen=True, slots=True)
class Source:
    """Where an object came from: file and 1-based line/column of its first key."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Requirement:
    """A label selector requirement: ``key In/NotIn/Exists/DoesNotExist [values]``."""

    key: str
    operator: str  # "In" | "NotIn" | "Exists" | "DoesNotExist"
    values: tuple[str, ...] = ()

    def matches(self, lbls: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in lbls and lbls[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in lbls or lbls[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in lbls
        if self.operator == "DoesNotExist":
            return self.key not in lbls
        raise ValueError(f"unknown label selector operator {self.operator!r}")


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes LabelSelector; the empty selector matches everything."""

    match_labels: Labels = field(default_factory=FrozenDict)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, lbls: Mapping[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if lbls.get(key) != value:
                return False
        return all(req.matches(lbls) for req in self.match_expressions)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels.items()]
        for r in self.match_expressions:
            if r.operator in ("Exists", "DoesNotExist"):
                parts.append(("!" if r.operator == "DoesNotExist" else "") + r.key)
            else:
                parts.append(f"{r.key} {r.operator.lower()} ({','.join(r.values)})")
        return ",".join(parts) if parts else "<all>"


def ip_address(value: str | IPAddress) -> IPAddress:
    return ipaddress.ip_address(value)


def ip_network(value: str | IPNetwork, *, strict: bool = True) -> IPNetwork:
    return ipaddress.ip_network(value, strict=strict)
