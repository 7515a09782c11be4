"""Every ``--help`` example names files that exist in the repository (outputs aside): a
user copies the examples first. Before, ``diff before.yaml after.yaml`` and ``verify
t.yaml`` named files nobody had."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest

from overlaynet.cli import main

ROOT = Path(__file__).resolve().parents[2]
#: Options whose value is a file the command writes, not one it reads.
OUTPUT_OPTIONS = {"-o", "--output", "--pcap", "--plot", "--write", "--out", "--html", "--client-state", "--save"}
INPUT_SUFFIXES = (".yaml", ".yml", ".save", ".rules", ".json", ".txt", ".zone")


def _commands(group: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = [(prefix, group)]
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None:
                out += _commands(sub, (*prefix, name))
    return out


def _examples(command: click.Command, path: tuple[str, ...]) -> list[str]:
    """The help's example command lines, continuation lines (``\\``) joined."""
    ctx = click.Context(command, info_name=" ".join(("overlaynet", *path)))
    lines = [line.strip() for line in command.get_help(ctx).splitlines()]
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("overlaynet ") and not (i and lines[i - 1].endswith("\\")):
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1] + " " + lines[i]
            out.append(line.split("  #")[0])
    return out


def _made(command: click.Command, path: tuple[str, ...]) -> set[str]:
    """Files an example line writes (``> FILE``, ``-o FILE``…), which another may read."""
    ctx = click.Context(command, info_name=" ".join(("overlaynet", *path)))
    made: set[str] = set()
    for line in (x.strip() for x in command.get_help(ctx).splitlines() if ">" in x or " -o " in x):
        words = shlex.split(line.replace(">", " > "), comments=True)
        made |= {words[i + 1] for i, w in enumerate(words[:-1]) if w == ">" or w in OUTPUT_OPTIONS}
    return made


CASES = [(path, line, _made(cmd, path)) for path, cmd in _commands(main) for line in _examples(cmd, path)]


def test_there_are_examples_everywhere() -> None:
    with_examples = {path for path, _, _ in CASES}
    missing = [" ".join(p) for p, c in _commands(main) if not isinstance(c, click.Group) and p not in with_examples]
    assert len(CASES) > 40 and missing == []


@pytest.mark.parametrize(("path", "line", "made"), CASES, ids=[f"{' '.join(p)}: {line}" for p, line, _ in CASES])
def test_every_file_an_example_reads_exists(path: tuple[str, ...], line: str, made: set[str]) -> None:
    words = shlex.split(line.replace("|", " | ").split(" | ")[0].split(">")[0], comments=True)
    reads = [w for i, w in enumerate(words[1:], 1)
             if w.endswith(INPUT_SUFFIXES) and not w.startswith("-") and words[i - 1] not in OUTPUT_OPTIONS and "=" not in w]
    globbed = [w for w in reads if "*" in w]
    missing = [w for w in reads if w not in globbed and w not in made and not (ROOT / w).exists()]
    missing += [w for w in globbed if not list(ROOT.glob(w))]
    assert missing == [], f"{line}: {missing}"
