"""Cluster lookups."""

from __future__ import annotations

import pytest

from overlaynet.errors import AmbiguousName
from overlaynet.model import Cluster, Pod


def test_find_pod_exact_prefix_default_namespace_and_ambiguity() -> None:
    c = Cluster(pods=(Pod("web-abc", "default"), Pod("web-abd", "default"), Pod("db-1", "prod")))
    assert c.find_pod("prod/db-1") is c.pods[2]
    assert c.find_pod("prod/db") is c.pods[2]
    assert c.find_pod("web-abc") is c.pods[0]  # a bare name: namespace default
    assert c.find_pod("prod/nope") is None
    with pytest.raises(AmbiguousName, match="matches 2 pods: default/web-abc, default/web-abd"):
        c.find_pod("default/web-ab")


def test_dns_ip_is_the_tenth_address_or_none_when_the_range_is_too_small() -> None:
    from ipaddress import ip_network

    assert str(Cluster(service_cidrs=(ip_network("10.96.0.0/12"),)).dns_ip) == "10.96.0.10"
    assert Cluster(service_cidrs=(ip_network("10.96.0.0/29"),)).dns_ip is None
    assert Cluster().dns_ip is None
