"""Plain Docker in a topology: ``kind: Container`` documents and ``docker network inspect``
output pasted as-is (a JSON array of networks), without any Kubernetes object.

A Container becomes a pod in namespace ``default`` on its ``host`` (a node), so everything
that traces pods traces containers; what only Docker knows (its networks in order, aliases,
fixed addresses) is kept as plain data in ``Cluster.extra["docker"]`` for the
docker-overlay driver and Docker's embedded DNS::

    apiVersion: overlaynet/v1
    kind: Container
    metadata: {name: web-1}
    spec:
      host: host-1
      image: nginx:1.25
      networks: [front, {name: back, aliases: [api], ipv4Address: 10.0.1.10}]
      aliases: [web]            # on every network (docker run --network-alias)
      ports: [80]

A network from ``docker network inspect`` keeps its name, subnet, gateway, ip range, VNI
(``com.docker.network.driver.overlay.vxlanid_list``), MTU, ``encrypted``, ``Internal`` and
``Attachable``; the addresses its ``Containers`` section lists are the addresses of the
containers of those names.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from overlaynet.model import ContainerPort, FrozenDict, Pod
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.parsed import Parsed, PodEntry
from overlaynet.topology.yamlsrc import Y

__all__ = ["CONTAINER_LABEL", "is_network_inspect", "read_container", "read_network_inspect", "render_docker"]

CONTAINER_LABEL = "docker.overlaynet.io/container"
SPEC_FIELDS = ("host", "image", "networks", "aliases", "ports")
NET_FIELDS = ("name", "aliases", "ipv4Address")
VXLAN_IDS = "com.docker.network.driver.overlay.vxlanid_list"
MTU_OPTION = "com.docker.network.driver.mtu"


def _names(ctx: Ctx, y: Y | None, what: str) -> tuple[str, ...]:
    out = []
    for item in f.seq(ctx, y):
        name = f.string(ctx, item, what)
        if name:
            out.append(name)
    return tuple(out)


def read_container(ctx: Ctx, parsed: Parsed, doc: Y, fields_: dict[str, Y]) -> None:
    meta_y = fields_.get("metadata")
    meta = f.mapping(ctx, meta_y, ("name", "labels"), what="container metadata") or {}
    name = f.dns_label(ctx, meta.get("name"), "a container name") if meta.get("name") is not None else None
    if name is None:
        if meta.get("name") is None:
            ctx.error(doc, "missing required field 'metadata.name': expected the container's name", path="metadata.name")
        return
    spec_y = fields_.get("spec")
    spec = f.mapping(ctx, spec_y, SPEC_FIELDS, what="a container spec")
    if spec is None or spec_y is None:
        if spec_y is None:
            ctx.error(doc, "missing required field 'spec': expected host and networks", path="spec")
        return
    host = f.string(ctx, f.required(ctx, spec_y, spec, "host", "the Docker host (a node name)"), "a host name")
    aliases = _names(ctx, spec.get("aliases"), "a network alias")
    networks: list[dict[str, Any]] = []
    for item in f.seq(ctx, spec.get("networks")):
        if isinstance(item.value, str):
            networks.append({"name": item.value, "aliases": [], "ipv4Address": None, "line": item.line})
            continue
        nm = f.mapping(ctx, item, NET_FIELDS, what="a network attachment (name, aliases, ipv4Address)")
        if nm is None:
            continue
        net_name = f.string(ctx, f.required(ctx, item, nm, "name", "a network name"), "a network name")
        addr = f.ip(ctx, nm.get("ipv4Address"), "an IPv4 address") if nm.get("ipv4Address") is not None else None
        if net_name:
            networks.append({"name": net_name, "aliases": list(_names(ctx, nm.get("aliases"), "a network alias")),
                             "ipv4Address": str(addr) if addr is not None else None, "line": item.line})
    seen: set[str] = set()
    for n in networks:
        if n["name"] in seen:
            ctx.error(spec["networks"], f"container {name} joins network {n['name']} twice")
        seen.add(n["name"])
    ports = []
    for p in f.seq(ctx, spec.get("ports")):
        number = f.port(ctx, p, "a container port number")
        if number is not None:
            ports.append(ContainerPort(number, "TCP"))
    labels = {**(f.label_map(ctx, meta.get("labels")) if meta.get("labels") is not None else {}), CONTAINER_LABEL: name}
    first_ip = next((n["ipv4Address"] for n in networks[:1] if n["ipv4Address"]), None)
    pod = Pod(name=name, namespace="default", labels=FrozenDict(labels), node=host, ports=tuple(ports),
              ips=(ip_address(first_ip),) if first_ip else (), hostname=name, source=ctx.source(doc))
    parsed.pods.append(PodEntry(pod, parsed.next_order(), None, FrozenDict()))
    record = {"kind": "Container", "name": name, "host": host, "aliases": list(aliases),
              "networks": [{k: v for k, v in n.items() if k != "line"} for n in networks]}
    parsed.docker.append(("Container", record, ctx.source(doc)))


def is_network_inspect(doc: Y) -> bool:
    """A sequence of mappings with ``Name`` and ``IPAM``: ``docker network inspect`` output."""
    items = doc.value
    return isinstance(items, list) and bool(items) and all(
        isinstance(i.value, dict) and "Name" in i.value and "IPAM" in i.value for i in items)


def read_network_inspect(ctx: Ctx, parsed: Parsed, doc: Y) -> None:
    for item in doc.value:
        plain = item.plain()
        if plain.get("Driver") != "overlay":
            ctx.warn(item, f"network {plain.get('Name')!r}: driver {plain.get('Driver')!r} is not overlay; ignored")
            continue
        configs = ((plain.get("IPAM") or {}).get("Config") or [{}])
        config = configs[0] or {}
        options = plain.get("Options") or {}
        net: dict[str, Any] = {"name": plain["Name"]}
        for key, field_ in (("Subnet", "subnet"), ("Gateway", "gateway"), ("IPRange", "ipRange")):
            if config.get(key):
                net[field_] = config[key]
        for key, field_ in (("Internal", "internal"), ("Attachable", "attachable")):
            if key in plain:
                net[field_] = bool(plain[key])
        if "encrypted" in options:
            net["encrypted"] = True
        if options.get(MTU_OPTION):
            try:
                net["mtu"] = int(options[MTU_OPTION])
            except ValueError:
                ctx.error(item, f"network {plain['Name']}: {MTU_OPTION} {options[MTU_OPTION]!r} is not a number")
        vnis = str(options.get(VXLAN_IDS) or "").split(",")
        if vnis[0].strip().isdigit():
            net["vni"] = int(vnis[0])
        containers = {}
        for c in (plain.get("Containers") or {}).values():
            if isinstance(c, dict) and c.get("Name") and c.get("IPv4Address"):
                containers[c["Name"]] = str(c["IPv4Address"]).split("/")[0]
        record = {"kind": "Network", "network": net, "containers": containers, "id": plain.get("Id", "")}
        parsed.docker.append(("Network", record, ctx.source(item)))


# --- rendering (topology/render.py): the same documents back ------------------------------
def render_docker(records: Any, pods: Any) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """Container documents by pod key (written where the pod would be) and one
    ``docker network inspect`` array of the pasted networks, from ``Cluster.extra["docker"]``."""
    by_key = {p.key: p for p in pods}
    containers: dict[str, dict[str, Any]] = {}
    networks: list[dict[str, Any]] = []
    for kind, record in records:
        if kind == "Container":
            pod = by_key.get(f"default/{record['name']}")
            nets = [n["name"] if not n.get("aliases") and not n.get("ipv4Address") else
                    {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.items() if v not in (None, ())}
                    for n in record["networks"]]
            spec: dict[str, Any] = {"host": record["host"]}
            if pod is not None and pod.image:
                spec["image"] = pod.image
            spec["networks"] = nets
            if record.get("aliases"):
                spec["aliases"] = list(record["aliases"])
            if pod is not None and pod.ports:
                spec["ports"] = [p.port for p in pod.ports]
            meta: dict[str, Any] = {"name": record["name"]}
            labels = {k: v for k, v in (pod.labels.items() if pod is not None else ()) if k != CONTAINER_LABEL}
            if labels:
                meta["labels"] = labels
            containers[f"default/{record['name']}"] = {"apiVersion": "overlaynet/v1", "kind": "Container", "metadata": meta, "spec": spec}
        elif kind == "Network":
            net = record["network"]
            config = {k: net[f] for k, f in (("Subnet", "subnet"), ("Gateway", "gateway"), ("IPRange", "ipRange")) if net.get(f)}
            options: dict[str, str] = {}
            if net.get("vni") is not None:
                options[VXLAN_IDS] = str(net["vni"])
            if net.get("mtu") is not None:
                options[MTU_OPTION] = str(net["mtu"])
            if net.get("encrypted"):
                options["encrypted"] = ""
            item: dict[str, Any] = {"Name": net["name"], "Id": record.get("id", ""), "Driver": "overlay",
                                    "IPAM": {"Driver": "default", "Config": [config]}, "Options": options,
                                    "Containers": {name: {"Name": name, "IPv4Address": ip} for name, ip in (record.get("containers") or {}).items()}}
            for key, field_ in (("Internal", "internal"), ("Attachable", "attachable")):
                if field_ in net:
                    item[key] = net[field_]
            networks.append(item)
    return containers, networks
