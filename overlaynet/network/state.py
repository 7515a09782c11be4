"""A client's state between runs, as a file: the ``recent`` lists kube-proxy's ClientIP
session affinity keeps and the netfilter engine's logical clock (``trace --client-state``).
Conntrack is not carried over: each run is a new connection."""

from __future__ import annotations

import json
import os
from ipaddress import ip_address
from pathlib import Path

from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.errors import TraceError

__all__ = ["load_client_state", "save_client_state"]


def load_client_state(path: str | os.PathLike[str] | None, seed: int = 0) -> NetfilterState:
    """Netfilter state saved by an earlier run: the ``recent`` lists (kube-proxy's ClientIP
    session affinity) and the logical clock. Conntrack is not carried over: each run is a new
    connection."""
    state = NetfilterState(seed=seed)
    if path is None or not Path(path).exists():
        return state
    try:
        data = json.loads(Path(path).read_text())
        state.time = float(data.get("time", 0.0))
        for entry in data.get("recent", []):
            lists = state.recent.setdefault((str(entry["namespace"]), str(entry["name"])), {})
            for ip, stamps in entry["addresses"].items():
                lists[ip_address(ip)] = [float(t) for t in stamps]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TraceError(f"{path}: not a saved client state ({exc})") from exc
    return state


def save_client_state(path: str | os.PathLike[str] | None, state: NetfilterState) -> None:
    """Write ``state``'s recent lists and clock for ``load_client_state`` (nothing without a path)."""
    if path is None:
        return
    recent = [
        {"namespace": ns, "name": name, "addresses": {str(ip): stamps for ip, stamps in lists.items()}}
        for (ns, name), lists in sorted(state.recent.items())
    ]
    Path(path).write_text(json.dumps({"time": state.time, "recent": recent}, indent=1, sort_keys=True))
