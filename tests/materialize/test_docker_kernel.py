"""Kernel agreement for Docker overlay: the sandbox namespaces, br0, a vxlan0 created in
the host namespace and moved in (its socket stays there), per-endpoint neighbours and FDB,
docker_gwbridge — materialized and probed. On a 1400 underlay the kernel's VXLAN driver
answers a too-big DF echo with Frag needed, mtu 1350, from the inner destination's address,
and ``verify`` holds the tracer to exactly that."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.materialize.verify import verify
from overlaynet.network import assemble
from overlaynet.topology import load_cluster

pytestmark = [pytest.mark.root, pytest.mark.tshark]

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _disagreements(report: object) -> str:
    return "\n".join(f"{c.check} {c.src} -> {c.dst}: tracer {c.tracer} / kernel {c.kernel} ({c.detail})"
                     for c in report.disagreements)  # type: ignore[attr-defined]


def test_docker_k8s_agrees() -> None:
    network = assemble(load_cluster([TOPOLOGIES / "docker-k8s.yaml"]))
    report = verify(network, [("default/web-1", "default/db-0"), ("default/db-0", "default/db-1"), ("default/web-2", "default/web-1")],
                    run_id="dkk8s", tcp_port=5432)
    assert not report.disagreements, _disagreements(report)
    checks = {(c.check, c.src, c.dst): c for c in report.comparisons}
    assert checks[("wire_bytes", "default/web-1", "default/db-0")].kernel == "148"  # 84-byte echo + 64 (VXLAN 50 + Ethernet 14)
    assert checks[("frag_needed", "default/web-1", "default/db-0")].kernel.endswith("mtu 1450 (local)")


def test_mtu_break_on_a_1400_underlay() -> None:
    network = assemble(load_cluster([TOPOLOGIES / "docker-mtu1400.yaml"]))
    report = verify(network, [("default/web", "default/db"), ("default/web-tuned", "default/db-tuned")], run_id="dkmtu")
    assert not report.disagreements, _disagreements(report)
    frag = {c.src: c for c in report.comparisons if c.check == "frag_needed"}
    # the VXLAN driver answers for the inner destination; the tuned network's containers
    # (MTU 1350) cannot send anything too big: their own stack refuses 1351 locally
    assert frag["default/web"].kernel == "frag_needed mtu 1350 (from 10.0.0.3)"
    assert frag["default/web"].tracer.endswith("(from 10.0.0.3)")
    assert frag["default/web-tuned"].kernel == "frag_needed mtu 1350 (local)"
