"""Zone export: agrees with the resolver, and named-checkzone (bind9-utils) accepts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dns_clusters import demo_cluster

from overlaynet.dns.resolver import Resolver
from overlaynet.dns.zone import zone_records, zone_text

TOPOLOGIES = sorted(Path(__file__).resolve().parents[2].joinpath("topologies").glob("*.yaml"))


def test_zone_starts_with_soa_and_ns(resolver: Resolver) -> None:
    records = zone_records(resolver)
    assert [r.type for r in records[:2]] == ["SOA", "NS"]
    text = zone_text(resolver)
    assert "$ORIGIN cluster.local.\n$TTL 30\n" in text
    assert 'dns-version' in text and '"1.1.0"' in text


def test_every_zone_record_is_what_the_server_answers(resolver: Resolver) -> None:
    answers: dict[tuple[object, int], set[object]] = {}
    for rec in zone_records(resolver):
        key = (rec.name, rec.rdtype)
        if key not in answers:
            resp = resolver.answer(rec.name, rec.rdtype)
            answers[key] = set(resp.answer) | set(resp.additional)
        assert rec in answers[key], rec.to_text()


def test_zone_without_legacy_names_has_only_svc_forms() -> None:
    text = zone_text(Resolver(demo_cluster(legacy=False)))
    assert "web.default.svc " in text and "\nweb.default " not in text


def _checkzone(text: str, tmp_path: Path, zone: str = "cluster.local") -> None:
    path = tmp_path / "zone"
    path.write_text(text)
    out = subprocess.run(["named-checkzone", zone, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("OK")


@pytest.mark.bind9utils
@pytest.mark.parametrize("pods", ["insecure", "disabled"])
def test_named_checkzone_accepts_test_cluster(tmp_path: Path, pods: str) -> None:
    _checkzone(zone_text(Resolver(demo_cluster(), pods_mode=pods)), tmp_path)


@pytest.mark.bind9utils
@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.name)
def test_named_checkzone_accepts_example_topologies(tmp_path: Path, topology: Path) -> None:
    from overlaynet.topology import load_cluster

    resolver = Resolver(load_cluster([topology]))
    _checkzone(zone_text(resolver), tmp_path, resolver.zone.to_text().rstrip("."))
