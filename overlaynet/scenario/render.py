"""A timeline as text (a compact table per step, then what kube-proxy, the sample clients,
broken connections and DNS say as the step ends) and as a chart of the share of new
connections per version over time (matplotlib, Agg backend, imported when drawing)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from overlaynet.scenario.engine import StepReport, Timeline
from overlaynet.scenario.network import Observation, ServiceView
from overlaynet.scenario.workloads import WorkloadView


def clock(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def percent(share: Fraction) -> str:
    return f"{float(share) * 100:.1f}%".replace(".0%", "%")


def _workloads(views: list[WorkloadView]) -> str:
    parts = []
    for w in views:
        if w.owner is not None and w.desired == 0 and w.current == 0 and w.terminating == 0:
            continue
        if w.kind == "Deployment" and w.min_available is None:
            parts.append(f"{w.name} avail {w.available}/{w.desired} pods {w.current + w.terminating}")
        elif w.kind == "Deployment":
            parts.append(f"{w.name} avail {w.available} (≥{w.min_available}) pods {w.current + w.terminating} (≤{w.max_total})")
        else:
            extra = f" +{w.terminating}T" if w.terminating else ""
            parts.append(f"{w.name} {w.ready}/{w.desired}{extra}")
    return ", ".join(parts)


def _service_cell(sv: ServiceView) -> str:
    r = sum(e.ready for e in sv.endpoints)
    s = sum(e.serving for e in sv.endpoints)
    t = sum(e.terminating for e in sv.endpoints)
    if sv.rejected:
        shares = "rejects new connections"
    else:
        shares = " ".join(f"{v} {percent(p)}" for v, p in sv.shares.items()) if sv.address != "None" else ""
    return f"{sv.service} {r}/{s}/{t} of {len(sv.endpoints)} {shares}".rstrip()


def _frame_cells(frame: Observation, views: list[WorkloadView]) -> str:
    cells = "  ".join(_service_cell(sv) for sv in frame.services)
    return f"{_workloads(views)}  |  {cells}"


def _frame_row(frame: Observation, views: list[WorkloadView]) -> str:
    return f"  {clock(frame.time):>7}  {_frame_cells(frame, views)}"


def _details(frame: Observation, previous: Observation | None) -> list[str]:
    out: list[str] = []
    for sv in frame.services:
        if sv.address == "None":
            out.append(f"  DNS {sv.service} (headless): {', '.join(sv.dns or ())}")
            continue
        out.append(f"  kube-proxy {sv.service} {sv.address} → {sv.chain or 'no service chain'}"
                   + (f": {sv.rejected}" if sv.rejected else ""))
        for e in sv.endpoints:
            cond = "ready" if e.ready else ("serving, terminating" if e.serving and e.terminating else
                                            "terminating" if e.terminating else "not ready")
            rule = f"statistic {e.rule}" if e.rule else ("last rule" if e.chain else "no rule")
            out.append(f"    {e.pod:<34} {e.address:<18} {e.version:<10} {e.node or '-':<8} {cond:<22} "
                       f"{(e.chain or '-'):<26} {rule:<22} share {percent(e.probability)}")
        if sv.node_shares:
            out.append("    by node: " + ", ".join(f"{n} {percent(p)}" for n, p in sv.node_shares.items()))
        if sv.clients:
            before = {c.client: c.pod for s in (previous.services if previous else ()) if s.service == sv.service for c in s.clients}
            sticky = []
            for c in sv.clients:
                text = f"{c.client}→{c.pod or 'rejected'}" + (f" ({c.version})" if c.version else "")
                if before.get(c.client) not in (None, c.pod):
                    text += f" (was {before[c.client]})"
                sticky.append(text + (f" [{c.note}]" if c.note else ""))
            expires = [c.expires for c in sv.clients if c.expires is not None]
            if expires:
                out.append(f"    clients (ClientIP affinity, expires {clock(max(expires))} without new connections):")
            else:
                out.append("    clients (no affinity: each new connection is balanced afresh):")
            out += _wrap(sticky, 140, "      ")
    if previous is not None and frame.chains != previous.chains:
        gone = [c for c in previous.chains if c not in frame.chains]
        new = [c for c in frame.chains if c not in previous.chains]
        if gone or new:
            out.append("  kube-proxy chains since the last step: " + ", ".join([*(f"+{c}" for c in new), *(f"-{c}" for c in gone)]))
    if previous is None or frame.env != previous.env:
        out.append(f"  env of a new pod: {', '.join(frame.env) or 'no service variables'}")
    return out


def _wrap(items: list[str], width: int, indent: str) -> list[str]:
    """Items joined by ", ", broken into lines between items only."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(indent) + len(line) + 2 + len(item) > width:
            lines.append(indent + line + ",")
            line = item
        else:
            line = f"{line}, {item}" if line else item
    if line:
        lines.append(indent + line)
    return lines


