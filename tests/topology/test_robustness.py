"""Bad input never escapes as a traceback: mutated topologies load or raise TopologyError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaynet.errors import OverlaynetError
from overlaynet.topology import load_text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    (ROOT / "topologies" / name).read_text()
    for name in ("demo.yaml", "node-js.yaml", "custom-service.yaml", "multitenancy.yaml")
] + [(Path(__file__).parent / "fixtures" / "kubectl-list.yaml").read_text()]
VALUES = ["", "null", "[]", "{}", "0", "-1", "'x'", "true", "1.5", "None", "[1, 2]", "{a: 1}", "65536",
          "::1", "10.0.0.0/8", "fd00::/8", "~", "*x", "&x 1", "!!binary aGk=", "'10.244.0.300'"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        j = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "char"]))
        line = lines[j]
        if op == "value" and ":" in line:
            lines[j] = line[: line.index(":") + 1] + " " + draw(st.sampled_from(VALUES))
        elif op == "delete":
            del lines[j]
        elif op == "duplicate":
            lines.insert(j, lines[draw(st.integers(0, len(lines) - 1))])
        else:
            at = draw(st.integers(0, len(line)))
            lines[j] = line[:at] + draw(st.sampled_from(list("x:-[]{}'\" 9\t"))) + line[at:]
    return "\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_topologies_never_crash(text: str) -> None:
    try:
        load_text(text, "mutated.yaml")
    except OverlaynetError as exc:
        assert str(exc)
