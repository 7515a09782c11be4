"""weave-npc: NetworkPolicy verdicts under weave equal Calico's on the same generated clusters
and policies (same pods, same addresses), the policy step names the policy, and chains and
ipsets sit in the host namespace with weave-npc's roles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import ChainRole
from overlaynet.model import Cluster, FrozenDict, NetworkSpec
from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.testing.strategies import clusters
from overlaynet.topology import load_cluster
from overlaynet.trace.steps import PolicyStep

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"
POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-a, namespace: default}
spec:
  podSelector: {matchLabels: {app: c}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: a}}}]
      ports: [{port: 80}]
"""


def _same_addresses(cluster: Cluster) -> tuple[Cluster, Cluster]:
    """The cluster under weave (ipallocRange = the cluster's pod CIDR, IPAM chooses) and the
    same cluster under Calico with the addresses weave chose, in a pool of that CIDR."""
    cidr = str(cluster.pod_cidrs[0])
    pods = tuple(replace(p, ips=(), allocated=True) for p in cluster.pods)
    weave = replace(cluster, pods=pods, network=NetworkSpec("weave", FrozenDict({"ipallocRange": cidr})))
    placed = assemble(weave).cluster
    ips = {p.key: p.ips for p in placed.pods}
    calico_pods = tuple(replace(p, ips=ips[p.key], allocated=False) for p in cluster.pods)
    calico = replace(cluster, pods=calico_pods, network=NetworkSpec("calico", FrozenDict({"pools": [cidr], "encapsulation": "vxlan"})))
    return weave, calico


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cluster=clusters(max_nodes=3, segments=1, drivers=("calico",), max_pods_per_node=2, services=False, policies=True))
def test_weave_npc_verdicts_equal_calicos(cluster: Cluster) -> None:
    weave_cluster, calico_cluster = _same_addresses(cluster)
    weave, calico = assemble(weave_cluster), assemble(calico_cluster)
    pods = [p for p in weave.cluster.pods if p.ips and not p.host_network]
    for src in pods:
        for dst in pods:
            if src is dst:
                continue
            ports = sorted({c.port for c in dst.ports if c.protocol == "TCP"} | {80})[:3]
            for port in ports:
                req = TraceRequest(src.key, dst.key, port=port, proto="tcp")
                w = run(weave, req).forward.trace
                c = run(calico, req).forward.trace
                assert w.success == c.success, (
                    f"{src.key} → {dst.key}:{port}: weave {w.disposition.value} ({w.reason}); "
                    f"calico {c.disposition.value} ({c.reason})")


def test_policy_step_names_the_policy_and_default_allow(tmp_path: Path) -> None:
    (tmp_path / "pol.yaml").write_text(POLICY)
    net = assemble(load_cluster([TOPOLOGIES / "weave-partial-mesh.yaml", tmp_path / "pol.yaml"]))
    allowed = run(net, TraceRequest("default/a1", "default/c1")).forward.trace
    assert allowed.success
    accepts = [s for s in allowed.steps(PolicyStep) if s.verdict == "ACCEPT"]
    assert any("policy default/only-a" in s.policy for s in accepts)
    denied = run(net, TraceRequest("default/b1", "default/c1")).forward.trace
    assert denied.disposition.value == "DENIED"
    assert denied.hops[-1].host == "node-3", "the destination's peer drops it (frames to vethwe-bridge pass)"
    other = run(net, TraceRequest("default/c1", "default/b1")).forward.trace
    assert other.success  # b1 is selected by no policy: default allow
    assert any("DefaultAllow ingress isolation for namespace: default" in s.policy for s in other.steps(PolicyStep))
    root = net.build_all().namespace(NsRef("node-3"))
    chains = root.netfilter.tables["filter"].chains
    assert chains["WEAVE-NPC-INGRESS"].role is ChainRole.POLICY and chains["WEAVE-NPC-INGRESS"].origin == "weave-npc"
    assert chains["WEAVE-NPC"].role is ChainRole.POLICY_DISPATCH
    assert all(name.startswith("weave-") and len(name) <= 31 for name in root.ipsets)
