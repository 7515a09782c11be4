"""Charts of a traffic result: the busiest interfaces (tx and rx bytes) and each underlay
segment's utilisation against its capacity (matplotlib, Agg backend, imported when used)."""

from __future__ import annotations

import os

from overlaynet.traffic.simulate import TrafficResult

__all__ = ["plot_traffic"]


def plot_traffic(result: TrafficResult, path: str | os.PathLike[str], top: int = 12) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = result.counts
    busiest = sorted(set(c.tx_bytes) | set(c.rx_bytes), key=lambda i: -(c.tx_bytes[i] + c.rx_bytes[i]))[:top]
    names = [f"{h}/{result.pods.get((h, ns), ns)}:{d}" if ns != "root" else f"{h}:{d}" for h, ns, d in busiest]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 1]})
    y = range(len(busiest))
    ax1.barh([i - 0.2 for i in y], [c.tx_bytes[i] / 1e6 for i in busiest], height=0.4, label="transmitted")
    ax1.barh([i + 0.2 for i in y], [c.rx_bytes[i] / 1e6 for i in busiest], height=0.4, label="received")
    ax1.set_yticks(list(y), names, fontsize=7)
    ax1.invert_yaxis()
    ax1.set_xlabel(f"MB over {result.mix.duration} s")
    ax1.set_title(f"{result.mix.name}: busiest interfaces")
    ax1.legend()
    util = result.utilisation()
    segs = list(util)
    ax2.bar(segs, [100 * util[s] for s in segs], color=["#d2461f" if util[s] > 0.8 else "#1b8a4b" for s in segs])
    ax2.set_ylabel("% of capacity (mean)")
    ax2.set_title("underlay links")
    for i, s in enumerate(segs):
        ax2.text(i, 100 * util[s], f"{100 * util[s]:.2f}%", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
