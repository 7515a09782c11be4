"""render → load gives the same model back: for generated clusters and the example files."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlaynet.model import Cluster, Hook, Pod, PodDNSConfig, Probe
from overlaynet.testing.strategies import clusters
from overlaynet.topology import load, load_text
from overlaynet.topology.render import render
from overlaynet.topology.system import without_system

from . import PROPERTIES

TOPOLOGIES = sorted((Path(__file__).parents[2] / "topologies").glob("*.yaml"))


@PROPERTIES
@given(st.booleans().flatmap(lambda dual: clusters(max_nodes=4, policies=True, dual_stack=dual)))
def test_render_then_load_gives_the_same_cluster(cluster: Cluster) -> None:
    text = render(cluster)
    assert without_system(load_text(text, "rendered.yaml").cluster) == cluster


def everything(value: Any) -> Any:
    """``value`` with every field, those kept off equality too (a pod's image, an exec
    probe's command, a workload's template), but not where it came from (``source``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, everything(getattr(value, f.name)))
                                            for f in dataclasses.fields(value) if f.name != "source"))
    if isinstance(value, Mapping):
        return tuple(sorted(((repr(k), everything(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, tuple | list):
        return tuple(everything(v) for v in value)
    return value


_COMMANDS = (("/bin/check",), ("cat", "/tmp/healthy"), ("sh", "-c", "test -f /ready"))
#: exec hooks with the drain delay the loader reads from a ``sleep N`` in the command
_EXEC_HOOKS = ((("/bin/drain",), 0), (("sh", "-c", "sleep 5"), 5), (("sleep", "10"), 10))


@st.composite
def _probes(draw: st.DrawFn, *, liveness: bool = False) -> Probe | None:
    kind = draw(st.sampled_from(("none", "httpGet", "tcpSocket", "grpc", "exec")))
    if kind == "none":
        return None
    port = None if kind == "exec" else draw(st.integers(1, 65535) | st.sampled_from(("http", "metrics")))
    if kind == "grpc":
        port = draw(st.integers(1, 65535))
    return Probe(
        kind, port, draw(st.sampled_from(("/healthz", "/"))) if kind == "httpGet" else None,  # type: ignore[arg-type]
        draw(st.integers(0, 30)), draw(st.integers(1, 60)), draw(st.integers(1, 10)),
        1 if liveness else draw(st.integers(1, 5)), draw(st.integers(1, 10)),
        draw(st.sampled_from(_COMMANDS)) if kind == "exec" else ())


@st.composite
def _hooks(draw: st.DrawFn) -> Hook | None:
    kind = draw(st.sampled_from(("none", "sleep", "exec", "httpGet", "tcpSocket")))
    if kind == "none":
        return None
    if kind == "sleep":
        return Hook("sleep", draw(st.integers(0, 60)))
    if kind == "exec":
        command, seconds = draw(st.sampled_from(_EXEC_HOOKS))
        return Hook("exec", seconds, command)
    return Hook(kind)  # type: ignore[arg-type]


@st.composite
def _pods_with_containers(draw: st.DrawFn, pod: Pod) -> Pod:
    """``pod`` with what its container spec can say beyond ports: image, the three probes
    (every threshold, exec commands), lifecycle hooks and the grace period."""
    return replace(
        pod, image=draw(st.sampled_from(("nginx:1.25", "registry.k8s.io/e2e-test-images/agnhost:2.45"))),
        readiness_probe=draw(_probes()), liveness_probe=draw(_probes(liveness=True)),
        startup_probe=draw(_probes(liveness=True)), post_start=draw(_hooks()), pre_stop=draw(_hooks()),
        termination_grace_period_seconds=draw(st.sampled_from((30, 0, 5, 120))),
        enable_service_links=draw(st.booleans()), **draw(_dns()))


@st.composite
def _dns(draw: st.DrawFn) -> dict[str, Any]:
    policy = draw(st.sampled_from(("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")))
    config = None
    if policy == "None" or draw(st.booleans()):
        config = PodDNSConfig(
            tuple(draw(st.lists(st.sampled_from(("10.0.0.53", "1.1.1.1", "2001:db8::53")), unique=True, max_size=2))),
            tuple(draw(st.lists(st.sampled_from(("svc.corp", "corp")), unique=True, max_size=2))),
            draw(st.none() | st.integers(0, 15)))
    return {"dns_policy": policy, "dns_config": config}


@st.composite
def _rich_clusters(draw: st.DrawFn) -> Cluster:
    cluster = draw(clusters(max_nodes=3, policies=True))
    return replace(cluster, pods=tuple(draw(_pods_with_containers(p)) for p in cluster.pods))


@PROPERTIES
@given(_rich_clusters())
def test_render_then_load_keeps_every_field_the_loader_reads(cluster: Cluster) -> None:
    text = render(cluster)
    back = without_system(load_text(text, "rendered.yaml").cluster)
    assert back == cluster
    for want, got in zip(cluster.pods, back.pods, strict=True):
        assert everything(got) == everything(want), want.key


@PROPERTIES
@given(clusters(max_nodes=2, drivers=("flannel", "calico"), driver_options={
    "flannel": st.fixed_dictionaries({"backend": st.sampled_from(["vxlan", "host-gw", "udp"])}),
    "calico": {"ipipMode": "CrossSubnet", "pools": [{"cidr": "10.244.0.0/16"}]},
}))
def test_driver_options_survive_the_round_trip(cluster: Cluster) -> None:
    assert cluster.network.driver in ("flannel", "calico")
    assert load_text(render(cluster)).cluster.network == cluster.network


def _without_owners(cluster: Cluster) -> Cluster:
    # A plain Pod's ownerReferences do not set Pod.owner when loaded (the loader keeps owner
    # for the pods it expands from workloads), so owners are compared separately.
    return replace(cluster, pods=tuple(replace(p, owner=None) for p in cluster.pods))


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.name for p in TOPOLOGIES])
def test_example_topologies_round_trip(path: Path) -> None:
    cluster = load([path]).cluster
    back = load_text(render(cluster), f"rendered-{path.name}").cluster
    assert _without_owners(back) == _without_owners(cluster)
    assert back.workloads == cluster.workloads
    assert everything(_without_owners(back)) == everything(_without_owners(cluster))


WORKLOADS = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: workloads}
spec:
  nodes:
    - {name: node-1, ip: 192.168.10.11, labels: {zone: a}}
    - {name: node-2, ip: 192.168.10.12, labels: {zone: b}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  minReadySeconds: 5
  progressDeadlineSeconds: 120
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {zone: b}
      terminationGracePeriodSeconds: 45
      containers:
        - name: c
          image: nginx:1.25
          ports: [{containerPort: 80, name: http}]
          readinessProbe: {httpGet: {port: http, path: /ready}, periodSeconds: 3, failureThreshold: 2, timeoutSeconds: 2, successThreshold: 2}
          startupProbe: {exec: {command: [cat, /tmp/ok]}, failureThreshold: 30}
          lifecycle: {preStop: {exec: {command: [sh, -c, "sleep 7"]}}, postStart: {sleep: {seconds: 1}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: default}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: batch}}
  template:
    metadata: {labels: {app: batch}}
    spec: {containers: [{name: c, image: busybox, livenessProbe: {grpc: {port: 9000}, timeoutSeconds: 3}}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: default}
spec:
  replicas: 1
  selector: {matchExpressions: [{key: app, operator: In, values: [rs]}]}
  template:
    metadata: {labels: {app: rs}}
    spec: {nodeSelector: {zone: a}, containers: [{name: c, image: busybox}]}
"""


def test_workloads_round_trip_with_their_templates_strategy_and_node_selector() -> None:
    cluster = load_text(WORKLOADS, "workloads.yaml").cluster
    web = next(w for w in cluster.workloads if w.name == "web")
    assert web.node_selector == {"zone": "b"} and web.template is not None
    assert web.template.pre_stop == Hook("exec", 7, ("sh", "-c", "sleep 7"))
    back = load_text(render(cluster), "rendered.yaml").cluster
    assert everything(back.workloads) == everything(cluster.workloads)
    assert everything(_without_owners(back)) == everything(_without_owners(cluster))
    assert {p.node for p in back.pods if p.name.startswith("web-")} == {"node-2"}  # the selector's zone


def test_statefulsets_and_daemonsets_render_as_they_load() -> None:
    """A DaemonSet is written without replicas (the loader refuses them) and a StatefulSet
    with its serviceName; the cluster comes back with every field (pods are kept in creation
    order, so IPAM meets the DaemonSet's pods in the same order again)."""
    cluster = load([Path(__file__).parents[1] / "topology" / "fixtures" / "statefulset-daemonset.yaml"]).cluster
    back = load_text(render(cluster), "rendered.yaml").cluster
    assert everything(back.workloads) == everything(cluster.workloads)
    assert {w.kind for w in back.workloads} >= {"StatefulSet", "DaemonSet"}

    def placed(c: Cluster) -> list[tuple[str, str | None, str | None, str | None]]:
        return sorted((p.key, p.node, p.hostname, p.subdomain) for p in c.pods)

    assert placed(back) == placed(cluster)
    assert ("default/db-2", cluster.pod("default", "db-2").node, "db-2", "db") in placed(back)
    assert everything(_without_owners(back)) == everything(_without_owners(cluster))


ORDER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec: {nodeName: node-1, containers: [{name: c, image: busybox}]}
"""


def test_a_workload_before_a_pod_keeps_its_addresses_through_render() -> None:
    """Pods are in creation order (the Deployment's first, then the Pod after it in the
    file), so IPAM gives the same addresses when the rendered file is loaded."""
    cluster = load_text(ORDER, "order.yaml").cluster
    mine = [p for p in cluster.pods if p.namespace == "default"]
    assert [p.name for p in mine][-1] == "solo" and all(p.allocated for p in mine)
    back = load_text(render(cluster), "rendered.yaml").cluster
    assert [(p.key, p.ips) for p in back.pods] == [(p.key, p.ips) for p in cluster.pods]
    assert _without_owners(back) == _without_owners(cluster)


def test_render_writes_plain_pods_and_only_hand_written_slices() -> None:
    import yaml

    cluster = load([Path(__file__).parents[2] / "topologies" / "custom-service.yaml"]).cluster
    docs = list(yaml.safe_load_all(render(cluster)))
    assert docs[0]["apiVersion"] == "overlaynet/v1" and docs[0]["kind"] == "Cluster"
    kinds = [d["kind"] for d in docs]
    assert {"Deployment", "ReplicaSet", "ReplicationController"}.isdisjoint(kinds)  # none in this file
    for pod in (d for d in docs if d["kind"] == "Pod"):
        model = cluster.pod(pod["metadata"].get("namespace", "default"), pod["metadata"]["name"])
        assert pod["spec"]["nodeName"] == model.node
        # an address the default IPAM chose is left for the loader to choose again
        assert pod["status"].get("podIP") == (None if model.allocated else str(model.ip))
    selected = {s.name for s in cluster.services if s.selector is not None}
    slices = [d for d in docs if d["kind"] == "EndpointSlice"]
    assert slices, "the selector-less service's hand-written endpoints are written out"
    assert all(d["metadata"]["labels"]["kubernetes.io/service-name"] not in selected for d in slices)
