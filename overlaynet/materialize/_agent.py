"""In-namespace helper: run by path inside a materialized namespace (``ip netns exec``).

Standard library only, so it starts in milliseconds (``python -I -S _agent.py CMD JSON``).
Commands: ``ping`` (one ICMP echo over a raw socket, like
``ping -c 1 [-M do] -s N``), ``listen``/``connect`` (TCP), ``serve``/``connect_many`` (many
TCP connections at once), ``udp_serve``/``udp_send_many`` (UDP datagrams), ``capture`` (packet sockets in
several namespaces, written as one pcap). Each prints one JSON object on stdout.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import socket
import struct
import sys
import time
from typing import Any

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IP_MTU = 14
IP_PKTINFO = 8
IP_RECVERR = 11
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def _out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"


def _enter_netns(name: str) -> None:
    """setns() this (single-threaded) process into ``ip netns`` namespace ``name``, and
    prove it worked before anything is written: /proc/sys/net follows the caller's netns."""
    import ctypes

    if not name.startswith("onet-") or "/" in name:
        raise OSError(f"refusing to enter namespace {name!r}")
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
        if os.stat("/proc/self/ns/net").st_ino != os.fstat(fd).st_ino:
            raise OSError(f"setns into {name} did not take effect")
    finally:
        os.close(fd)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _route_mtu(dst: str) -> int | None:
    """The path MTU the kernel holds for ``dst`` (what ping prints as ``mtu=``)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((dst, 9))
        return int(probe.getsockopt(socket.IPPROTO_IP, IP_MTU))
    except OSError:
        return None
    finally:
        probe.close()


def cmd_ping(args: dict[str, Any]) -> int:
    """ICMP echoes, one after the other: ``{"probes": [{dst, size, df, timeout}, ...]}``."""
    _out({"results": [_ping_one(p) for p in args["probes"]]})
    return 0


def _ping_one(args: dict[str, Any]) -> dict[str, Any]:
    """One ICMP echo of IP total length ``size``; reports the reply's TTL or the error."""
    dst, size, df = args["dst"], int(args.get("size", 84)), bool(args.get("df", False))
    timeout = float(args.get("timeout", 2.0))
    ident, seq = os.getpid() & 0xFFFF, int(args.get("seq", 1))
    payload = bytes(i & 0xFF for i in range(max(size - 28, 0)))
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(
        socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT
    )
    result: dict[str, Any] = {"dst": dst, "size": size, "df": df}
    start = time.monotonic()
    try:
        sock.sendto(packet, (dst, 0))
    except OSError as exc:
        if exc.errno == errno.EMSGSIZE:
            mtu = _route_mtu(dst)
            result.update(status="frag_needed", local=True, mtu=mtu,
                          message=f"local error: message too long, mtu={mtu}")
        else:
            result.update(status="unreachable", local=True, message=exc.strerror)
        sock.close()
        return result
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            result.update(status="timeout", message=f"no answer within {timeout}s")
            break
        data, (src, _) = sock.recvfrom(65535)
        ihl = (data[0] & 0x0F) * 4
        icmp_type, code = data[ihl], data[ihl + 1]
        if icmp_type == 0:
            rid, rseq = struct.unpack("!HH", data[ihl + 4 : ihl + 8])
            if (rid, rseq) == (ident, seq) and src == dst:
                result.update(status="reply", ttl=data[8], reply_from=src,
                              reply_bytes=len(data),
                              rtt_ms=round((time.monotonic() - start) * 1000, 3))
                break
            continue
        if icmp_type not in (3, 11) or len(data) < ihl + 8 + 28:
            continue
        inner = data[ihl + 8 :]
        inner_ihl = (inner[0] & 0x0F) * 4
        inner_dst = socket.inet_ntoa(inner[16:20])
        rid, rseq = struct.unpack("!HH", inner[inner_ihl + 4 : inner_ihl + 8])
        if inner_dst != dst or (rid, rseq) != (ident, seq):
            continue
        if icmp_type == 3 and code == 4:
            mtu = struct.unpack("!H", data[ihl + 6 : ihl + 8])[0]
            result.update(status="frag_needed", local=False, mtu=mtu, reply_from=src,
                          message=f"From {src} icmp_seq={seq} Frag needed and DF set (mtu = {mtu})")
        elif icmp_type == 3:
            result.update(status="unreachable", local=False, code=code, reply_from=src,
                          message=f"From {src} icmp_seq={seq} Destination Unreachable (code {code})")
        else:
            result.update(status="time_exceeded", local=False, reply_from=src,
                          message=f"From {src} icmp_seq={seq} Time to live exceeded")
        break
    sock.close()
    return result


