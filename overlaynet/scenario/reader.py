"""Read a ``kind: Scenario`` file into a ``Scenario``, every error with file:line:column.

The YAML goes through the topology loader's line-numbered reader (``yamlsrc``) and field
checkers (``fields``); an ``apply`` step's manifest through the topology's document readers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from overlaynet.errors import Diagnostic, ScenarioError
from overlaynet.scenario.spec import (
    KIND_ALIASES,
    Action,
    Apply,
    Clients,
    DeletePod,
    NodeChange,
    PodSelection,
    ProbeBehaviour,
    RollingUpdate,
    Scale,
    Scenario,
    SetImage,
    Step,
    Target,
    Wait,
)
from overlaynet.topology import fields as f
from overlaynet.topology.documents import read_document
from overlaynet.topology.fields import Ctx
from overlaynet.topology.parsed import Parsed
from overlaynet.topology.yamlsrc import MAX_FILE_BYTES, Y, read_documents

ACTIONS = ("scale", "setImage", "rollingUpdate", "probe", "deletePod", "nodeDown", "nodeUp", "apply", "wait")
STEP_FIELDS = (*ACTIONS, "name", "at", "for", "timeout")
SPEC_FIELDS = ("seed", "services", "versionLabel", "clients", "settle", "podStartSeconds", "steps")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?")


def duration(ctx: Ctx, y: Y | None, what: str = "a duration") -> int | None:
    """Seconds from ``90``, ``"90s"``, ``"2m"``, ``"1h30m"``, ``"1m0s"`` (kubectl's forms)."""
    if y is None or y.value is None:
        return None
    if isinstance(y.value, int) and not isinstance(y.value, bool) and y.value >= 0:
        return int(y.value)
    if isinstance(y.value, str) and y.value:
        m = _DURATION.fullmatch(y.value)
        if m and any(m.groups()):
            h, mi, s = (int(g) if g else 0 for g in m.groups())
            return h * 3600 + mi * 60 + s
    ctx.error(y, f"expected {what} (seconds, or like 90s, 2m, 1h30m), found {f.describe(y)}")
    return None


def _target(ctx: Ctx, y: Y, m: dict[str, Y], *, kinds: tuple[str, ...] = ("ReplicationController", "ReplicaSet", "Deployment")) -> Target | None:
    kind_y = f.required(ctx, y, m, "kind", f"the workload kind ({', '.join(kinds)})")
    name = f.dns_subdomain(ctx, f.required(ctx, y, m, "name", "the workload's name"), "a workload name")
    namespace = f.dns_label(ctx, m.get("namespace"), "a namespace") or "default"
    kind = None
    if kind_y is not None:
        raw = f.string(ctx, kind_y, "a workload kind")
        kind = KIND_ALIASES.get(raw or "")
        if raw is not None and (kind is None or kind not in kinds):
            ctx.error(kind_y, f"expected one of {', '.join(kinds)}, found {raw!r}")
            kind = None
    if kind is None or name is None:
        return None
    return Target(kind, name, namespace)


def _pods(ctx: Ctx, y: Y, m: dict[str, Y]) -> PodSelection | None:
    namespace = f.dns_label(ctx, m.get("namespace"), "a namespace") or "default"
    name_y = m.get("pod")
    if name_y is not None:
        text = f.string(ctx, name_y, "a pod name (ns/name)")
        if text is None:
            return None
        if "/" in text:
            namespace, _, text = text.partition("/")
        return PodSelection(namespace, text)
    if m.get("selector") is None:
        ctx.error(y, "expected 'pod' (a pod name) or 'selector' (labels), found neither")
        return None
    labels = f.label_map(ctx, m["selector"], "selector labels")
    count = f.integer(ctx, m.get("count"), 1, None, "a number of pods")
    return PodSelection(namespace, None, labels, count)


def _action(ctx: Ctx, key: str, y: Y) -> Action | None:
    if key == "wait":
        seconds = duration(ctx, y)
        return Wait(seconds) if seconds is not None else None
    if key in ("nodeDown", "nodeUp"):
        if isinstance(y.value, dict):
            nm = f.mapping(ctx, y, ("node",), what="a node") or {}
            name = f.dns_subdomain(ctx, f.required(ctx, y, nm, "node", "a node name"), "a node name")
        else:
            name = f.dns_subdomain(ctx, y, "a node name")
        return NodeChange(name, key == "nodeUp") if name else None
    if key == "apply":
        return _apply(ctx, y)
    fields_ = {
        "scale": ("kind", "name", "namespace", "replicas"),
        "setImage": ("kind", "name", "namespace", "image"),
        "rollingUpdate": ("kind", "name", "namespace", "image", "updatePeriod", "timeout",
                          "nextName", "maxSurge", "maxUnavailable"),
        "probe": ("pod", "selector", "namespace", "count", "probe", "result", "httpStatus", "exitCode", "refused", "responseSeconds"),
        "deletePod": ("pod", "selector", "namespace", "count", "gracePeriod"),
    }[key]
    m = f.mapping(ctx, y, fields_, what=f"a {key} step")
    if m is None:
        return None
    if key == "scale":
        target = _target(ctx, y, m)
        replicas = f.integer(ctx, f.required(ctx, y, m, "replicas", "a replica count"), 0, 10000, "a replica count")
        return Scale(target, replicas) if target and replicas is not None else None
    if key == "setImage":
        target = _target(ctx, y, m)
        image = f.string(ctx, f.required(ctx, y, m, "image", "a container image"), "a container image")
        return SetImage(target, image) if target and image else None
    if key == "rollingUpdate":
        return _rolling_update(ctx, y, m)
    if key == "probe":
        return _probe(ctx, y, m)
    pods = _pods(ctx, y, m)
    grace = f.integer(ctx, m.get("gracePeriod"), 0, None, "a grace period in seconds")
    return DeletePod(pods, grace) if pods else None


def _rolling_update(ctx: Ctx, y: Y, m: dict[str, Y]) -> RollingUpdate | None:
    target = _target(ctx, y, m, kinds=("ReplicationController", "Deployment"))
    image = f.string(ctx, f.required(ctx, y, m, "image", "the new container image"), "a container image")
    if target is None or image is None:
        return None
    rc_only = ("updatePeriod", "timeout", "nextName")
    deploy_only = ("maxSurge", "maxUnavailable")
    for name in rc_only if target.kind == "Deployment" else deploy_only:
        if name in m:
            ctx.error(m[name], f"expected no {name} for a {target.kind} rolling update "
                      f"({'kubectl rolling-update of an RC' if name in rc_only else 'a Deployment strategy'} takes it), found one", path=m[name].path)
    next_name = f.dns_subdomain(ctx, m.get("nextName"), "a controller name")
    return RollingUpdate(
        target, image,
        update_period=duration(ctx, m.get("updatePeriod"), "an update period") or 60,
        timeout=duration(ctx, m.get("timeout"), "a timeout") or 300,
        next_name=next_name,
        max_surge=f.int_or_percent(ctx, m.get("maxSurge"), "maxSurge"),
        max_unavailable=f.int_or_percent(ctx, m.get("maxUnavailable"), "maxUnavailable"),
    )


def _probe(ctx: Ctx, y: Y, m: dict[str, Y]) -> ProbeBehaviour | None:
    pods = _pods(ctx, y, m)
    which = f.choice(ctx, f.required(ctx, y, m, "probe", "readiness, liveness or startup"), ("readiness", "liveness", "startup"))
    result = f.choice(ctx, m.get("result"), ("fail", "pass")) if m.get("result") is not None else None
    status = f.integer(ctx, m.get("httpStatus"), 100, 599, "an HTTP status")
    code = f.integer(ctx, m.get("exitCode"), 0, 255, "an exit code")
    refused = f.boolean(ctx, m.get("refused")) or False
    slow = m.get("responseSeconds")
    response = None
    if slow is not None:
        if isinstance(slow.value, int | float) and not isinstance(slow.value, bool) and slow.value >= 0:
            response = float(slow.value)
        else:
            ctx.error(slow, f"expected a response time in seconds (a number >= 0), found {f.describe(slow)}")
    given = [k for k in ("result", "httpStatus", "exitCode", "refused", "responseSeconds") if k in m]
    if len(given) != 1:
        ctx.error(y, f"expected exactly one of result (fail/pass), httpStatus, exitCode, refused or responseSeconds, found {', '.join(given) or 'none'}")
        return None
    if pods is None or which is None:
        return None
    healthy = {"result": result == "pass", "httpStatus": status is not None and 200 <= status < 400,
               "exitCode": code == 0, "refused": not refused, "responseSeconds": False}[given[0]]
    return ProbeBehaviour(which, pods, healthy, status, code, refused, response)  # type: ignore[arg-type]


def _apply(ctx: Ctx, y: Y) -> Apply | None:
    """A manifest (one object, or a list of them) read by the topology's own readers."""
    items = y.value if isinstance(y.value, list) else [y]
    parsed = Parsed()
    before = len(ctx.errors)
    kinds = []
    for doc in items:
        if not isinstance(doc.value, dict):
            ctx.error(doc, f"expected a Kubernetes object (a mapping with apiVersion and kind), found {f.describe(doc)}")
            continue
        read_document(ctx, parsed, doc)
        kind = doc.value.get("kind")
        meta = doc.value.get("metadata")
        name = meta.value.get("name") if meta is not None and isinstance(meta.value, dict) else None
        kinds.append(f"{kind.value if kind else '?'}/{name.value if name else '?'}")
    if len(ctx.errors) > before:
        return None
    return Apply(parsed, ", ".join(kinds))


def _step(ctx: Ctx, index: int, y: Y) -> Step | None:
    m = f.mapping(ctx, y, STEP_FIELDS, what="a step")
    if m is None:
        return None
    found = [k for k in ACTIONS if k in m]
    if len(found) != 1:
        ctx.error(y, f"expected exactly one action ({', '.join(ACTIONS)}), found {', '.join(found) or 'none'}")
        return None
    action = _action(ctx, found[0], m[found[0]])
    at = duration(ctx, m.get("at"), "a time since the start")
    span = duration(ctx, m.get("for"), "a duration")
    timeout = duration(ctx, m.get("timeout"), "a timeout")
    name = f.string(ctx, m.get("name"), "a step name") if m.get("name") is not None else None
    if action is None:
        return None
    return Step(index, name or found[0], action, at, span, 900 if timeout is None else timeout, ctx.source(y))


def read_scenario(text: str, filename: str = "<string>") -> Scenario:
    """Parse a scenario; ScenarioError with every problem found."""
    ctx = Ctx(file=filename)
    docs, diags = read_documents(filename, text)
    ctx.diagnostics.extend(diags)
    docs = [d for d in docs if d.value is not None]
    if not ctx.errors and len(docs) != 1:
        ctx.diagnostics.append(Diagnostic(filename, docs[1].line if len(docs) > 1 else 1, 1, "",
                                          f"expected one Scenario document, found {len(docs)}"))
    scenario = _scenario(ctx, docs[0]) if len(docs) == 1 and not ctx.errors else None
    if ctx.errors or scenario is None:
        raise ScenarioError(ctx.errors or [Diagnostic(filename, 1, 1, "", "expected a Scenario")])
    return scenario


def _scenario(ctx: Ctx, doc: Y) -> Scenario | None:
    top = f.mapping(ctx, doc, ("apiVersion", "kind", "metadata", "spec"), what="a Scenario")
    if top is None:
        return None
    kind = f.string(ctx, f.required(ctx, doc, top, "kind", "kind: Scenario"))
    if kind is not None and kind != "Scenario":
        ctx.error(top["kind"], f"expected kind Scenario, found {kind!r}")
    api = f.string(ctx, top.get("apiVersion")) if top.get("apiVersion") is not None else None
    if api is not None and api != "overlaynet/v1":
        ctx.error(top["apiVersion"], f"expected apiVersion overlaynet/v1, found {api!r}")
    meta = f.mapping(ctx, top.get("metadata"), ("name",), strict=False, what="metadata") or {}
    name = f.string(ctx, meta.get("name")) or Path(ctx.file).stem
    spec_y = f.required(ctx, doc, top, "spec", "the scenario's spec with steps")
    spec = f.mapping(ctx, spec_y, SPEC_FIELDS, what="a scenario spec")
    if spec is None or spec_y is None:
        return None
    steps_y = f.required(ctx, spec_y, spec, "steps", "a list of steps")
    steps = [s for i, item in enumerate(f.seq(ctx, steps_y, "a list of steps")) if (s := _step(ctx, i + 1, item)) is not None]
    if steps_y is not None and isinstance(steps_y.value, list) and not steps_y.value:
        ctx.error(steps_y, "expected at least one step, found none")
    last_at = 0
    for step in steps:
        if step.at is not None:
            if step.at < last_at:
                y = steps_y.value[step.index - 1].value["at"]  # type: ignore[union-attr]
                ctx.error(y, f"expected step times in order: at {step.at}s comes after a step at {last_at}s")
            last_at = step.at
    services = []
    for item in f.seq(ctx, spec.get("services"), "a list of services (ns/name)"):
        text = f.string(ctx, item, "a service (ns/name)")
        if text:
            services.append(text if "/" in text else f"default/{text}")
    return Scenario(
        name=name,
        steps=tuple(steps),
        seed=f.integer(ctx, spec.get("seed"), 0, None, "a seed") or 0,
        services=tuple(services),
        version_label=f.string(ctx, spec.get("versionLabel"), "a label key") if spec.get("versionLabel") is not None else None,
        clients=_clients(ctx, spec.get("clients")),
        settle=duration(ctx, spec.get("settle"), "a settle time") or 60,
        pod_start_seconds=f.integer(ctx, spec.get("podStartSeconds"), 0, 3600, "seconds") if spec.get("podStartSeconds") is not None else 1,  # type: ignore[arg-type]
        source=ctx.source(doc),
    )


def _clients(ctx: Ctx, y: Y | None) -> Clients:
    m = f.mapping(ctx, y, ("count", "cidr", "node"), what="sample clients")
    if m is None:
        return Clients()
    count = f.integer(ctx, m.get("count"), 0, 1000, "a number of clients")
    cidr = f.cidr(ctx, m.get("cidr"), "a client CIDR")
    node = f.dns_subdomain(ctx, m.get("node"), "a node name")
    if cidr is not None and count is not None and cidr.num_addresses - 2 < count:
        ctx.error(m["cidr"], f"expected a CIDR with room for {count} clients, found {cidr}")
    return Clients(6 if count is None else count, cidr, node)


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario file (ScenarioError on unreadable or bad input)."""
    shown = os.fspath(path)
    try:
        data = Path(path).read_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise ScenarioError([Diagnostic(shown, 1, 1, "", f"file too large: expected at most {MAX_FILE_BYTES} bytes")])
        text = data.decode("utf-8")
    except OSError as exc:
        raise ScenarioError([Diagnostic(shown, 1, 1, "", f"cannot read scenario file: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError([Diagnostic(shown, 1, 1, "", f"expected UTF-8 text, found a byte 0x{data[exc.start]:02x} at offset {exc.start}")]) from exc
    return read_scenario(text, shown)


__all__ = ["duration", "load_scenario", "read_scenario"]
