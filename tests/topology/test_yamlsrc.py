"""yamlsrc: located values, safe scalars, merge keys, refusal of bombs, deep nesting, huge files."""

from __future__ import annotations

import pytest

from overlaynet.topology import yamlsrc
from overlaynet.topology.yamlsrc import Y, read_documents


def test_locations_and_paths() -> None:
    docs, diags = read_documents("f.yaml", "a: 1\nb:\n  - x\n  - {c: true}\n")
    assert diags == []
    (doc,) = docs
    b = doc.value["b"]
    assert (b.key_line, b.key_column) == (2, 1)
    item = b.value[1]
    assert item.path == "b[1]"
    assert (item.line, item.column) == (4, 5)
    c = item.value["c"]
    assert c.value is True and c.path == "b[1].c"
    assert doc.plain() == {"a": 1, "b": ["x", {"c": True}]}


def test_timestamps_stay_strings() -> None:
    docs, diags = read_documents("f.yaml", "t: 2024-03-01T10:00:05Z\nq: !!str 5\n")
    assert diags == []
    assert docs[0].value["t"].value == "2024-03-01T10:00:05Z"
    assert docs[0].value["q"].value == "5"


@pytest.mark.parametrize(("text", "message"), [
    ("x: !!python/object:os.system 'ls'\n",
     "unsupported YAML tag '!!python/object:os.system': Python object tags are never constructed; expected plain YAML data"),
    ("x: !!set {a, b}\n",
     "unsupported YAML tag '!!set': expected plain YAML data (strings, numbers, booleans, null, mappings, lists)"),
    ("x: !Ref WebIP\n", "unknown local YAML tag '!Ref': expected plain YAML data (a tag such as !Ref is not expanded here)"),
    ("x: !GetAtt [a, b]\n", "unknown local YAML tag '!GetAtt': expected plain YAML data (a tag such as !Ref is not expanded here)"),
])
def test_tags_are_refused_by_name_not_constructed_nor_dropped(text: str, message: str) -> None:
    """Before, a Python tag was read as the string it tagged and a local tag was dropped."""
    docs, diags = read_documents("f.yaml", "a: 1\n" + text)
    assert docs == []  # the document is not read on
    assert [(d.line, d.column, d.path, d.message) for d in diags] == [(2, 4, "x", message)]


def test_merge_keys_explicit_wins() -> None:
    docs, diags = read_documents("f.yaml", "base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n")
    assert diags == []
    assert docs[0].value["obj"].plain() == {"y": 3, "x": 1}


def test_multi_document_and_empty_documents() -> None:
    docs, diags = read_documents("f.yaml", "---\na: 1\n---\n---\nb: 2\n")
    assert diags == []
    assert [d.plain() for d in docs if d.value is not None] == [{"a": 1}, {"b": 2}]


def test_alias_bomb_refused_without_expanding() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for name in "bcdefgh":
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
        prev = name
    docs, diags = read_documents("bomb.yaml", text)
    assert docs == []
    assert len(diags) == 1 and "alias bomb" in diags[0].message
    assert (diags[0].line, diags[0].column) == (1, 1)


def test_modest_alias_reuse_is_fine() -> None:
    docs, diags = read_documents("f.yaml", "l: &l {app: web}\na: *l\nb: *l\n")
    assert diags == [] and docs[0].plain()["b"] == {"app": "web"}


def test_huge_text_refused(monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(yamlsrc, "MAX_FILE_BYTES", 100)
    try:
        docs, diags = read_documents("big.yaml", "a: " + "x" * 200)
    finally:
        mp.undo()
    assert docs == [] and "file too large" in diags[0].message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "[" * 5000 + "]" * 5000
    docs, diags = read_documents("deep.yaml", text)
    assert docs == [] and diags and diags[0].file == "deep.yaml"


def test_y_helpers() -> None:
    y = Y({"a": Y(1, 1, 1, "a", 1, 1)}, 1, 1, "", 1, 1)
    assert y.is_map and not y.is_seq and y.get("a") is not None and y.get("b") is None


def test_nesting_limit_with_both_parsers(monkeypatch: object) -> None:
    import pytest
    import yaml

    assert read_documents("ok.yaml", "[" * 90 + "]" * 90)[1] == []
    for loader in (yaml.SafeLoader, yamlsrc._Loader):
        mp = pytest.MonkeyPatch()
        mp.setattr(yamlsrc, "_Loader", loader)
        try:
            docs, diags = read_documents("deep.yaml", "[" * 700 + "]" * 700)
        finally:
            mp.undo()
        assert docs == [] and "nested too deeply" in diags[0].message
