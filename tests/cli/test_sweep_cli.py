"""``overlaynet sweep`` and ``sweep diff`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overlaynet.cli import main

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _without_allow_frontend(tmp_path: Path) -> Path:
    text = (TOPOLOGIES / "calico-policy.yaml").read_text()
    start = text.index("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-frontend-to-api")
    end = text.index("---", start + 3)
    out = tmp_path / "calico-policy-changed.yaml"
    out.write_text(text[:start] + text[end:])
    return out


def test_sweep_json_lists_every_class_and_port_with_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, stdout, _ = _run("sweep", str(TOPOLOGIES / "demo.yaml"), "--json", "-o", str(out))
    assert code == 0
    data = json.loads(stdout)
    assert data == json.loads(out.read_text())
    assert data["format"] == "overlaynet-sweep/1"
    assert data["summary"] == {"flows": 50, "by_verdict": {"ACCEPTED": 8, "DELIVERED": 42}}  # ACCEPTED: kubernetes:443 on a node
    kinds = sorted({(f["service"], f["kind"]) for f in data["flows"]})
    assert kinds == [("default/frontend", "ClusterIP"), ("default/frontend", "NodePort"), ("default/kubernetes", "ClusterIP"),
                     ("default/web", "ClusterIP"), ("kube-system/kube-dns", "ClusterIP")]
    assert len(data["classes"]) == 9  # the two CoreDNS pods (on different racks) are two source classes


def test_sweep_table_names_the_endpoints() -> None:
    code, stdout, _ = _run("sweep", str(TOPOLOGIES / "demo.yaml"), "--services", "web")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0].split()[:3] == ["SOURCE", "CLASS", "SERVICE"]
    assert lines[-1] == "8 flows from 8 source classes: DELIVERED 8"  # no outside client: web has no NodePort
    assert all("default/web:http" in line and line.count("1/3") == 3 for line in lines[1:-1])


def test_sweep_diff_names_the_flows_a_policy_change_breaks_and_the_policy(tmp_path: Path) -> None:
    changed = _without_allow_frontend(tmp_path)
    code, stdout, _ = _run("sweep", "diff", str(TOPOLOGIES / "calico-policy.yaml"), str(changed), "--services", "api", "--json")
    assert code == 1
    data = json.loads(stdout)
    assert data["changed"] == 1 and data["unchanged"] == 41
    [group] = data["groups"]
    assert "prod/default-deny-ingress selects prod/api" in group["cause"]
    assert group["cause"].startswith("now DENIED at node-2 ")
    [flow] = group["flows"]
    assert (flow["source_class"], flow["service"], flow["before"], flow["after"]) == (
        "pod prod {app=frontend} @node-1", "prod/api", "DELIVERED", "DENIED")


def test_sweep_diff_of_result_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert _run("sweep", str(TOPOLOGIES / "calico-policy.yaml"), "--services", "api", "-o", str(a), "--json")[0] == 0
    assert _run("sweep", str(_without_allow_frontend(tmp_path)), "--services", "api", "-o", str(b), "--json")[0] == 0
    code, stdout, _ = _run("sweep", "diff", str(a), str(a))
    assert (code, stdout.strip()) == (0, "no flow changed (42 compared)")
    code, stdout, _ = _run("sweep", "diff", str(a), str(b))
    assert code == 1
    assert stdout.splitlines()[0] == "1 flow(s) changed, 41 unchanged"
    assert "pod prod {app=frontend} @node-1 → prod/api:http (ClusterIP 10.96.0.2:80/tcp): DELIVERED → DENIED" in stdout


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = _run("sweep", "diff", str(bad), str(bad))
    assert code == 2 and err.strip() == f"error: {bad}:1:2: not JSON: Expecting property name enclosed in double quotes"
    other = tmp_path / "other.json"
    other.write_text('{"pods": []}')
    code, _, err = _run("sweep", "diff", str(other), str(other))
    assert code == 2 and "expected a sweep result (format 'overlaynet-sweep/1'" in err
    code, _, err = _run("sweep", str(TOPOLOGIES / "demo.yaml"), "--external", "nope")
    assert code == 2 and err.strip() == "error: --external 'nope': expected an IP address"
    code, _, err = _run("sweep", str(TOPOLOGIES / "demo.yaml"), "--scheduler", "tcp://127.0.0.1:9", "--timeout", "1")
    assert code == 2 and "cannot reach the Dask scheduler" in err and "Traceback" not in err


def test_the_diff_shown_in_docs_is_what_the_command_prints(tmp_path: Path) -> None:
    changed = _without_allow_frontend(tmp_path)
    code, stdout, _ = _run("sweep", "diff", str(TOPOLOGIES / "calico-policy.yaml"), str(changed), "--services", "api")
    assert code == 1
    doc = (TOPOLOGIES.parent / "docs" / "sweep.md").read_text()
    shown = doc.split("$ overlaynet sweep diff topologies/calico-policy.yaml changed.yaml --services api\n", 1)[1].split("```", 1)[0]
    assert stdout == shown
