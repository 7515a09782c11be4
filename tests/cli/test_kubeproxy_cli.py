"""``overlaynet kube-proxy rules``: topologies, bare Service/EndpointSlice manifests, errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  clusterIP: 172.30.0.41
  ports: [{name: p80, port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc1-abc
  namespace: ns1
  labels: {kubernetes.io/service-name: svc1}
addressType: IPv4
endpoints:
  - addresses: [10.180.0.1]
ports: [{name: p80, port: 80, protocol: TCP}]
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["kube-proxy", "rules", *args])
    return result.exit_code, result.stdout, result.stderr


def test_bare_manifests_with_node_ip(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    code, out, err = _run(str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--cluster-cidr", "10.0.0.0/8")
    assert code == 0, err
    assert out.startswith("*filter\n")
    assert '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O' in out
    assert "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80" in out
    assert "! -s 10.0.0.0/8 -j KUBE-MARK-MASQ" in out
    assert "-A PREROUTING" not in out  # only the restore payload


def test_bare_manifests_need_node_ip(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    code, out, err = _run(str(f), "--node", "n1")
    assert code == 2
    assert "--node-ip" in err and "Traceback" not in err


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    code, _, err = _run(str(f), "--node", "n1", "--node-ip", "not-an-ip")
    assert code == 2 and "not an IP address" in err
    code, _, err = _run(str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--nodeport-addresses", "10.0.0/x")
    assert code == 2 and "--nodeport-addresses" in err


def test_options_masquerade_all_nodeport_addresses_full(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    code, out, _ = _run(
        str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--masquerade-all",
        "--nodeport-addresses", "primary", "--full",
    )
    assert code == 0
    assert '-d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ' in out
    assert "-d 192.168.0.2 -j KUBE-NODEPORTS" in out
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in out


def test_demo_topology_json() -> None:
    from overlaynet.topology import load_cluster

    demo = ROOT / "topologies" / "demo.yaml"
    node = load_cluster([demo]).nodes[0].name
    code, out, err = _run(str(demo), "--node", node, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["node"] == node and set(doc["tables"]) == {"filter", "nat"}
    assert doc["rule_counts"]["nat"] > 5
    assert any(line.startswith("-A KUBE-SVC-") for line in doc["tables"]["nat"])


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["kube-proxy", "rules", "--help"])
    assert result.exit_code == 0 and "overlaynet kube-proxy rules" in result.output


DUAL_STACK = """\
apiVersion: v1
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  clusterIP: 172.30.0.41
  clusterIPs: [172.30.0.41, "fd00:30::41"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{name: p80, port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc1-v6
  namespace: ns1
  labels: {kubernetes.io/service-name: svc1}
addressType: IPv6
endpoints:
  - addresses: ["fd00:10::1"]
ports: [{name: p80, port: 80, protocol: TCP}]
"""


def test_ipv6_proxier(tmp_path: Path) -> None:
    f = tmp_path / "dual.yaml"
    f.write_text(DUAL_STACK)
    code, out, err = _run(str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--node-ip", "2001:db8::2",
                          "--cluster-cidr", "10.0.0.0/8,fd00:10::/64", "--ip-family", "6")
    assert code == 0, err
    assert "-d fd00:30::41 --dport 80" in out and "--to-destination [fd00:10::1]:80" in out
    assert "! -s fd00:10::/64 -j KUBE-MARK-MASQ" in out
    assert "172.30.0.41" not in out


def test_detect_local_modes_on_the_command_line(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    base = (str(f), "--node", "n1", "--node-ip", "192.168.0.2")
    masq = "-d 172.30.0.41 --dport 80 {} -j KUBE-MARK-MASQ"
    code, out, err = _run(*base, "--detect-local-mode", "BridgeInterface", "--pod-bridge-interface", "cbr0")
    assert code == 0, err
    assert masq.format("! -i cbr0") in out
    code, out, err = _run(*base, "--detect-local-mode", "InterfaceNamePrefix", "--pod-interface-name-prefix", "veth")
    assert code == 0, err
    assert masq.format("! -i veth+") in out
    code, out, err = _run(*base, "--cluster-cidr", "")  # no cluster CIDR: no local-traffic detection
    assert code == 0, err
    assert "KUBE-MARK-MASQ" not in "".join(line for line in out.splitlines() if line.startswith("-A KUBE-SVC-"))


def test_detect_local_mode_errors_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    base = (str(f), "--node", "n1", "--node-ip", "192.168.0.2")
    code, _, err = _run(*base, "--detect-local-mode", "BridgeInterface")
    assert code == 2 and "needs a bridge interface (--pod-bridge-interface)" in err and "Traceback" not in err
    code, _, err = _run(*base, "--detect-local-mode", "NodeCidr")
    assert code == 2 and "'NodeCidr' is not one of" in err


def test_node_addresses_for_nodeport_addresses(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text(MANIFESTS)
    code, out, err = _run(str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--node-address", "10.0.0.5",
                          "--node-address", "172.17.0.1", "--nodeport-addresses", "10.0.0.0/8,192.168.0.0/16")
    assert code == 0, err
    tails = [line.rsplit('" ', 1)[1] for line in out.splitlines() if line.endswith("-j KUBE-NODEPORTS")]
    assert tails == ["-d 10.0.0.5 -j KUBE-NODEPORTS", "-d 192.168.0.2 -j KUBE-NODEPORTS"]
    code, _, err = _run(str(f), "--node", "n1", "--node-ip", "192.168.0.2", "--node-address", "nope")
    assert code == 2 and "--node-address: 'nope' is not an IP address" in err


def test_a_topologys_host_interfaces_count_for_nodeport_addresses() -> None:
    """With pods, the node's interface addresses are those the network driver creates too
    (flannel's cni0 gateway and flannel.1 address on node-1)."""
    demo = ROOT / "topologies" / "demo.yaml"
    code, out, err = _run(str(demo), "--node", "node-1", "--nodeport-addresses", "10.244.0.0/16")
    assert code == 0, err
    tails = sorted(line.rsplit(" -d ", 1)[1] for line in out.splitlines() if line.endswith("-j KUBE-NODEPORTS"))
    assert tails and all(t.startswith("10.244.") for t in tails), tails
