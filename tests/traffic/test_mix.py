"""Reading a traffic mix: defaults, units, and every error at its place."""

from __future__ import annotations

import pytest

from overlaynet.errors import TrafficMixError
from overlaynet.model import LabelSelector
from overlaynet.traffic.mix import read_mix

GOOD = """\
kind: TrafficMix
spec:
  duration: 2m
  linkCapacity: 100Mbps
  capacities: {rack-b: 10Gbps}
  flows:
    - from: {selector: {app: frontend}}
      to: web:80
      rate: 20
      requests: 3
      requestSize: 300
      responseSize: 1400
    - {name: one, from: default/frontend-x, to: 10.96.0.2:80, rate: 0.5, proto: udp}
"""


def test_a_mix_with_defaults_and_units() -> None:
    mix = read_mix(GOOD, "m.yaml")
    assert (mix.duration, mix.link_capacity, mix.capacities) == (120, 1e8, {"rack-b": 1e10})
    a, b = mix.flows
    assert a.sources.selector == LabelSelector({"app": "frontend"}) and a.sources.namespace == "default"
    assert (a.name, a.requests, a.responses, a.request_size, a.response_size, a.proto) == ("flow-1", 3, 3, 300, 1400, "tcp")
    assert (b.name, b.sources.text, b.rate, b.proto, b.requests, b.request_size) == ("one", "default/frontend-x", 0.5, "udp", 1, 64)


def test_every_error_is_reported_with_its_place() -> None:
    bad = """\
kind: TrafficMix
spec:
  duraton: 2m
  linkCapacity: fast
  flows:
    - {from: x, to: web:80, rate: -1, proto: sctp}
    - {to: web:80, rate: 1}
"""
    with pytest.raises(TrafficMixError) as e:
        read_mix(bad, "m.yaml")
    assert str(e.value).splitlines() == [
        "m.yaml:3:3: spec.duraton: unknown field 'duraton'; did you mean 'duration'?",
        "m.yaml:4:17: spec.linkCapacity: expected a link capacity in bits per second (like 1Gbps, 100Mbps, 10000000), found a string 'fast'",
        "m.yaml:6:35: spec.flows[0].rate: expected connections per second above 0, found an integer -1",
        "m.yaml:6:46: spec.flows[0].proto: expected one of: tcp, udp, icmp, found 'sctp'",
        "m.yaml:7:7: spec.flows[1].from: missing required field 'from': expected the flow's sources (a pod, node or IP, or {namespace, selector})",
    ]


def test_an_empty_flow_list_and_a_wrong_kind() -> None:
    with pytest.raises(TrafficMixError, match=r"m.yaml:1:7: kind: expected kind TrafficMix, found 'Scenario'"):
        read_mix("kind: Scenario\nspec: {flows: [{from: a, to: b, rate: 1}]}\n", "m.yaml")
    with pytest.raises(TrafficMixError, match="expected at least one flow, found none"):
        read_mix("kind: TrafficMix\nspec: {flows: []}\n", "m.yaml")
