"""State shared by the apply phases: namespace and interface name maps, the netlink sockets
(one pyroute2 ``IPRoute`` per namespace), what was skipped and why, and the one wrapper
that turns a kernel refusal into a ``MaterializeError``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from overlaynet.dataplane.ir import Dataplane, NetNamespace, NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize import _netns
from overlaynet.materialize._batch import Batch, link_index, raw_socket, refused
from overlaynet.materialize.naming import IFNAMSIZ, NETNS_DIR, NameMap, kernel_ifname
from overlaynet.model.base import IPAddress

T = TypeVar("T")
AGENT = Path(__file__).with_name("_agent.py")


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something of the IR the kernel here cannot hold, and why (or what stands in for it)."""

    namespace: str  # the IR namespace (``node-1``, ``node-1/pod:default/a``) or ``segment X``
    object: str  # ``tun flannel0``, ``route 10.244.2.0/24 dev flannel0`` …
    reason: str
    #: the remote tunnel end whose tunnel packets from this namespace do not look here as
    #: the IR says (a stand-in for a userspace datapath, an SA the kernel refused): the
    #: frames of those packets cannot be compared with the tracer's
    remote: IPAddress | None = None

    def __str__(self) -> str:
        return f"{self.namespace}: {self.object}: {self.reason}"


def netns_argv(name: str) -> list[str]:
    return ["ip", "netns", "exec", name]


def agent_cmd(command: str, args_json: str) -> list[str]:
    """The stdlib-only in-namespace agent's command line (isolated, no site: starts fast)."""
    return [sys.executable, "-I", "-S", str(AGENT), command, args_json]


def run_in_ns(name: str, argv: list[str], *, timeout: float, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*netns_argv(name), *argv], capture_output=True, text=True, timeout=timeout, input=input
        )
    except subprocess.TimeoutExpired as exc:
        raise MaterializeError(f"namespace {name}: {' '.join(argv)} timed out after {timeout}s") from exc
    except OSError as exc:
        raise MaterializeError(f"namespace {name}: cannot run {argv[0]}: {exc}") from exc


SIOCGSKNS = 0x894C  # ioctl: a socket's network namespace, as a file descriptor


def check_socket(name: str, fd: int) -> None:
    """Refuse a netlink socket that does not belong to ``ip netns`` namespace ``name``
    (compared by inode), so a socket of any other namespace (the host's) is never used."""
    nsfd = fcntl.ioctl(fd, SIOCGSKNS)
    try:
        same = os.fstat(nsfd).st_ino == os.stat(os.path.join(NETNS_DIR, name)).st_ino
    finally:
        os.close(nsfd)
    if not same:
        raise MaterializeError(f"namespace {name}: netlink socket: it belongs to another namespace")


def netlink_sockets(names: list[str]) -> dict[str, int]:
    """NETLINK_ROUTE socket descriptors opened inside existing ``onet-`` namespaces
    ``names``, by one thread entering each in turn (no process)."""
    fds: dict[str, int] = {}

    def open_one(name: str) -> None:
        fds[name] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0).detach()  # NETLINK_ROUTE

    try:
        _netns.enter_each(names, open_one)
        for name, fd in fds.items():
            check_socket(name, fd)
    except BaseException as exc:
        for fd in fds.values():
            os.close(fd)
        if isinstance(exc, OSError):
            raise MaterializeError(f"netlink socket: {exc}") from exc
        raise
    return fds


@dataclass
class ApplyState:
    """Everything the phases of one ``materialize`` call share."""

    dp: Dataplane
    run_id: str
    refs: list[NsRef]  # the IR namespaces being applied, in order
    ns_names: dict[NsRef, str] = field(default_factory=dict)
    segment_ns: dict[str, str] = field(default_factory=dict)
    ifnames: dict[NsRef, dict[str, str]] = field(default_factory=dict)  # IR name → kernel name
    created: list[str] = field(default_factory=list)  # kernel namespace names, in order
    skipped: list[Skipped] = field(default_factory=list)
    skipped_ifaces: set[tuple[NsRef, str]] = field(default_factory=set)
    sockets: dict[str, Any] = field(default_factory=dict)  # kernel ns name → IPRoute (opened on use)
    raw: dict[str, socket.socket] = field(default_factory=dict)  # kernel ns name → batch socket
    indexes: dict[tuple[str, str], int] = field(default_factory=dict)  # (ns, ifname) → ifindex

    # --- lookups -------------------------------------------------------------------------
    def ns(self, ref: NsRef) -> NetNamespace:
        return self.dp.namespaces[ref]

    def adopt_sockets(self, fds: dict[str, int]) -> None:
        """Take over netlink socket descriptors opened inside our namespaces (each checked
        again here): they carry the batches and the index lookups."""
        todo = dict(fds)
        try:
            while todo:
                name, fd = next(iter(todo.items()))
                check_socket(name, fd)
                self.raw[name] = raw_socket(fd)
                del todo[name]
        finally:
            for fd in todo.values():  # not adopted: closed here, as close() closes the rest
                os.close(fd)

    def batch(self, name: str) -> Batch:
        """A batch of netlink requests for a namespace we created."""
        if name not in self.raw:
            raise MaterializeError(f"internal: namespace {name} was not created by this run")
        return Batch(name, self.raw[name])

    def ipr(self, name: str) -> Any:
        """A pyroute2 session in a namespace we created, for what is not batched (link
        creation); opened on first use, on a socket of its own."""
        from pyroute2 import IPRoute

        if name not in self.sockets:
            if name not in self.created:
                raise MaterializeError(f"internal: namespace {name} was not created by this run")
            [(_, fd)] = netlink_sockets([name]).items()
            try:
                self.sockets[name] = self.call(name, "netlink socket", IPRoute, fileno=fd, ext_ack=True)
            except BaseException:
                os.close(fd)
                raise
        return self.sockets[name]

    def ifname(self, ref: NsRef, ir_name: str) -> str:
        names = self.ifnames.setdefault(ref, {})
        if ir_name not in names:
            taken = NameMap(IFNAMSIZ)
            taken.used.update(names.values())
            names[ir_name] = "lo" if ir_name == "lo" else taken.take(kernel_ifname(ir_name))
        return names[ir_name]

    def index(self, nsname: str, ifname: str) -> int:
        """A link's index, asked of the kernel once (an index is fixed while the link stays
        in its namespace; ``moved`` forgets it)."""
        key = (nsname, ifname)
        if key not in self.indexes:
            if nsname not in self.raw:
                raise MaterializeError(f"internal: namespace {nsname} was not created by this run")
            found = link_index(nsname, self.raw[nsname], ifname)
            if found is None:
                raise MaterializeError(f"namespace {nsname}: link {ifname}: not found")
            self.indexes[key] = found
        return self.indexes[key]

    def moved(self, nsname: str, ifname: str) -> None:
        """Link ``ifname`` left namespace ``nsname``: its index there no longer holds."""
        self.indexes.pop((nsname, ifname), None)

    def skip(self, ref: NsRef | str, obj: str, reason: str, remote: IPAddress | None = None) -> None:
        self.skipped.append(Skipped(str(ref), obj, reason, remote))

    # --- the one place kernel errors are translated -------------------------------------
    def call(self, nsname: str, obj: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            return fn(*args, **kwargs)
        except (NetlinkError, OSError) as exc:
            raise refused(nsname, obj, exc) from exc

    def close(self) -> None:
        for sock in [*self.sockets.values(), *self.raw.values()]:
            with contextlib.suppress(Exception):  # closing must not mask the real error
                sock.close()
        self.sockets.clear()
        self.raw.clear()
