"""docs/scenarios.md shows each example with the output its command prints today.

Regenerate the outputs after a deliberate change with
``UPDATE_DOCS=1 .venv/bin/pytest tests/scenario/test_docs.py``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from overlaynet.cli import main

DOC = Path(__file__).parents[2] / "docs" / "scenarios.md"
BLOCK = re.compile(r"```console\n\$ (overlaynet scenario [^\n]*(?:\\\n[^\n]*)*)\n(.*?)```", re.S)


def _output(command: str) -> str:
    args = shlex.split(command.replace("\\\n", " "))[1:]
    res = CliRunner().invoke(main, args)
    assert res.exit_code in (0, 1), res.output
    return res.output


def test_every_scenario_command_in_the_doc_prints_what_the_doc_shows() -> None:
    text = DOC.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 7
    if os.environ.get("UPDATE_DOCS"):
        DOC.write_text(BLOCK.sub(lambda m: f"```console\n$ {m.group(1)}\n{_output(m.group(1))}```", text))
        pytest.skip("docs/scenarios.md regenerated")
    for command, shown in blocks:
        assert _output(command) == shown, f"docs/scenarios.md is stale for: {command}"


def test_the_python_example_runs() -> None:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), f"{DOC}:python example", "exec"), namespace)
    assert {k: str(v) for k, v in namespace["shares"].items()} == {"a": "3/4", "b": "1/4"}  # type: ignore[attr-defined]
    assert namespace["report"].success and len(namespace["report"].forward.traces) == 4  # type: ignore[attr-defined]
