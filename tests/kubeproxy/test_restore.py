"""Every generated ruleset loads with iptables-restore --test inside a throwaway namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.kubeproxy import generate_full

from .netns import netns, run
from .proxier_cases import fake_config, overall

GOLDEN = Path(__file__).parent / "golden"
pytestmark = [pytest.mark.root, pytest.mark.iptables]


def _restore_cmd(name: str) -> str:
    return "ip6tables-restore" if "ipv6" in name or "_v6" in name else "iptables-restore"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.rules") if p.name != "proxier_test_overall.rules"))
def test_golden_ruleset_loads(name: str) -> None:
    text = (GOLDEN / name).read_text()
    args = [_restore_cmd(name), "--test"]
    if not name.startswith("full_"):
        args.append("--noflush")  # a restore payload, as kube-proxy loads it
    with netns() as ns:
        result = run(ns, *args, input=text, check=False)
    assert result.returncode == 0, result.stderr


def test_full_ruleset_really_loads_and_saves() -> None:
    services, slices = overall()
    text = generate_full(services, slices, fake_config(nfacct=False, random_fully=True))
    with netns() as ns:
        run(ns, "iptables-restore", input=text)
        saved = run(ns, "iptables-save").stdout
    assert "-A KUBE-SVC-NUKIZ6OKUXPJNT4C" in saved
    assert "--rcheck --seconds 10800 --reap --name KUBE-SEP-I77PXRDZVX7PMWMN" in saved
    assert "-j MASQUERADE --random-fully" in saved


def test_kernel_lists_the_rules_as_the_engine_renders_them() -> None:
    """After iptables-restore, the kernel's iptables-save is byte-for-byte the netfilter
    engine's rendering of our parsed ruleset: same chains, same rules, same order."""
    from overlaynet.dataplane.netfilter import parse_save, render_save

    services, slices = overall()
    text = generate_full(services, slices, fake_config(nfacct=False, random_fully=True))
    with netns() as ns:
        run(ns, "iptables-restore", input=text)
        saved = run(ns, "iptables-save").stdout
    kernel = "".join(line + "\n" for line in saved.splitlines() if not line.startswith("#"))
    assert render_save(parse_save(text)) == kernel
