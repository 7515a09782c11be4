"""Typed readers over located YAML values; every problem becomes a Diagnostic in ``Ctx``.

Readers return ``None`` after recording an error, so one pass collects every error of a file.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from overlaynet.errors import Diagnostic
from overlaynet.model import FrozenDict, IPAddress, IPNetwork, LabelSelector, Requirement, Source
from overlaynet.topology.yamlsrc import Y, child_path

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclass(frozen=True, slots=True)
class Where:
    """A location in a file for a later (cross-object) check."""

    file: str
    line: int
    column: int
    path: str


@dataclass
class Ctx:
    """The diagnostics of one load, and where each interesting field came from."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    where: dict[tuple[Any, ...], Where] = field(default_factory=dict)
    file: str = "<string>"

    # --- reporting -------------------------------------------------------------------
    def error(self, y: Y | Where, message: str, *, at_key: bool = False, path: str | None = None) -> None:
        self._add(y, message, "error", at_key, path)

    def warn(self, y: Y | Where, message: str, *, path: str | None = None) -> None:
        self._add(y, message, "warning", False, path)

    def _add(self, y: Y | Where, message: str, severity: str, at_key: bool, path: str | None) -> None:
        if isinstance(y, Where):
            d = Diagnostic(y.file, y.line, y.column, path if path is not None else y.path, message, severity)  # type: ignore[arg-type]
        else:
            line, col = (y.key_line, y.key_column) if at_key else (y.line, y.column)
            d = Diagnostic(self.file, line, col, path if path is not None else y.path, message, severity)  # type: ignore[arg-type]
        if d not in self.diagnostics:
            self.diagnostics.append(d)

    def here(self, y: Y) -> Where:
        return Where(self.file, y.line, y.column, y.path)

    def source(self, y: Y) -> Source:
        return Source(self.file, y.line, y.column)

    def remember(self, key: tuple[Any, ...], y: Y | None) -> None:
        if y is not None:
            self.where[key] = self.here(y)

    def remember_name(self, item: Y, name_y: Y | None) -> None:
        """Where the name of the object (or list entry) starting at ``item`` is written."""
        if name_y is not None:
            self.where[("name-at", self.file, item.line, item.column)] = self.here(name_y)

    def name_at(self, src: Source | None) -> Where | None:
        return self.where.get(("name-at", src.file, src.line, src.column)) if src is not None else None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def describe(value: Any) -> str:
    """Say what a YAML value is, for "found ..." in messages."""
    if isinstance(value, Y):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"an integer {value}"
    if isinstance(value, float):
        return f"a number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"a string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def mapping(
    ctx: Ctx,
    y: Y | None,
    known: Collection[str],
    *,
    strict: bool = True,
    what: str = "a mapping",
) -> dict[str, Y] | None:
    """Check ``y`` is a mapping; report unknown keys (all when strict, else near-misses only)."""
    if y is None:
        return None
    if not isinstance(y.value, dict):
        if y.value is None:
            return {}
        ctx.error(y, f"expected {what}, found {describe(y)}")
        return None
    for key, val in y.value.items():
        if key in known:
            continue
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
        if close:
            ctx.error(val, f"unknown field {key!r}; did you mean {close[0]!r}?", at_key=True)
        elif strict:
            listing = ", ".join(sorted(known))
            ctx.error(val, f"unknown field {key!r}; expected one of: {listing}", at_key=True)
    return dict(y.value)


def required(ctx: Ctx, parent: Y, fields_: dict[str, Y], name: str, what: str) -> Y | None:
    val = fields_.get(name)
    if val is None or val.value is None:
        ctx.error(parent, f"missing required field {name!r}: expected {what}", path=child_path(parent.path, name))
        return None
    return val


def seq(ctx: Ctx, y: Y | None, what: str = "a list") -> list[Y]:
    if y is None or y.value is None:
        return []
    if not isinstance(y.value, list):
        ctx.error(y, f"expected {what}, found {describe(y)}")
        return []
    return list(y.value)


