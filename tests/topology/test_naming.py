"""naming: stable, real-looking generated names."""

from __future__ import annotations

import re

from overlaynet.topology.naming import (
    SAFE_ALPHABET,
    pod_name,
    pod_template_hash,
    safe_string,
    slice_name,
)


def test_safe_string_is_deterministic_and_safe() -> None:
    assert safe_string("x", 5) == safe_string("x", 5)
    assert safe_string("x", 5) != safe_string("y", 5)
    assert set(safe_string("anything", 40)) <= set(SAFE_ALPHABET)


def test_pod_names_look_like_kubernetes() -> None:
    rc = pod_name("ReplicationController", "default", "node-js", 0)
    assert re.fullmatch(r"node-js-[bcdfghjklmnpqrstvwxz2456789]{5}", rc)
    dep = pod_name("Deployment", "default", "web", 1, "digest")
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}", dep)
    assert dep.split("-")[1] == pod_template_hash("digest")
    assert pod_name("ReplicaSet", "a", "web", 0) != pod_name("ReplicaSet", "b", "web", 0)
    assert pod_name("ReplicaSet", "a", "web", 0, attempt=1) != pod_name("ReplicaSet", "a", "web", 0)


def test_long_names_are_cut_to_63() -> None:
    name = slice_name("default", "s" * 80, "IPv4")
    assert len(name) == 63 and name.startswith("s" * 58)
