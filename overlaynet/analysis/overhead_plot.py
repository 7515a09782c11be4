"""The overhead chart: efficiency (application bytes / underlay wire bytes) per payload size,
one bar group per mode, values on the bars. matplotlib (Agg) is imported when drawing."""

from __future__ import annotations

import os

from overlaynet.analysis.overhead import ModeResult, OverheadReport

__all__ = ["plot_efficiency"]


def _group_label(m: ModeResult) -> str:
    enc = f"{m.encapsulation}: +{m.overhead_bytes} B/packet" if m.encapsulation else "no encap: +0 B"
    where = "\n(pair on one segment)" if m.pair_note.startswith("same-segment") else ""
    msg = f"\n{_size(m.message.bytes)} msg: +{m.message.overhead_percent:.1f}%" if m.message else ""
    return f"{m.mode.label}\n{enc}\npod MTU {m.pod_mtu}{msg}{where}"


def _size(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale and n % (scale // 10) == 0:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def plot_efficiency(report: OverheadReport, path: str | os.PathLike[str]) -> int:
    """Draw the chart to ``path`` (PNG, or any format matplotlib infers from the suffix);
    returns the number of modes drawn. Modes that could not be measured are listed under
    the chart with the reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [m for m in report.modes if m.ok]
    skipped = [m for m in report.modes if not m.ok]
    payloads = list(report.payloads)
    n = max(len(payloads), 1)
    width = 0.8 / n
    fig_w = max(8.0, 1.5 + 1.35 * len(ok) * max(1.0, n / 3))
    fig, ax = plt.subplots(figsize=(fig_w, 7.0), dpi=110)
    cmap = plt.get_cmap("viridis")
    for j, label in enumerate(payloads):
        xs = [i + (j - (n - 1) / 2) * width for i in range(len(ok))]
        ys = [100 * next(p.efficiency for p in m.payloads if p.label == label) for m in ok]
        name = "IMIX (7:4:1 of 64/576/1500-byte IP packets)" if label == "imix" else f"{label}-byte TCP payload"
        bars = ax.bar(xs, ys, width * 0.92, label=name, color=cmap(0.15 + 0.7 * j / max(n - 1, 1)))
        ax.bar_label(bars, labels=[f"{y:.0f}" for y in ys], padding=2, fontsize=8)
    ax.set_xticks(range(len(ok)))
    ax.set_xticklabels([_group_label(m) for m in ok], fontsize=8.5)
    ax.set_ylim(0, 112)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("efficiency (%) = application bytes / underlay wire bytes\nhigher is better")
    ax.set_xlabel("driver:mode — bytes added per packet, pod MTU, underlay bytes beyond a whole message")
    ax.set_title(f"Encapsulation efficiency per payload size — {report.topology} ({report.underlay} underlay)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.27), ncol=min(n, 4), fontsize=9, frameon=False)
    if skipped:
        text = "not measured: " + "; ".join(f"{m.mode.label} ({m.status}: {_short(m.reason)})" for m in skipped)
        fig.text(0.01, 0.01, text, fontsize=7.5, wrap=True, va="bottom", color="#444444")
    fig.tight_layout(rect=(0, 0.05 if skipped else 0, 1, 1))
    fig.savefig(os.fspath(path))
    plt.close(fig)
    return len(ok)


def _short(reason: str, limit: int = 90) -> str:
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"
