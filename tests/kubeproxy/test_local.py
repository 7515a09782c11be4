"""--detect-local-mode: the rules each mode writes (goldens, loaded by test_restore.py with
iptables-restore --test), the detector each mode builds, and what each mode changes in
the fate of a packet (the netfilter engine here; the kernel in test_local_kernel.py)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from overlaynet.dataplane.netfilter import parse_save
from overlaynet.dataplane.netfilter.matches import InIface, Source
from overlaynet.dataplane.packet import Packet
from overlaynet.kubeproxy import ProxierConfig, generate, generate_full
from overlaynet.kubeproxy.local import LocalDetector, LocalMode, local_detector

from .golden import check_golden
from .proxier_cases import TEST_NODE, TEST_NODE_IP, ep, eps, svc
from .trace_helpers import trace_inbound

CLUSTER_CIDR = ip_network("10.0.0.0/8")
NODE_POD_CIDR = ip_network("10.244.1.0/24")
MODES: dict[str, dict[str, object]] = {
    "cluster_cidr": dict(detect_local_mode=LocalMode.CLUSTER_CIDR, cluster_cidrs=(CLUSTER_CIDR,)),
    "node_cidr": dict(detect_local_mode=LocalMode.NODE_CIDR, node_pod_cidrs=(NODE_POD_CIDR,)),
    "bridge_interface": dict(detect_local_mode=LocalMode.BRIDGE_INTERFACE, bridge_interface="cni0"),
    "interface_name_prefix": dict(detect_local_mode=LocalMode.INTERFACE_NAME_PREFIX, interface_name_prefix="veth"),
    "none": dict(detect_local_mode=LocalMode.CLUSTER_CIDR, cluster_cidrs=()),
}
# what IfNotLocal reads in the ClusterIP's masquerade rule, per mode (None: no rule at all)
NOT_LOCAL = {
    "cluster_cidr": "! -s 10.0.0.0/8",
    "node_cidr": "! -s 10.244.1.0/24",
    "bridge_interface": "! -i cni0",
    "interface_name_prefix": "! -i veth+",
    "none": None,
}


def _config(mode: str) -> ProxierConfig:
    return ProxierConfig(TEST_NODE, (TEST_NODE_IP,), random_fully=True, **MODES[mode])  # type: ignore[arg-type]


def _objects() -> tuple[list[object], list[object]]:
    services = [
        svc("ns1", "web", "172.30.0.41"),
        svc("ns2", "local", "172.30.0.42", type="NodePort", node_port=30081, external_traffic_policy="Local"),
    ]
    slices = [
        eps("ns1", "web", ep("10.180.0.1"), ep("10.180.0.2")),
        eps("ns2", "local", ep("10.180.0.3", TEST_NODE)),
    ]
    return services, slices  # type: ignore[return-value]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_writes_kube_proxys_rules(mode: str) -> None:
    services, slices = _objects()
    text = generate(services, slices, _config(mode))  # type: ignore[arg-type]
    check_golden(f"detect_local_{mode}.rules", text)
    masq = [line for line in text.splitlines()
            if line.startswith("-A KUBE-SVC-") and "-d 172.30.0.41 " in line and "KUBE-MARK-MASQ" in line]
    pod_short_circuit = [line for line in text.splitlines() if "pod traffic for ns2/local:p80" in line]
    if NOT_LOCAL[mode] is None:  # no detector: no off-cluster masquerade, no pod short-circuit
        assert masq == [] and pod_short_circuit == []
        return
    assert [line.split("--dport 80 ", 1)[1] for line in masq] == [f"{NOT_LOCAL[mode]} -j KUBE-MARK-MASQ"]
    if_local = NOT_LOCAL[mode].removeprefix("! ")
    assert len(pod_short_circuit) == 1 and f"{if_local} -j KUBE-SVC-" in pod_short_circuit[0]


def test_detectors_are_kube_proxys() -> None:
    assert local_detector(LocalMode.CLUSTER_CIDR, 4, cluster_cidrs=(ip_network("fd00::/64"), CLUSTER_CIDR)) == (
        LocalDetector(Source(CLUSTER_CIDR), Source(CLUSTER_CIDR, negated=True), LocalDetector.by_cidr(CLUSTER_CIDR).arg)
    )
    assert local_detector(LocalMode.CLUSTER_CIDR, 6, cluster_cidrs=(CLUSTER_CIDR,)) is None  # none of the family
    assert local_detector(LocalMode.NODE_CIDR, 4, cluster_cidrs=(CLUSTER_CIDR,)) is None  # the node has no podCIDR
    bridge = local_detector(LocalMode.BRIDGE_INTERFACE, 6, bridge_interface="cbr0")
    assert bridge is not None and bridge.if_local == InIface("cbr0") and bridge.if_not_local == InIface("cbr0", True)
    prefix = local_detector(LocalMode.INTERFACE_NAME_PREFIX, 4, interface_name_prefix="cali")
    assert prefix is not None and prefix.if_local == InIface("cali+")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (dict(detect_local_mode=LocalMode.BRIDGE_INTERFACE), "needs a bridge interface (--pod-bridge-interface)"),
        (dict(detect_local_mode=LocalMode.INTERFACE_NAME_PREFIX), "(--pod-interface-name-prefix)"),
    ],
)
def test_interface_modes_need_their_parameter(mode: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ProxierConfig(TEST_NODE, (TEST_NODE_IP,), **mode)  # type: ignore[arg-type]


def test_unknown_mode_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix"):
        LocalMode.parse("clustercidr")


# A pod 10.99.0.7 (inside the cluster CIDR, outside the node's pod CIDR) behind cni0, and an
# outside client 192.168.0.100 on eth0, both to the ClusterIP: masqueraded or not per mode.
POD, OUTSIDE = ip_address("10.99.0.7"), ip_address("192.168.0.100")
FATES = [
    ("cluster_cidr", POD, "cni0", False), ("cluster_cidr", OUTSIDE, "eth0", True),
    ("node_cidr", POD, "cni0", True), ("node_cidr", OUTSIDE, "eth0", True),
    ("bridge_interface", POD, "cni0", False), ("bridge_interface", OUTSIDE, "eth0", True),
    ("interface_name_prefix", POD, "cni0", True), ("interface_name_prefix", POD, "veth1a2b", False),
    ("none", POD, "cni0", False), ("none", OUTSIDE, "eth0", False),
]


@pytest.mark.parametrize(("mode", "src", "iface", "masquerades"), FATES)
def test_the_mode_decides_who_is_masqueraded(mode: str, src: object, iface: str, masquerades: bool) -> None:
    services, slices = _objects()
    ruleset = parse_save(generate_full(services, slices, _config(mode)))  # type: ignore[arg-type]
    packet = Packet(src, ip_address("172.30.0.41"), "tcp", 40000, 80)  # type: ignore[arg-type]
    results = trace_inbound(ruleset, packet, {TEST_NODE_IP, ip_address("127.0.0.1")}, in_iface=iface)
    assert {(r.destination[0] if r.destination else None) for r in results} == {
        ip_address("10.180.0.1"), ip_address("10.180.0.2")}
    assert {r.masquerade for r in results} == {masquerades}
