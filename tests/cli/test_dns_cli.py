"""``overlaynet dns …`` on the real example topologies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rdatatype
import pytest
from click.testing import CliRunner

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "topologies" / "demo.yaml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def frontend_pod() -> str:
    from overlaynet.topology import load_cluster

    pod = next(p for p in load_cluster([DEMO]).pods if p.name.startswith("frontend"))
    return pod.key


def test_query_answers_like_dig() -> None:
    code, out = run("dns", "query", DEMO, "web.default.svc.cluster.local")
    assert code == 0
    assert ";; ->>HEADER<<- opcode: QUERY, status: NOERROR" in out and ";; ANSWER SECTION:" in out


def test_query_json_and_nxdomain_exit_1() -> None:
    code, out = run("dns", "query", DEMO, "nope.default.svc.cluster.local", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["rcode"] == "NXDOMAIN" and data["authority"][0]["type"] == "SOA"


def test_query_legacy_switch() -> None:
    assert run("dns", "query", DEMO, "web.default.cluster.local")[0] == 0
    assert run("dns", "query", DEMO, "web.default.cluster.local", "--no-legacy-names")[0] == 1


def test_resolve_json_shape() -> None:
    code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "web", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"queries", "answer"}
    assert data["queries"] == [{"name": "web.default.svc.cluster.local.", "type": "A", "rcode": "NOERROR"}]
    assert data["answer"][0]["type"] == "A"


def test_resolve_text_lists_the_search_path() -> None:
    code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "nope")
    assert code == 1
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in out
    assert out.count("NXDOMAIN") == 3 and "REFUSED" in out


def test_resolve_unknown_pod_exit_2() -> None:
    code, out = run("dns", "resolve", DEMO, "--from", "default/ghost", "web")
    assert code == 2 and "no pod default/ghost" in out


def test_zone_to_file(tmp_path: Path) -> None:
    target = tmp_path / "z"
    assert run("dns", "zone", DEMO, "-o", str(target))[0] == 0
    assert target.read_text().startswith("; cluster zone cluster.local.")


def test_env_plain_and_json() -> None:
    pod = frontend_pod()
    code, out = run("dns", "env", DEMO, "--pod", pod)
    assert code == 0
    code, out = run("dns", "env", DEMO, "--pod", pod, "--json")
    data = json.loads(out)
    # the demo's Services are created after its pods: kubelet gives them no variables; the
    # apiserver's default/kubernetes existed before any pod (before, it was missing: {})
    assert data["pod"] == pod
    assert data["variables"] == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
    }
    assert sorted((s["service"], s["reason"]) for s in data["skipped"]) == [
        ("default/frontend", "created after the pod"), ("default/web", "created after the pod")]


def test_help_has_examples() -> None:
    for cmd in ("serve", "query", "resolve", "zone", "env"):
        code, out = run("dns", cmd, "--help")
        assert code == 0 and "Example" in out


@pytest.mark.dig
def test_serve_subprocess_answers_dig_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("overlaynet")), "dns", "serve", DEMO, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.time() + 20
        answer = ""
        while time.time() < deadline and "10.96." not in answer:
            time.sleep(0.2)
            answer = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1", "+tries=1",
                                     "web.default.svc.cluster.local"], capture_output=True, text=True).stdout
        assert answer.strip().startswith("10.96.")
        legacy = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "web.default.cluster.local"],
                                capture_output=True, text=True).stdout
        assert legacy == answer
        proc.send_signal(signal.SIGHUP)
        q = dns.message.make_query("web.default.svc.cluster.local", "A")
        time.sleep(0.5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q.to_wire(), ("127.0.0.1", port))
            assert dns.message.from_wire(s.recv(4096)).answer
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "reloaded" in err and "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


HEADLESS_TOPOLOGY = """\
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: default, labels: {app: db}}
spec: {hostname: db-0, subdomain: db, containers: [{name: pg, image: postgres}]}
status: {podIP: 10.244.1.20}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: default, labels: {app: db}}
spec: {hostname: db-1, subdomain: db, containers: [{name: pg, image: postgres}]}
status: {podIP: 10.244.1.21}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.244.1.30}
"""


def test_loaded_topology_headless_hostnames_and_externalname(tmp_path: Path) -> None:
    topo = tmp_path / "headless.yaml"
    topo.write_text(HEADLESS_TOPOLOGY)
    code, out = run("dns", "query", str(topo), "_pg._tcp.db.default.svc.cluster.local", "--type", "SRV", "--json")
    assert code == 0
    assert sorted(r["data"] for r in json.loads(out)["answer"]) == [
        "0 50 5432 db-0.db.default.svc.cluster.local.", "0 50 5432 db-1.db.default.svc.cluster.local.",
    ]
    code, out = run("dns", "resolve", str(topo), "--from", "default/client", "db-1.db", "--json")
    assert code == 0 and json.loads(out)["answer"][0]["data"] == "10.244.1.21"
    code, out = run("dns", "query", str(topo), "ext.default.svc.cluster.local", "--type", "CNAME", "--json")
    assert code == 0 and json.loads(out)["answer"][0]["data"] == "example.com."
    code, out = run("dns", "query", str(topo), "21.1.244.10.in-addr.arpa", "--type", "PTR", "--json")
    assert json.loads(out)["answer"][0]["data"] == "db-1.db.default.svc.cluster.local."


def test_zone_unwritable_output_is_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "cluster.local.zone"
    result = CliRunner().invoke(main, ["dns", "zone", DEMO, "-o", str(target)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot write {target}: No such file or directory" in result.output


class StubUpstream:
    """A nameserver on a loopback UDP port that answers every A question with 192.0.2.7
    (MX with NXDOMAIN) and records the questions it got, or answers nothing (``silent``)."""

    def __init__(self, *, silent: bool = False) -> None:
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.silent = silent
        self.questions: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import dns.rcode
        import dns.rrset

        while self.running:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            self.questions.append(f"{question.name} {dns.rdatatype.to_text(question.rdtype)}")
            if self.silent:
                continue
            reply = dns.message.make_response(query)
            if question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", "192.0.2.7"))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), addr)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[StubUpstream]:
    stub = StubUpstream()
    yield stub
    stub.close()


def test_resolve_forwards_names_outside_the_cluster_to_the_upstream(upstream: StubUpstream) -> None:
    code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "www.example.com",
                    "--upstream", f"127.0.0.1:{upstream.port}", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [q["rcode"] for q in data["queries"]] == ["NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "NOERROR"]
    assert data["answer"] == [{"name": "www.example.com.", "type": "A", "ttl": 300, "data": "192.0.2.7"}]
    assert upstream.questions == ["www.example.com. A"]  # the cluster's own names never leave
    # the upstream's NXDOMAIN is the pod's NXDOMAIN
    code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "mail.example.com.", "--type", "MX",
                    "--upstream", f"127.0.0.1:{upstream.port}")
    assert code == 1 and "mail.example.com." in out and out.rstrip().endswith(";; result: NXDOMAIN")


def test_resolve_with_a_silent_upstream_is_servfail() -> None:
    stub = StubUpstream(silent=True)
    try:
        code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "www.example.com.",
                        "--upstream", f"127.0.0.1:{stub.port}", "--timeout", "0.3", "--json")
    finally:
        stub.close()
    assert code == 1
    assert json.loads(out)["queries"] == [{"name": "www.example.com.", "type": "A", "rcode": "SERVFAIL"}]


def test_resolve_bad_upstream_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["dns", "resolve", DEMO, "--from", frontend_pod(), "x", "--upstream", "nope"])
    assert result.exit_code == 2 and "expected IP or IP:PORT" in result.output


def test_what_every_cluster_has_resolves() -> None:
    """default/kubernetes and kube-system/kube-dns exist without being written (before, the
    help's own PTR example answered NXDOMAIN and kubernetes.default did not resolve)."""
    code, out = run("dns", "query", DEMO, "1.0.96.10.in-addr.arpa", "--type", "PTR")
    assert code == 0 and "PTR\tkubernetes.default.svc.cluster.local." in out
    code, out = run("dns", "query", DEMO, "10.0.96.10.in-addr.arpa", "--type", "PTR")
    assert code == 0 and "PTR\tkube-dns.kube-system.svc.cluster.local." in out
    code, out = run("dns", "resolve", DEMO, "--from", frontend_pod(), "kubernetes.default")
    assert code == 0 and "kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1" in out
    code, out = run("dns", "query", DEMO, "_dns._udp.kube-dns.kube-system.svc.cluster.local", "--type", "SRV")
    assert code == 0 and "SRV\t0 100 53 kube-dns.kube-system.svc.cluster.local." in out


def test_env_has_the_kubernetes_service() -> None:
    code, out = run("dns", "env", DEMO, "--pod", frontend_pod())
    assert code == 0
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1\n" in out and "KUBERNETES_SERVICE_PORT=443\n" in out
    assert "KUBERNETES_SERVICE_PORT_HTTPS=443\n" in out and "KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443\n" in out
