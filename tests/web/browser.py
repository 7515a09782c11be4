"""Headless Chromium (Debian's package) as the tests drive it: load a URL, let its scripts
run, return the DOM, the console's complaints and optionally a screenshot."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Page:
    dom: str
    console: list[str]  # every console message the page logged (errors included)

    def body(self) -> dict[str, str]:
        """The <body> element's data-* attributes (the page's state for tests)."""
        m = re.search(r"<body([^>]*)>", self.dom)
        assert m is not None, self.dom[:500]
        return {k: v for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1))}


def load(url: str, *, screenshot: str | None = None, size: str = "1500,900") -> Page:
    with tempfile.TemporaryDirectory() as profile:
        base = ["chromium", *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}"]
        run = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        console = [line for line in run.stderr.splitlines() if "CONSOLE" in line]
        if screenshot is not None:
            ARTIFACTS.mkdir(exist_ok=True)
            subprocess.run([*base, f"--screenshot={ARTIFACTS / screenshot}", url], capture_output=True, timeout=120)
    return Page(run.stdout, console)
