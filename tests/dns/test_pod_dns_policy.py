"""Pod spec fields the kubelet reads for discovery: dnsPolicy, dnsConfig, enableServiceLinks."""

from __future__ import annotations

from overlaynet.dns.client import client_resolve, pod_resolver, resolv_conf
from overlaynet.dns.env import pod_environment
from overlaynet.topology import load_text
from overlaynet.topology.render import render

BASE = """apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: d}
spec:
  network: {driver: flannel, options: {backend: vxlan}}
  dns: {upstreams: ["192.0.2.53:53"]}
  underlay: {segments: [{name: lan, cidr: 192.168.1.0/24}]}
  nodes: [{name: n1, ip: 192.168.1.11}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80}], selector: {app: web}}
"""


def _pod(name: str, spec: str) -> str:
    return f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeName: n1
  containers: [{{name: c, image: x}}]
{spec}"""


def _cluster(*pods: str):  # type: ignore[no-untyped-def]
    return load_text(BASE + "".join(pods)).cluster


def test_host_network_pod_with_cluster_first_with_host_net_resolves_services() -> None:
    c = _cluster(_pod("ingress", "  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n"),
                 _pod("agent", "  hostNetwork: true\n"))
    ingress = client_resolve(c, "default/ingress", "web")
    assert ingress.rcode == "NOERROR" and ingress.nameserver == "10.96.0.10"
    agent = client_resolve(c, "default/agent", "web")  # ClusterFirst on hostNetwork: the node's resolver
    assert agent.rcode != "NOERROR" and agent.nameserver == "192.0.2.53"


def test_dns_policy_none_uses_only_dns_config() -> None:
    c = _cluster(_pod("custom", "  dnsPolicy: \"None\"\n  dnsConfig:\n    nameservers: [10.96.0.10]\n"
                                "    searches: [default.svc.cluster.local]\n    options: [{name: ndots, value: \"2\"}]\n"))
    conf = pod_resolver(c, c.pod("default", "custom"))
    assert conf.nameservers == ("10.96.0.10",) and conf.search == ("default.svc.cluster.local",) and conf.ndots == 2
    assert resolv_conf(c, "default/custom") == (
        "search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:2\n"
    )
    res = client_resolve(c, "default/custom", "web")
    assert res.rcode == "NOERROR" and res.queries[0].name == "web.default.svc.cluster.local."


def test_dns_config_adds_searches_and_overrides_ndots_for_cluster_first() -> None:
    c = _cluster(_pod("p", "  dnsConfig:\n    searches: [corp.example]\n    options: [{name: ndots, value: \"1\"}]\n"))
    conf = pod_resolver(c, c.pod("default", "p"))
    assert conf.search[-1] == "corp.example" and conf.ndots == 1 and conf.cluster_first
    # ndots 1: a name with a dot is tried as-is first
    res = client_resolve(c, "default/p", "web.default")
    assert res.queries[0].name == "web.default."


def test_enable_service_links_false_keeps_only_kubernetes_variables() -> None:
    c = _cluster(_pod("nolinks", "  enableServiceLinks: false\n"), _pod("links", ""))
    assert not any(v.name.startswith("WEB_") for v in pod_environment(c, "default/nolinks").variables)
    assert any(v.name == "WEB_SERVICE_HOST" for v in pod_environment(c, "default/links").variables)


def test_fields_round_trip_through_render() -> None:
    c = _cluster(_pod("custom", "  enableServiceLinks: false\n  dnsPolicy: \"None\"\n  dnsConfig:\n"
                                "    nameservers: [1.1.1.1]\n    options: [{name: ndots, value: \"3\"}]\n"))
    back = load_text(render(c)).cluster
    assert back.pod("default", "custom") == c.pod("default", "custom")


def test_bad_dns_fields_are_located_errors() -> None:
    import pytest

    from overlaynet.errors import TopologyError

    with pytest.raises(TopologyError) as err:
        _cluster(_pod("x", "  dnsPolicy: ClusterFrist\n  dnsConfig: {nameservers: [not-an-ip]}\n"))
    text = str(err.value)
    assert "did you mean 'ClusterFirst'" in text and "expected a nameserver IP address, found 'not-an-ip'" in text
    with pytest.raises(TopologyError, match="expected spec.dnsConfig with dnsPolicy None"):
        _cluster(_pod("y", "  dnsPolicy: \"None\"\n"))
