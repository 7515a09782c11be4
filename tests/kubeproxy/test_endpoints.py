"""Endpoints as kube-proxy merges them from EndpointSlices: one per "ip:port" (the local copy
wins), sorted by that string, of one family; counted without being made."""

from __future__ import annotations

from ipaddress import ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.kubeproxy import names
from overlaynet.kubeproxy.endpoints import (
    EndpointInfo,
    count_endpoints,
    group_endpoints,
    slice_groups,
)
from overlaynet.model import Endpoint, EndpointPort, EndpointSlice

ADDRESSES = [ip_address(a) for a in ("10.0.0.1", "10.0.0.2", "10.0.0.10", "fd00::1", "fd00::a")]


@st.composite
def slice_lists(draw: st.DrawFn) -> list[EndpointSlice]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        endpoints = tuple(
            Endpoint(addresses=(ip,), node_name=draw(st.sampled_from(("n1", "n2", None))), ready=draw(st.booleans()))
            for ip in draw(st.lists(st.sampled_from(ADDRESSES), max_size=5))
        )
        family = draw(st.sampled_from(("IPv4", "IPv6")))
        out.append(EndpointSlice(name=f"s-{i}", namespace="ns", service="svc", endpoints=endpoints, address_type=family,
                                 ports=(EndpointPort(port=draw(st.sampled_from((80, 8080))), name="http"),)))
    return out


@settings(max_examples=100, deadline=None)
@given(slices=slice_lists(), family=st.sampled_from((4, 6)), node=st.sampled_from(("n1", "")))
def test_endpoints_are_merged_as_kube_proxy_merges_them(slices: list[EndpointSlice], family: int, node: str) -> None:
    for group in slice_groups(slices).values():
        eps = group_endpoints(group, family, node)  # type: ignore[arg-type]
        strings = [e.string for e in eps]
        assert strings == sorted(set(strings))
        assert count_endpoints(group, family) == len(eps)  # type: ignore[arg-type]
        for e in eps:
            assert e == EndpointInfo.of(e.ip, e.port, e.node, e.is_local, e.ready, e.serving, e.terminating)
            assert e.string == names.endpoint_string(e.ip, e.port) and e.ip.version == family
            assert e.is_local == (bool(node) and e.node == node)
            copies = [ep for s, port in group for ep in s.endpoints if ep.addresses[0] == e.ip and port == e.port]
            if any(c.node_name == node and node for c in copies):
                assert e.is_local  # the local copy wins
