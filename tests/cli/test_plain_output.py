"""No user data passes through rich markup or emoji codes: an IPv6 address with ``:b:``
(``2001:db8:a:b::11``) printed as ``2001:db8:a🅱:11`` before, in show's header and tables."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich._emoji_codes import EMOJI

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]
V6 = str(Path(__file__).parent / "fixtures" / "ipv6-colon-b.yaml")
EMOJI_CHARS = {c for e in EMOJI.values() for c in e if ord(c) > 0x2000}

COMMANDS = [
    ("validate", V6),
    ("show", V6),
    ("trace", V6, "--from", "default/a", "--to", "default/web"),
    ("trace", V6, "--from", "default/a", "--to", "default/web", "--brief"),
    ("reach", V6),
    ("dns", "query", V6, "web.default.svc.cluster.local", "--type", "AAAA"),
    ("dns", "query", V6, "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.0.0.0.a.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "--type", "PTR"),
    ("dns", "resolve", V6, "--from", "default/a", "web", "--type", "AAAA"),
    ("dns", "zone", V6),
    ("dns", "env", V6, "--pod", "default/a"),
    ("kube-proxy", "rules", V6, "--node", "node-2"),
    ("routes", V6, "--host", "node-1"),
    ("sweep", V6, "--services", "web"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]) if a[0] in ("dns", "kube-proxy") else a[0])
def test_ipv6_addresses_print_as_they_are(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})
    assert "Traceback" not in result.output, result.output
    emoji = sorted({c for c in result.output if c in EMOJI_CHARS})
    assert emoji == [], f"{args}: {emoji}"
    assert "2001:db8:a:" not in result.output or "2001:db8:a:b:" in result.output


@pytest.mark.parametrize("args", [("show", V6), ("dns", "query", V6, "web.default.svc.cluster.local", "--type", "AAAA")])
def test_the_colon_b_address_is_printed(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})
    assert "2001:db8:a:b::11" in result.output and "2001:db8:a:b::/112" in result.output or "AAAA\t2001:db8:a:b::11" in result.output


def test_every_rich_console_is_plain() -> None:
    """Every ``Console(...)`` in the package is built with markup=False and emoji=False
    (``overlaynet.cli._common.plain_console`` and the trace renderer)."""
    offenders = []
    for path in sorted((ROOT / "overlaynet").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Console":
                given = {k.arg: k.value for k in node.keywords}
                plain = all(isinstance(given.get(k), ast.Constant) and given[k].value is False for k in ("markup", "emoji"))
                if not plain:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
