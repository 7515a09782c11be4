"""Netlink requests sent many at a time on one namespace's socket.

pyroute2's high-level calls (``ipr.link("set", …)``) cost ≈ 0.3 ms each in argument
processing and event-loop round trips, most of a pod's set-up. The phases that send many
independent requests (veth pairs, link MTU/MAC/master/up, addresses, routes, index
lookups) instead build pyroute2
message objects directly, send them in chunks (the kernel runs the messages of one
``send()`` in order and acks each), and match the acks to the requests by sequence number.
The messages are the ones pyroute2's high-level calls send (``tests/materialize/
test_batch.py`` compares them); a refusal is reported as ``state.call`` would report it.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from overlaynet.errors import MaterializeError
from overlaynet.materialize._netns import netns_path

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an ack: the request was not copied back
NLM_F_ACK_TLVS = 0x200  # in an ack: extended-ack attributes follow
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # acks carry only the request's header, not the whole request
NETLINK_EXT_ACK = 11  # error acks carry the kernel's message
ENODEV = 19
IFF_UP = 0x1
RT_TABLE_MAIN = 254  # the header's table when the real one (RTA_TABLE) is above 255, as pyroute2 sends it
CHUNK = 64  # requests per send(): their acks fit the receive buffer many times over
SEQ_BASE = 0x40000000  # far from the sequence numbers pyroute2 gives its own requests
ROUTE_TYPES = {"unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5, "blackhole": 6,
               "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10}

Tolerate = Callable[[int], bool]  # errno → is this refusal expected (e.g. EEXIST of a kernel route)?


def refused(nsname: str, obj: str, exc: Exception) -> MaterializeError:
    """The error for a kernel refusal: the namespace, the object, the kernel's message
    (pyroute2's NetlinkError carries the extended-ack text as its second argument)."""
    code = getattr(exc, "code", None)
    if code is not None:
        message = exc.args[1] if len(exc.args) > 1 and exc.args[1] else str(exc)
        return MaterializeError(f"namespace {nsname}: {obj}: the kernel refused it: {message} (errno {code})")
    return MaterializeError(f"namespace {nsname}: {obj}: {exc}")


def raw_socket(fd: int) -> socket.socket:
    """A NETLINK_ROUTE socket object for descriptor ``fd`` (taken over), set up for
    batches: short acks, with the kernel's message on errors."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0, fileno=fd)
    sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
    sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
    return sock


@dataclass(slots=True)
class _Request:
    msg: Any  # a pyroute2 nlmsg
    obj: str  # what it makes, for the error message
    tolerate: Tolerate | None


class Batch:
    """Requests for one namespace, sent in order by ``flush()``."""

    def __init__(self, nsname: str, sock: socket.socket) -> None:
        self.nsname = nsname
        self._sock = sock  # the namespace's netlink socket (``raw_socket``)
        self._todo: list[_Request] = []
        self._fds: list[int] = []  # namespaces the requests name, open until they are sent

    def __len__(self) -> int:
        return len(self._todo)

    # --- the requests -----------------------------------------------------------------
    def link_set(self, obj: str, index: int, *, mtu: int | None = None, address: str | None = None,
                 master: int | None = None, up: bool = False) -> None:
        """``ip link set dev INDEX [mtu M] [address A] [master B] [up]``."""
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = msg["change"] = IFF_UP if up else 0
        attrs: list[tuple[str, Any]] = []
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
        if address is not None:
            attrs.append(("IFLA_ADDRESS", address))
        if master is not None:
            attrs.append(("IFLA_MASTER", master))
        msg["attrs"] = attrs
        self._add(msg, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, obj, None)

    def veth_add(self, obj: str, ifname: str, peer: str, peer_netns: str) -> None:
        """``ip link add IFNAME type veth peer name PEER netns PEER_NETNS`` (an ``onet-``
        namespace, held open until the batch is sent)."""
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        fd = os.open(netns_path(peer_netns), os.O_RDONLY)
        self._fds.append(fd)
        msg = ifinfmsg()
        peer_attrs = {"attrs": [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", fd)]}
        info = {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_attrs)]})]}
        msg["attrs"] = [("IFLA_IFNAME", ifname), ("IFLA_LINKINFO", info)]
        self._add(msg, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE, obj, None)

    def addr_add(self, obj: str, index: int, address: str, prefixlen: int, family: int,
                 tolerate: Tolerate | None = None) -> None:
        """``ip addr add ADDRESS/PREFIXLEN dev INDEX``."""
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

        msg = ifaddrmsg()
        msg["family"], msg["prefixlen"], msg["index"] = family, prefixlen, index
        msg["attrs"] = [("IFA_ADDRESS", address)] + ([("IFA_LOCAL", address)] if family == socket.AF_INET else [])
        self._add(msg, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE, obj, tolerate)

    def route_add(self, obj: str, *, family: int, dst: str, dst_len: int, table: int, type: str, proto: int,
                  scope: int, oif: int | None = None, gateway: str | None = None, flags: int = 0,
                  prefsrc: str | None = None, priority: int | None = None, tolerate: Tolerate | None = None) -> None:
        """``ip route add [TYPE] DST/LEN [via G] [dev OIF] [onlink] [src S] [metric P] table T``."""
        from pyroute2.netlink.rtnl.rtmsg import rtmsg

        msg = rtmsg()
        msg["family"], msg["dst_len"], msg["flags"] = family, dst_len, flags
        msg["table"] = table if table < 256 else RT_TABLE_MAIN
        msg["proto"], msg["scope"], msg["type"] = proto, scope, ROUTE_TYPES[type]
        attrs: list[tuple[str, Any]] = [("RTA_DST", dst)] if dst_len else []
        attrs.append(("RTA_TABLE", table))
        for name, value in (("RTA_OIF", oif), ("RTA_GATEWAY", gateway), ("RTA_PREFSRC", prefsrc),
                            ("RTA_PRIORITY", priority)):
            if value is not None:
                attrs.append((name, value))
        msg["attrs"] = attrs
        self._add(msg, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE, obj, tolerate)

    def _add(self, msg: Any, msg_type: int, flags: int, obj: str, tolerate: Tolerate | None) -> None:
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = flags
        self._todo.append(_Request(msg, obj, tolerate))

    def encoded(self) -> list[bytes]:
        """The requests as they will be sent (sequence numbers from ``SEQ_BASE``)."""
        out = []
        for seq, req in enumerate(self._todo, SEQ_BASE):
            req.msg["header"]["sequence_number"] = seq
            req.msg["header"]["pid"] = 0
            req.msg.encode()
            out.append(bytes(req.msg.data))
        return out

    def discard(self) -> None:
        """Drop what was not sent (after a failure elsewhere)."""
        for fd in self._fds:
            os.close(fd)
        self._todo, self._fds = [], []

    # --- sending ------------------------------------------------------------------------
    def flush(self) -> None:
        """Send every request, in order; raise ``MaterializeError`` at the first refusal
        that is not tolerated (what the kernel said, for which object)."""
        from pyroute2.netlink.exceptions import NetlinkError

        if not self._todo:
            return
        todo, data, fds = self._todo, self.encoded(), self._fds
        self._todo, self._fds = [], []
        try:
            for start in range(0, len(data), CHUNK):
                self._sock.send(b"".join(data[start:start + CHUNK]))
                replies = _replies(self._sock, SEQ_BASE + start, min(CHUNK, len(data) - start))
                for seq in sorted(replies):
                    code, text = _error(replies[seq])
                    req = todo[seq - SEQ_BASE]
                    if code and (req.tolerate is None or not req.tolerate(code)):
                        cause = NetlinkError(code, text or None)
                        raise refused(self.nsname, req.obj, cause) from cause
        except OSError as exc:
            raise MaterializeError(f"namespace {self.nsname}: netlink batch: {exc}") from exc
        finally:
            for fd in fds:
                os.close(fd)


def link_index(nsname: str, sock: socket.socket, ifname: str) -> int | None:
    """``ip link show dev IFNAME``'s index (None: no such link), read from the reply's
    header without decoding the rest."""
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg()
    msg["attrs"] = [("IFLA_IFNAME", ifname)]
    msg["header"]["type"] = RTM_GETLINK
    msg["header"]["flags"] = NLM_F_REQUEST
    msg["header"]["sequence_number"] = SEQ_BASE
    msg["header"]["pid"] = 0
    msg.encode()
    try:
        sock.send(bytes(msg.data))
        reply = _replies(sock, SEQ_BASE, 1)[SEQ_BASE]
    except OSError as exc:
        raise MaterializeError(f"namespace {nsname}: link {ifname}: {exc}") from exc
    code, text = _error(reply)
    if code == ENODEV:
        return None
    if code:
        cause = NetlinkError(code, text or None)
        raise refused(nsname, f"link {ifname}", cause) from cause
    (index,) = struct.unpack_from("=i", reply, 20)  # ifinfomsg: family, pad, type, index
    return int(index)


def _replies(sock: socket.socket, first: int, count: int) -> dict[int, bytes]:
    """The reply (an ack, an error or the answer) to each of the requests ``first`` …
    ``first + count - 1``, by sequence number; other messages (events) are skipped."""
    waiting = set(range(first, first + count))
    out: dict[int, bytes] = {}
    while waiting:
        buf = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(buf):
            length, _, _, seq, _ = struct.unpack_from("=IHHII", buf, offset)
            if length < 16:
                raise OSError(f"malformed netlink message (length {length})")
            if seq in waiting:
                waiting.discard(seq)
                out[seq] = buf[offset:offset + length]
            offset += (length + 3) & ~3
    return out


def _error(reply: bytes) -> tuple[int, str]:
    """(errno, the kernel's message) of an error ack; (0, '') for an ack or an answer."""
    _, msg_type, flags = struct.unpack_from("=IHH", reply, 0)
    if msg_type != NLMSG_ERROR:
        return 0, ""
    (err,) = struct.unpack_from("=i", reply, 16)
    return (-err, _extack_text(reply, flags)) if err else (0, "")


def _extack_text(ack: bytes, flags: int) -> str:
    """The NLMSGERR_ATTR_MSG of an error ack ('' when the kernel sent none)."""
    if not flags & NLM_F_ACK_TLVS:
        return ""
    (inner_len,) = struct.unpack_from("=I", ack, 20)  # the request's header, copied back
    offset = 20 + (16 if flags & NLM_F_CAPPED else (inner_len + 3) & ~3)
    while offset + 4 <= len(ack):
        nla_len, nla_type = struct.unpack_from("=HH", ack, offset)
        if nla_len < 4:
            break
        if nla_type == NLMSGERR_ATTR_MSG:
            return ack[offset + 4:offset + nla_len].split(b"\0", 1)[0].decode(errors="replace")
        offset += (nla_len + 3) & ~3
    return ""
