"""Golden-file comparison: OVERLAYNET_UPDATE_GOLDEN=1 rewrites the files instead."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("OVERLAYNET_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} missing: run with OVERLAYNET_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{path} differs (OVERLAYNET_UPDATE_GOLDEN=1 regenerates it)"
