from __future__ import annotations

import ipaddress

from overlaynet.model import (
    Cluster,
    ContainerPort,
    FrozenDict,
    IPBlock,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
from overlaynet.model.netpol import connection_allowed, decide

ip = ipaddress.ip_address


def _pod(name: str, ns: str, app: str, addr: str, **kw: object) -> Pod:
    return Pod(name, ns, FrozenDict({"app": app}), node="n1", ips=(ip(addr),), **kw)  # type: ignore[arg-type]


WEB = _pod("web", "prod", "web", "10.0.0.2", ports=(ContainerPort(8080, name="http"),))
API = _pod("api", "prod", "api", "10.0.0.3")
DEV = _pod("tool", "dev", "api", "10.0.1.2")
NSS = (
    Namespace("prod", FrozenDict({"kubernetes.io/metadata.name": "prod", "env": "prod"})),
    Namespace("dev", FrozenDict({"kubernetes.io/metadata.name": "dev", "env": "dev"})),
)


def _cluster(*policies: NetworkPolicy) -> Cluster:
    return Cluster(namespaces=NSS, pods=(WEB, API, DEV), network_policies=policies)


def test_no_policy_allows_everything() -> None:
    v = connection_allowed(_cluster(), API, API.ips[0], WEB, WEB.ips[0], "TCP", 8080)
    assert v.allowed and not v.ingress.isolated and not v.egress.isolated


def test_default_deny_ingress_denies_and_names_the_policy() -> None:
    deny = NetworkPolicy("deny", "prod", LabelSelector(), ("Ingress",))
    v = connection_allowed(_cluster(deny), API, API.ips[0], WEB, WEB.ips[0], "TCP", 8080)
    assert not v.allowed and v.ingress.selecting == ("prod/deny",)
    assert "denied" in v.ingress.reason("Ingress")
    # egress from web is not isolated by an ingress-only policy
    assert decide(_cluster(deny), WEB, "Egress", API, API.ips[0], "TCP", 80).allowed


def test_pod_selector_peer_same_namespace_only_and_named_port() -> None:
    allow = NetworkPolicy(
        "allow-api",
        "prod",
        LabelSelector(FrozenDict({"app": "web"})),
        ("Ingress",),
        ingress=(PolicyRule((PolicyPeer(pod_selector=LabelSelector(FrozenDict({"app": "api"}))),), (PolicyPort("TCP", "http"),)),),
    )
    c = _cluster(allow)
    ok = connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0], "TCP", 8080)
    assert ok.allowed and ok.ingress.policy == "prod/allow-api" and ok.ingress.rule == 1
    assert not connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0], "TCP", 9090).allowed
    # same labels in another namespace do not match a bare podSelector
    assert not connection_allowed(c, DEV, DEV.ips[0], WEB, WEB.ips[0], "TCP", 8080).allowed


def test_namespace_and_pod_selector_in_one_peer_is_and() -> None:
    peer = PolicyPeer(
        pod_selector=LabelSelector(FrozenDict({"app": "api"})),
        namespace_selector=LabelSelector(FrozenDict({"env": "dev"})),
    )
    pol = NetworkPolicy("x", "prod", LabelSelector(), ("Ingress",), ingress=(PolicyRule((peer,)),))
    c = _cluster(pol)
    assert connection_allowed(c, DEV, DEV.ips[0], WEB, WEB.ips[0]).allowed
    assert not connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0]).allowed


def test_ip_block_with_except_and_end_port() -> None:
    block = IPBlock(ipaddress.ip_network("10.0.0.0/16"), (ipaddress.ip_network("10.0.1.0/24"),))
    pol = NetworkPolicy(
        "blk",
        "prod",
        LabelSelector(FrozenDict({"app": "web"})),
        ("Ingress",),
        ingress=(PolicyRule((PolicyPeer(ip_block=block),), (PolicyPort("TCP", 8000, 8100),)),),
    )
    c = _cluster(pol)
    assert connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0], "TCP", 8080).allowed
    assert not connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0], "TCP", 8200).allowed
    assert not connection_allowed(c, DEV, DEV.ips[0], WEB, WEB.ips[0], "TCP", 8080).allowed  # except
    assert connection_allowed(c, None, ip("10.0.9.9"), WEB, WEB.ips[0], "TCP", 8080).allowed


def test_egress_policy_union_of_allows() -> None:
    a = NetworkPolicy("a", "prod", LabelSelector(FrozenDict({"app": "api"})), ("Egress",),
                      egress=(PolicyRule((PolicyPeer(pod_selector=LabelSelector(FrozenDict({"app": "web"}))),)),))
    b = NetworkPolicy("b", "prod", LabelSelector(FrozenDict({"app": "api"})), ("Egress",), egress=())
    c = _cluster(a, b)
    assert connection_allowed(c, API, API.ips[0], WEB, WEB.ips[0]).allowed
    v = connection_allowed(c, API, API.ips[0], DEV, DEV.ips[0])
    assert not v.allowed and set(v.egress.selecting) == {"prod/a", "prod/b"}

