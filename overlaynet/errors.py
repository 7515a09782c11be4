"""Every exception overlaynet raises on purpose; the CLI maps them to exit status 2.

    OverlaynetError
    ├── TopologyError (ValueError)          bad topology input; carries Diagnostics
    │   ├── ScenarioError                   a scenario file, or a step that cannot run
    │   └── TrafficMixError                 a traffic mix file, or a flow that cannot run
    ├── UnknownDriver (LookupError)         no driver registered under that name
    ├── AmbiguousName (LookupError)         a name prefix matches several objects
    ├── DriverOptionError (ValueError)      a driver rejected its options
    ├── AddressExhausted (ValueError)       an IPAM pool or range has no free address
    ├── IptablesSyntaxError (ValueError)    an iptables-save text does not parse (with line)
    ├── UnsupportedExtension (IptablesSyntaxError)
    ├── KVError                             the key-value store failed
    │   └── KVConflict                      a compare-and-swap lost
    ├── TraceError (ValueError)             a trace request names nothing that exists
    ├── DNSError (ValueError)               a DNS question or server option is unusable
    ├── SelectorError (ValueError)          a Calico selector does not parse (with column)
    ├── KubeProxyError (ValueError)         kube-proxy settings or the node asked for are unusable
    ├── MaterializeError                    the kernel refused what the IR asked for
    └── SweepError                          a sweep cannot run (its engine, its files)

Foreign exceptions (yaml, netlink, etcd, sockets) are translated at the boundary and
chained with ``from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AddressExhausted",
    "AmbiguousName",
    "DNSError",
    "Diagnostic",
    "DriverOptionError",
    "IptablesSyntaxError",
    "KVConflict",
    "KubeProxyError",
    "KVError",
    "MaterializeError",
    "OverlaynetError",
    "ScenarioError",
    "SelectorError",
    "SweepError",
    "TrafficMixError",
    "TopologyError",
    "TraceError",
    "UnknownDriver",
    "UnsupportedExtension",
]


class OverlaynetError(Exception):
    """The root of every error overlaynet raises on purpose."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in an input file, located as precisely as we can.

    ``path`` is the YAML path (``spec.nodes[2].ip``); ``line`` and ``column`` are 1-based.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        path = f" {self.path}:" if self.path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}:{path} {prefix}{self.message}"


class TopologyError(OverlaynetError, ValueError):
    """A topology could not be loaded; ``diagnostics`` lists every error found."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ScenarioError(TopologyError):
    """A scenario could not be read, or one of its steps names what does not exist (the
    diagnostic points at the step)."""


class TrafficMixError(TopologyError):
    """A traffic mix file could not be read, or a flow names what does not exist."""


class UnknownDriver(OverlaynetError, LookupError):
    def __init__(self, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown network driver {name!r}; known drivers: {', '.join(known)}")

    def __str__(self) -> str:  # LookupError would quote the whole message
        return str(self.args[0])


class AmbiguousName(OverlaynetError, LookupError):
    """A name given as a prefix (``default/frontend``) matches several objects."""

    def __init__(self, text: str, candidates: list[str] | tuple[str, ...]) -> None:
        self.text = text
        self.candidates = tuple(candidates)
        shown = ", ".join(self.candidates[:20]) + (" ..." if len(self.candidates) > 20 else "")
        super().__init__(f"{text!r} matches {len(self.candidates)} pods: {shown}; give a longer name")

    def __str__(self) -> str:
        return str(self.args[0])


class DriverOptionError(OverlaynetError, ValueError):
    """A driver's options are invalid; ``option`` names the offending key (``unknown``: the
    key itself is the problem, not its value)."""

    def __init__(self, driver: str, option: str, message: str, *, unknown: bool = False) -> None:
        self.driver = driver
        self.option = option
        self.unknown = unknown
        super().__init__(f"{driver}: option {option!r}: {message}")


class AddressExhausted(OverlaynetError, ValueError):
    """No free address or subnet is left in a pool; ``subject`` names who asked, as
    ``("pod", "ns/name")``, ``("node", name)`` or ``("service", "ns/name")``, when known."""

    def __init__(self, message: str, *, subject: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class IptablesSyntaxError(OverlaynetError, ValueError):
    """An iptables-save / iptables-restore text is malformed."""

    def __init__(self, message: str, *, line: int, file: str = "<input>", text: str = "") -> None:
        self.line = line
        self.file = file
        self.text = text
        super().__init__(f"{file}:{line}: {message}")


class UnsupportedExtension(IptablesSyntaxError):
    """The ruleset uses a match or target overlaynet cannot evaluate."""


class KVError(OverlaynetError):
    """The key-value store failed or is unreachable."""


class KVConflict(KVError):
    """A create-if-absent or compare-and-swap found another revision."""


class TraceError(OverlaynetError, ValueError):
    """A trace request names a source or target that does not exist."""


class DNSError(OverlaynetError, ValueError):
    """A DNS question, name or server option is unusable."""


class KubeProxyError(OverlaynetError, ValueError):
    """kube-proxy settings (node, node IPs, CIDRs) are missing or unusable."""


class SelectorError(OverlaynetError, ValueError):
    """A Calico selector does not parse; ``position`` is 0-based into the text."""

    def __init__(self, text: str, position: int, expected: str) -> None:
        self.text = text
        self.position = position
        found = text[position : position + 12] or "end of selector"
        super().__init__(
            f"bad Calico selector {text!r} at column {position + 1}: expected {expected}, found {found!r}"
        )


class MaterializeError(OverlaynetError):
    """The kernel refused what the dataplane IR asked for."""


class SweepError(OverlaynetError):
    """A sweep cannot run: the Dask scheduler is unreachable, a result file is unreadable."""
