"""LabelSelector semantics: matchLabels AND matchExpressions, the empty selector matches all,
and the algebra Kubernetes documents for the four operators."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from overlaynet.model import FrozenDict, Labels, LabelSelector, Requirement
from overlaynet.testing.strategies import label_selectors

from . import PROPERTIES

KEYS = ("app", "tier", "env")
VALUES = ("web", "db", "cache")
label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)).map(FrozenDict)
values = st.lists(st.sampled_from(VALUES), min_size=1, unique=True).map(tuple)


@PROPERTIES
@given(label_sets)
def test_empty_selector_matches_everything(lbls: Labels) -> None:
    assert LabelSelector().empty
    assert LabelSelector().matches(lbls)


@PROPERTIES
@given(label_selectors(keys=KEYS, values=VALUES), label_sets)
def test_selector_is_the_and_of_its_parts(sel: LabelSelector, lbls: Labels) -> None:
    parts = [LabelSelector(FrozenDict({k: v})) for k, v in sel.match_labels.items()]
    parts += [LabelSelector(match_expressions=(r,)) for r in sel.match_expressions]
    assert sel.matches(lbls) == all(p.matches(lbls) for p in parts)


@PROPERTIES
@given(label_selectors(keys=KEYS, values=VALUES), st.sampled_from(KEYS), values, label_sets)
def test_adding_a_requirement_never_selects_more(sel: LabelSelector, key: str, vals: tuple[str, ...],
                                                 lbls: Labels) -> None:
    narrower = LabelSelector(sel.match_labels, (*sel.match_expressions, Requirement(key, "In", vals)))
    assert not narrower.matches(lbls) or sel.matches(lbls)


@PROPERTIES
@given(st.sampled_from(KEYS), values, label_sets)
def test_operator_algebra(key: str, vals: tuple[str, ...], lbls: Labels) -> None:
    def match(op: str, vs: tuple[str, ...] = ()) -> bool:
        return LabelSelector(match_expressions=(Requirement(key, op, vs),)).matches(lbls)

    assert match("NotIn", vals) == (not match("In", vals))  # NotIn also matches a missing key
    assert match("DoesNotExist") == (not match("Exists"))
    assert match("Exists") == (key in lbls)
    assert match("In", vals) == (key in lbls and lbls[key] in vals)
    # matchLabels {k: v} is In(k, [v])
    for v in vals:
        assert LabelSelector(FrozenDict({key: v})).matches(lbls) == match("In", (v,))