def cmd_listen(args: dict[str, Any]) -> int:
    """Accept one TCP connection on ``port``; prints ``ready`` first, then the peer."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.get("addr", "0.0.0.0"), int(args["port"])))
    srv.listen(8)
    srv.settimeout(float(args.get("timeout", 5.0)))
    _out({"ready": True})
    try:
        conn, peer = srv.accept()
    except TimeoutError:
        _out({"status": "timeout"})
        return 0
    conn.close()
    _out({"status": "accepted", "peer": peer[0], "peer_port": peer[1]})
    return 0


def cmd_connect(args: dict[str, Any]) -> int:
    dst, port = args["dst"], int(args["port"])
    try:
        conn = socket.create_connection((dst, port), timeout=float(args.get("timeout", 2.0)))
    except TimeoutError:
        _out({"status": "timeout", "message": "connect timed out"})
        return 0
    except OSError as exc:
        status = "refused" if exc.errno == errno.ECONNREFUSED else "unreachable"
        _out({"status": status, "message": exc.strerror})
        return 0
    local = conn.getsockname()
    conn.close()
    _out({"status": "connected", "local": local[0], "local_port": local[1]})
    return 0


def cmd_serve(args: dict[str, Any]) -> int:
    """Accept TCP connections on ``port`` (or on each of ``ports``) until stdin closes (or
    ``timeout``); prints ``ready`` first, then every peer accepted (address and port as the
    server saw them, and the token the client sent, which names the connection whatever NAT
    did to it; with ``report_local`` also the local address and port it arrived at)."""
    servers = []
    for port in args.get("ports", [args.get("port")]):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((args.get("addr", "0.0.0.0"), int(port)))
        srv.listen(128)
        servers.append(srv)
    local_too = bool(args.get("report_local"))
    _out({"ready": True})
    deadline = time.monotonic() + float(args.get("timeout", 30.0))
    stdin = sys.stdin.fileno()
    peers: list[list[Any]] = []
    conns: dict[socket.socket, list[Any]] = {}

    def accepted(conn: socket.socket, peer: tuple[Any, ...]) -> None:
        local = conn.getsockname()
        conns[conn] = [peer[0], peer[1], *((local[0], local[1]) if local_too else ())]

    def read_token(conn: socket.socket) -> None:
        try:
            token = conn.recv(64).decode(errors="replace").strip()
        except OSError:
            token = ""
        info = conns.pop(conn)
        conn.close()
        peers.append([*info[:2], token, *info[2:]])

    stop = False
    while not stop and time.monotonic() < deadline:
        ready = select.select([*servers, stdin, *conns], [], [], max(deadline - time.monotonic(), 0))[0]
        for conn in [c for c in ready if c in conns]:
            read_token(conn)
        for srv in servers:
            if srv in ready:
                accepted(*srv.accept())
        stop = stdin in ready and not os.read(stdin, 4096)
    for srv in servers:
        srv.setblocking(False)
        while True:  # connections already completed by the kernel but not yet accepted
            try:
                conn, peer = srv.accept()
            except BlockingIOError:
                break
            conn.setblocking(True)
            accepted(conn, peer)
    end = time.monotonic() + 1.0
    while conns and time.monotonic() < end:  # their tokens are on the way or already in
        for conn in select.select(list(conns), [], [], max(end - time.monotonic(), 0))[0]:
            read_token(conn)
    for conn, info in list(conns.items()):
        conn.close()
        peers.append([*info[:2], "", *info[2:]])
    _out({"peers": peers})
    return 0


def cmd_connect_many(args: dict[str, Any]) -> int:
    """TCP connects to every ``{dst, port}`` (optionally from ``src``/``sport``) of
    ``args["targets"]`` at once (non-blocking), each given ``timeout`` seconds; one result
    per target, in order."""
    timeout = float(args.get("timeout", 2.0))
    pending: dict[socket.socket, int] = {}
    results: list[dict[str, Any]] = [{} for _ in args["targets"]]
    for i, target in enumerate(args["targets"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if target.get("src") or target.get("sport"):  # a chosen source address / port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((target.get("src") or "0.0.0.0", int(target.get("sport") or 0)))
        sock.setblocking(False)
        err = sock.connect_ex((target["dst"], int(target["port"])))
        if err in (0, errno.EINPROGRESS):
            pending[sock] = i
        else:
            results[i] = _connect_error(err)
            sock.close()
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        done = select.select([], list(pending), [], left)[1] if left > 0 else []
        if not done:
            break
        for sock in done:
            i = pending.pop(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                local = sock.getsockname()
                token = args["targets"][i].get("token")
                if token:  # names this connection to the server (NAT may change address and port)
                    sock.setblocking(True)
                    sock.sendall(f"{token}\n".encode())
                results[i] = {"status": "connected", "local": local[0], "local_port": local[1]}
            else:
                results[i] = _connect_error(err)
            sock.close()
    for sock, i in pending.items():
        results[i] = {"status": "timeout", "message": f"connect timed out after {timeout}s"}
        sock.close()
    _out({"results": results})
    return 0


def cmd_udp_serve(args: dict[str, Any]) -> int:
    """Receive UDP datagrams on each of ``ports`` until stdin closes (or ``timeout``); prints
    ``ready`` first, then every datagram as [peer, peer port, its text (the token), the
    address it was sent to, the port]; each is echoed back to its sender."""
    servers: dict[socket.socket, int] = {}
    for port in args["ports"]:
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        srv.bind((args.get("addr", "0.0.0.0"), int(port)))
        servers[srv] = int(port)
    _out({"ready": True})
    deadline = time.monotonic() + float(args.get("timeout", 30.0))
    stdin = sys.stdin.fileno()
    seen: list[list[Any]] = []
    stop = False
    while not stop and time.monotonic() < deadline:
        ready = select.select([*servers, stdin], [], [], max(deadline - time.monotonic(), 0))[0]
        for srv in (s for s in servers if s in ready):
            data, ancillary, _flags, peer = srv.recvmsg(512, socket.CMSG_SPACE(12))
            local = next((socket.inet_ntoa(d[8:12]) for level, kind, d in ancillary
                          if level == socket.IPPROTO_IP and kind == IP_PKTINFO), "")
            seen.append([peer[0], peer[1], data.decode(errors="replace").strip(), local, servers[srv]])
            with contextlib.suppress(OSError):
                srv.sendto(data, peer)
        stop = stdin in ready and not os.read(stdin, 4096)
    _out({"peers": seen})
    return 0


def cmd_udp_send_many(args: dict[str, Any]) -> int:
    """One datagram (its token) to every ``{dst, port}`` (optionally from ``src``/``sport``)
    of ``args["targets"]``, then ``timeout`` seconds for the answers: ``answered`` (the echo
    came back), ``refused``/``unreachable`` (an ICMP error, IP_RECVERR) or ``timeout``."""
    timeout = float(args.get("timeout", 2.0))
    pending: dict[socket.socket, int] = {}
    results: list[dict[str, Any]] = [{"status": "timeout"} for _ in args["targets"]]
    for i, target in enumerate(args["targets"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        if target.get("src") or target.get("sport"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((target.get("src") or "0.0.0.0", int(target.get("sport") or 0)))
        try:
            sock.connect((target["dst"], int(target["port"])))
            sock.send(f"{target.get('token', '')}\n".encode())
        except OSError as exc:
            results[i] = _connect_error(exc.errno or 0)
            sock.close()
            continue
        pending[sock] = i
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        ready = select.select(list(pending), [], [], left)[0] if left > 0 else []
        if not ready:
            break
        for sock in ready:
            i = pending.pop(sock)
            try:
                sock.recv(512)
                results[i] = {"status": "answered"}
            except OSError as exc:
                results[i] = _connect_error(exc.errno or 0)
            sock.close()
    for sock in pending:
        sock.close()
    _out({"results": results})
    return 0


def _connect_error(err: int) -> dict[str, Any]:
    status = "refused" if err == errno.ECONNREFUSED else "unreachable"
    return {"status": status, "message": os.strerror(err)}


def _keep(addr: tuple[Any, ...], ignore: set[str]) -> bool:
    return bool(addr[2] != PACKET_OUTGOING and addr[0] not in ignore)


def cmd_capture(args: dict[str, Any]) -> int:
    """Capture the frames arriving on any interface of the namespaces ``args["netns"]``
    (one packet socket opened inside each) until stdin closes.

    Frames are kept once, where they enter (outgoing copies and interfaces in
    ``args["ignore"]`` are dropped: a bridge's own copy of a flood), and written to
    ``args["pcap"]`` (Ethernet link type). Prints ``ready`` once every socket is open.
    """
    socks: dict[socket.socket, str] = {}
    for name in args["netns"]:
        _enter_netns(name)  # a packet socket stays in the namespace it was opened in
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        socks[sock] = name
    _out({"ready": True})
    deadline = time.monotonic() + float(args.get("timeout", 10.0))
    ignore = set(args.get("ignore", ()))
    frames: list[tuple[float, str, str, bytes]] = []
    stdin = sys.stdin.fileno()
    stop = False
    while not stop and time.monotonic() < deadline:
        ready = select.select([*socks, stdin], [], [], max(deadline - time.monotonic(), 0))[0]
        for sock in socks:
            if sock in ready:
                data, addr = sock.recvfrom(65535)
                if _keep(addr, ignore):
                    frames.append((time.time(), socks[sock], addr[0], data))
        stop = stdin in ready and not os.read(stdin, 4096)
    for sock, name in socks.items():  # drain what is already queued
        sock.setblocking(False)
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                break
            if _keep(addr, ignore):
                frames.append((time.time(), name, addr[0], data))
    with open(args["pcap"], "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, _, _, data in frames:
            fh.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(data), len(data)))
            fh.write(data)
    _out({"frames": [{"netns": ns, "ifname": name, "len": len(data)} for _, ns, name, data in frames]})
    return 0


COMMANDS = {
    "ping": cmd_ping,
    "listen": cmd_listen,
    "connect": cmd_connect,
    "serve": cmd_serve,
    "connect_many": cmd_connect_many,
    "udp_serve": cmd_udp_serve,
    "udp_send_many": cmd_udp_send_many,
    "capture": cmd_capture,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        sys.stderr.write(f"usage: _agent.py {{{'|'.join(COMMANDS)}}} JSON\n")
        return 2
    return COMMANDS[argv[0]](json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