def string(ctx: Ctx, y: Y | None, what: str = "a string") -> str | None:
    if y is None or y.value is None:
        return None
    if not isinstance(y.value, str):
        ctx.error(y, f"expected {what}, found {describe(y)}")
        return None
    return y.value


def choice(ctx: Ctx, y: Y | None, options: Collection[str]) -> str | None:
    value = string(ctx, y, "one of: " + ", ".join(options))
    if value is None or y is None:
        return None
    if value not in options:
        close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        ctx.error(y, f"expected one of: {', '.join(options)}, found {value!r}{hint}")
        return None
    return value


def integer(ctx: Ctx, y: Y | None, lo: int | None = None, hi: int | None = None, what: str = "an integer") -> int | None:
    if y is None or y.value is None:
        return None
    val = y.value
    if isinstance(val, bool) or not isinstance(val, int):
        rng = f" ({lo}-{hi})" if lo is not None and hi is not None else ""
        ctx.error(y, f"expected {what}{rng}, found {describe(y)}")
        return None
    if (lo is not None and val < lo) or (hi is not None and val > hi):
        ctx.error(y, f"expected {what} in {lo}-{hi}, found {val}")
        return None
    return int(val)


def boolean(ctx: Ctx, y: Y | None) -> bool | None:
    if y is None or y.value is None:
        return None
    if not isinstance(y.value, bool):
        ctx.error(y, f"expected true or false, found {describe(y)}")
        return None
    return bool(y.value)


def port(ctx: Ctx, y: Y | None, what: str = "a port number") -> int | None:
    return integer(ctx, y, 1, 65535, what)


def port_or_name(ctx: Ctx, y: Y | None) -> int | str | None:
    """A targetPort: a number 1-65535 or an IANA_SVC_NAME (a named container port)."""
    if y is None or y.value is None:
        return None
    if isinstance(y.value, str):
        if y.value.isdigit():
            return port(ctx, Y(int(y.value), y.line, y.column, y.path, y.key_line, y.key_column))
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", y.value) or len(y.value) > 15:
            ctx.error(y, f"expected a port number or a port name (at most 15 lower-case letters, digits, '-'), found {y.value!r}")
            return None
        return y.value
    return port(ctx, y, "a port number or name")


def ip(ctx: Ctx, y: Y | None, what: str = "an IP address") -> IPAddress | None:
    if y is None or y.value is None:
        return None
    if not isinstance(y.value, str):
        ctx.error(y, f"expected {what}, found {describe(y)}")
        return None
    try:
        return ipaddress.ip_address(y.value.strip())
    except ValueError:
        ctx.error(y, f"expected {what} such as 192.168.10.11, found {y.value!r}")
        return None


def cidr(ctx: Ctx, y: Y | None, what: str = "a CIDR") -> IPNetwork | None:
    if y is None or y.value is None:
        return None
    if not isinstance(y.value, str):
        ctx.error(y, f"expected {what} such as 10.244.0.0/16, found {describe(y)}")
        return None
    text = y.value.strip()
    if "/" not in text:
        ctx.error(y, f"expected {what} such as 10.244.0.0/16 (with a /prefix length), found {text!r}")
        return None
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        ctx.error(y, f"expected {what} such as 10.244.0.0/16, found {text!r}")
        return None
    ctx.error(y, f"expected {what} with no host bits set, found {text!r} (did you mean {net}?)")
    return None


def cidr_list(ctx: Ctx, y: Y | None, what: str = "a CIDR") -> tuple[IPNetwork, ...]:
    """A CIDR or a list of CIDRs (dual-stack ranges)."""
    if y is None or y.value is None:
        return ()
    items = y.value if isinstance(y.value, list) else [y]
    out = [c for c in (cidr(ctx, item, what) for item in items) if c is not None]
    return tuple(out)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def timestamp(ctx: Ctx, y: Y | None, what: str = "a timestamp") -> str | None:
    """An RFC 3339 time with an offset, as the API server writes metav1.Time. Returned in
    UTC as ``2024-01-01T00:00:00Z`` (fractions kept), so that timestamps order as strings."""
    value = string(ctx, y, what)
    if value is None or y is None:
        return None
    moment = None
    if _RFC3339.match(value):
        try:
            moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        ctx.error(y, f"expected {what} in RFC 3339 form such as 2024-01-01T00:00:00Z, found {value!r}")
        return None
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction.rstrip(".") + "Z"


