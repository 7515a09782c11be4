"""Clusters built directly from the model for the DNS tests (no topology loader needed)."""

from __future__ import annotations

from overlaynet.model import (
    Cluster,
    DNSSpec,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Namespace,
    ObjectRef,
    Pod,
    Service,
    ServicePort,
    ip_address,
    ip_network,
    labels,
)


def _ep(ip: str, *, ready: bool = True, hostname: str | None = None, pod: str | None = None,
        ns: str = "default") -> Endpoint:
    return Endpoint(
        addresses=(ip_address(ip),), ready=ready, hostname=hostname,
        target_ref=ObjectRef("Pod", pod, ns) if pod else None,
    )


def demo_cluster(*, legacy: bool = True, pods: str = "insecure", upstreams: tuple[str, ...] = (),
                 many: int = 120) -> Cluster:
    """default: web (ClusterIP, http/80 + unnamed 8080), db (headless, 2 ready + 1 not ready,
    hostnames), ext (ExternalName), dual (dual-stack), kubernetes, kube-dns in kube-system;
    big (headless, ``many`` endpoints); prod: data (ClusterIP), peers (headless, publishNotReady)."""
    pods_ = [
        Pod("frontend-0", "default", labels({"app": "frontend"}), "node-1", (ip_address("10.244.1.10"),), creation_index=10),
        Pod("backend-0", "default", labels({"app": "backend"}), "node-1", (ip_address("10.244.1.11"),), creation_index=11),
        Pod("backend-1", "default", labels({"app": "backend"}), "node-2", (ip_address("10.244.2.11"),), creation_index=12),
        Pod("db-0", "default", labels({"app": "db"}), "node-1", (ip_address("10.244.1.20"),), hostname="db-0", subdomain="db", creation_index=13),
        Pod("db-1", "default", labels({"app": "db"}), "node-2", (ip_address("10.244.2.20"),), hostname="db-1", subdomain="db", creation_index=14),
        Pod("client", "prod", labels({"app": "client"}), "node-2", (ip_address("10.244.2.30"),), creation_index=2),
        Pod("hostnet", "default", labels({}), "node-1", (ip_address("192.168.10.11"),), host_network=True, creation_index=15),
    ]
    services = [
        Service("kubernetes", "default", ports=(ServicePort(443, name="https", target_port=6443),),
                cluster_ips=(ip_address("10.96.0.1"),), creation_index=0),
        Service("kube-dns", "kube-system", selector=labels({"k8s-app": "kube-dns"}),
                ports=(ServicePort(53, "UDP", name="dns"), ServicePort(53, "TCP", name="dns-tcp")),
                cluster_ips=(ip_address("10.96.0.10"),), creation_index=1),
        Service("web", "default", selector=labels({"app": "backend"}),
                ports=(ServicePort(80, name="http", target_port=8080), ServicePort(8080)),
                cluster_ips=(ip_address("10.96.0.20"),), creation_index=5),
        Service("db", "default", selector=labels({"app": "db"}), headless=True,
                ports=(ServicePort(5432, name="pg"),), creation_index=6),
        Service("ext", "default", type="ExternalName", external_name="example.com", creation_index=7),
        Service("alias", "default", type="ExternalName", external_name="web.default.svc.cluster.local", creation_index=8),
        Service("dual", "default", ports=(ServicePort(80, name="http"),),
                cluster_ips=(ip_address("10.96.0.30"), ip_address("fd00:96::30")),
                ip_families=("IPv4", "IPv6"), creation_index=20),
        Service("big", "default", headless=True, ports=(ServicePort(80, name="http"),), creation_index=21),
        Service("empty", "default", headless=True, ports=(ServicePort(80, name="http"),), creation_index=22),
        Service("data", "prod", ports=(ServicePort(443, name="https"),),
                cluster_ips=(ip_address("10.96.1.5"),), creation_index=3),
        Service("peers", "prod", headless=True, publish_not_ready_addresses=True,
                ports=(ServicePort(7000, "UDP", name="gossip"),), creation_index=4),
    ]
    slices = [
        EndpointSlice("web-abc", "default", "web",
                      endpoints=(_ep("10.244.1.11", pod="backend-0"), _ep("10.244.2.11", pod="backend-1")),
                      ports=(EndpointPort(8080, name="http"), EndpointPort(8080))),
        EndpointSlice("db-abc", "default", "db",
                      endpoints=(_ep("10.244.1.20", hostname="db-0", pod="db-0"),
                                 _ep("10.244.2.20", hostname="db-1", pod="db-1"),
                                 _ep("10.244.3.20", ready=False, hostname="db-2")),
                      ports=(EndpointPort(5432, name="pg"),)),
        EndpointSlice("big-abc", "default", "big",
                      endpoints=tuple(_ep(f"10.244.{100 + i // 250}.{i % 250 + 1}") for i in range(many)),
                      ports=(EndpointPort(80, name="http"),)),
        EndpointSlice("empty-abc", "default", "empty",
                      endpoints=(_ep("10.244.9.9", ready=False),), ports=(EndpointPort(80, name="http"),)),
        EndpointSlice("peers-abc", "prod", "peers",
                      endpoints=(_ep("10.244.2.40", ready=False, ns="prod"), _ep("fd00:244::40", ns="prod")),
                      ports=(EndpointPort(7000, "UDP", name="gossip"),)),
        EndpointSlice("dual-v4", "default", "dual", endpoints=(_ep("10.244.1.50"),),
                      ports=(EndpointPort(80, name="http"),)),
    ]
    return Cluster(
        name="dns-test",
        service_cidrs=(ip_network("10.96.0.0/12"),),
        pod_cidrs=(ip_network("10.244.0.0/16"),),
        dns=DNSSpec(cluster_ip=ip_address("10.96.0.10"), legacy_names=legacy, pods=pods,  # type: ignore[arg-type]
                    upstreams=upstreams),
        namespaces=(Namespace("default"), Namespace("prod"), Namespace("kube-system")),
        pods=tuple(pods_),
        services=tuple(services),
        endpoint_slices=tuple(slices),
    )
