"""Dispatch each YAML document to the reader of its kind; unwrap ``List`` documents.

Kinds we do not emulate but that a live dump carries (ConfigMap, DaemonSet…) are skipped with
a warning; Calico's ``projectcalico.org/v3`` kinds are kept raw for the Calico driver.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from overlaynet.topology import fields as f
from overlaynet.topology.cluster_kind import read_cluster
from overlaynet.topology.docker_kinds import (
    is_network_inspect,
    read_container,
    read_network_inspect,
)
from overlaynet.topology.fields import Ctx
from overlaynet.topology.k8s_policy import read_network_policy, read_resource_quota
from overlaynet.topology.k8s_services import read_endpoint_slice, read_endpoints, read_service
from overlaynet.topology.k8s_workloads import read_namespace, read_node, read_pod, read_workload
from overlaynet.topology.parsed import Parsed
from overlaynet.topology.yamlsrc import Y

Reader = Callable[[Ctx, Parsed, Y, dict[str, Y]], None]

_APPS = ("apps/v1", "apps/v1beta2", "apps/v1beta1", "extensions/v1beta1")
KINDS: dict[str, tuple[tuple[str, ...], Reader]] = {
    "Cluster": (("overlaynet/v1",), read_cluster),
    "Container": (("overlaynet/v1",), read_container),
    "Namespace": (("v1",), read_namespace),
    "Node": (("v1",), read_node),
    "Pod": (("v1",), read_pod),
    "ReplicationController": (("v1",), lambda c, p, d, fl: read_workload(c, p, d, fl, "ReplicationController")),
    "ReplicaSet": (_APPS, lambda c, p, d, fl: read_workload(c, p, d, fl, "ReplicaSet")),
    "Deployment": (_APPS, lambda c, p, d, fl: read_workload(c, p, d, fl, "Deployment")),
    "StatefulSet": (_APPS, lambda c, p, d, fl: read_workload(c, p, d, fl, "StatefulSet")),
    "DaemonSet": (_APPS, lambda c, p, d, fl: read_workload(c, p, d, fl, "DaemonSet")),
    "Service": (("v1",), read_service),
    "Endpoints": (("v1",), read_endpoints),
    "EndpointSlice": (("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"), read_endpoint_slice),
    "NetworkPolicy": (("networking.k8s.io/v1",), read_network_policy),
    "ResourceQuota": (("v1",), read_resource_quota),
}
# Real kinds a `kubectl get ... -o yaml` dump may carry that have no effect on the network model.
IGNORED_KINDS = frozenset({
    "ConfigMap", "Secret", "ServiceAccount", "Job", "CronJob",
    "Ingress", "IngressClass", "PersistentVolume", "PersistentVolumeClaim", "Event",
    "HorizontalPodAutoscaler", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
    "ControllerRevision", "PodDisruptionBudget", "LimitRange", "PriorityClass", "StorageClass",
    "Lease", "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "CSIDriver", "CSINode", "ComponentStatus",
})
#: The API groups Kubernetes itself serves (and ours): an unknown kind there is a typo, an
#: error with a did-you-mean; a kind of any other group is a custom resource, skipped.
BUILTIN_GROUPS = frozenset({
    "", "overlaynet", "apps", "extensions", "batch", "autoscaling", "policy", "discovery.k8s.io",
    "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io", "coordination.k8s.io",
    "scheduling.k8s.io", "admissionregistration.k8s.io", "apiregistration.k8s.io", "apiextensions.k8s.io",
    "events.k8s.io", "node.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
})
TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status", "items", "subsets",
              "addressType", "endpoints", "ports", "data", "stringData", "type")


def read_document(ctx: Ctx, parsed: Parsed, doc: Y) -> None:
    """Read one document (or each item of a List) into ``parsed``."""
    if doc.value is None:
        return
    if is_network_inspect(doc):
        read_network_inspect(ctx, parsed, doc)
        return
    if not isinstance(doc.value, dict):
        ctx.error(doc, f"expected a Kubernetes object or a Cluster (a mapping with apiVersion and kind), found {f.describe(doc)}")
        return
    fields_ = doc.value
    kind_y = fields_.get("kind")
    api_y = fields_.get("apiVersion")
    if kind_y is None:
        ctx.error(doc, "missing required field 'kind': expected a kind such as Cluster, Pod or Service", path=f.child_path(doc.path, "kind") if doc.path else "kind")
        return
    kind = f.string(ctx, kind_y, "a kind name")
    if kind is None:
        return
    api = f.string(ctx, api_y, "an apiVersion") if api_y is not None else None
    if api_y is None:
        ctx.error(doc, f"missing required field 'apiVersion': expected the apiVersion of kind {kind}", path=f.child_path(doc.path, "apiVersion") if doc.path else "apiVersion")
        return
    if api is None:
        return
    if api.startswith("projectcalico.org/") or api.startswith("crd.projectcalico.org/"):
        plain = doc.plain()
        parsed.calico.append((kind, plain, ctx.source(doc)))
        return
    if kind == "List" or (kind.endswith("List") and "items" in fields_):
        _read_list(ctx, parsed, doc, fields_)
        return
    if kind in IGNORED_KINDS:
        if _first_of_kind(parsed, api, kind):
            ctx.warn(kind_y, f"kind {kind} is not part of the network model; ignored (every {kind} of the files)")
        return
    group = api.rpartition("/")[0]
    if kind not in KINDS and group not in BUILTIN_GROUPS:
        # a custom resource (cert-manager's Certificate, a Gateway, a ServiceMonitor…): a live
        # dump is full of them and none changes where a packet goes
        if _first_of_kind(parsed, api, kind):
            ctx.warn(kind_y, f"kind {kind} of API group {group} is not part of the network model; skipped "
                             f"(every {kind} of the files)")
        return
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, [*KINDS, "List"], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(sorted([*KINDS, 'List']))}"
        ctx.error(kind_y, f"unknown kind {kind!r}{hint}")
        return
    versions, reader = KINDS[kind]
    if api not in versions:
        ctx.error(api_y, f"expected apiVersion {' or '.join(versions)} for kind {kind}, found {api!r}")
        return
    if kind == "Cluster":
        f.mapping(ctx, doc, ("apiVersion", "kind", "metadata", "spec"), what="a Cluster document")
    else:
        f.mapping(ctx, doc, TOP_FIELDS, strict=False)
    reader(ctx, parsed, doc, fields_)


def _first_of_kind(parsed: Parsed, api: str, kind: str) -> bool:
    """True the first time (group, kind) is skipped: one warning per kind, not per object."""
    key = (api.rpartition("/")[0], kind)
    if key in parsed.skipped_kinds:
        return False
    parsed.skipped_kinds.add(key)
    return True


def _read_list(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    items = fields_.get("items")
    if items is None:
        ctx.error(doc, "missing required field 'items': expected a list of objects", path=f.child_path(doc.path, "items"))
        return
    for item in f.seq(ctx, items, "a list of objects"):
        read_document(ctx, parsed, item)
