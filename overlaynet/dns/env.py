"""Service discovery by environment variables, as the kubelet injects them into containers.

Mirrors ``pkg/kubelet/envvars/envvars.go`` (``FromServices``) and the kubelet's
``getServiceEnvVarMap``: services with a ClusterIP in the pod's namespace (when
``enableServiceLinks``), plus ``kubernetes`` from ``default`` always. The emulator adds the
ordering drawback: only services created before the pod (``creation_index``) are seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from overlaynet.dns.client import pod_of
from overlaynet.model import Cluster, Pod, Service

MASTER_SERVICES = frozenset({"kubernetes"})  # from namespace "default", always injected


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str
    service: str  # "ns/name" it came from


@dataclass(frozen=True, slots=True)
class SkippedService:
    service: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceEnv:
    """The variables one pod gets, and the services it does not see (with why)."""

    pod: str
    variables: tuple[EnvVar, ...]
    skipped: tuple[SkippedService, ...]

    def as_dict(self) -> dict[str, str]:
        return {v.name: v.value for v in self.variables}


def env_name(name: str) -> str:
    """kubelet's makeEnvVariableName: upper case, ``-`` → ``_``."""
    return name.replace("-", "_").upper()


def service_variables(svc: Service) -> list[tuple[str, str]]:
    """FromServices for one service with a ClusterIP (the first one is used)."""
    ip = svc.cluster_ip
    if ip is None or not svc.ports:
        return []
    prefix = env_name(svc.name)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    out = [(f"{prefix}_SERVICE_HOST", str(ip)), (f"{prefix}_SERVICE_PORT", str(svc.ports[0].port))]
    out += [(f"{prefix}_SERVICE_PORT_{env_name(p.name)}", str(p.port)) for p in svc.ports if p.name]
    for i, p in enumerate(svc.ports):  # Docker-link variables
        proto = p.protocol.lower()
        url = f"{proto}://{host}:{p.port}"
        if i == 0:
            out.append((f"{prefix}_PORT", url))
        port_prefix = f"{prefix}_PORT_{p.port}_{p.protocol.upper()}"
        out += [
            (port_prefix, url),
            (f"{port_prefix}_PROTO", proto),
            (f"{port_prefix}_PORT", str(p.port)),
            (f"{port_prefix}_ADDR", str(ip)),
        ]
    return out


def pod_environment(cluster: Cluster, pod: Pod | str, *, enable_service_links: bool | None = None) -> ServiceEnv:
    """The service variables the kubelet would give ``pod`` (a Pod or ``"ns/name"``);
    ``enable_service_links`` defaults to the pod's own ``spec.enableServiceLinks``."""
    pod = pod_of(cluster, pod)
    if enable_service_links is None:
        enable_service_links = pod.enable_service_links
    chosen: dict[str, Service] = {}
    skipped: list[SkippedService] = []
    for svc in cluster.services:
        if svc.namespace != pod.namespace and not (
            svc.namespace == "default" and svc.name in MASTER_SERVICES
        ):
            continue
        if svc.type == "ExternalName" or svc.headless or svc.cluster_ip is None:
            skipped.append(SkippedService(svc.key, "no ClusterIP (headless or ExternalName)"))
            continue
        if svc.creation_index >= pod.creation_index:
            skipped.append(SkippedService(svc.key, "created after the pod"))
            continue
        master = svc.namespace == "default" and svc.name in MASTER_SERVICES
        if master and svc.namespace != pod.namespace:
            chosen.setdefault(svc.name, svc)  # a same-namespace service of that name wins
        elif svc.namespace == pod.namespace and (enable_service_links or master):
            chosen[svc.name] = svc
        else:
            skipped.append(SkippedService(svc.key, "enableServiceLinks is false"))
    variables: dict[str, EnvVar] = {}
    for svc in sorted(chosen.values(), key=lambda s: s.name):
        for name, value in service_variables(svc):
            variables[name] = EnvVar(name, value, svc.key)
    return ServiceEnv(pod.key, tuple(variables[k] for k in sorted(variables)), tuple(skipped))

