"""Typed iptables targets: one frozen value per target extension and its iptables-save text.

What a target does to a packet (verdicts, NAT, marks) is in ``evaluate.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from overlaynet.dataplane.netfilter.matches import PortRange, quote
from overlaynet.model.base import IPAddress


class Target:
    """Base of every target. ``name`` is what follows ``-j``."""

    __slots__ = ()
    name: ClassVar[str] = ""
    terminal: ClassVar[bool] = False  # ends the walk of the table

    def render(self) -> str:
        """The ``-j NAME opts`` / ``-g CHAIN`` text."""
        opts = self.options()
        return f"-j {self.label}" + (f" {opts}" if opts else "")

    @property
    def label(self) -> str:
        return self.name

    def options(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Verdict_(Target):
    """ACCEPT, DROP or RETURN."""

    verdict: str

    @property
    def label(self) -> str:
        return self.verdict


@dataclass(frozen=True, slots=True)
class Jump(Target):
    chain: str

    @property
    def label(self) -> str:
        return self.chain


@dataclass(frozen=True, slots=True)
class Goto(Target):
    chain: str

    def render(self) -> str:
        return f"-g {self.chain}"


@dataclass(frozen=True, slots=True)
class Reject(Target):
    reject_with: str = "icmp-port-unreachable"
    name: ClassVar[str] = "REJECT"
    terminal: ClassVar[bool] = True

    def options(self) -> str:
        return f"--reject-with {self.reject_with}"


@dataclass(frozen=True, slots=True)
class NatRange:
    """``ip[-ip][:port[-port]]`` of DNAT/SNAT (either part may be missing)."""

    lo: IPAddress | None = None
    hi: IPAddress | None = None
    ports: PortRange | None = None

    def __str__(self) -> str:
        text = ""
        if self.lo is not None:
            text = str(self.lo) if self.hi in (None, self.lo) else f"{self.lo}-{self.hi}"
            if self.lo.version == 6 and self.ports is not None:
                text = f"[{text}]"
        if self.ports is not None:
            port = str(self.ports.lo) if self.ports.lo == self.ports.hi else f"{self.ports.lo}-{self.ports.hi}"
            text += f":{port}"
        return text


def _nat_flags(random: bool, persistent: bool, random_fully: bool = False) -> str:
    flags = [f for f, on in (("--random", random), ("--random-fully", random_fully), ("--persistent", persistent)) if on]
    return (" " + " ".join(flags)) if flags else ""


@dataclass(frozen=True, slots=True)
class Dnat(Target):
    to: NatRange
    random: bool = False
    persistent: bool = False
    name: ClassVar[str] = "DNAT"
    terminal: ClassVar[bool] = True

    def options(self) -> str:
        return f"--to-destination {self.to}" + _nat_flags(self.random, self.persistent)


@dataclass(frozen=True, slots=True)
class Snat(Target):
    to: NatRange
    random: bool = False
    random_fully: bool = False
    persistent: bool = False
    name: ClassVar[str] = "SNAT"
    terminal: ClassVar[bool] = True

    def options(self) -> str:
        return f"--to-source {self.to}" + _nat_flags(self.random, self.persistent, self.random_fully)


def _ports_text(ports: PortRange) -> str:
    return str(ports.lo) if ports.lo == ports.hi else f"{ports.lo}-{ports.hi}"


@dataclass(frozen=True, slots=True)
class Masquerade(Target):
    to_ports: PortRange | None = None
    random: bool = False
    random_fully: bool = False
    name: ClassVar[str] = "MASQUERADE"
    terminal: ClassVar[bool] = True

    def options(self) -> str:
        text = f"--to-ports {_ports_text(self.to_ports)}" if self.to_ports else ""
        return (text + _nat_flags(self.random, False, self.random_fully)).strip()


@dataclass(frozen=True, slots=True)
class Redirect(Target):
    to_ports: PortRange | None = None
    random: bool = False
    name: ClassVar[str] = "REDIRECT"
    terminal: ClassVar[bool] = True

    def options(self) -> str:
        text = f"--to-ports {_ports_text(self.to_ports)}" if self.to_ports else ""
        return (text + _nat_flags(self.random, False)).strip()


@dataclass(frozen=True, slots=True)
class MarkTarget(Target):
    """MARK: ``mark = (mark & ~mask) ^ value`` (every spelling is saved as --set-xmark)."""

    value: int
    mask: int
    name: ClassVar[str] = "MARK"

    def options(self) -> str:
        return f"--set-xmark 0x{self.value:x}/0x{self.mask:x}"

    def apply(self, mark: int) -> int:
        return ((mark & ~self.mask) ^ self.value) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ConnMarkTarget(Target):
    """CONNMARK: set (xmark on the connection mark), save (packet → ct), restore (ct → packet)."""

    mode: str  # set | save | restore
    value: int = 0
    mask: int = 0xFFFFFFFF
    nfmask: int = 0xFFFFFFFF
    ctmask: int = 0xFFFFFFFF
    name: ClassVar[str] = "CONNMARK"

    def options(self) -> str:
        if self.mode == "set":
            return f"--set-xmark 0x{self.value:x}/0x{self.mask:x}"
        return f"--{self.mode}-mark --nfmask 0x{self.nfmask:x} --ctmask 0x{self.ctmask:x}"


@dataclass(frozen=True, slots=True)
class Log(Target):
    prefix: str | None = None
    level: int = 4
    flags: tuple[str, ...] = ()  # tcp-sequence, tcp-options, ip-options, uid, macdecode
    name: ClassVar[str] = "LOG"

    def options(self) -> str:
        parts = []
        if self.prefix is not None:
            parts.append(f"--log-prefix {quote(self.prefix)}")
        if self.level != 4:
            parts.append(f"--log-level {self.level}")
        parts.extend(f"--log-{flag}" for flag in self.flags)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Nflog(Target):
    """NFLOG: hands a copy to a userspace logger over nfnetlink (weave-npc, ulogd) and goes on."""

    group: int = 0
    prefix: str | None = None
    size: int | None = None  # --nflog-size (bytes copied)
    range: int | None = None  # the deprecated --nflog-range
    threshold: int = 1
    name: ClassVar[str] = "NFLOG"

    def options(self) -> str:  # libxt_NFLOG nflog_print's order
        parts = []
        if self.prefix:
            parts.append(f"--nflog-prefix {quote(self.prefix)}")
        if self.group:
            parts.append(f"--nflog-group {self.group}")
        if self.size is not None:
            parts.append(f"--nflog-size {self.size}")
        elif self.range:
            parts.append(f"--nflog-range {self.range}")
        if self.threshold != 1:
            parts.append(f"--nflog-threshold {self.threshold}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Checksum(Target):
    """CHECKSUM --checksum-fill (mangle): fills in a missing checksum (libvirt's DHCP rule) and
    goes on; it changes nothing the rules can see."""

    name: ClassVar[str] = "CHECKSUM"

    def options(self) -> str:
        return "--checksum-fill"


@dataclass(frozen=True, slots=True)
class Notrack(Target):
    """NOTRACK, or its modern spelling ``CT --notrack`` (``ct=True``)."""

    ct: bool = False

    @property
    def label(self) -> str:
        return "CT" if self.ct else "NOTRACK"

    def options(self) -> str:
        return "--notrack" if self.ct else ""


BUILTIN_VERDICTS = ("ACCEPT", "DROP", "RETURN")
