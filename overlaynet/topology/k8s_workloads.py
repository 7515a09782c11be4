"""Readers for Kubernetes Namespace, Node, Pod, ReplicationController, ReplicaSet, Deployment.

Only the fields we interpret are checked (near-miss spelling included); the rest of a real
object (uid, managedFields, status noise) is ignored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, replace

from overlaynet.model import (
    ContainerPort,
    FrozenDict,
    Hook,
    IPAddress,
    Labels,
    LabelSelector,
    Namespace,
    Pod,
    PodDNSConfig,
    Probe,
    Workload,
)
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.k8s_scheduling import read_taints, read_tolerations
from overlaynet.topology.parsed import NodeEntry, OwnerRef, Parsed, PodEntry, WorkloadEntry
from overlaynet.topology.yamlsrc import Y

META_FIELDS = (
    "name", "namespace", "labels", "annotations", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "uid", "resourceVersion", "generation", "managedFields",
    "ownerReferences", "finalizers", "generateName", "selfLink",
)
POD_SPEC_FIELDS = (
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
    "dnsConfig", "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname", "hostnameOverride",
    "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims",
    "resources", "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
    "securityContext", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN",
    "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds", "tolerations",
    "topologySpreadConstraints", "volumes",
)
CONTAINER_FIELDS = (
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle",
    "livenessProbe", "name", "ports", "readinessProbe", "resizePolicy", "resources",
    "restartPolicy", "securityContext", "startupProbe", "stdin", "stdinOnce",
    "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices",
    "volumeMounts", "workingDir",
)
PORT_FIELDS = ("containerPort", "hostIP", "hostPort", "name", "protocol")
PROBE_FIELDS = (
    "exec", "failureThreshold", "grpc", "httpGet", "initialDelaySeconds", "periodSeconds",
    "successThreshold", "tcpSocket", "terminationGracePeriodSeconds", "timeoutSeconds",
)
POD_STATUS_FIELDS = (
    "conditions", "containerStatuses", "ephemeralContainerStatuses", "hostIP", "hostIPs",
    "initContainerStatuses", "message", "nominatedNodeName", "observedGeneration", "phase",
    "podIP", "podIPs", "qosClass", "reason", "resize", "resourceClaimStatuses", "startTime",
)
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class Meta:
    name: str | None
    namespace: str
    labels: Labels
    timestamp: str | None
    deleting: bool
    owner_refs: tuple[OwnerRef, ...]
    uid: str | None = None


def read_meta(ctx: Ctx, doc: Y, fields_: dict[str, Y], *, namespaced: bool = True, name_kind: str = "subdomain") -> Meta:
    """metadata: name (required), namespace (default "default"), labels, timestamps, owners."""
    my = fields_.get("metadata")
    m = f.mapping(ctx, my, META_FIELDS, strict=False) if my is not None else None
    if m is None:
        if my is None:
            ctx.error(doc, "missing required field 'metadata': expected a mapping with a name", path="metadata")
        return Meta(None, "default", FrozenDict(), None, False, ())
    assert my is not None
    name_y = f.required(ctx, my, m, "name", "the object's name")
    name = f.dns_label(ctx, name_y, "a name") if name_kind == "label" else f.dns_subdomain(ctx, name_y, "a name")
    ctx.remember_name(doc, name_y)
    namespace = "default"
    if namespaced and m.get("namespace") is not None:
        namespace = f.dns_label(ctx, m["namespace"], "a namespace name") or "default"
    timestamp = f.timestamp(ctx, m.get("creationTimestamp"), "a creationTimestamp")
    owners = _owner_refs(ctx, m.get("ownerReferences"))
    uid = f.string(ctx, m.get("uid"), "a uid") if m.get("uid") is not None else None
    return Meta(
        name,
        namespace,
        f.label_map(ctx, m.get("labels")),
        timestamp,
        m.get("deletionTimestamp") is not None and m["deletionTimestamp"].value is not None,
        owners,
        uid,
    )


def _owner_refs(ctx: Ctx, y: Y | None) -> tuple[OwnerRef, ...]:
    """metadata.ownerReferences: kind and name required, at most one ``controller: true``
    (the API server's ValidateOwnerReferences); apiVersion and uid as given."""
    out: list[OwnerRef] = []
    controller: Y | None = None
    for ref in f.seq(ctx, y, "a list of owner references"):
        m = f.mapping(ctx, ref, ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"), what="an owner reference")
        if m is None:
            continue
        kind = f.string(ctx, f.required(ctx, ref, m, "kind", "the owner's kind"), "the owner's kind")
        name = f.string(ctx, f.required(ctx, ref, m, "name", "the owner's name"), "the owner's name")
        uid = f.string(ctx, m.get("uid"), "the owner's uid") if m.get("uid") is not None else None
        is_controller = f.boolean(ctx, m.get("controller")) or False
        if is_controller and controller is not None:
            ctx.error(m["controller"], f"expected at most one owner reference with controller: true, found another (first at line {controller.line})")
            is_controller = False
        if is_controller:
            controller = m["controller"]
        if kind and name:
            out.append(OwnerRef(kind, name, uid or None, is_controller, ctx.source(ref)))
    return tuple(out)


def read_namespace(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_, namespaced=False, name_kind="label")
    if meta.name is None:
        return
    lbls = dict(meta.labels)
    lbls.setdefault("kubernetes.io/metadata.name", meta.name)  # the API server adds it
    parsed.namespaces.append(Namespace(meta.name, FrozenDict(lbls), ctx.source(doc)))
    ctx.remember(("namespace", meta.name), doc)


def read_node(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_, namespaced=False)
    spec = f.mapping(ctx, fields_.get("spec"), ("podCIDR", "podCIDRs", "providerID", "taints", "unschedulable", "configSource", "externalID"), strict=False) or {}
    status = f.mapping(ctx, fields_.get("status"), ("addresses", "allocatable", "capacity", "conditions", "daemonEndpoints", "images", "nodeInfo", "phase", "volumesAttached", "volumesInUse", "config", "features", "runtimeHandlers", "declaredFeatures"), strict=False) or {}
    cidrs = f.cidr_list(ctx, spec.get("podCIDRs"), "a pod CIDR")
    if not cidrs and spec.get("podCIDR") is not None:
        cidrs = f.cidr_list(ctx, spec["podCIDR"], "a pod CIDR")
    ips: list[IPAddress] = []
    for addr in f.seq(ctx, status.get("addresses")):
        a = f.mapping(ctx, addr, ("type", "address"), strict=False)
        if a is None:
            continue
        kind = f.string(ctx, a.get("type"))
        if kind == "InternalIP":
            value = f.ip(ctx, a.get("address"), "a node InternalIP address")
            if value is not None:
                ips.append(value)
                if len(ips) == 1:
                    ctx.remember(("node", meta.name, "ip"), a.get("address"))
    taints = read_taints(ctx, spec.get("taints"))
    unschedulable = f.boolean(ctx, spec.get("unschedulable")) or False
    if meta.name is None:
        return
    ctx.remember(("node", meta.name), doc)
    if spec.get("podCIDRs") is not None or spec.get("podCIDR") is not None:
        ctx.remember(("node", meta.name, "podCIDR"), spec.get("podCIDRs") or spec.get("podCIDR"))
    parsed.nodes.append(
        NodeEntry(meta.name, ips[0] if ips else None, meta.labels, cidrs, None, tuple(ips[1:]), ctx.source(doc), taints, unschedulable)
    )


def _probe(ctx: Ctx, y: Y | None, *, liveness: bool = False) -> Probe | None:
    m = f.mapping(ctx, y, PROBE_FIELDS, strict=False, what="a probe")
    if not m:
        return None
    for kind in ("httpGet", "tcpSocket", "grpc", "exec"):
        if kind in m:
            sub = m[kind].value if isinstance(m[kind].value, dict) else {}
            port_y = sub.get("port")
            path_y = sub.get("path")
            success = f.integer(ctx, m.get("successThreshold"), 1, None, "a success threshold") or 1
            if liveness and success != 1 and m.get("successThreshold") is not None:
                # the API server's validation: liveness and startup probes need exactly 1
                ctx.error(m["successThreshold"], f"expected successThreshold 1 for a liveness or startup probe, found {success}")
                success = 1
            return Probe(
                kind,
                f.port_or_name(ctx, port_y) if port_y is not None else None,
                f.string(ctx, path_y) if path_y is not None else None,
                f.integer(ctx, m.get("initialDelaySeconds"), 0, None) or 0,
                f.integer(ctx, m.get("periodSeconds"), 1, None) or 10,
                f.integer(ctx, m.get("timeoutSeconds"), 1, None, "a timeout in seconds") or 1,
                success,
                f.integer(ctx, m.get("failureThreshold"), 1, None, "a failure threshold") or 3,
                _command(ctx, sub.get("command")) if kind == "exec" else (),
            )
    ctx.error(y, "expected a probe with one of httpGet, tcpSocket, grpc or exec, found none")  # type: ignore[arg-type]
    return None


def _command(ctx: Ctx, y: Y | None) -> tuple[str, ...]:
    return tuple(str(item.value) for item in f.seq(ctx, y, "a command (a list of strings)") if item.value is not None)


_SLEEP = re.compile(r"(?:^|[;&|\s])sleep\s+(\d+)(?:s)?(?:$|[;&|\s])")


def _hook(ctx: Ctx, y: Y | None) -> Hook | None:
    """A lifecycle handler; its duration is known for ``sleep`` and for an exec whose
    command runs ``sleep N`` (the common drain-delay idiom), else the hook returns at once."""
    m = f.mapping(ctx, y, ("exec", "httpGet", "tcpSocket", "sleep"), what="a lifecycle handler")
    if not m:
        return None
    if "sleep" in m:
        sm = f.mapping(ctx, m["sleep"], ("seconds",), what="a sleep action") or {}
        return Hook("sleep", f.integer(ctx, sm.get("seconds"), 0, None, "a number of seconds") or 0)
    if "exec" in m:
        em = f.mapping(ctx, m["exec"], ("command",), what="an exec action") or {}
        command = _command(ctx, em.get("command"))
        found = _SLEEP.search(" ".join(command))
        return Hook("exec", int(found.group(1)) if found else 0, command)
    for kind in ("httpGet", "tcpSocket"):
        if kind in m:
            return Hook(kind)
    assert y is not None
    ctx.error(y, "expected a lifecycle handler with one of exec, httpGet, tcpSocket or sleep, found none")
    return None


DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")


def _dns_config(ctx: Ctx, y: Y | None) -> PodDNSConfig | None:
    m = f.mapping(ctx, y, ("nameservers", "searches", "options"), what="a dnsConfig")
    if m is None:
        return None
    nameservers = []
    for item in f.seq(ctx, m.get("nameservers"), "a list of nameserver addresses"):
        text = f.string(ctx, item, "a nameserver IP address")
        if text is None:
            continue
        try:
            ipaddress.ip_address(text)
        except ValueError:
            ctx.error(item, f"expected a nameserver IP address, found {text!r}")
            continue
        nameservers.append(text)
    searches = [s for item in f.seq(ctx, m.get("searches"), "a list of search domains")
                if (s := f.string(ctx, item, "a search domain")) is not None]
    ndots = None
    for opt in f.seq(ctx, m.get("options"), "a list of resolver options"):
        om = f.mapping(ctx, opt, ("name", "value"), what="a resolver option")
        if om is None:
            continue
        if f.string(ctx, om.get("name")) == "ndots" and om.get("value") is not None:
            text = f.string(ctx, om["value"], "a number of dots as a string")
            if text is not None and text.isdigit():
                ndots = min(int(text), 15)  # glibc caps ndots at 15
            else:
                ctx.error(om["value"], f"expected ndots as a number in a string (\"2\"), found {text!r}")
    return PodDNSConfig(tuple(nameservers), tuple(searches), ndots)


def read_pod_spec(ctx: Ctx, spec_y: Y | None, base: Pod) -> tuple[Pod, Labels]:
    """The parts of a PodSpec we model; returns the pod and its nodeSelector."""
    spec = f.mapping(ctx, spec_y, POD_SPEC_FIELDS, strict=False, what="a pod spec")
    if spec is None:
        return base, FrozenDict()
    assert spec_y is not None
    ports: list[ContainerPort] = []
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None
    post_start: Hook | None = None
    pre_stop: Hook | None = None
    image: str | None = None
    containers = f.seq(ctx, spec.get("containers"))
    if "containers" not in spec:
        ctx.error(spec_y, "missing required field 'containers': expected a list of containers", path=f"{spec_y.path}.containers")
    # Sidecars (init containers with restartPolicy Always) keep running and serve their
    # ports: the endpoints controller resolves named target ports on them too, after the
    # app containers (FindPort in k8s.io/kubernetes pkg/api/v1/pod/util.go).
    sidecars = [
        c for c in f.seq(ctx, spec.get("initContainers"))
        if isinstance(c.value, dict) and c.value.get("restartPolicy") is not None and c.value["restartPolicy"].value == "Always"
    ]
    first_named: dict[str, Y] = {}
    for index, c in enumerate([*containers, *sidecars]):
        cm = f.mapping(ctx, c, CONTAINER_FIELDS, strict=False, what="a container")
        if cm is None:
            continue
        own_names: set[str] = set()
        for p in f.seq(ctx, cm.get("ports")):
            pm = f.mapping(ctx, p, PORT_FIELDS, strict=False, what="a container port")
            if pm is None:
                continue
            number = f.port(ctx, f.required(ctx, p, pm, "containerPort", "a port number 1-65535"), "a container port number")
            proto = f.choice(ctx, pm.get("protocol"), PROTOCOLS) or "TCP"
            name = f.port_or_name(ctx, pm.get("name")) if pm.get("name") is not None else None
            if isinstance(name, int):
                ctx.error(pm["name"], f"expected a port name with at least one letter, found {name}")
                name = None
            if isinstance(name, str):
                # the API server rejects a name used twice in one container; across
                # containers it only warns, and lookups by name take the first
                if name in own_names:
                    ctx.error(pm["name"], f"duplicate container port name {name!r}: expected port names unique within a container")
                elif name in first_named:
                    ctx.warn(pm["name"], f"duplicate port name {name!r} (first at line {first_named[name].line}): services and probes that select ports by name use the first")
                else:
                    first_named[name] = pm["name"]
                own_names.add(name)
            host_port = f.port(ctx, pm.get("hostPort"), "a host port number")
            if number is not None:
                ports.append(ContainerPort(number, proto, name, host_port))  # type: ignore[arg-type]
        if index >= len(containers):
            continue  # a sidecar's probes do not make the pod ready here
        readiness = readiness or _probe(ctx, cm.get("readinessProbe"))
        liveness = liveness or _probe(ctx, cm.get("livenessProbe"), liveness=True)
        startup = startup or _probe(ctx, cm.get("startupProbe"), liveness=True)
        if index == 0:
            image = f.string(ctx, cm.get("image"), "a container image") if cm.get("image") is not None else None
        life = f.mapping(ctx, cm.get("lifecycle"), ("postStart", "preStop", "stopSignal"), what="container lifecycle hooks") or {}
        post_start = post_start or _hook(ctx, life.get("postStart"))
        pre_stop = pre_stop or _hook(ctx, life.get("preStop"))
    node = f.dns_subdomain(ctx, spec.get("nodeName"), "a node name")
    hostname = f.dns_label(ctx, spec.get("hostname"), "a hostname")
    subdomain = f.dns_label(ctx, spec.get("subdomain"), "a subdomain")
    host_net = f.boolean(ctx, spec.get("hostNetwork")) or False
    links = f.boolean(ctx, spec.get("enableServiceLinks"))
    dns_policy = f.choice(ctx, spec.get("dnsPolicy"), DNS_POLICIES) or "ClusterFirst"
    dns_config = _dns_config(ctx, spec.get("dnsConfig"))
    grace = f.integer(ctx, spec.get("terminationGracePeriodSeconds"), 0, None, "a grace period in seconds")
    if dns_policy == "None" and dns_config is None and spec.get("dnsPolicy") is not None:
        ctx.error(spec["dnsPolicy"], "expected spec.dnsConfig with dnsPolicy None (the pod would have no resolver), found none")
    pod = Pod(
        name=base.name,
        namespace=base.namespace,
        labels=base.labels,
        node=node,
        ports=tuple(ports),
        hostname=hostname,
        subdomain=subdomain,
        host_network=host_net,
        enable_service_links=True if links is None else links,
        dns_policy=dns_policy,  # type: ignore[arg-type]
        dns_config=dns_config,
        readiness_probe=readiness,
        liveness_probe=liveness,
        startup_probe=startup,
        image=image,
        post_start=post_start,
        pre_stop=pre_stop,
        termination_grace_period_seconds=30 if grace is None else grace,
        tolerations=read_tolerations(ctx, spec.get("tolerations")),
        terminating=base.terminating,
        creation_timestamp=base.creation_timestamp,
        source=base.source,
    )
    if spec.get("nodeSelector") is not None and base.source is not None:
        ctx.remember(("nodeSelector", base.source.file, base.source.line, base.source.column), spec["nodeSelector"])
    if spec.get("tolerations") is not None and base.source is not None:
        ctx.remember(("tolerations", base.source.file, base.source.line, base.source.column), spec["tolerations"])
    return pod, f.label_map(ctx, spec.get("nodeSelector"), "node selector labels")


def read_pod(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta = read_meta(ctx, doc, fields_)
    base = Pod(name=meta.name or "", namespace=meta.namespace, labels=meta.labels, terminating=meta.deleting,
               creation_timestamp=meta.timestamp, source=ctx.source(doc))
    pod, node_selector = read_pod_spec(ctx, fields_.get("spec"), base)
    if "spec" not in fields_:
        ctx.error(doc, "missing required field 'spec': expected a pod spec with containers", path="spec")
    status_y = fields_.get("status")
    status = f.mapping(ctx, status_y, POD_STATUS_FIELDS, strict=False) or {}
    ips: list[IPAddress] = []
    for item in f.seq(ctx, status.get("podIPs")):
        im = f.mapping(ctx, item, ("ip",), strict=False)
        if im is not None and im.get("ip") is not None:
            value = f.ip(ctx, im["ip"], "a pod IP address")
            if value is None:
                continue
            same = [i for i in ips if i.version == value.version]
            if same:  # as the API server: at most one IP per family, podIPs[0] the primary
                ctx.error(im["ip"], f"expected at most one pod IP per IP family (an IPv4 and an IPv6 one), found {same[0]} and {value}")
                continue
            ips.append(value)
            ctx.remember(("pod", meta.namespace, meta.name, "ip", value), im["ip"])
    if status.get("podIP") is not None:
        value = f.ip(ctx, status["podIP"], "a pod IP address")
        if value is not None and not ips:
            ips.append(value)
            ctx.remember(("pod", meta.namespace, meta.name, "ip", value), status["podIP"])
        elif value is not None and value != ips[0]:
            ctx.error(status["podIP"], f"expected podIP to equal podIPs[0] {ips[0]}, found {value}")
    host_ip = f.ip(ctx, status.get("hostIP"), "the node's IP address") if status.get("hostIP") is not None else None
    phase = f.choice(ctx, status.get("phase"), ("Pending", "Running", "Succeeded", "Failed", "Unknown")) or "Running"
    ready = phase == "Running"
    for cond in f.seq(ctx, status.get("conditions")):
        cm = f.mapping(ctx, cond, ("type", "status", "lastProbeTime", "lastTransitionTime", "message", "reason", "observedGeneration"), strict=False)
        if cm is not None and cm.get("type") is not None and cm["type"].value == "Ready":
            st = cm.get("status")
            value = st.value if st is not None else None
            if value not in ("True", "False", "Unknown"):
                ctx.error(st or cond, f"expected a condition status True, False or Unknown, found {f.describe(value)}")
            ready = value == "True"
    if meta.name is None:
        return
    pod = replace(pod, ips=tuple(ips), ready=ready, phase=phase)
    ctx.remember(("pod", meta.namespace, meta.name), doc)
    ctx.remember(("pod", meta.namespace, meta.name, "node"), (fields_.get("spec").get("nodeName") if fields_.get("spec") is not None else None))  # type: ignore[union-attr]
    parsed.pods.append(PodEntry(pod, parsed.next_order(), meta.timestamp, node_selector, meta.owner_refs, host_ip))


WORKLOAD_SPEC_FIELDS = (
    "replicas", "selector", "template", "minReadySeconds", "strategy", "revisionHistoryLimit",
    "progressDeadlineSeconds", "paused",
    # StatefulSet and DaemonSet
    "serviceName", "podManagementPolicy", "updateStrategy", "volumeClaimTemplates",
    "persistentVolumeClaimRetentionPolicy", "ordinals",
)


def read_workload(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y], kind: str) -> None:
    """ReplicationController (map selector), ReplicaSet, Deployment, StatefulSet and
    DaemonSet (LabelSelector)."""
    meta = read_meta(ctx, doc, fields_)
    spec_y = fields_.get("spec")
    spec = f.mapping(ctx, spec_y, WORKLOAD_SPEC_FIELDS, strict=False, what=f"a {kind} spec")
    if spec_y is None:
        ctx.error(doc, f"missing required field 'spec': expected a {kind} spec with a template", path="spec")
    if spec is None or spec_y is None:
        return
    replicas = f.integer(ctx, spec.get("replicas"), 0, 10000, "a replica count")
    template_y = f.required(ctx, spec_y, spec, "template", "a pod template (metadata.labels and spec)")
    tmpl = f.mapping(ctx, template_y, ("metadata", "spec"), strict=False, what="a pod template") or {}
    tmeta = f.mapping(ctx, tmpl.get("metadata"), META_FIELDS, strict=False) or {}
    tlabels = f.label_map(ctx, tmeta.get("labels"))
    base = Pod(name="", namespace=meta.namespace, labels=tlabels, source=ctx.source(doc))
    template, node_selector = read_pod_spec(ctx, tmpl.get("spec"), base)
    if template_y is not None and tmpl and "spec" not in tmpl:
        ctx.error(template_y, "missing required field 'spec': expected a pod spec with containers", path=f"{template_y.path}.spec")
    sel_y = spec.get("selector")
    selector: LabelSelector | None
    if kind == "ReplicationController":
        selector = LabelSelector(f.label_map(ctx, sel_y, "selector labels")) if sel_y is not None else LabelSelector(tlabels)
    else:
        if sel_y is None:
            ctx.error(spec_y, f"missing required field 'selector': expected a label selector for the {kind}'s pods", path=f"{spec_y.path}.selector")
            selector = None
        else:
            selector = f.label_selector(ctx, sel_y)
    if selector is not None and sel_y is not None and not selector.matches(tlabels):
        ctx.error(sel_y, f"expected a selector that matches the template labels {dict(tlabels)}, found {selector}")
    if not tlabels and template_y is not None:
        ctx.error(template_y, "expected template.metadata.labels (the selector needs labels to match), found none", path=f"{template_y.path}.metadata.labels")
    min_ready = f.integer(ctx, spec.get("minReadySeconds"), 0, None, "a number of seconds") or 0
    deadline = f.integer(ctx, spec.get("progressDeadlineSeconds"), 1, None, "a number of seconds") or 600
    strategy, surge, unavailable = _strategy(ctx, spec.get("strategy"), kind)
    service_name, first = None, 0
    if kind == "StatefulSet":
        service_name = f.dns_label(ctx, spec.get("serviceName"), "the name of the governing Service")
        ordinals = f.mapping(ctx, spec.get("ordinals"), ("start",), what="ordinals") or {}
        first = f.integer(ctx, ordinals.get("start"), 0, None, "a first ordinal") or 0
    if kind == "DaemonSet" and spec.get("replicas") is not None:
        ctx.error(spec["replicas"], "unknown field 'replicas' for a DaemonSet: it runs one pod on every fitting node", at_key=True)
    if meta.name is None or selector is None:
        return
    count = 0 if kind == "DaemonSet" else 1 if replicas is None else replicas
    workload = Workload(kind, meta.name, meta.namespace, count, selector, tlabels,  # type: ignore[arg-type]
                        template, node_selector, min_ready, strategy, surge, unavailable, deadline, ctx.source(doc),  # type: ignore[arg-type]
                        service_name, first)
    ctx.remember(("workload", meta.namespace, meta.name), doc)
    ctx.remember(("workload", meta.namespace, meta.name, "replicas"), spec.get("replicas"))
    digest = json.dumps(
        {"labels": dict(tlabels), "ports": [(p.port, p.name, p.protocol) for p in template.ports], "ns": meta.namespace, "name": meta.name},
        sort_keys=True,
    )
    parsed.workloads.append(
        WorkloadEntry(workload, template, parsed.next_order(), meta.timestamp, node_selector,
                      hashlib.sha256(digest.encode()).hexdigest(), meta.owner_refs, meta.uid)
    )


def _strategy(ctx: Ctx, y: Y | None, kind: str) -> tuple[str, int | str, int | str]:
    """A Deployment's strategy: type and RollingUpdate's maxSurge/maxUnavailable (defaults
    25%/25%); both resolving to 0 is refused, as the API server does."""
    m = f.mapping(ctx, y, ("type", "rollingUpdate"), what="a deployment strategy")
    if m is None:
        return "RollingUpdate", "25%", "25%"
    assert y is not None
    if kind != "Deployment":
        ctx.error(y, f"expected no strategy on a {kind} (only Deployments have one), found one")
    kind_ = f.choice(ctx, m.get("type"), ("RollingUpdate", "Recreate")) or "RollingUpdate"
    ru = f.mapping(ctx, m.get("rollingUpdate"), ("maxSurge", "maxUnavailable"), what="rollingUpdate parameters") or {}
    if ru and kind_ == "Recreate":
        ctx.error(m["rollingUpdate"], "expected no rollingUpdate with strategy type Recreate, found one")
    surge = f.int_or_percent(ctx, ru.get("maxSurge"), "maxSurge")
    unavailable = f.int_or_percent(ctx, ru.get("maxUnavailable"), "maxUnavailable")
    surge = "25%" if surge is None else surge
    unavailable = "25%" if unavailable is None else unavailable
    if surge in (0, "0%") and unavailable in (0, "0%"):
        ctx.error(m.get("rollingUpdate") or y, "expected maxSurge or maxUnavailable above 0 (both 0 could never make progress), found both 0")
    return kind_, surge, unavailable
