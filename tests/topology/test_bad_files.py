"""Every malformed topology in ``bad/`` fails ``overlaynet validate`` with its exact message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parent / "bad"
CASES = sorted(p.stem for p in BAD.glob("*.yaml"))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40
    missing = [c for c in CASES if not (BAD / f"{c}.expected").exists()]
    assert missing == []


@pytest.mark.parametrize("name", CASES)
def test_bad_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = f"tests/topology/bad/{name}.yaml"
    result = CliRunner().invoke(main, ["validate", rel])
    expected = (BAD / f"{name}.expected").read_text()
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == expected
    for line in expected.splitlines():
        assert line.startswith(f"{rel}:")
        file_, line_no, column, _ = line.split(":", 3)
        assert int(line_no) >= 1 and int(column) >= 1
    assert "OK:" not in result.stdout


def test_bad_file_in_a_real_process() -> None:
    """The installed entry point: exit status 2, file:line:column, no traceback."""
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("overlaynet")), "validate", "tests/topology/bad/many-errors-at-once.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr == (BAD / "many-errors-at-once.expected").read_text()
