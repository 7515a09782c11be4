"""Small value strategies the object strategies share: names, labels, selectors, addresses.

Labels and port names come from small vocabularies on purpose, so that generated selectors
actually select generated pods and named target ports actually name container ports.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence

from hypothesis import strategies as st

from overlaynet.model import (
    FrozenDict,
    IPAddress,
    IPNetwork,
    Labels,
    LabelSelector,
    Requirement,
)

LABEL_KEYS: tuple[str, ...] = ("app", "tier", "env")
LABEL_VALUES: tuple[str, ...] = ("web", "db", "cache")
PORT_NAMES: tuple[str, ...] = ("http", "dns", "metrics")
OPERATORS: tuple[str, ...] = ("In", "NotIn", "Exists", "DoesNotExist")


@functools.cache
def dns_labels(max_size: int = 8) -> st.SearchStrategy[str]:
    """RFC 1123 labels as Kubernetes names need them: ``[a-z]([a-z0-9-]*[a-z0-9])?``."""
    first = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    rest = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", max_size=max_size - 1)
    return st.builds(lambda a, b: (a + b).rstrip("-"), first, rest)


@functools.cache
def label_maps(
    keys: Sequence[str] = LABEL_KEYS, values: Sequence[str] = LABEL_VALUES, *, min_size: int = 0,
    max_size: int = 3,
) -> st.SearchStrategy[Labels]:
    return st.dictionaries(st.sampled_from(keys), st.sampled_from(values), min_size=min_size, max_size=max_size).map(
        lambda d: FrozenDict(dict(sorted(d.items())))
    )


@st.composite
def _requirements(draw: st.DrawFn, keys: Sequence[str], values: Sequence[str]) -> Requirement:
    key = draw(st.sampled_from(keys))
    op = draw(st.sampled_from(OPERATORS))
    if op in ("Exists", "DoesNotExist"):
        return Requirement(key, op)
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))
    return Requirement(key, op, tuple(sorted(chosen)))


@functools.cache
def selectors(
    keys: Sequence[str] = LABEL_KEYS, values: Sequence[str] = LABEL_VALUES, *, expressions: bool = True
) -> st.SearchStrategy[LabelSelector]:
    exprs: st.SearchStrategy[list[Requirement]] = (
        st.lists(_requirements(keys, values), max_size=2, unique_by=lambda r: (r.key, r.operator))
        if expressions
        else st.just([])
    )
    return st.builds(
        lambda ml, ex: LabelSelector(ml, tuple(ex)), label_maps(keys, values, max_size=2), exprs
    )


def draw_host(
    draw: st.DrawFn, net: IPNetwork, *, exclude: Collection[IPAddress] = (), first: int = 2
) -> IPAddress:
    """Draw one address as ``host_in`` does, without building a strategy per call."""
    last = _last_host(net)
    if last < first:
        raise ValueError(f"{net} has no host address at or after index {first}")
    return _next_free(net, draw(st.integers(first, last)), first, last, exclude)


def _last_host(net: IPNetwork) -> int:
    return min(net.num_addresses - 2, 65535) if net.version == 4 else min(net.num_addresses - 1, 65535)


def host_in(
    net: IPNetwork, *, exclude: Collection[IPAddress] = (), first: int = 2
) -> st.SearchStrategy[IPAddress]:
    """An address of ``net`` from its ``first``-th on, never its broadcast, not in ``exclude``.

    Index 0 is the network address and 1 the gateway a CNI bridge takes, so hosts start at 2.
    A drawn address that is taken moves to the next free one (no filtering, so no rejection).
    """
    last = _last_host(net)
    if last < first:
        raise ValueError(f"{net} has no host address at or after index {first}")
    if sum(1 for a in exclude if a in net) > last - first:
        raise ValueError(f"{net} has no free host address left")
    return st.integers(first, last).map(lambda i: _next_free(net, i, first, last, exclude))


def _next_free(net: IPNetwork, index: int, first: int, last: int, exclude: Collection[IPAddress]) -> IPAddress:
    span = last - first + 1
    for step in range(span):
        addr = net[first + (index - first + step) % span]
        if addr not in exclude:
            return addr
    raise AssertionError("unreachable: the caller checked that a free address exists")


def draw_subnets(draw: st.DrawFn, net: IPNetwork, prefixlen: int, *, count: int) -> list[IPNetwork]:
    """Draw ``count`` distinct subnets as ``subnets_of`` does, without a strategy per call."""
    return draw(subnets_of(net, prefixlen, count=count))


def subnets_of(net: IPNetwork, prefixlen: int, *, count: int) -> st.SearchStrategy[list[IPNetwork]]:
    """``count`` distinct subnets of ``net`` with ``prefixlen``, in drawn order."""
    total = 1 << (prefixlen - net.prefixlen)
    if count > total:
        raise ValueError(f"{net} has only {total} /{prefixlen} subnets, {count} wanted")
    base = int(net.network_address)
    size = 1 << (net.max_prefixlen - prefixlen)

    def subnet(i: int) -> IPNetwork:
        return type(net)((base + i * size, prefixlen))

    return st.lists(st.integers(0, min(total - 1, 4095)), min_size=count, max_size=count, unique=True).map(
        lambda idx: [subnet(i) for i in idx]
    )
