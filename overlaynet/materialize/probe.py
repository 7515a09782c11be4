"""Probes of a materialized dataplane: ping (one ICMP echo, optional size and DF), a TCP
connect to a tiny listener, and a capture on an underlay segment decoded by tshark.

The probes run the stdlib agent (``_agent.py``) inside the namespaces, so they need no
``ping``/``nc`` binary: ``ping`` is ``ping -c 1 [-M do] -s (size − 28)`` over a raw socket,
reporting the reply's TTL, or "Frag needed" (from a router, or the local "message too
long, mtu=N"), or the error ICMP that came back.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from overlaynet.dataplane.ir import NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize._state import agent_cmd, netns_argv
from overlaynet.materialize.apply import Materialized
from overlaynet.materialize.links import SEGMENT_BRIDGE
from overlaynet.model.base import IPAddress

PingStatus = Literal["reply", "frag_needed", "unreachable", "time_exceeded", "timeout"]
VXLAN_PORT = 8472


@dataclass(frozen=True, slots=True)
class PingResult:
    """What one ICMP echo got back. ``size`` is the IP total length of the request."""

    status: PingStatus
    dst: str
    size: int
    df: bool
    ttl: int | None = None  # the echo reply's TTL as received
    mtu: int | None = None  # for frag_needed: the MTU the kernel or the router reported
    local: bool = False  # the error came from the sender's own stack (EMSGSIZE, no route)
    reply_from: str | None = None
    message: str = ""

    @property
    def answered(self) -> bool:
        return self.status == "reply"


def ping(m: Materialized, src: NsRef, dst: IPAddress | str, *, size: int = 84, df: bool = False,
         timeout: float = 2.0) -> PingResult:
    """Send one echo request of IP total length ``size`` from ``src`` to ``dst``."""
    return ping_many(m, src, [(dst, size, df)], timeout=timeout)[0]


def ping_many(m: Materialized, src: NsRef, probes: list[tuple[IPAddress | str, int, bool]], *,
              timeout: float = 2.0) -> list[PingResult]:
    """Several echoes from ``src``, one after the other, each ``(dst, size, df)``; one agent
    process for all of them (each echo carries its own sequence number)."""
    for _, size, _ in probes:
        if size < 28 or size > 65535:
            raise MaterializeError(f"ping size {size}: expected an IP total length of 28..65535")
    if not probes:
        return []
    args = [{"dst": str(d), "size": s, "df": f, "timeout": timeout, "seq": i + 1}
            for i, (d, s, f) in enumerate(probes)]
    out = m.agent(src, "ping", {"probes": args}, timeout=timeout * len(probes) + 10)
    return [PingResult(status=r["status"], dst=r["dst"], size=r["size"], df=r["df"], ttl=r.get("ttl"),
                       mtu=r.get("mtu"), local=bool(r.get("local", False)),
                       reply_from=r.get("reply_from"), message=r.get("message", ""))
            for r in out["results"]]


@dataclass(frozen=True, slots=True)
class TcpResult:
    status: Literal["connected", "refused", "timeout", "unreachable"]
    accepted_from: str | None = None  # the peer address the listener saw (after any NAT)
    message: str = ""

    @property
    def connected(self) -> bool:
        return self.status == "connected"


def tcp_connect(m: Materialized, src: NsRef, dst: IPAddress | str, port: int, *,
                listen_in: NsRef | None = None, timeout: float = 2.0) -> TcpResult:
    """Connect from ``src`` to ``dst:port``; with ``listen_in``, a one-shot listener runs
    there first and reports the peer address it accepted."""
    listener = None
    if listen_in is not None:
        listener = m.agent_popen(listen_in, "listen", {"port": port, "timeout": timeout + 2})
    try:
        out = m.agent(src, "connect", {"dst": str(dst), "port": port, "timeout": timeout},
                      timeout=timeout + 10)
    except BaseException:
        if listener is not None:
            listener.kill()
            listener.communicate()
        raise
    peer = None
    if listener is not None:
        if out["status"] != "connected":
            listener.kill()  # nobody will come: do not wait for its timeout
        peer = _accepted_peer(listener)
    return TcpResult(status=out["status"], accepted_from=peer, message=out.get("message", ""))


def tcp_connect_many(m: Materialized, probes: list[tuple[NsRef, IPAddress | str]], port: int, *,
                     listen_in: Iterable[NsRef] = (), timeout: float = 1.0) -> list[TcpResult]:
    """TCP connects from each ``(src, dst)`` of ``probes`` to ``dst:port``, all at once: one
    listener per namespace of ``listen_in`` (it accepts until every connect is done), one
    agent per source connecting to all its destinations in parallel. A SYN that a firewall
    drops costs ``timeout`` once, not once per pair. Results come in the order of ``probes``;
    ``accepted_from`` is the peer address a listener saw for that connection: each client
    sends a token over its connection, so NAT (even ``--random-fully`` ports) cannot
    confuse them; None when no listener saw it."""
    listeners: dict[NsRef, subprocess.Popen[str]] = {}
    by_src: dict[NsRef, list[int]] = {}
    for i, (src, _) in enumerate(probes):
        by_src.setdefault(src, []).append(i)
    results: list[TcpResult | None] = [None] * len(probes)
    nonce = secrets.token_hex(4)
    connectors: list[tuple[list[int], subprocess.Popen[str]]] = []
    try:
        serve = json.dumps({"port": port, "timeout": timeout + 30})
        for ref in dict.fromkeys(listen_in):  # started side by side, then each waited for
            listeners[ref] = subprocess.Popen([*netns_argv(m.namespace_name(ref)), *agent_cmd("serve", serve)],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True)
        for ref, proc in listeners.items():
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line or not json.loads(line).get("ready"):
                proc.kill()
                _, err = proc.communicate()
                raise MaterializeError(f"namespace {m.namespace_name(ref)}: agent serve did not start: {err.strip()}")
        for src, idx in by_src.items():
            targets = [{"dst": str(probes[i][1]), "port": port, "token": f"{nonce}-{i}"} for i in idx]
            argv = [*netns_argv(m.namespace_name(src)),
                    *agent_cmd("connect_many", json.dumps({"targets": targets, "timeout": timeout}))]
            connectors.append((idx, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        outcomes: list[tuple[list[int], list[dict[str, Any]]]] = []
        for idx, proc in connectors:
            stdout, stderr = proc.communicate(timeout=timeout + 20)
            lines = stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise MaterializeError(f"namespace {m.namespace_name(probes[idx[0]][0])}: agent connect_many failed: {stderr.strip()}")
            outcomes.append((idx, json.loads(lines[-1])["results"]))
        by_token: dict[str, str] = {}  # the token a client sent → its address as the server saw it
        for proc in listeners.values():
            stdout, _ = proc.communicate(input="", timeout=20)
            lines = stdout.strip().splitlines()
            for addr, _port, token in (json.loads(lines[-1]).get("peers", []) if lines else []):
                by_token[str(token)] = str(addr)
        for idx, outs in outcomes:
            for i, out in zip(idx, outs, strict=True):
                peer = by_token.get(f"{nonce}-{i}") if out["status"] == "connected" else None
                results[i] = TcpResult(status=out["status"], accepted_from=peer, message=out.get("message", ""))
    finally:
        for proc in [*listeners.values(), *(p for _, p in connectors)]:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return [r for r in results if r is not None]


def _accepted_peer(proc: subprocess.Popen[str]) -> str | None:
    try:
        stdout, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    lines = stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    return str(result["peer"]) if result.get("status") == "accepted" else None


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A frame that entered the bridge of ``segment`` through port ``ifname``."""

    segment: str
    ifname: str
    length: int  # bytes on the wire, Ethernet header included (no FCS)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """An IP frame as tshark decodes it (``-d udp.port==PORT,vxlan``). For a VXLAN frame
    ``outer_*`` is the tunnel's packet and ``inner_*`` the packet inside; for a plain frame
    both describe the one IP packet."""

    frame_len: int  # the Ethernet frame (no FCS)
    outer_ip_len: int
    outer_src: str
    outer_dst: str
    dport: int | None  # UDP destination port of the outer packet
    vni: int | None  # None: not VXLAN
    inner_src: str
    inner_dst: str
    inner_ip_len: int
    inner_proto: str  # icmp | tcp | udp | the protocol number
    outer_id: int = 0  # the IP identification of the outer packet
    outer_frag_offset: int = 0  # > 0: a later fragment (nothing inside it is decoded)
    inner_id: int = 0
    inner_frag_offset: int = 0
    icmp_type: int | None = None  # of the innermost packet, when it carries the ICMP header

    @property
    def vxlan(self) -> bool:
        return self.vni is not None


class Capture:
    """A capture on every port of one or more underlay segments' bridges, while the block
    runs; one agent process holds a packet socket in each segment's namespace and writes
    one pcap.

    >>> with Capture(m, ["rack-a", "rack-b"]) as cap:    # doctest: +SKIP
    ...     ping(m, src, dst)
    >>> cap.vxlan()                                       # doctest: +SKIP
    """

    def __init__(self, m: Materialized, segments: str | list[str], *, timeout: float = 30.0) -> None:
        self.m = m
        self.segments = [segments] if isinstance(segments, str) else list(segments)
        self.timeout = timeout
        self._netns = {m.segment_namespace(seg): seg for seg in self.segments}
        self._dir = Path(tempfile.mkdtemp(prefix="onet-capture-"))
        self.pcap = self._dir / "underlay.pcap"
        self.frames: list[CapturedFrame] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Capture:
        self._proc = self.m.agent_popen(None, "capture", {
            "netns": list(self._netns), "pcap": str(self.pcap), "timeout": self.timeout,
            "ignore": [SEGMENT_BRIDGE]})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        what = f"capture on {', '.join(self.segments)}"
        try:
            stdout, stderr = proc.communicate(input="", timeout=self.timeout + 10)
        except subprocess.TimeoutExpired as err:
            proc.kill()
            proc.communicate()
            raise MaterializeError(f"{what} did not stop") from err
        lines = stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise MaterializeError(f"{what} failed: {stderr.strip()}")
        self.frames = [CapturedFrame(self._netns[f["netns"]], f["ifname"], f["len"])
                       for f in json.loads(lines[-1])["frames"]]

    def decoded(self, port: int | Iterable[int] = VXLAN_PORT) -> list[DecodedFrame]:
        """Every captured IP frame except ICMP errors, decoded by tshark (UDP ``port``, or
        each of several ports, read as VXLAN)."""
        return decode_frames(self.pcap, port=port)

    def vxlan(self, port: int = VXLAN_PORT) -> list[DecodedFrame]:
        """The captured VXLAN frames, decoded by tshark."""
        return [f for f in self.decoded(port) if f.vxlan]

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


_FIELDS = ("frame.len", "ip.len", "ip.src", "ip.dst", "udp.dstport", "vxlan.vni", "ip.proto", "ip.id",
           "ip.frag_offset", "icmp.type")
_PROTOS = {"1": "icmp", "6": "tcp", "17": "udp"}
# ICMP errors quote the packet they answer (a second IP header): leave them out
_FILTER = "ip and not (icmp.type == 3 or icmp.type == 4 or icmp.type == 5 or icmp.type == 11 or icmp.type == 12)"


def decode_frames(pcap: Path, *, port: int | Iterable[int] = VXLAN_PORT) -> list[DecodedFrame]:
    """Decode the IP frames of ``pcap`` (ICMP errors left out) with tshark, reading UDP
    ``port`` as VXLAN (``-d udp.port==PORT,vxlan``). Fragments are not reassembled: each
    frame is decoded as it is (a first fragment shows what is inside it, a later one only
    its own IP header)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        raise MaterializeError("decoding a capture needs tshark (Debian package tshark)")
    ports = [port] if isinstance(port, int) else sorted(set(port)) or [VXLAN_PORT]
    argv = [tshark, "-n", "-r", str(pcap), "-o", "ip.defragment:FALSE"]
    for p in ports:
        argv += ["-d", f"udp.port=={p},vxlan"]
    argv += ["-Y", _FILTER, "-T", "fields", "-E", "separator=\t", "-E", "aggregator=,"]
    for name in _FIELDS:
        argv += ["-e", name]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise MaterializeError(f"tshark could not read {pcap}: {proc.stderr.strip()}")
    frames = []
    for line in proc.stdout.splitlines():
        flen, ip_len, src, dst, dport, vni, proto, ident, offset, icmp = (c.split(",") for c in line.split("\t"))
        frames.append(DecodedFrame(
            frame_len=int(flen[0]), outer_ip_len=int(ip_len[0]), outer_src=src[0], outer_dst=dst[0],
            dport=int(dport[0]) if dport[0] else None, vni=int(vni[0]) if vni[0] else None,
            inner_src=src[-1], inner_dst=dst[-1], inner_ip_len=int(ip_len[-1]),
            inner_proto=_PROTOS.get(proto[-1], proto[-1]),
            outer_id=int(ident[0], 0), outer_frag_offset=int(offset[0] or 0), inner_id=int(ident[-1], 0),
            inner_frag_offset=int(offset[-1] or 0), icmp_type=int(icmp[-1]) if icmp[-1] else None,
        ))
    return frames
