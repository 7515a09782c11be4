"""The web view's HTTP API, through a real server on a loopback port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

FRONTEND = "default/frontend-dtz8lffdhv-blt7m"




def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_page_and_assets_are_served_from_the_package(base: str) -> None:
    status, ctype, body = _get(base + "/")
    assert status == 200 and ctype.startswith("text/html") and b'<script src="static/app.js">' in body
    assert _get(base + "/static/app.js")[0] == 200
    assert _get(base + "/static/app.css")[1].startswith("text/css")
    status, _, body = _get(base + "/static/../../etc/passwd")
    assert status == 404


def test_trace_api_answers_as_the_cli(base: str) -> None:
    status, _, body = _get(f"{base}/api/trace?from={FRONTEND}&to=web:80")
    assert status == 200
    [b] = json.loads(body)["branches"]
    assert b["disposition"] == "DELIVERED"
    assert b["path"][1:4] == ["host:node-1", "router:core", "host:node-3"]


def test_bad_words_are_a_400_with_the_reason(base: str) -> None:
    status, _, body = _get(f"{base}/api/trace?from=nope&to=web:80")
    assert status == 400
    assert json.loads(body) == {"error": "--from 'nope': not a pod (ns/name), a node, a router or an IP address"}
    status, _, body = _get(f"{base}/api/trace?from={FRONTEND}&to=web:80&size=big")
    assert (status, json.loads(body)) == (400, {"error": "size='big': expected a whole number"})
    assert _get(f"{base}/api/trace?to=web:80")[0] == 400
    assert _get(f"{base}/api/nothing")[0] == 404


def test_reach_api(base: str) -> None:
    status, _, body = _get(f"{base}/api/reach?port=8080")
    data = json.loads(body)
    assert status == 200 and len(data["pods"]) == len(data["allowed"])
    assert all(all(row) for row in data["allowed"])  # flannel enforces no policy: everyone reaches everyone
