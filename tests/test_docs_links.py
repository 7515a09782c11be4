"""The README and docs/ stand alone: no link or path outside the repository, no ``sudo
overlaynet`` (the venv's overlaynet is not on sudo's PATH: the docs say "as root")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HELP = sorted((ROOT / "overlaynet" / "cli").glob("*.py"))


@pytest.mark.parametrize("page", PAGES + HELP, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sudo_overlaynet(page: Path) -> None:
    assert [n for n, line in enumerate(page.read_text().splitlines(), 1) if "sudo overlaynet" in line] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_path_stays_in_the_repository(page: Path) -> None:
    text = page.read_text()
    outside = [m for m in re.findall(r"\]\(([^)]+)\)", text) if not m.startswith(("http://", "https://", "#", "mailto:"))
               and not (page.parent / m.split("#")[0]).resolve().is_relative_to(ROOT)]
    outside += [m for m in re.findall(r"`([^`\s]*\.\./[^`\s]*)`", text) if not (page.parent / m).resolve().is_relative_to(ROOT)]
    outside += re.findall(r"/work/\S+", text)
    assert outside == []
    missing = [m for m in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
               if not m.startswith(("http://", "https://", "mailto:")) and not (page.parent / m).exists()]
    assert missing == []
