"""Typed rules and their spelling: on generated services, the typed generator renders the
payload byte for byte as the former text path did (text_oracle.py), and each typed Rule is
exactly what iptables reads back from its own payload line."""

from __future__ import annotations

import dataclasses
import shlex
from ipaddress import ip_address, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import parse_rule
from overlaynet.kubeproxy import ProxierConfig, build_payload, generate, written
from overlaynet.kubeproxy.full import JUMPS
from overlaynet.kubeproxy.local import LocalMode
from overlaynet.model import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort

from . import text_oracle
from .proxier_cases import TEST_NODE, TEST_NODE_IP

PROTOCOLS = ("TCP", "UDP", "SCTP")


@st.composite
def service_sets(draw: st.DrawFn) -> tuple[list[Service], list[EndpointSlice]]:
    services: list[Service] = []
    slices: list[EndpointSlice] = []
    for i in range(draw(st.integers(1, 4))):
        name = f"svc{i}"
        kind = draw(st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer")))
        external = kind != "ClusterIP"
        protocol = draw(st.sampled_from(PROTOCOLS))
        port_name = draw(st.sampled_from(("", "http")))
        affinity = draw(st.booleans())
        lb_ips = (ip_address(f"1.2.3.{i + 1}"),) if kind == "LoadBalancer" and draw(st.booleans()) else ()
        ranges = tuple(draw(st.lists(st.sampled_from((ip_network("203.0.113.0/25"), ip_network("192.168.0.0/16"),
                                                      ip_network("198.51.100.7/32"))), max_size=2, unique=True))
                       ) if kind == "LoadBalancer" else ()
        etp_local = external and draw(st.booleans())
        services.append(Service(
            name=name, namespace="ns", type=kind, cluster_ips=(ip_address(f"172.30.0.{i + 1}"),),
            ports=(ServicePort(port=draw(st.integers(1, 65535)), name=port_name, protocol=protocol,
                               node_port=30000 + i if external else None),),
            external_ips=(ip_address(f"192.168.99.{i + 1}"),) if draw(st.booleans()) else (),
            load_balancer_ips=lb_ips, load_balancer_source_ranges=ranges,
            external_traffic_policy="Local" if etp_local else "Cluster",
            internal_traffic_policy="Local" if draw(st.booleans()) else "Cluster",
            health_check_node_port=32000 + i if etp_local and kind == "LoadBalancer" else None,
            session_affinity="ClientIP" if affinity else "None",
            session_affinity_timeout=draw(st.sampled_from((10800, 60))),
        ))
        endpoints = tuple(
            Endpoint(addresses=(ip_address(f"10.180.{i}.{j + 1}"),),
                     node_name=draw(st.sampled_from((TEST_NODE, "other", None))),
                     ready=draw(st.booleans()), serving=draw(st.booleans()), terminating=draw(st.booleans()))
            for j in range(draw(st.integers(0, 4)))
        )
        slices.append(EndpointSlice(name=f"{name}-1", namespace="ns", service=name, endpoints=endpoints,
                                    ports=(EndpointPort(port=8080, name=port_name, protocol=protocol),)))
    return services, slices


configs = st.builds(
    ProxierConfig,
    node_name=st.just(TEST_NODE),
    node_ips=st.just((TEST_NODE_IP,)),
    cluster_cidrs=st.sampled_from(((), (ip_network("10.0.0.0/8"),))),
    masquerade_all=st.booleans(),
    nodeport_addresses=st.sampled_from(((), (ip_network("192.168.0.0/16"),), (ip_network("127.0.0.0/8"),))),
    localhost_nodeports=st.booleans(),
    random_fully=st.booleans(),
    nfacct=st.booleans(),
    conntrack_tcp_be_liberal=st.booleans(),
)


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
