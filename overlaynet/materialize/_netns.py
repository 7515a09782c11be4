"""Named network namespaces made, entered and removed without a process per namespace.

``ip netns add NAME`` is a bind mount of a fresh namespace on ``/run/netns/NAME``; here a
worker thread does the same (``unshare(CLONE_NEWNET)`` changes only the calling thread's
namespace), opens the namespace's netlink socket and writes its /proc/sys values while it
is inside, then returns to where it came from. ``apply`` and ``naming`` use it; only
``onet-`` names are ever touched, and every entry is checked by inode before anything is
written, so nothing can land in the host's namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from overlaynet.errors import MaterializeError

T = TypeVar("T")

PREFIX = "onet-"  # every namespace the materializer makes is named so (``naming``)
NETNS_DIR = "/var/run/netns"  # where ``ip netns`` keeps its names

CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2
_THREAD_NS = "/proc/thread-self/ns/net"


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def check_name(name: str) -> str:
    """``name`` if it is an ``onet-`` namespace name, else ``MaterializeError``."""
    if not name.startswith(PREFIX) or "/" in name or "\0" in name:
        raise MaterializeError(f"refusing to touch namespace {name!r}: not an {PREFIX} one")
    return name


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, check_name(name))


def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread (whose namespace it may change) and return its result."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, name="onet-netns", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _share_netns_dir() -> None:
    """Make the namespace directory a shared mount point, as ``ip netns add`` does (so an
    unmount in one mount namespace unmounts in all), under the same lock it takes."""
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    lock = os.open(NETNS_DIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        libc, d = _libc(), NETNS_DIR.encode()
        if libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) == 0:
            return
        if ctypes.get_errno() != errno.EINVAL:  # EINVAL: not a mount point yet
            _check(-1, f"mount --make-rshared {NETNS_DIR}")
        _check(libc.mount(d, d, b"none", MS_BIND | MS_REC, None), f"mount --rbind {NETNS_DIR}")
        _check(libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None), f"mount --make-rshared {NETNS_DIR}")
    finally:
        os.close(lock)


def _setns(fd: int, what: str) -> None:
    _check(_libc().setns(fd, CLONE_NEWNET), f"setns into {what}")


def create(names: list[str], created: list[str], inside: Callable[[str], None]) -> dict[str, int]:
    """Create namespaces ``names`` (as ``ip netns add`` would), in order; each name goes on
    ``created`` as soon as it exists, so a failure leaves what to remove. ``inside(name)``
    runs in the new namespace (the thread is in it; /proc/sys is its own). Returns a
    NETLINK_ROUTE socket descriptor opened inside each namespace."""
    for name in names:
        check_name(name)

    def work() -> dict[str, int]:
        fds: dict[str, int] = {}
        home = os.open(_THREAD_NS, os.O_RDONLY)
        home_ino = os.fstat(home).st_ino
        try:
            for name in names:
                path = netns_path(name)
                what = f"namespace {name}"
                os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
                created.append(name)
                _check(_libc().unshare(CLONE_NEWNET), f"{what}: unshare")
                _check(_libc().mount(_THREAD_NS.encode(), path.encode(), b"none", MS_BIND, None), f"{what}: bind mount")
                ino = os.stat(_THREAD_NS).st_ino
                if ino == home_ino or ino != os.stat(path).st_ino:
                    raise OSError(f"{what}: the new namespace is not the one mounted")
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)  # NETLINK_ROUTE
                fds[name] = sock.detach()
                inside(name)
            return fds
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        finally:
            _setns(home, "the caller's namespace")
            os.close(home)

    try:
        _share_netns_dir()
        return _in_thread(work)
    except OSError as exc:
        raise MaterializeError(f"create namespace: {exc}") from exc


def enter_each(names: list[str], inside: Callable[[str], None]) -> None:
    """Run ``inside(name)`` in each existing ``onet-`` namespace, from one thread that
    enters them one after the other (checked by inode) and then returns home."""
    for name in names:
        check_name(name)

    def work() -> None:
        home = os.open(_THREAD_NS, os.O_RDONLY)
        home_ino = os.fstat(home).st_ino
        try:
            for name in names:
                fd = os.open(netns_path(name), os.O_RDONLY)
                try:
                    _setns(fd, f"namespace {name}")
                    ino = os.stat(_THREAD_NS).st_ino
                    if ino == home_ino or ino != os.fstat(fd).st_ino:
                        raise OSError(f"setns into {name} did not take effect")
                finally:
                    os.close(fd)
                inside(name)
        finally:
            _setns(home, "the caller's namespace")
            os.close(home)

    try:
        _in_thread(work)
    except OSError as exc:
        raise MaterializeError(f"enter namespace: {exc}") from exc


def write_sysctls(values: dict[str, str], name: str) -> None:
    """Write /proc/sys values (paths like ``net/ipv4/ip_forward``) in the current thread's
    namespace, ``name``; the kernel's refusal names the namespace, key and value."""
    for path, value in values.items():
        try:
            with open(os.path.join("/proc/sys", path), "w") as fh:
                fh.write(str(value))
        except OSError as exc:
            raise MaterializeError(f"sysctls: the kernel refused: namespace {name}: {path}={value}: {exc.strerror}") from exc


def remove(name: str) -> bool:
    """``ip netns delete``: detach the bind mount and remove the file (the namespace goes
    when nothing else holds it). False when there was nothing to remove."""
    path = netns_path(name)
    if not os.path.lexists(path):
        return False
    if _libc().umount2(path.encode(), MNT_DETACH) != 0 and ctypes.get_errno() != errno.EINVAL:
        _check(-1, f"umount {path}")  # EINVAL: not mounted (a failed create), just unlink
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True
