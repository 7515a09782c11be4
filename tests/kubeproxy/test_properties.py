"""Properties of generated rulesets, checked through the netfilter engine (all branches,
exact fractions): uniform endpoint choice, REJECT without endpoints, eTP Local keeps
external traffic on the node, render→parse→render stability, kube-proxy's chain names."""

from __future__ import annotations

from fractions import Fraction
from ipaddress import IPv4Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import parse_save, render_save
from overlaynet.dataplane.packet import Packet
from overlaynet.kubeproxy import generate, generate_full, names

from .proxier_cases import TEST_NODE, TEST_NODE_IP, ep, eps, fake_config, svc
from .trace_helpers import trace_inbound

CLUSTER_IP = "172.30.0.41"
LOCAL = frozenset({TEST_NODE_IP, ip_address("127.0.0.1")})
EXTERNAL_CLIENT = ip_address("203.0.113.2")
POD_CLIENT = ip_address("10.99.0.7")

endpoint_ips = st.lists(
    st.integers(min_value=1, max_value=250).map(lambda i: f"10.180.{i // 100}.{i % 100 + 1}"),
    min_size=1, max_size=8, unique=True,
)


def _config() -> object:
    return fake_config(nfacct=False, random_fully=True)


@settings(max_examples=25, deadline=None)
@given(ips=endpoint_ips, port=st.integers(min_value=1, max_value=65535))
def test_ready_endpoints_are_chosen_uniformly(ips: list[str], port: int) -> None:
    services = [svc("ns1", "svc1", CLUSTER_IP, port=port)]
    slices = [eps("ns1", "svc1", *(ep(i) for i in ips), port=8080)]
    ruleset = parse_save(generate_full(services, slices, _config()))  # type: ignore[arg-type]
    results = trace_inbound(ruleset, Packet(POD_CLIENT, ip_address(CLUSTER_IP), "tcp", 40000, port), LOCAL)
    dist: dict[object, Fraction] = {}
    for r in results:
        assert r.verdict == "ACCEPT"
        dist[r.destination] = dist.get(r.destination, Fraction(0)) + r.probability
    assert dist == {(ip_address(i), 8080): Fraction(1, len(ips)) for i in ips}
    assert not any(r.masquerade for r in results)  # pod source: no masquerade


@settings(max_examples=15, deadline=None)
@given(port=st.integers(min_value=1, max_value=65535), not_ready=st.lists(endpoint_ips, max_size=1))
def test_no_usable_endpoints_rejects(port: int, not_ready: list[list[str]]) -> None:
    services = [svc("ns1", "svc1", CLUSTER_IP, port=port)]
    slices = [eps("ns1", "svc1", *(ep(i, ready=False, serving=False) for i in (not_ready[0] if not_ready else [])))]
    ruleset = parse_save(generate_full(services, slices, _config()))  # type: ignore[arg-type]
    results = trace_inbound(ruleset, Packet(POD_CLIENT, ip_address(CLUSTER_IP), "tcp", 40000, port), LOCAL)
    assert [r.verdict for r in results] == ["REJECT"]
    assert results[0].destination is None


@settings(max_examples=25, deadline=None)
@given(
    endpoints=st.lists(st.tuples(st.integers(1, 250), st.booleans()), min_size=0, max_size=6,
                       unique_by=lambda t: t[0]),
    via_lb=st.booleans(),
)
def test_external_traffic_policy_local_never_leaves_the_node(
    endpoints: list[tuple[int, bool]], via_lb: bool
) -> None:
    lb = ip_address("1.2.3.4")
    services = [svc("ns2", "svc2", "172.30.0.42", type="LoadBalancer", external_traffic_policy="Local",
                    node_port=3001, load_balancer_ips=(lb,), health_check_node_port=30000)]
    eplist = [ep(f"10.180.{i // 100}.{i % 100 + 1}", TEST_NODE if local else "other-node") for i, local in endpoints]
    slices = [eps("ns2", "svc2", *eplist)]
    ruleset = parse_save(generate_full(services, slices, _config()))  # type: ignore[arg-type]
    dst, dport = (lb, 80) if via_lb else (TEST_NODE_IP, 3001)
    results = trace_inbound(ruleset, Packet(EXTERNAL_CLIENT, dst, "tcp", 40000, dport), LOCAL)
    local_eps = {(e.addresses[0], 80) for e in eplist if e.node_name == TEST_NODE}
    assert sum(r.probability for r in results) == 1
    for r in results:
        if r.destination is not None:
            assert r.destination in local_eps
            assert not r.masquerade  # the client IP is preserved
        else:
            assert r.verdict in ("DROP", "REJECT")
    if local_eps:
        assert {r.destination for r in results} == local_eps
    elif eplist:
        assert {r.verdict for r in results} == {"DROP"}


@settings(max_examples=20, deadline=None)
@given(
    ips=endpoint_ips,
    affinity=st.booleans(),
    node_port=st.one_of(st.none(), st.integers(30000, 32767)),
    masquerade_all=st.booleans(),
)
def test_render_parse_render_is_stable(ips: list[str], affinity: bool, node_port: int | None,
                                       masquerade_all: bool) -> None:
    services = [svc("ns1", "svc1", CLUSTER_IP, type="NodePort" if node_port else "ClusterIP",
                    node_port=node_port, session_affinity="ClientIP" if affinity else "None")]
    slices = [eps("ns1", "svc1", *(ep(i) for i in ips))]
    text = generate_full(services, slices, fake_config(nfacct=False, masquerade_all=masquerade_all))
    once = render_save(parse_save(text))
    assert render_save(parse_save(once)) == once


names_st = st.from_regex(r"[a-z]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(ns=names_st, name=names_st, pname=st.one_of(st.just(""), names_st),
       proto=st.sampled_from(["TCP", "UDP", "SCTP"]), last=st.integers(1, 254))
def test_generated_chain_names_are_kube_proxys_hash(ns: str, name: str, pname: str, proto: str, last: int) -> None:
    from overlaynet.model import EndpointPort, EndpointSlice, Service, ServicePort
    from overlaynet.model.services import Endpoint

    services = [Service(name=name, namespace=ns, cluster_ips=(IPv4Address("172.30.0.41"),),
                        ports=(ServicePort(port=80, protocol=proto, name=pname or None),))]  # type: ignore[arg-type]
    slices = [EndpointSlice(name="x", namespace=ns, service=name,
                            endpoints=(Endpoint(addresses=(IPv4Address(f"10.0.0.{last}"),)),),
                            ports=(EndpointPort(port=8080, protocol=proto, name=pname or None),))]  # type: ignore[arg-type]
    text = generate(services, slices, fake_config())
    spn = f"{ns}/{name}:{pname}" if pname else f"{ns}/{name}"
    p = proto.lower()
    assert f":{names.svc_chain(spn, p)} - [0:0]" in text
    assert f":{names.sep_chain(spn, p, f'10.0.0.{last}:8080')} - [0:0]" in text
    assert f"-m {p} -p {p} -j DNAT --to-destination 10.0.0.{last}:8080" in text
