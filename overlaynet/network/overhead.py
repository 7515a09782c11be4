"""What each overlay costs, composed: the driver modes to compare (every mode of every
registered driver, or ``driver:mode`` words), and ``compare_overhead``, which hands the
analysis (``overlaynet.analysis.overhead_mode``) a function assembling the cluster once per
mode."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from overlaynet.analysis.overhead import DEFAULT_MESSAGE, Mode, OverheadReport, Payload
from overlaynet.analysis.overhead_mode import compare_overhead as compare_modes
from overlaynet.analysis.overhead_topology import with_driver
from overlaynet.errors import DriverOptionError, UnknownDriver
from overlaynet.model import Cluster
from overlaynet.network.network import Network, assemble

__all__ = ["all_modes", "compare_overhead", "parse_modes"]


def all_modes() -> list[Mode]:
    """Every mode of every registered driver (entry points included), sorted by driver."""
    from overlaynet.drivers.registry import available_drivers, get_driver

    out: list[Mode] = []
    for name in available_drivers():
        for mode, options in get_driver(name).modes().items():
            out.append(Mode(name, mode, dict(options)))
    return out


def parse_modes(text: str) -> list[Mode]:
    """``all``, or a comma list of ``driver:mode`` (``driver`` alone: all its modes).

    >>> [m.label for m in parse_modes("flannel:vxlan,calico:ipip")]
    ['flannel:vxlan', 'calico:ipip']
    """
    from overlaynet.drivers.registry import get_driver

    if text.strip() == "all":
        return all_modes()
    out: list[Mode] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        driver, _, mode = item.partition(":")
        modes = get_driver(driver).modes()  # UnknownDriver lists the known drivers
        if not mode:
            out.extend(Mode(driver, m, dict(o)) for m, o in modes.items())
        elif mode in modes:
            out.append(Mode(driver, mode, dict(modes[mode])))
        else:
            raise DriverOptionError(driver, "mode", f"no mode {mode!r}; known modes: {', '.join(modes)}")
    if not out:
        raise UnknownDriver(text, [m.label for m in all_modes()])
    return out


def compare_overhead(
    cluster: Cluster,
    *,
    modes: Sequence[Mode] | None = None,
    payloads: Iterable[Payload] | None = None,
    message: int = DEFAULT_MESSAGE,
    underlay_mtu: int | None = None,
    ipv6_underlay: bool = False,
    misconfig: bool = True,
    seed: int = 0,
) -> OverheadReport:
    """Trace every mode on ``cluster`` (only the driver and its options swapped) and measure
    its overhead. ``modes`` default to every mode of every registered driver; ``misconfig``
    False skips the misconfigured-MTU traces."""

    def build(c: Cluster, mode: Mode) -> Network:
        return assemble(with_driver(c, mode.driver, mode.options), seed=seed)

    return compare_modes(
        cluster, modes=list(modes) if modes is not None else all_modes(), build=build, payloads=payloads,
        message=message, underlay_mtu=underlay_mtu, ipv6_underlay=ipv6_underlay, misconfig=misconfig, seed=seed,
    )
