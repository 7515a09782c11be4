"""Kernel agreement for Weave: fastdp's frame forwarder built as VXLAN ports (UDP 6784, the
peers' tunnel keys, MTU 1376) agrees with the tracer on reach, TTL, wire bytes and the pod
MTU; over a partial mesh the relay works in the kernel too, and the sleeve legs it cannot
build say so (their wire bytes are not compared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.materialize.verify import verify
from overlaynet.network import assemble
from overlaynet.topology import load_cluster

pytestmark = [pytest.mark.root, pytest.mark.tshark, pytest.mark.ipset]

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def test_full_mesh_fastdp_agrees_with_the_kernel() -> None:
    report = verify(assemble(load_cluster([TOPOLOGIES / "weave-full-mesh.yaml"])))
    kinds = {c.check for c in report.comparisons}
    assert {"reach", "ttl", "wire_bytes", "frag_needed", "fits"} <= kinds
    assert report.ok, [str(c) for c in report.disagreements]
    wire = {c.tracer for c in report.comparisons if c.check == "wire_bytes"}
    # 84-byte echo + 14 + 50 across nodes (N×148 when N frames are captured); web-1 and
    # client share node-1
    assert "148" in wire and all(w == "no frame" or w.endswith("148") for w in wire), wire
    assert any("built as VXLAN ports of weave" in str(s) for s in report.skipped)


def test_partial_mesh_relays_in_the_kernel_and_names_what_it_stood_in_for() -> None:
    report = verify(assemble(load_cluster([TOPOLOGIES / "weave-partial-mesh.yaml"])))
    reach = [c for c in report.comparisons if c.check in ("reach", "ttl", "frag_needed", "fits")]
    assert reach and all(c.agree for c in reach), [str(c) for c in reach if not c.agree]
    # the sleeve legs the kernel builds as VXLAN: their frames are not compared, and the
    # summary does not call them agreement
    assert report.disagreements == [] and report.ok
    legs = [c for c in report.not_compared if c.check == "wire_bytes"]
    assert legs and all("built otherwise by the kernel here" in c.detail for c in legs)
    assert all("udp" in c.detail or "160" in c.tracer for c in legs)
    skipped = [str(s) for s in report.skipped]
    assert any("stood in for by VXLAN" in s and "instead of 62" in s for s in skipped)
    assert any("weave relay through 192.168.10.12" in s for s in skipped)
    assert any(s.startswith("node-2: userspace weave udp to 192.168.20.13:6783") for s in skipped)


def test_encrypted_legs_the_kernel_leaves_in_clear_are_not_compared() -> None:
    # where this kernel refuses the ESP SA (no AEAD module), the tunnel stays in clear: the
    # frames are VXLAN's, not the tracer's ESP-wrapped ones, so they are not compared
    report = verify(assemble(load_cluster([TOPOLOGIES / "weave-encrypted.yaml"])))
    assert report.disagreements == [], [str(c) for c in report.disagreements]
    refused = [s for s in report.skipped if s.remote is not None and "SA" in s.reason]
    wire = [c for c in report.comparisons if c.check == "wire_bytes" and c.tracer != "no frame"]
    if not refused:
        pytest.skip("this kernel has the AEAD cipher: the tunnel is encrypted here")
    assert wire and all(c.agree is None and "built otherwise" in c.detail for c in wire)
    assert "could not be compared" in report.summary()
