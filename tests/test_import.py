"""``import overlaynet`` stays light: no scapy, pyroute2, networkx, numpy, matplotlib or
dnspython, and none of the library's rooms until a public name is first used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scapy", "pyroute2", "networkx", "numpy", "matplotlib", "dns", "hypothesis")


def _loaded(code: str) -> list[str]:
    probe = f"import sys; {code}; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith('overlaynet.'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return out.split(",") if out else []


def test_import_overlaynet_loads_no_heavy_dependency() -> None:
    loaded = _loaded("import overlaynet, overlaynet.model, overlaynet.cli")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY], loaded


def test_the_top_level_imports_its_names_on_first_use() -> None:
    assert _loaded("import overlaynet") == []
    loaded = _loaded("import overlaynet; overlaynet.NsRef")
    assert "overlaynet.dataplane.ir" in loaded and "overlaynet.network" not in loaded
