"""Shared test set-up: markers for real components.

A test marked ``root``, ``iptables``, ``ipset``, ``etcd``, ``dig``, ``tshark`` or ``bind9utils`` skips with
the reason when that component is missing — except in CI (``CI=true``), where a missing
component fails the test, so a green CI means every real-component test ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _can_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    name = f"onet-probe-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], check=True, capture_output=True, timeout=10)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot create network namespaces: {exc}"
    return None


_CHECKS = {
    "root": _can_netns,
    "iptables": lambda: None if shutil.which("iptables-restore") else "needs iptables-restore (Debian iptables)",
    "etcd": lambda: None if shutil.which("etcd") else "needs etcd (Debian etcd-server)",
    "dig": lambda: None if shutil.which("dig") else "needs dig (Debian bind9-dnsutils)",
    "tshark": lambda: None if shutil.which("tshark") else "needs tshark (Debian tshark)",
    "bind9utils": lambda: None if shutil.which("named-checkzone") else "needs named-checkzone (Debian bind9-utils)",
    "ipset": lambda: None if shutil.which("ipset") else "needs ipset (Debian ipset)",
    "chromium": lambda: None if shutil.which("chromium") else "needs a headless browser (Debian chromium)",
    "prometheus": lambda: None if shutil.which("prometheus") else "needs prometheus (Debian prometheus)",
}
_cache: dict[str, str | None] = {}


def missing_component(name: str) -> str | None:
    if name not in _cache:
        _cache[name] = _CHECKS[name]()
    return _cache[name]


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in _CHECKS:
        if item.get_closest_marker(name) is None:
            continue
        reason = missing_component(name)
        if reason is None:
            continue
        if IN_CI:
            pytest.fail(f"CI=true and a required component is missing: {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def _load_cache_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI caches loaded topologies on disk; tests (and the CLIs they start) use a
    directory of their own, never the user's ~/.cache."""
    old = os.environ.get("OVERLAYNET_CACHE_DIR")
    os.environ["OVERLAYNET_CACHE_DIR"] = str(tmp_path_factory.mktemp("overlaynet-cache"))
    yield
    if old is None:
        os.environ.pop("OVERLAYNET_CACHE_DIR", None)
    else:
        os.environ["OVERLAYNET_CACHE_DIR"] = old


@pytest.fixture
def no_text_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the test runs, reading iptables text (the one tokenizer and parser, meant for
    real dumps) fails: agents must build typed rules, never render and parse them back."""
    import overlaynet.dataplane.netfilter as nf
    import overlaynet.dataplane.netfilter.parse as parse

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("iptables text was parsed while an agent programmed its rules")

    for module in (nf, parse):
        monkeypatch.setattr(module, "parse_rule", refuse)
        monkeypatch.setattr(module, "parse_save", refuse)
    monkeypatch.setattr(parse._RuleParser, "parse", refuse)
