"""Readers for a Node's ``spec.taints`` and a pod's ``spec.tolerations``, validated as the API
server validates them (pkg/apis/core/validation: ValidateTaintsInNodeAnnotations'
validateNodeTaints and ValidateTolerations). The scheduler (``scheduler.py``) reads the
resulting ``Taint``/``Toleration`` values; the DaemonSet controller's default tolerations
live here too, beside the readers, as ``daemon_tolerations``.
"""

from __future__ import annotations

import re

from overlaynet.model import Taint, Toleration
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.yamlsrc import Y

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# a qualified name: an optional DNS-subdomain prefix and '/', then 1-63 of [A-Za-z0-9-_.]
# starting and ending alphanumeric (validation.IsQualifiedName)
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _qualified(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_NAME.match(name)) and (not prefix or (len(prefix) <= 253 and bool(_PREFIX.match(prefix))))


def _key(ctx: Ctx, y: Y | None, what: str) -> str | None:
    key = f.string(ctx, y, what)
    if key is not None and y is not None and not _qualified(key):
        ctx.error(y, f"expected {what} as a qualified name ([prefix/]name of letters, digits, '-', '_' and '.'), found {key!r}")
        return None
    return key


def _value(ctx: Ctx, y: Y | None, what: str) -> str:
    if y is None or y.value is None:
        return ""
    value = y.value if isinstance(y.value, str) else None
    if value is None or not _VALUE.match(value):
        ctx.error(y, f"expected {what} as a label value (up to 63 letters, digits, '-', '_' and '.'; quote numbers), found {f.describe(y)}")
        return ""
    return value


def read_taints(ctx: Ctx, y: Y | None) -> tuple[Taint, ...]:
    """``spec.taints``: key (required), value, effect (required), unique by key and effect."""
    out: list[Taint] = []
    seen: dict[tuple[str, str], Y] = {}
    for item in f.seq(ctx, y, "a list of taints"):
        m = f.mapping(ctx, item, ("key", "value", "effect", "timeAdded"), what="a taint (key, value, effect)")
        if m is None:
            continue
        key = _key(ctx, f.required(ctx, item, m, "key", "a taint key"), "a taint key")
        value = _value(ctx, m.get("value"), "a taint value")
        effect_y = f.required(ctx, item, m, "effect", "a taint effect (NoSchedule, PreferNoSchedule or NoExecute)")
        effect = f.choice(ctx, effect_y, EFFECTS) if effect_y is not None else None
        if key is None or effect is None:
            continue
        if (key, effect) in seen:
            ctx.error(item, f"duplicate taint {key}:{effect} (first at line {seen[key, effect].line}): expected taints unique by key and effect")
            continue
        seen[key, effect] = item
        out.append(Taint(key, value, effect))  # type: ignore[arg-type]
    return tuple(out)


def read_tolerations(ctx: Ctx, y: Y | None) -> tuple[Toleration, ...]:
    """``spec.tolerations``: operator Equal (default) or Exists; Exists takes no value, an
    empty key needs Exists; tolerationSeconds only with effect NoExecute."""
    out: list[Toleration] = []
    for item in f.seq(ctx, y, "a list of tolerations"):
        m = f.mapping(ctx, item, ("key", "operator", "value", "effect", "tolerationSeconds"), what="a toleration")
        if m is None:
            continue
        key = _key(ctx, m.get("key"), "a toleration key") if m.get("key") is not None and m["key"].value != "" else ""
        operator = f.choice(ctx, m.get("operator"), ("Equal", "Exists")) or "Equal"
        value = _value(ctx, m.get("value"), "a toleration value")
        effect = (f.choice(ctx, m.get("effect"), EFFECTS) or "") if m.get("effect") is not None and m["effect"].value != "" else ""
        seconds_y = m.get("tolerationSeconds")
        seconds = f.integer(ctx, seconds_y, None, None, "a number of seconds") if seconds_y is not None else None
        if key is None:
            continue
        if operator == "Exists" and m.get("value") is not None and m["value"].value not in (None, ""):
            ctx.error(m["value"], f"expected no value with operator Exists (it matches every value of the key), found {f.describe(m['value'])}")
            continue
        if not key and operator != "Exists":
            ctx.error(m.get("operator") or item, "expected operator Exists for a toleration without a key (an empty key matches every taint), found Equal")
            continue
        if seconds_y is not None and seconds_y.value is not None and effect != "NoExecute":
            ctx.error(seconds_y, f"expected effect NoExecute with tolerationSeconds (it bounds an eviction), found {effect or 'no effect'}", at_key=True)
            continue
        out.append(Toleration(key, operator, value, effect, None if seconds is None else max(seconds, 0)))  # type: ignore[arg-type]
    return tuple(out)


def daemon_tolerations(given: tuple[Toleration, ...], host_network: bool) -> tuple[Toleration, ...]:
    """A DaemonSet pod's tolerations: the template's plus those the DaemonSet controller
    adds (AddOrUpdateDaemonPodTolerations in pkg/controller/daemon/util/daemonset_util.go):
    not-ready and unreachable NoExecute without a time limit; disk-, memory-, pid-pressure
    and unschedulable NoSchedule; network-unavailable NoSchedule for hostNetwork pods. An
    added toleration replaces a given one that differs only in tolerationSeconds
    (AddOrUpdateTolerationInPodSpec's MatchToleration: key, operator, value, effect)."""
    added = [Toleration(f"node.kubernetes.io/{k}", "Exists", "", "NoExecute") for k in ("not-ready", "unreachable")]
    keys = ["disk-pressure", "memory-pressure", "pid-pressure", "unschedulable", *(["network-unavailable"] if host_network else [])]
    added += [Toleration(f"node.kubernetes.io/{k}", "Exists", "", "NoSchedule") for k in keys]
    replaced = {(t.key, t.operator, t.value, t.effect) for t in added}
    return (*(t for t in given if (t.key, t.operator, t.value, t.effect) not in replaced), *added)
