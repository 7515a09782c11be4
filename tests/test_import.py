"""``import overlaynet`` stays light: no scapy, pyroute2, networkx, numpy or matplotlib."""

from __future__ import annotations

import subprocess
import sys


def test_import_overlaynet_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, overlaynet, overlaynet.model, overlaynet.cli; "
        "print(','.join(m for m in ('scapy', 'pyroute2', 'networkx', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
