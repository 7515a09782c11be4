"""Typed rules and their spelling: on generated services, the typed generator renders the
payload byte for byte as the former text path did (text_oracle.py), and each typed Rule is
exactly what iptables reads back from its own payload line."""

from __future__ import annotations

import dataclasses
import shlex
from ipaddress import ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import parse_rule
from overlaynet.kubeproxy import ProxierConfig, build_payload, generate, written
from overlaynet.kubeproxy.full import JUMPS
from overlaynet.kubeproxy.local import LocalMode
from overlaynet.model import EndpointSlice, Service

from . import text_oracle
from .strategies import proxier_configs, service_sets

configs = proxier_configs()


@settings(max_examples=60, deadline=None)
@given(objects=service_sets(), config=configs)
def test_typed_payload_renders_as_the_text_path_did(
    objects: tuple[list[Service], list[EndpointSlice]], config: ProxierConfig
) -> None:
    services, slices = objects
    assert generate(services, slices, config) == text_oracle.generate(services, slices, config)


detect_modes = st.sampled_from((
    dict(detect_local_mode=LocalMode.CLUSTER_CIDR),
    dict(detect_local_mode=LocalMode.NODE_CIDR, node_pod_cidrs=(ip_network("10.180.0.0/24"),)),
    dict(detect_local_mode=LocalMode.BRIDGE_INTERFACE, bridge_interface="cni0"),
    dict(detect_local_mode=LocalMode.INTERFACE_NAME_PREFIX, interface_name_prefix="veth"),
))
any_mode_configs = st.builds(lambda c, m: dataclasses.replace(c, **m), configs, detect_modes)


@settings(max_examples=40, deadline=None)
@given(objects=service_sets(), config=any_mode_configs)
def test_each_typed_rule_is_what_iptables_reads_from_its_line(
    objects: tuple[list[Service], list[EndpointSlice]], config: ProxierConfig
) -> None:
    services, slices = objects
    for line in build_payload(services, slices, config).lines:
        text = written.render(line.rule, line.spelling)
        assert parse_rule(shlex.split(text)) == line.rule, text


def test_the_ensured_jumps_read_back_as_written() -> None:
    for jump in JUMPS:
        line = jump.written
        assert parse_rule(shlex.split(written.render(line.rule, line.spelling))) == line.rule


def test_statistic_spelling_is_kube_proxys_for_every_cascade_length() -> None:
    from overlaynet.kubeproxy import names

    for n in (*range(1, 1200), 100000, 100001):
        rendered = written.render(written.Rule((written.statistic(n),), None), written.STATISTIC)
        assert rendered == f"-m statistic --mode random --probability {names.probability(n)}"
        if n <= 1000:  # kube-proxy's cached cascades: iptables reads back exactly 1/n
            assert parse_rule(shlex.split(rendered)).matches == (written.statistic(n),)
