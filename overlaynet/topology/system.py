"""The objects every cluster has without anyone writing them: the apiserver's
``default/kubernetes`` Service, the cluster DNS Service ``kube-system/kube-dns`` and the
CoreDNS Deployment behind it, as kubeadm installs them.

They are read from the YAML below by the same readers as the user's files (``assemble.py``
adds them before its controllers run), so they are ordinary objects afterwards; a topology
that declares its own keeps its own. The Services rank first in creation order (they exist
before any user pod, so every pod gets ``KUBERNETES_SERVICE_HOST``); the CoreDNS pods come
after the user's pods in scheduling, creation and allocation order (as after a rollout
restart), so adding them moves no user pod to another node or address.
"""

from __future__ import annotations

from dataclasses import replace

from overlaynet.model import (
    Cluster,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Node,
    Pod,
    Service,
    Source,
)
from overlaynet.topology.fields import Ctx
from overlaynet.topology.parsed import Parsed
from overlaynet.topology.yamlsrc import read_documents

__all__ = ["SYSTEM_FILE", "add_system_objects", "apiserver_slices", "is_system", "without_system"]

#: The file name diagnostics and sources of these objects carry.
SYSTEM_FILE = "<cluster defaults>"
#: Sorts before every real creationTimestamp: the control plane was there first.
_BOOT = "1970-01-01T00:00:00Z"
APISERVER_PORT = 6443
#: Node labels that make a node a control-plane node (kubeadm's, then the older one).
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")

_KUBERNETES = f"""\
apiVersion: v1
kind: Service
metadata:
  name: kubernetes
  namespace: default
  labels: {{component: apiserver, provider: kubernetes}}
  creationTimestamp: "{_BOOT}"
spec:
  type: ClusterIP
  ports: [{{name: https, port: 443, protocol: TCP, targetPort: {APISERVER_PORT}}}]
"""

_KUBE_DNS = f"""\
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns, kubernetes.io/name: CoreDNS}}
  creationTimestamp: "{_BOOT}"
spec:
  selector: {{k8s-app: kube-dns}}
  ports:
    - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
    - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
    - {{name: metrics, port: 9153, protocol: TCP, targetPort: 9153}}
"""

_COREDNS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 2
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      dnsPolicy: Default
      nodeSelector: {kubernetes.io/os: linux}
      tolerations:
        - {key: CriticalAddonsOnly, operator: Exists}
        - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      containers:
        - name: coredns
          image: registry.k8s.io/coredns/coredns:v1.11.1
          ports:
            - {containerPort: 53, name: dns, protocol: UDP}
            - {containerPort: 53, name: dns-tcp, protocol: TCP}
            - {containerPort: 9153, name: metrics, protocol: TCP}
"""


def is_system(obj: object) -> bool:
    """Was ``obj`` (a Pod, Service, Workload, EndpointSlice…) added here rather than written?"""
    source = getattr(obj, "source", None)
    return getattr(source, "file", None) == SYSTEM_FILE


def add_system_objects(ctx: Ctx, parsed: Parsed, *, has_nodes: bool) -> bool:
    """Add what the topology leaves out of kubernetes, kube-dns and CoreDNS to ``parsed``.

    CoreDNS pods are added only when ``has_nodes`` (they need a node to run on) and when
    nothing in kube-system carries ``k8s-app: kube-dns`` already (a live dump's CoreDNS
    pods, or the user's own Deployment). Returns whether ``default/kubernetes`` was added
    (its endpoints are the control-plane nodes: ``apiserver_slices``)."""
    declared = {(e.service.namespace, e.service.name) for e in parsed.services}
    texts: list[str] = []
    added_kubernetes = ("default", "kubernetes") not in declared
    if added_kubernetes:
        texts.append(_KUBERNETES)
    if ("kube-system", "kube-dns") not in declared:
        texts.append(_KUBE_DNS)
    if has_nodes and _wants_coredns(parsed):
        texts.append(_COREDNS)
    if not texts:
        return False
    from overlaynet.topology.documents import (
        read_document,  # documents → readers → this module's callers
    )

    first_services = len(parsed.services)
    docs, diags = read_documents(SYSTEM_FILE, "---\n".join(texts))
    ctx.diagnostics.extend(diags)  # none: the YAML above is ours
    file, ctx.file = ctx.file, SYSTEM_FILE
    try:
        for doc in docs:
            read_document(ctx, parsed, doc)
    finally:
        ctx.file = file
    # Listed first, as kubectl lists them, and first in creation order with the timestamps above.
    parsed.services[:] = parsed.services[first_services:] + parsed.services[:first_services]
    return added_kubernetes


def _wants_coredns(parsed: Parsed) -> bool:
    kube_dns = next((e.service for e in parsed.services
                     if (e.service.namespace, e.service.name) == ("kube-system", "kube-dns")), None)
    if kube_dns is not None and dict(kube_dns.selector or {}) != {"k8s-app": "kube-dns"}:
        return False  # the user's own kube-dns selects their own pods
    labelled = [e.pod for e in parsed.pods] + [w.template for w in parsed.workloads]
    return not any(p.namespace == "kube-system" and p.labels.get("k8s-app") == "kube-dns" for p in labelled)


def apiserver_slices(nodes: list[Node] | tuple[Node, ...]) -> tuple[EndpointSlice, ...]:
    """The ``kubernetes`` EndpointSlices the apiserver keeps: its address on every
    control-plane node (nodes labelled so, else the first node), port 6443."""
    masters = [n for n in nodes if any(label in n.labels for label in CONTROL_PLANE_LABELS)] or list(nodes[:1])
    out = []
    for version, family in ((4, "IPv4"), (6, "IPv6")):
        ips = [n.ip for n in masters if n.ip.version == version]
        if ips:
            out.append(EndpointSlice(
                name="kubernetes" if version == 4 else "kubernetes-ipv6", namespace="default", service="kubernetes",
                address_type=family,  # type: ignore[arg-type]
                endpoints=tuple(Endpoint((ip,)) for ip in ips),
                ports=(EndpointPort(APISERVER_PORT, "TCP", "https"),),
                managed_by="kube-apiserver",
                source=Source(SYSTEM_FILE, 1),
            ))
    return tuple(out)


def without_system(cluster: Cluster) -> Cluster:
    """``cluster`` without what loading added to it (kubernetes, kube-dns, CoreDNS and their
    endpoints, kube-system unless something else lives there), its creation counter
    renumbered as if they had not been there: what a cluster built in code (``render`` then
    ``load`` of a ``clusters()`` example) compares equal to."""
    pods = [p for p in cluster.pods if not is_system(p)]
    services = [s for s in cluster.services if not is_system(s)]
    made: list[Pod | Service] = [*pods, *services]
    rank = {id(o): i for i, o in enumerate(sorted(made, key=lambda o: o.creation_index))}
    used = {p.namespace for p in pods} | {s.namespace for s in services}
    added = {(s.namespace, s.name) for s in cluster.services if is_system(s)}
    return replace(
        cluster,
        namespaces=tuple(n for n in cluster.namespaces if n.name != "kube-system" or n.source is not None or n.name in used),
        workloads=tuple(w for w in cluster.workloads if not is_system(w)),
        pods=tuple(replace(p, creation_index=rank[id(p)]) for p in pods),
        services=tuple(replace(s, creation_index=rank[id(s)]) for s in services),
        endpoint_slices=tuple(s for s in cluster.endpoint_slices if (s.namespace, s.service) not in added),
    )
