"""Namespaces made, entered and removed in this process (``_netns``): the host's namespace,
its /proc/sys and the calling thread are never touched, and a failure leaves a list of
what to remove."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator

import pytest

from overlaynet.errors import MaterializeError
from overlaynet.materialize import _netns
from overlaynet.materialize._state import SIOCGSKNS
from overlaynet.materialize.naming import list_namespaces, remove_namespaces, run_prefix

pytestmark = pytest.mark.root

FORWARD = "/proc/sys/net/ipv4/ip_forward"


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


def _ino(path: str) -> int:
    return os.stat(path).st_ino


def _read_in(name: str, path: str) -> str:
    return subprocess.run(["ip", "netns", "exec", name, "cat", path], capture_output=True, text=True,
                          check=True, timeout=10).stdout.strip()


@pytest.fixture
def names(run_id: str) -> Iterator[list[str]]:
    yield [f"{run_prefix(run_id)}a", f"{run_prefix(run_id)}b"]
    remove_namespaces(list_namespaces(run_prefix(run_id)))


def test_create_writes_sysctls_inside_and_returns_their_netlink_sockets(names: list[str]) -> None:
    host_forward, host_ns = _read(FORWARD), _ino("/proc/thread-self/ns/net")
    created: list[str] = []
    seen: list[str] = []

    def inside(name: str) -> None:
        seen.append(name)
        _netns.write_sysctls({"net/ipv4/ip_forward": "1" if name == names[0] else "0"}, name)

    fds = _netns.create(names, created, inside)
    try:
        assert created == seen == names
        assert _ino("/proc/thread-self/ns/net") == host_ns and _read(FORWARD) == host_forward
        assert [_read_in(n, FORWARD) for n in names] == ["1", "0"]
        for name, fd in fds.items():
            nsfd = fcntl.ioctl(fd, SIOCGSKNS)
            try:
                assert os.fstat(nsfd).st_ino == _ino(_netns.netns_path(name)) != host_ns
            finally:
                os.close(nsfd)
        # and entering them again later, from another thread
        got: dict[str, str] = {}
        _netns.enter_each(names, lambda name: got.update({name: _read(FORWARD)}))
        assert got == {names[0]: "1", names[1]: "0"}
        assert _ino("/proc/thread-self/ns/net") == host_ns
    finally:
        for fd in fds.values():
            os.close(fd)
    assert remove_namespaces(names) == names
    assert list_namespaces(names[0][:-1]) == [] and not _netns.remove(names[0])


def test_a_failure_inside_leaves_the_names_to_remove(names: list[str]) -> None:
    host_ns = _ino("/proc/thread-self/ns/net")
    created: list[str] = []

    def inside(name: str) -> None:
        if name == names[1]:
            _netns.write_sysctls({"net/ipv4/ip_forward": "banana"}, name)

    with pytest.raises(MaterializeError, match=f"namespace {names[1]}: net/ipv4/ip_forward=banana"):
        _netns.create(names, created, inside)
    assert created == names and list_namespaces(names[0][:-1]) == names
    assert _ino("/proc/thread-self/ns/net") == host_ns
    assert remove_namespaces(created) == names and list_namespaces(names[0][:-1]) == []


@pytest.mark.parametrize("bad", ["default", "onet-x/../../x", "x-onet-"])
def test_only_onet_names_are_ever_touched(bad: str) -> None:
    entered: list[str] = []
    with pytest.raises(MaterializeError, match="refusing to touch namespace"):
        _netns.create(["onet-zz-fine", bad], [], entered.append)
    with pytest.raises(MaterializeError, match="refusing to touch namespace"):
        _netns.enter_each(["onet-zz-fine", bad], entered.append)
    with pytest.raises(MaterializeError, match="refusing to touch namespace"):
        _netns.remove(bad)
    assert entered == [] and not os.path.exists(_netns.netns_path("onet-zz-fine"))
