"""The generator against proxier_test.go scenarios: golden files plus the facts that matter."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.kubeproxy import ProxierConfig, generate, generate_full
from overlaynet.model import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort

from .golden import check_golden
from .proxier_cases import TEST_NODE, as_fake, ep, eps, fake_config, overall, svc


def real_config(**changes: object) -> ProxierConfig:
    base: dict[str, object] = dict(
        node_name=TEST_NODE, node_ips=(ip_address("192.168.0.2"),), cluster_cidrs=(ip_network("10.0.0.0/8"),)
    )
    base.update(changes)
    return ProxierConfig(**base)  # type: ignore[arg-type]


def test_overall_matches_proxier_test_expected_dump() -> None:
    # TestOverallIPTablesRules (kubernetes@531be812): the fake proxier's expected dump.
    services, slices = overall()
    check_golden("proxier_test_overall.rules", as_fake(generate(services, slices, fake_config())))


def test_clusterip_nodeport_three_endpoints() -> None:
    services = [svc("ns1", "svc1", "172.30.0.41", type="NodePort", node_port=30080)]
    slices = [eps("ns1", "svc1", ep("10.180.0.1"), ep("10.180.1.1", "node2"), ep("10.180.0.2", TEST_NODE))]
    text = generate(services, slices, real_config())
    check_golden("clusterip_nodeport.rules", text)
    assert "--probability 0.3333333333 -j KUBE-SEP-" in text
    assert "--probability 0.5000000000 -j KUBE-SEP-" in text
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x004000" in text
    assert "-j MASQUERADE --random-fully" in text
    # endpoints in "ip:port" string order, as kube-proxy sorts them
    order = [line.split(" -> ")[1].split('"')[0] for line in text.splitlines() if " -> " in line]
    assert order == ["10.180.0.1:80", "10.180.0.2:80", "10.180.1.1:80"]


def test_loadbalancer_source_ranges_allow_node() -> None:
    services = [
        svc("ns5", "svc5", "172.30.0.45", type="LoadBalancer", node_port=3002,
            load_balancer_ips=(ip_address("5.6.7.8"),),
            load_balancer_source_ranges=(ip_network("203.0.113.0/25"), ip_network("192.168.0.0/24")))
    ]
    text = generate(services, [eps("ns5", "svc5", ep("10.180.0.3"))], real_config())
    check_golden("lb_source_ranges.rules", text)
    assert '-s 192.168.0.0/24 -j KUBE-EXT-NUKIZ6OKUXPJNT4C' in text
    assert '-s 5.6.7.8 -j KUBE-EXT-NUKIZ6OKUXPJNT4C' in text  # node IP is in a range
    assert "-j KUBE-FW-NUKIZ6OKUXPJNT4C" in text
    assert "traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" in text


def test_external_traffic_policy_local() -> None:
    services = [
        svc("ns2", "svc2", "172.30.0.42", type="LoadBalancer", external_traffic_policy="Local",
            node_port=3001, load_balancer_ips=(ip_address("1.2.3.4"),), health_check_node_port=30000)
    ]
    slices = [eps("ns2", "svc2", ep("10.180.0.2", TEST_NODE), ep("10.180.1.2", "node2"))]
    text = generate(services, slices, real_config())
    check_golden("etp_local.rules", text)
    assert "-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVL-GNZBNJ2PO5MGZ6GT" in text
    svl = [line for line in text.splitlines() if line.startswith("-A KUBE-SVL-")]
    assert len(svl) == 1 and "10.180.0.2:80" in svl[0]
    assert "health check node port" in text
    # on a node without local endpoints: external traffic dropped, no SVL
    other = generate(services, slices, real_config(node_name="node3"))
    assert "KUBE-SVL-" not in other
    assert '"ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP' in other


def test_no_endpoints_rejects_everything() -> None:
    services = [
        svc("ns1", "svc1", "172.30.0.41", type="LoadBalancer", node_port=3001,
            external_ips=(ip_address("192.168.99.11"),), load_balancer_ips=(ip_address("1.2.3.4"),))
    ]
    text = generate(services, [], real_config())
    check_golden("no_endpoints.rules", text)
    rejects = [line for line in text.splitlines() if line.endswith("-j REJECT")]
    assert len(rejects) == 4  # cluster IP, external IP, LB IP, NodePort
    assert "KUBE-SVC-" not in text and "KUBE-SEP-" not in text


def test_terminating_fallback() -> None:
    services = [svc("ns1", "svc1", "172.30.0.41")]
    slices = [
        eps("ns1", "svc1",
            ep("10.0.1.1", ready=False, serving=True, terminating=True),
            ep("10.0.1.2", ready=False, serving=False, terminating=True),
            ep("10.0.1.3", ready=False, serving=True, terminating=False))
    ]
    text = generate(services, slices, real_config())
    check_golden("terminating_fallback.rules", text)
    assert "10.0.1.1:80" in text
    assert "10.0.1.2" not in text and "10.0.1.3" not in text
    # a ready endpoint wins over serving-terminating ones
    slices2 = [eps("ns1", "svc1", ep("10.0.1.1", ready=False, terminating=True), ep("10.0.1.4"))]
    text2 = generate(services, slices2, real_config())
    assert "10.0.1.4:80" in text2 and "10.0.1.1" not in text2


def test_session_affinity() -> None:
    services = [svc("ns1", "svc1", "172.30.0.41", session_affinity="ClientIP", session_affinity_timeout=600)]
    slices = [eps("ns1", "svc1", ep("10.0.1.1"), ep("10.0.1.2"))]
    text = generate(services, slices, real_config())
    check_golden("session_affinity.rules", text)
    assert text.count("--rcheck --seconds 600 --reap") == 2
    assert text.count("--set -m tcp -p tcp -j DNAT") == 2


def test_internal_traffic_policy_local_without_local_endpoint_drops() -> None:
    services = [svc("ns1", "svc1", "172.30.0.41", internal_traffic_policy="Local")]
    slices = [eps("ns1", "svc1", ep("10.0.1.1", "node2"))]
    text = generate(services, slices, real_config())
    assert '"ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP' in text
    local = generate(services, [eps("ns1", "svc1", ep("10.0.1.1", TEST_NODE))], real_config())
    assert "-j KUBE-SVL-" in local and "KUBE-SVC-" not in local


def test_headless_and_external_name_produce_nothing() -> None:
    services = [
        Service(name="h", namespace="ns", headless=True, ports=(ServicePort(port=80),)),
        Service(name="x", namespace="ns", type="ExternalName", external_name="example.com"),
    ]
    assert generate(services, [], real_config()) == generate([], [], real_config())


def test_nodeport_addresses_and_localhost() -> None:
    cfg = real_config(nodeport_addresses=(ip_network("192.168.0.0/24"),))
    text = generate([], [], cfg)
    assert "-d 192.168.0.2 -j KUBE-NODEPORTS" in text
    assert "KUBE-FIREWALL" not in text  # no loopback in the NodePort CIDRs
    off = generate([], [], real_config(localhost_nodeports=False))
    assert "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS" in off


def test_masquerade_all_and_no_detector() -> None:
    services = [svc("ns1", "svc1", "172.30.0.41")]
    slices = [eps("ns1", "svc1", ep("10.0.1.1"))]
    all_ = generate(services, slices, real_config(masquerade_all=True))
    assert "--dport 80 -j KUBE-MARK-MASQ" in all_ and "! -s 10.0.0.0/8" not in all_
    none = generate(services, slices, real_config(cluster_cidrs=()))
    assert "cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ" not in none
    assert "! -s 10.0.0.0/8" not in none


def test_ipv6_family() -> None:
    services = [
        Service(name="svc1", namespace="ns1", cluster_ips=(ip_address("172.30.0.41"), ip_address("fd00:30::41")),
                ports=(ServicePort(port=80, name="p80"),))
    ]
    slices = [
        EndpointSlice(name="s6", namespace="ns1", service="svc1", address_type="IPv6",
                      endpoints=(Endpoint(addresses=(ip_address("fd00:10::1"),)),),
                      ports=(EndpointPort(port=80, name="p80"),))
    ]
    cfg = ProxierConfig(TEST_NODE, (ip_address("2001:db8::1"),), (ip_network("fd00:10::/64"),), family=6)
    text = generate(services, slices, cfg)
    check_golden("ipv6.rules", text)
    assert "--to-destination [fd00:10::1]:80" in text
    assert "! -d ::1/128 -j KUBE-NODEPORTS" in text
    assert "KUBE-FIREWALL" not in text
    assert "172.30.0.41" not in text


def test_large_cluster_mode_drops_endpoint_comments() -> None:
    services = [svc("ns1", f"s{i}", f"172.30.{i // 200}.{i % 200 + 1}") for i in range(101)]
    slices = [eps("ns1", f"s{i}", *(ep(f"10.1.{i}.{j + 1}") for j in range(10))) for i in range(101)]
    text = generate(services, slices, real_config())
    sep_rules = [line for line in text.splitlines() if line.startswith("-A KUBE-SEP-")]
    assert sep_rules and all("--comment" not in line for line in sep_rules)
    assert "cluster IP" in text  # the service-level comments stay


@pytest.mark.parametrize("family", [4, 6])
def test_full_ruleset_adds_kube_proxy_jumps(family: int) -> None:
    ip = ip_address("192.168.0.2" if family == 4 else "2001:db8::1")
    text = generate_full([], [], ProxierConfig(TEST_NODE, (ip,), family=family))  # type: ignore[arg-type]
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in text
    assert '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING' in text
    lines = text.splitlines()
    inputs = [line for line in lines if line.startswith("-A INPUT ")]
    assert inputs[0] == "-A INPUT -j KUBE-FIREWALL"  # the last one ensured is first (Prepend)
    assert inputs[-1].endswith("-j KUBE-EXTERNAL-SERVICES")
    assert ":KUBE-PROXY-CANARY - [0:0]" in text
    if family == 4:
        check_golden("full_empty_v4.rules", text)


@settings(max_examples=100, deadline=None)
@given(chains=st.sets(st.sampled_from(("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-", "KUBE", "KUBE.", "KUBF", "A", "INPUT",
                                        "KUBE-SVC-X", "KUBE-MARK-MASQ", "zz", "KUBE-SEP-B", "KUBE-SEP-A"))))
def test_chains_sort_as_kube_proxys_tests_sort_them(chains: set[str]) -> None:
    from overlaynet.kubeproxy.generate import _chain_order, _sorted_chains

    assert _sorted_chains(chains) == sorted(chains, key=_chain_order)
