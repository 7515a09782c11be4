from __future__ import annotations

import pytest

from overlaynet.policy.calico_selector import SelectorError, parse

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "version": "v1.2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('app == "web"', True),
        ("app == 'db'", False),
        ('app != "db"', True),
        ('missing != "x"', True),
        ("has(tier)", True),
        ("!has(tier)", False),
        ('env in {"prod", "staging"}', True),
        ('env not in {"prod"}', False),
        ('version contains "1."', True),
        ('version starts with "v1"', True),
        ('version ends with ".3"', False),
        ("all()", True),
        ("global()", False),
        ("", True),
        ('app == "web" && tier == "backend" || env == "prod"', True),  # && binds tighter
        ('app == "web" && (tier == "backend" || env == "dev")', False),
        ('!(app == "web") || has(env)', True),
    ],
)
def test_selector_semantics(text: str, expected: bool) -> None:
    assert parse(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("app ==", 7, "a quoted string"),
        ('app = "x"', 5, "a label key, a string or an operator"),
        ('has(app', 8, "')'"),
        ('app in {"a" "b"}', 13, "'}' or ','"),
        ('app == "x" &&', 14, "a selector expression"),
        ('app == "x")', 11, "&&, || or the end"),
    ],
)
def test_selector_errors_name_column_and_expectation(text: str, column: int, expected: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse(text)
    assert f"column {column}" in str(err.value) and expected in str(err.value)
