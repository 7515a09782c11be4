"""The tracer's public surface: ``__all__`` names exist, steps serialise with their kind."""

from __future__ import annotations

from dataclasses import fields
from ipaddress import ip_address

import overlaynet.trace as api
from overlaynet.trace import steps


def test_all_names_exist() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name


def sample(annotation: str) -> object:
    """A plausible value for a step field of this (string) annotation."""
    if annotation.startswith("tuple[tuple[str, str, str]"):
        return (("web.default.svc.cluster.local.", "A", "NOERROR"),)
    if annotation.startswith("tuple[tuple[str, int]"):
        return (("Ethernet", 14),)
    if annotation.startswith("tuple[int"):
        return (1444, 1152)
    if annotation.startswith("tuple[IPAddress, int"):
        return (ip_address("10.0.0.1"), 80)
    if annotation.startswith("tuple[IPAddress"):
        return (ip_address("10.0.0.1"),)
    if annotation.startswith("IPAddress"):
        return ip_address("10.0.0.1")
    if annotation.startswith("int"):
        return 2
    if annotation.startswith("bool"):
        return True
    if annotation.startswith("Disposition"):
        return api.Disposition.DENIED
    return "x"


def test_every_step_kind_is_distinct_and_serialises() -> None:
    kinds = {}
    for name in steps.__all__:
        cls = getattr(steps, name)
        if cls is steps.Step:
            continue
        kinds[cls.kind] = cls
        values = {f.name: sample(str(f.type)) for f in fields(cls) if f.metadata.get("json", True)}
        step = cls(**values)
        d = step.to_dict()
        assert d["kind"] == cls.kind and set(d) == {"kind", *values}
        # the only fields left out of JSON are typed twins of a rendered field (ports as values)
        assert {f.name for f in fields(cls) if not f.metadata.get("json", True)} <= {"peer", "ports"}
        assert step.summary()
    assert len(kinds) == len(steps.__all__) - 1
    assert {"dns", "route", "neighbor", "bridge", "netfilter", "dnat", "snat", "policy", "encap", "decap",
            "underlay", "fragment", "deliver", "drop", "warning", "forward", "relay"} == set(kinds)


def test_docstring_examples_run() -> None:
    import doctest

    import overlaynet.trace.api

    result = doctest.testmod(overlaynet.trace.api)
    assert result.attempted > 0 and result.failed == 0
