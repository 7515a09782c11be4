"""Docker's embedded DNS (127.0.0.11): names and aliases per shared network, round robin,
nothing across networks (forwarded to the host's resolvers)."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

from overlaynet.dns.docker import ENDPOINTS_EXTRA, is_docker_container, resolve_embedded
from overlaynet.drivers.docker.containers import ENDPOINTS_EXTRA as DRIVER_KEY
from overlaynet.network import assemble
from overlaynet.topology import load_cluster

PLAIN = Path(__file__).resolve().parents[2] / "topologies" / "docker-plain.yaml"


def test_embedded_dns_answers() -> None:
    assert ENDPOINTS_EXTRA == DRIVER_KEY  # the driver writes what the resolver reads
    cluster = assemble(load_cluster([PLAIN])).cluster
    web1, api, db = (cluster.pod("default", n) for n in ("web-1", "api-1", "db"))
    assert is_docker_container(cluster, web1)
    a = resolve_embedded(cluster, web1, "api")
    assert (a.addresses, a.rcode, a.network) == ((ip_address("10.1.0.4"),), "NOERROR", "front")
    assert resolve_embedded(cluster, web1, "WEB").addresses == (ip_address("10.1.0.2"), ip_address("10.1.0.3"))
    assert resolve_embedded(cluster, web1, "api-1.front").addresses == (ip_address("10.1.0.4"),)
    assert resolve_embedded(cluster, web1, "db").rcode == "FORWARDED"  # db is only on back
    assert resolve_embedded(cluster, db, "backend").addresses == (ip_address("10.2.0.2"),)  # api-1's alias on back
    assert resolve_embedded(cluster, db, "api").addresses == (ip_address("10.2.0.2"),)  # container-wide alias
    assert resolve_embedded(cluster, api, "db").addresses == (ip_address("10.2.0.7"),)  # pinned by the inspect paste