def render_text(timeline: Timeline) -> str:
    lines = [f"scenario {timeline.scenario.name} (seed {timeline.seed})",
             "columns: time  workloads (ready/desired, +N terminating; Deployments: available ≥ min, pods ≤ max)  |  "
             "service ready/serving/terminating of all endpoints, share of new connections per version", ""]
    lines.append(f"initial state at {clock(timeline.initial.time)}")
    lines.append(_frame_row(timeline.initial, timeline.initial_workloads))
    lines += _details(timeline.initial, None)
    previous = timeline.initial
    for report in timeline.steps:
        lines.append("")
        lines += _step(report, previous)
        if report.frames:
            previous = report.frames[-1]
    return "\n".join(lines) + "\n"


def _step(report: StepReport, previous: Observation) -> list[str]:
    step = report.step
    where = f"  ({step.source})" if step.source else ""
    out = [f"step {step.index} {step.name}: {_describe(report)}  {clock(report.start)} → {clock(report.end)}{where}"]
    events = list(report.events)
    broken_seen: set[tuple[str, str]] = set()
    last_row = ""
    for frame, views in zip(report.frames, report.workloads, strict=True):
        while events and events[0].time <= frame.time:
            e = events.pop(0)
            out.append(f"  {clock(e.time):>7}  {'! ' if e.warning else ''}{e.source}: {e.message}")
        cells = _frame_cells(frame, views)
        if cells != last_row:  # not the same picture again (a container started, not yet ready)
            out.append(_frame_row(frame, views))
            last_row = cells
        for b in frame.broken:
            if (b.client, b.pod) not in broken_seen:
                broken_seen.add((b.client, b.pod))
                out.append(f"  {clock(frame.time):>7}  ✗ connection {b.client} → {b.pod} ({b.address}) broken: {b.reason}")
    for e in events:
        out.append(f"  {clock(e.time):>7}  {'! ' if e.warning else ''}{e.source}: {e.message}")
    if report.frames:
        out += _details(report.frames[-1], previous)
    if report.outcome:
        out.append(f"  outcome: {report.outcome}")
    return out


def _describe(report: StepReport) -> str:
    from overlaynet.scenario import spec

    act = report.step.action
    if isinstance(act, spec.Scale):
        return f"scale {act.target.kind}/{act.target.name} to {act.replicas}"
    if isinstance(act, spec.SetImage):
        return f"set image of {act.target.kind}/{act.target.name} to {act.image}"
    if isinstance(act, spec.RollingUpdate):
        if act.target.kind == "Deployment":
            return f"rolling update of Deployment/{act.target.name} to {act.image}"
        return f"rolling-update ReplicationController/{act.target.name} --image={act.image} --update-period={act.update_period}s"
    if isinstance(act, spec.ProbeBehaviour):
        return f"{act.probe} probe of {act.pods} now {act.describe()}"
    if isinstance(act, spec.DeletePod):
        return f"delete {act.pods}" + (f" --grace-period={act.grace_period}" if act.grace_period is not None else "")
    if isinstance(act, spec.NodeChange):
        return f"node {act.node} {'up' if act.up else 'down'}"
    if isinstance(act, spec.Apply):
        return f"apply {act.summary}"
    assert isinstance(act, spec.Wait)
    return f"wait {act.seconds}s"


def plot_shares(timeline: Timeline, path: str | Path) -> None:
    """One line per (service, version): its share of new connections over time (minutes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [timeline.initial] + [f for s in timeline.steps for f in s.frames]
    series: dict[str, list[tuple[float, float]]] = {}
    for frame in frames:
        for sv in frame.services:
            if sv.address == "None":
                continue
            versions = {v for f in frames for s in f.services if s.service == sv.service for v in s.shares}
            for v in sorted(versions):
                series.setdefault(f"{sv.service} {v}", []).append((frame.time / 60, float(sv.shares.get(v, 0)) * 100))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, points in sorted(series.items()):
        xs, ys = zip(*points, strict=True)
        ax.step(xs, ys, where="post", label=label)
    for report in timeline.steps:
        ax.axvline(report.start / 60, color="#bbb", linewidth=0.8, linestyle=":")
    ax.set_xlabel("time (minutes)")
    ax.set_ylabel("share of new connections (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"scenario {timeline.scenario.name}: traffic share per version")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
