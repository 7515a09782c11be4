from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from overlaynet.drivers.flannel.config import (
    OPTION_DEFAULTS,
    resolve_config,
    validate_options,
)
from overlaynet.errors import DriverOptionError
from overlaynet.model import Cluster, ip_network


def resolved(options: dict[str, Any], pod_cidr: str = "10.244.0.0/16") -> Any:
    return resolve_config(validate_options(options), Cluster(pod_cidrs=(ip_network(pod_cidr),)))


def test_defaults_follow_kube_flannel_yml() -> None:
    out = validate_options({})
    assert out["backend"] == "vxlan"  # kube-flannel.yml; flannel's code would pick udp
    assert out["vni"] == 1 and out["port"] == 8472 and out["directRouting"] is False
    assert out["subnetManager"] == "kube" and out["ipMasq"] is True
    assert out["etcdPrefix"] == "/coreos.com/network"
    assert set(out) == set(OPTION_DEFAULTS)


@pytest.mark.parametrize(("backend", "port"), [("vxlan", 8472), ("udp", 8285), ("host-gw", None)])
def test_default_port_per_backend(backend: str, port: int | None) -> None:
    assert validate_options({"backend": backend})["port"] == port


@pytest.mark.parametrize(
    ("options", "option", "text"),
    [
        ({"backend": "ipsec"}, "backend", "expected one of vxlan, host-gw, udp"),
        ({"vni": "1"}, "vni", "expected an integer"),
        ({"vni": True}, "vni", "expected an integer"),
        ({"vni": 2**24}, "vni", "between 0 and 16777215"),
        ({"port": 0}, "port", "between 1 and 65535"),
        ({"directRouting": "yes"}, "directRouting", "expected true or false"),
        ({"ipMasq": 1}, "ipMasq", "expected true or false"),
        ({"mtu": 100}, "mtu", "between 118 and 65535"),
        ({"network": "10.244.0.0/33"}, "network", "expected an IPv4 CIDR"),
        ({"network": "10.244.0.1/16"}, "network", "host bits set"),
        ({"network": "fd00::/64"}, "network", "IPv4"),
        ({"subnetMin": "10.244.x.0"}, "subnetMin", "expected an IPv4 address"),
        ({"subnetManager": "consul"}, "subnetManager", "expected one of kube, etcd"),
        ({"etcdPrefix": "coreos.com"}, "etcdPrefix", "key prefix"),
        ({"backend": "host-gw", "vni": 2}, "vni", "only the vxlan backend"),
        ({"backend": "udp", "directRouting": True}, "directRouting", "only the vxlan backend"),
        ({"backend": "host-gw", "port": 1}, "port", "vxlan and udp"),
        ({"Backend": {"Type": "vxlan"}}, "Backend", "did you mean 'backend'?"),
        ({"subnetlen": 24}, "subnetlen", "did you mean 'subnetLen'?"),
        ({"zzz": 1}, "zzz", "unknown option; (known: backend,"),
    ],
)
def test_bad_options(options: dict[str, Any], option: str, text: str) -> None:
    with pytest.raises(DriverOptionError) as info:
        validate_options(options)
    assert info.value.option == option
    assert info.value.driver == "flannel"
    assert text in str(info.value)


def test_network_defaults_to_cluster_pod_cidr() -> None:
    cfg = resolved({}, "10.50.0.0/16")
    assert cfg.network == IPv4Network("10.50.0.0/16")
    assert resolve_config(validate_options({}), Cluster()).network == IPv4Network("10.244.0.0/16")


@pytest.mark.parametrize(
    ("network", "subnet_len", "smin", "smax"),
    [
        ("10.244.0.0/16", 24, "10.244.1.0", "10.244.255.0"),
        ("10.0.0.0/8", 24, "10.0.1.0", "10.255.255.0"),
        ("10.1.0.0/22", 24, "10.1.1.0", "10.1.3.0"),
        ("10.1.0.0/23", 25, "10.1.0.128", "10.1.1.128"),  # smaller than /22: prefix + 2
        ("10.1.0.0/28", 30, "10.1.0.4", "10.1.0.12"),
    ],
)
def test_subnet_defaults(network: str, subnet_len: int, smin: str, smax: str) -> None:
    cfg = resolved({"network": network})
    assert cfg.subnet_len == subnet_len
    assert cfg.subnet_min == IPv4Address(smin)  # the first subnet is never leased
    assert cfg.subnet_max == IPv4Address(smax)


@pytest.mark.parametrize(
    ("options", "option", "text"),
    [
        ({"network": "10.1.0.0/29"}, "network", "Minimum useful network prefix is /28"),
        ({"subnetLen": 31}, "subnetLen", "SubnetLen must be less than /31"),
        ({"subnetLen": 17}, "subnetLen", "at least four subnets"),
        ({"subnetMin": "10.245.0.0"}, "subnetMin", "SubnetMin is not in the range of the Network"),
        ({"subnetMax": "10.0.0.0"}, "subnetMax", "SubnetMax is not in the range of the Network"),
        ({"subnetMin": "10.244.1.128"}, "subnetMin", "SubnetMin is not on a SubnetLen boundary"),
        ({"subnetMax": "10.244.9.1"}, "subnetMax", "SubnetMax is not on a SubnetLen boundary"),
        ({"subnetMin": "10.244.9.0", "subnetMax": "10.244.8.0"}, "subnetMin", "above SubnetMax"),
    ],
)
def test_network_config_checks(options: dict[str, Any], option: str, text: str) -> None:
    with pytest.raises(DriverOptionError) as info:
        resolved(options)
    assert info.value.option == option
    assert text in str(info.value)


def test_explicit_subnet_len_and_range() -> None:
    cfg = resolved({"subnetLen": 26, "subnetMin": "10.244.0.64", "subnetMax": "10.244.0.192"})
    assert (cfg.subnet_len, str(cfg.subnet_min), str(cfg.subnet_max)) == (26, "10.244.0.64", "10.244.0.192")
    assert cfg.compatible(IPv4Network("10.244.0.128/26"))
    assert not cfg.compatible(IPv4Network("10.244.0.0/26"))  # below SubnetMin
    assert not cfg.compatible(IPv4Network("10.244.0.128/25"))  # wrong length


def test_config_json_exact() -> None:
    assert resolved({}).to_json() == (
        '{"Network":"10.244.0.0/16","SubnetLen":24,"SubnetMin":"10.244.1.0",'
        '"SubnetMax":"10.244.255.0","Backend":{"Type":"vxlan","VNI":1,"Port":8472,'
        '"DirectRouting":false}}'
    )
    assert json.loads(resolved({"backend": "udp", "mtu": 1400}).to_json())["Backend"] == {
        "Type": "udp", "Port": 8285, "MTU": 1400,
    }
    assert json.loads(resolved({"backend": "host-gw"}).to_json())["Backend"] == {"Type": "host-gw"}