def dns_label(ctx: Ctx, y: Y | None, what: str = "a name") -> str | None:
    """A DNS-1123 label (names of services, namespaces, ports)."""
    value = string(ctx, y, what)
    if value is None or y is None:
        return None
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        ctx.error(y, f"expected {what} made of lower-case letters, digits and '-' (at most 63, as DNS-1123), found {value!r}")
        return None
    return value


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and _DNS1123_SUBDOMAIN.match(value) is not None


def dns_subdomain(ctx: Ctx, y: Y | None, what: str = "a name") -> str | None:
    """A DNS-1123 subdomain (names of pods, nodes, workloads)."""
    value = string(ctx, y, what)
    if value is None or y is None:
        return None
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        ctx.error(y, f"expected {what} made of lower-case letters, digits, '-' and '.' (as DNS-1123), found {value!r}")
        return None
    return value


def label_map(ctx: Ctx, y: Y | None, what: str = "labels") -> FrozenDict[str, str]:
    """A map of label key → string value."""
    fields_ = mapping(ctx, y, (), strict=False, what=f"a mapping of {what}")
    if not fields_:
        return FrozenDict()
    out: dict[str, str] = {}
    for key, val in fields_.items():
        name = key.rsplit("/", 1)[-1]
        if not _LABEL_NAME.match(name) or len(name) > 63:
            ctx.error(val, f"expected a label key of letters, digits, '-', '_' and '.', found {key!r}", at_key=True)
            continue
        if val.value is None:
            out[key] = ""
        elif isinstance(val.value, str):
            out[key] = val.value
        else:
            ctx.error(val, f"expected a string label value (quote it), found {describe(val)}")
    return FrozenDict(out)


def label_selector(ctx: Ctx, y: Y | None) -> LabelSelector | None:
    """A metav1.LabelSelector: matchLabels and matchExpressions."""
    fields_ = mapping(ctx, y, ("matchLabels", "matchExpressions"), what="a label selector")
    if fields_ is None:
        return None
    reqs: list[Requirement] = []
    for item in seq(ctx, fields_.get("matchExpressions")):
        f = mapping(ctx, item, ("key", "operator", "values"))
        if f is None:
            continue
        key = required(ctx, item, f, "key", "a label key")
        op_y = required(ctx, item, f, "operator", "In, NotIn, Exists or DoesNotExist")
        op = choice(ctx, op_y, ("In", "NotIn", "Exists", "DoesNotExist")) if op_y else None
        values = tuple(v for v in (string(ctx, v) for v in seq(ctx, f.get("values"))) if v is not None)
        key_s = string(ctx, key, "a label key")
        if key_s is None or op is None:
            continue
        if op in ("In", "NotIn") and not values and op_y is not None:
            ctx.error(op_y, f"expected a non-empty 'values' list with operator {op}, found none")
            continue
        if op in ("Exists", "DoesNotExist") and values and op_y is not None:
            ctx.error(op_y, f"expected no 'values' with operator {op}, found {len(values)}")
            continue
        reqs.append(Requirement(key_s, op, values))
    return LabelSelector(label_map(ctx, fields_.get("matchLabels")), tuple(reqs))


def int_or_percent(ctx: Ctx, y: Y | None, what: str) -> int | str | None:
    """An IntOrString as maxSurge/maxUnavailable take it: a number >= 0 or ``"N%"``."""
    if y is None or y.value is None:
        return None
    val = y.value
    if isinstance(val, int) and not isinstance(val, bool) and val >= 0:
        return val
    if isinstance(val, str) and re.fullmatch(r"\d+%", val):
        return val
    ctx.error(y, f"expected {what} as a number >= 0 or a percentage (\"25%\"), found {describe(y)}")
    return None
