"""Traffic-policy and terminating-endpoint cases of kube-proxy's TestInternalTrafficPolicy and
TestTerminatingEndpointsTrafficPolicyLocal: the SVC/SVL/SEP chains and filter rules they expect."""

from __future__ import annotations

from ipaddress import ip_address

from overlaynet.kubeproxy import generate
from overlaynet.model import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort

from .proxier_cases import TEST_NODE, as_fake, fake_config

SVC_HASH = "AQI2S6QIMU7PVVRP"  # ns1/svc1 (unnamed port) tcp


def _slice(*eps: tuple[str, str, bool, bool, bool]) -> list[EndpointSlice]:
    return [EndpointSlice(
        name="svc1-1", namespace="ns1", service="svc1",
        endpoints=tuple(Endpoint(addresses=(ip_address(a),), node_name=n, ready=r, serving=s, terminating=t)
                        for a, n, r, s, t in eps),
        ports=(EndpointPort(port=80),),
    )]


def _chain(text: str, chain: str) -> list[str]:
    return [line.split(" ", 2)[2] for line in text.splitlines() if line.startswith(f"-A {chain} ")]


def _itp_local() -> list[Service]:
    return [Service(name="svc1", namespace="ns1", cluster_ips=(ip_address("172.30.1.1"),),
                    ports=(ServicePort(port=80),), internal_traffic_policy="Local")]


def _lb_local() -> list[Service]:
    return [Service(name="svc1", namespace="ns1", type="LoadBalancer", cluster_ips=(ip_address("172.30.1.1"),),
                    ports=(ServicePort(port=80),), external_traffic_policy="Local", health_check_node_port=30000,
                    load_balancer_ips=(ip_address("1.2.3.4"),), session_affinity="ClientIP")]


def test_itp_local_with_a_local_endpoint() -> None:
    text = as_fake(generate(_itp_local(), _slice(("10.0.1.1", TEST_NODE, True, True, False),
                                                 ("10.0.1.2", "host1", True, True, False),
                                                 ("10.0.1.3", "host2", True, True, False)), fake_config(nfacct=False)))
    assert _chain(text, "KUBE-SERVICES")[0].endswith(f"-d 172.30.1.1 --dport 80 -j KUBE-SVL-{SVC_HASH}")
    assert _chain(text, f"KUBE-SVL-{SVC_HASH}") == [
        '-m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-m comment --comment "ns1/svc1 -> 10.0.1.1:80" -j KUBE-SEP-3JOIVZTXZZRGORX4',
    ]
    assert f"KUBE-SVC-{SVC_HASH}" not in text
    assert [line for line in text.splitlines() if line.startswith(":KUBE-SEP-")] == [":KUBE-SEP-3JOIVZTXZZRGORX4 - [0:0]"]


def test_itp_local_without_local_endpoints_drops() -> None:
    text = generate(_itp_local(), _slice(("10.0.1.1", "host0", True, True, False)), fake_config(nfacct=False))
    assert _chain(text, "KUBE-SERVICES")[0] == (
        '-m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP')
    assert "KUBE-SEP-" not in text and "KUBE-SVL-" not in text


def test_etp_local_ready_endpoints_exist() -> None:
    text = generate(_lb_local(), _slice(("10.0.1.1", TEST_NODE, True, True, False),
                                        ("10.0.1.2", TEST_NODE, True, True, False),
                                        ("10.0.1.3", TEST_NODE, False, True, True),
                                        ("10.0.1.4", TEST_NODE, False, False, True),
                                        ("10.0.1.5", "host-1", True, True, False)), fake_config(nfacct=False))
    svc = _chain(text, f"KUBE-SVC-{SVC_HASH}")
    assert [r.split(" -j ")[1] for r in svc[4:]] == [
        "KUBE-SEP-3JOIVZTXZZRGORX4", "KUBE-SEP-IO5XOSKPAXIFQXAJ", "KUBE-SEP-EQCHZ7S2PJ72OHAY"]
    assert "--probability 0.3333333333" in svc[4] and "--probability 0.5000000000" in svc[5]
    svl = _chain(text, f"KUBE-SVL-{SVC_HASH}")
    assert svl[2] == '-m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-3JOIVZTXZZRGORX4'
    assert svl[3] == '-m comment --comment "ns1/svc1 -> 10.0.1.2:80" -j KUBE-SEP-IO5XOSKPAXIFQXAJ'
    assert "10.0.1.3" not in text and "10.0.1.4" not in text


def test_etp_local_only_terminating_local_endpoints() -> None:
    text = generate(_lb_local(), _slice(("10.0.1.2", TEST_NODE, False, True, True),
                                        ("10.0.1.3", TEST_NODE, False, True, True),
                                        ("10.0.1.4", TEST_NODE, False, False, True),
                                        ("10.0.1.5", "host-1", True, True, False)), fake_config(nfacct=False))
    seps = [line for line in text.splitlines() if line.startswith(":KUBE-SEP-")]
    assert seps == [":KUBE-SEP-EQCHZ7S2PJ72OHAY - [0:0]", ":KUBE-SEP-IO5XOSKPAXIFQXAJ - [0:0]",
                    ":KUBE-SEP-XGJFVO3L2O5SRFNT - [0:0]"]
    assert _chain(text, f"KUBE-SVC-{SVC_HASH}")[-1] == '-m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j KUBE-SEP-EQCHZ7S2PJ72OHAY'
    assert _chain(text, f"KUBE-SVL-{SVC_HASH}")[-1] == '-m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j KUBE-SEP-XGJFVO3L2O5SRFNT'


def test_etp_local_terminating_only_on_remote_node() -> None:
    text = generate(_lb_local(), _slice(("10.0.1.5", "host-1", False, True, True)), fake_config(nfacct=False))
    assert _chain(text, "KUBE-EXTERNAL-SERVICES") == [
        '-m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP']
    assert "KUBE-SVL-" not in text
    assert _chain(text, f"KUBE-EXT-{SVC_HASH}")[-1].endswith(f"--src-type LOCAL -j KUBE-SVC-{SVC_HASH}")


def test_no_usable_endpoints_on_any_node() -> None:
    text = generate(_lb_local(), _slice(("10.0.1.5", TEST_NODE, False, False, True),
                                        ("10.0.1.5", "host-1", False, False, True)), fake_config(nfacct=False))
    assert _chain(text, "KUBE-SERVICES")[0] == (
        '-m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT')
    assert _chain(text, "KUBE-EXTERNAL-SERVICES") == [
        '-m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT']
    assert "KUBE-SEP-" not in text
