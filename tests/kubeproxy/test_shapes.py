"""The two ways a rule shape is written agree: the payload text ``generate`` prints straight
from the shapes (TextRules) is byte for byte ``render_payload`` of the typed rules the IR gets
(TypedRules), shape by shape and for whole payloads of generated services — affinity,
external/internal traffic policy Local, no endpoints, terminating endpoints, LoadBalancer
source ranges, NodePorts, dual-stack Services, large-cluster mode, nodes sharing a cache."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.kubeproxy import (
    ProxierConfig,
    build_payload,
    generate,
    generate_full,
    render_full,
    render_payload,
)
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.endpoints import EndpointInfo
from overlaynet.kubeproxy.generate import FragmentCache, build_text
from overlaynet.kubeproxy.local import LocalDetector
from overlaynet.kubeproxy.shapes import RuleWriter, TextRules, TypedRules, local_texts
from overlaynet.model import EndpointSlice, Service, ServicePort

from .proxier_cases import TEST_NODE, TEST_NODE_IP
from .strategies import proxier_configs, service_sets

generate_module = importlib.import_module("overlaynet.kubeproxy.generate")  # the package's `generate` is the function

# --- shape by shape ---------------------------------------------------------------------------

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
networks = st.builds(lambda ip, bits: ip_network(f"{ip}/{bits % (ip.max_prefixlen + 1)}", strict=False),
                     addresses, st.integers(0, 128))
comments = st.text(alphabet="ab9/:-.> ", min_size=1, max_size=12)
maybe_comments = st.none() | comments
chains = st.sampled_from(("KUBE-SERVICES", "KUBE-SVC-ABCDEFGHIJKLMNOP", "KUBE-SEP-ABCDEFGHIJKLMNOP"))
targets = st.sampled_from(("KUBE-SVC-ABCDEFGHIJKLMNOP", "KUBE-MARK-MASQ", "ACCEPT", "DROP", "REJECT", "RETURN"))
tables = st.sampled_from(("nat", "filter"))
protos = st.sampled_from(("tcp", "udp", "sctp"))
ports = st.integers(1, 65535)
endpoints = st.builds(EndpointInfo.of, addresses, ports)
detectors = st.one_of(
    networks.map(LocalDetector.by_cidr),
    st.sampled_from(("cni0", "veth+", "cbr0")).map(LocalDetector.by_interface),
)

SHAPES: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "capture": st.tuples(tables, chains, comments, protos, addresses, ports, targets),
    "capture_not_local": st.tuples(chains, comments, protos, addresses, ports, targets),
    "nodeport": st.tuples(tables, chains, comments, protos, ports, targets),
    "nodeport_localhost": st.tuples(chains, comments, protos, ports, targets),
    "nodeport_reject": st.tuples(chains, comments, protos, ports, targets),
    "commented": st.tuples(chains, comments, st.none() | targets),
    "commented_local": st.tuples(chains, comments, targets),
    "commented_src_local": st.tuples(chains, comments, targets),
    "bare": st.tuples(chains, targets),
    "from_net": st.tuples(chains, comments, networks, targets),
    "from_host": st.tuples(chains, maybe_comments, addresses, targets),
    "affinity_check": st.tuples(chains, maybe_comments, chains, st.integers(0, 86400)),
    "cascade": st.tuples(chains, maybe_comments, st.integers(1, 1200) | st.just(100001), chains),
    "endpoint": st.tuples(chains, maybe_comments, protos, endpoints, st.booleans()),
}


def test_every_shape_is_checked() -> None:
    shapes = {name for name, _ in inspect.getmembers(RuleWriter, inspect.isfunction) if not name.startswith("_")}
    assert shapes == set(SHAPES)


def _lines(typed: TypedRules) -> list[tuple[str, str, str]]:
    return [(table, chain, f"-A {chain} {w.render(typed.rules[i], typed.spellings[i])}")
            for table, chain, start, end in typed.runs for i in range(start, end)]


def _text_lines(text: TextRules) -> list[tuple[str, str, str]]:
    return [(table, chain, line) for table, chain, block in text.blocks() for line in block.split("\n")]


@pytest.mark.parametrize("shape", sorted(SHAPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), local=detectors)
def test_a_shapes_text_is_the_rendering_of_its_typed_rule(shape: str, data: st.DataObject, local: LocalDetector) -> None:
    args = data.draw(SHAPES[shape])
    typed, text = TypedRules(w.HostNets(), local), TextRules(local_texts(local))
    for writer in (typed, text):
        write: Callable[..., None] = getattr(writer, shape)
        write(*args)
        write(*args)  # a second rule of the same chain joins the run
    assert _text_lines(text) == _lines(typed)
    assert len(typed.rules) == (4 if shape == "endpoint" else 2)


# --- whole payloads ---------------------------------------------------------------------------


configs = proxier_configs(dual_stack=True)


@settings(max_examples=80, deadline=None)
@given(objects=service_sets(dual_stack=True), config=configs, large=st.booleans())
def test_the_payload_text_is_the_rendering_of_the_typed_payload(
    objects: tuple[list[Service], list[EndpointSlice]], config: ProxierConfig, large: bool
) -> None:
    services, slices = objects
    # large-cluster mode (no per-endpoint comments) from the first endpoint on
    with mock.patch.object(generate_module, "LARGE_CLUSTER_ENDPOINTS", 0 if large else 1000):
        typed = build_payload(services, slices, config)
        assert generate(services, slices, config) == render_payload(typed)
        assert generate_full(services, slices, config) == render_full(typed)


@settings(max_examples=30, deadline=None)
@given(objects=service_sets(dual_stack=True), config=configs)
def test_nodes_sharing_a_cache_print_what_each_alone_prints(
    objects: tuple[list[Service], list[EndpointSlice]], config: ProxierConfig
) -> None:
    services, slices = objects
    cache = FragmentCache()
    for node in (TEST_NODE, "other", TEST_NODE):
        cfg = ProxierConfig(node, config.node_ips, config.cluster_cidrs, family=config.family)
        assert generate(services, slices, cfg, cache=cache) == render_payload(build_payload(services, slices, cfg))
    assert not cache.fragments  # the text path shares text, never typed fragments


def test_a_text_payload_has_no_typed_rules() -> None:
    cfg = ProxierConfig(TEST_NODE, (TEST_NODE_IP,))
    svc = Service(name="a", namespace="ns", cluster_ips=(ip_address("172.30.0.1"),), ports=(ServicePort(port=80),))
    payload = build_text([svc], [], cfg)
    with pytest.raises(TypeError, match="no typed rules"):
        list(payload.lines)
    assert "-A KUBE-SERVICES -m comment --comment \"ns/a has no endpoints\"" in render_payload(payload)
