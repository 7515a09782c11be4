"""CLI: ``overlaynet validate``, ``show`` and ``graph`` on the example topologies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "topologies" / "demo.yaml")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_validate_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "topologies").glob("*.yaml"))
    code, out, _ = run("validate", "--each", *files)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(files)
    assert ("topologies/demo.yaml: OK: 3 nodes, 5 pods, 2 services (and 4 objects every cluster has: service "
            "default/kubernetes, service kube-system/kube-dns, 2 pods of Deployment kube-system/coredns)") in lines


def test_validate_prints_warnings_and_keeps_going(tmp_path: Path) -> None:
    warn = tmp_path / "warn.yaml"
    warn.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n")
    code, out, err = run("validate", "--each", str(warn), str(bad))
    assert code == 2
    assert f"{warn}: OK: 0 nodes, 0 pods, 1 services" in out
    assert f"{warn}:4:18: spec.selector: warning: service default/s selector" in err
    assert f"{bad}:4:23: spec.ports[0].port: expected a service port number in 1-65535, found 0" in err


_POD = "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec: {{containers: [{{name: c, image: nginx}}]}}\n"
_SVC = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n"


def test_validate_judges_the_files_together(tmp_path: Path) -> None:
    """As ``show A B`` does: each file alone passed, together they clash (or complete each other)."""
    a, b, svc = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "svc.yaml"
    a.write_text(_POD.format(name="p"))
    b.write_text(_POD.format(name="p"))
    svc.write_text(_SVC)
    code, out, err = run("validate", "--each", str(a), str(b))
    assert code == 0 and out.count("OK:") == 2
    code, out, err = run("validate", str(a), str(b))
    assert code == 2 and "OK:" not in out
    assert f"{b}:3:18: metadata.name: duplicate pod 'default/p': expected unique names (first at {a}:1:1)" in err
    code, out, err = run("validate", str(a), str(svc))
    assert code == 0
    assert out.startswith(f"{a} {svc}: OK: 1 nodes, 1 pods, 1 services (and 4 objects every cluster has")
    assert "selector" not in err  # alone, svc.yaml warns that its selector matches no pod


@pytest.mark.parametrize(("command", "extra"), [("validate", ()), ("show", ()), ("trace", ("--from", "default/a1", "--to", "default/a2"))])
def test_unknown_driver_is_reported_at_its_place_by_every_command(command: str, extra: tuple[str, ...], tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text((ROOT / "topologies" / "flannel-host-gw.yaml").read_text().replace("backend: host-gw", "backend: hostgw"))
    code, out, err = run(command, str(bad), *extra)
    assert code == 2
    assert (f"{bad}:13:24: spec.network.options.backend: flannel: option 'backend': expected one of vxlan, host-gw, udp, "
            "got 'hostgw'; did you mean 'host-gw'?") in err


def test_validate_json(tmp_path: Path) -> None:
    code, out, _ = run("validate", "--json", DEMO)
    assert code == 0
    (data,) = json.loads(out)
    assert data["ok"] and data["pods"] == 5 and data["errors"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\n")
    code, out, _ = run("validate", "--json", str(bad))
    assert code == 2
    err = json.loads(out)[0]["errors"][0]
    assert (err["line"], err["column"], err["path"]) == (1, 1, "apiVersion")


def test_show_json_lists_every_pod_and_service() -> None:
    code, out, _ = run("show", DEMO, "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["pods"]) == 7  # and the two CoreDNS pods behind kube-dns
    assert sum(p["namespace"] == "kube-system" and p["name"].startswith("coredns-") for p in data["pods"]) == 2
    for pod in data["pods"]:
        assert {"namespace", "name", "ips", "node", "labels", "ready"} <= set(pod)
        assert pod["ips"] and pod["node"] in {"node-1", "node-2", "node-3"}
    services = {s["name"]: s for s in data["services"]}
    assert services["web"]["type"] == "ClusterIP" and services["web"]["clusterIPs"]
    assert services["frontend"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}]
    web_eps = services["web"]["endpoints"]
    assert len(web_eps) == 3 and all(e["ready"] and e["ports"][0]["port"] == 8080 for e in web_eps)
    pod_ips = {ip for p in data["pods"] if p["labels"].get("app") == "backend" for ip in p["ips"]}
    assert {a for e in web_eps for a in e["addresses"]} == pod_ips
    assert [n["podCIDRs"] for n in data["nodes"]] == [["10.244.0.0/24"], ["10.244.1.0/24"], ["10.244.2.0/24"]]


def test_show_tables() -> None:
    code, out, _ = run("show", DEMO)
    assert code == 0
    for word in ("Nodes", "Pods", "Services", "node-3", "rack-b", "10.244.2.0/24", "web", "NodePort", "30080"):
        assert word in out


def test_show_piped_keeps_every_name_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # the runner's output is not a terminal, as a pipe: no 80-column wrapping of names
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run("show", DEMO)
    assert code == 0
    _, listed, _ = run("show", DEMO, "--json")
    pods = json.loads(listed)["pods"]
    assert len(pods) == 7  # with the 2 CoreDNS pods
    for pod in pods:  # each pod's row holds its whole name, address, node and labels
        labels = ",".join(f"{k}={v}" for k, v in pod["labels"].items())
        assert any(pod["name"] in line and pod["ips"][0] in line and labels in line for line in out.splitlines()), pod["name"]
    assert any("topology.kubernetes.io/zone=rack-b" in line for line in out.splitlines())


def test_show_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pood\n")
    code, _, err = run("show", str(bad))
    assert code == 2 and f"{bad}:2:7: kind: unknown kind 'Pood'; did you mean 'Pod'?" in err


@pytest.mark.parametrize("suffix", [".dot", ".json", ".png"])
def test_graph(tmp_path: Path, suffix: str) -> None:
    out_file = tmp_path / f"demo{suffix}"
    code, out, _ = run("graph", DEMO, "-o", str(out_file))
    assert code == 0 and "13 nodes, 12 links" in out  # 2 of them the CoreDNS pods
    data = out_file.read_bytes()
    if suffix == ".dot":
        text = data.decode()
        assert text.startswith('graph "demo" {') and '"segment:rack-a" -- "router:core"' in text and "mtu 1500" in text
    elif suffix == ".json":
        graph = json.loads(data)
        ids = {n["id"] for n in graph["nodes"]}
        assert {"segment:rack-a", "router:core", "node:node-1"} <= ids and len(graph["links"]) == 12
    else:
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_graph_rejects_unknown_format(tmp_path: Path) -> None:
    code, _, err = run("graph", DEMO, "-o", str(tmp_path / "x.svg"))
    assert code == 2 and "expected a file name ending in .dot, .json or .png" in err


@pytest.mark.parametrize("command", ["validate", "show", "graph"])
def test_help_has_examples(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and "Examples:" in out and "overlaynet " + command in out


def test_validate_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeName: n1, containers: [{name: c, image: i}]}\n")
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n")
    code, out, err = run("validate", str(tmp_path))
    assert code == 0 and out.startswith(f"{tmp_path}: OK: 1 nodes, 1 pods, 1 services (and ")
    assert "matches no pod" in err


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and f"{tmp_path / 'nope.yaml'}:1:1: cannot read topology file" in err


@pytest.mark.parametrize("suffix", [".dot", ".json", ".png"])
def test_graph_unwritable_output_is_bad_input(tmp_path: Path, suffix: str) -> None:
    code, out, err = run("graph", DEMO, "-o", str(tmp_path / "no-such-dir" / f"g{suffix}"))
    assert code == 2 and "Traceback" not in out + err
    assert f"cannot write {tmp_path / 'no-such-dir' / f'g{suffix}'}: No such file or directory" in err


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n---\n"])
def test_an_empty_file_validates_with_a_warning(text: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text(text)
    code, out, err = run("validate", str(empty))
    assert code == 0 and out.startswith(f"{empty}: OK: 0 nodes, 0 pods, 0 services")
    assert err == f"{empty}:1:1: warning: the file holds no object: expected Kubernetes objects or a Cluster document\n"


def test_show_prints_the_addresses_the_driver_gives() -> None:
    # the Docker overlay's IPAM numbers containers from its network's subnet, not the loader's
    # node pod CIDRs: show prints what trace and routes use
    code, out, _ = run("show", str(ROOT / "topologies" / "docker-k8s.yaml"), "--json")
    assert code == 0
    data = json.loads(out)
    ips = {p["name"]: p["ips"] for p in data["pods"]}
    assert (ips["web-1"], ips["web-2"], ips["db-0"], ips["db-1"]) == (["10.0.0.2"], ["10.0.0.3"], ["10.0.0.4"], ["10.0.0.5"])
    dns = next(s for s in data["services"] if s["name"] == "kube-dns")
    assert sorted(a for e in dns["endpoints"] for a in e["addresses"]) == ["10.0.0.6", "10.0.0.7"]
    code, table, _ = run("show", str(ROOT / "topologies" / "docker-plain.yaml"))
    assert code == 0
    assert any("web-1" in line and "10.1.0.2" in line for line in table.splitlines())


@pytest.mark.parametrize("name", ["calico-mesh.yaml", "weave-full-mesh.yaml", "docker-plain.yaml", "demo.yaml"])
def test_show_agrees_with_the_assembled_network_for_every_driver(name: str) -> None:
    from overlaynet.network import assemble
    from overlaynet.topology import load_cluster

    path = str(ROOT / "topologies" / name)
    network = assemble(load_cluster([path]), seed=3).cluster
    code, out, _ = run("show", path, "--json", "--seed", "3")
    assert code == 0
    shown = {(p["namespace"], p["name"]): p["ips"] for p in json.loads(out)["pods"]}
    assert shown == {(p.namespace, p.name): [str(i) for i in p.ips] for p in network.pods}
