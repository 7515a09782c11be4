"""Env-var discovery as the kubelet injects it, with the creation-order drawback."""

from __future__ import annotations

import pytest

from overlaynet.dns.env import env_name, pod_environment, service_variables
from overlaynet.errors import DNSError
from overlaynet.model import Cluster


def test_variables_for_services_created_before_the_pod(cluster: Cluster) -> None:
    env = pod_environment(cluster, "default/frontend-0").as_dict()
    assert env["WEB_SERVICE_HOST"] == "10.96.0.20"
    assert env["WEB_SERVICE_PORT"] == "80"
    assert env["WEB_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_PORT"] == "tcp://10.96.0.20:80"
    assert env["WEB_PORT_8080_TCP"] == "tcp://10.96.0.20:8080"
    assert env["WEB_PORT_80_TCP_PROTO"] == "tcp"
    assert env["WEB_PORT_80_TCP_PORT"] == "80"
    assert env["WEB_PORT_80_TCP_ADDR"] == "10.96.0.20"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert not any(k.startswith(("DB_", "EXT_", "DUAL_")) for k in env)  # headless, ExternalName, later


def test_skipped_services_say_why(cluster: Cluster) -> None:
    skipped = {s.service: s.reason for s in pod_environment(cluster, "default/frontend-0").skipped}
    assert skipped["default/db"].startswith("no ClusterIP")
    assert skipped["default/dual"] == "created after the pod"


def test_other_namespace_sees_only_its_own_and_kubernetes(cluster: Cluster) -> None:
    env = pod_environment(cluster, "prod/client").as_dict()
    assert "KUBERNETES_SERVICE_HOST" in env and "DATA_SERVICE_HOST" not in env  # data created later
    assert not any(k.startswith("WEB_") for k in env)


def test_enable_service_links_false_keeps_kubernetes(cluster: Cluster) -> None:
    env = pod_environment(cluster, "default/frontend-0", enable_service_links=False).as_dict()
    assert set(k.split("_")[0] for k in env) == {"KUBERNETES"}


def test_names_upper_case_dashes_to_underscores(cluster: Cluster) -> None:
    assert env_name("my-svc") == "MY_SVC"
    kube_dns = cluster.service("kube-system", "kube-dns")
    names = [n for n, _ in service_variables(kube_dns)]
    assert "KUBE_DNS_SERVICE_PORT_DNS_TCP" in names and "KUBE_DNS_PORT_53_UDP" in names


def test_unknown_pod(cluster: Cluster) -> None:
    with pytest.raises(DNSError):
        pod_environment(cluster, "default/ghost")
