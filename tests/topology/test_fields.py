"""fields: typed readers say what they expected and what they found."""

from __future__ import annotations

import ipaddress

from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx, describe
from overlaynet.topology.yamlsrc import Y, read_documents


def doc(text: str) -> Y:
    docs, diags = read_documents("t.yaml", text)
    assert diags == []
    return docs[0]


def messages(ctx: Ctx) -> list[str]:
    return [f"{d.line}:{d.column} {d.path}: {d.message}" for d in ctx.diagnostics]


def test_describe() -> None:
    assert [describe(v) for v in (None, True, 3, 1.5, "x", {}, [])] == [
        "null", "a boolean true", "an integer 3", "a number 1.5", "a string 'x'", "a mapping", "a list"]
    assert describe("y" * 100).endswith("...'")


def test_mapping_strict_and_lenient() -> None:
    y = doc("nmae: x\nother: 1\n")
    ctx = Ctx(file="t.yaml")
    f.mapping(ctx, y, ("name",))
    assert messages(ctx) == ["1:1 nmae: unknown field 'nmae'; did you mean 'name'?",
                             "2:1 other: unknown field 'other'; expected one of: name"]
    ctx = Ctx(file="t.yaml")
    f.mapping(ctx, y, ("name",), strict=False)
    assert messages(ctx) == ["1:1 nmae: unknown field 'nmae'; did you mean 'name'?"]


def test_scalars() -> None:
    y = doc("a: 5\nb: 'x'\nc: true\nd: 10.0.0.1\ne: 10.0.0.0/8\nf: http\ng: '8080'\n").value
    ctx = Ctx(file="t.yaml")
    assert f.integer(ctx, y["a"], 1, 10) == 5
    assert f.integer(ctx, y["b"]) is None
    assert f.boolean(ctx, y["c"]) is True and f.boolean(ctx, y["a"]) is None
    assert f.ip(ctx, y["d"]) == ipaddress.ip_address("10.0.0.1")
    assert f.cidr(ctx, y["e"]) == ipaddress.ip_network("10.0.0.0/8")
    assert f.port_or_name(ctx, y["f"]) == "http" and f.port_or_name(ctx, y["g"]) == 8080
    assert messages(ctx) == ["2:4 b: expected an integer, found a string 'x'", "1:4 a: expected true or false, found an integer 5"]


def test_choice_suggests() -> None:
    ctx = Ctx(file="t.yaml")
    assert f.choice(ctx, doc("v: Clusterr\n").value["v"], ("Cluster", "Local")) is None
    assert messages(ctx) == ["1:4 v: expected one of: Cluster, Local, found 'Clusterr'; did you mean 'Cluster'?"]


def test_label_selector_expressions() -> None:
    ctx = Ctx(file="t.yaml")
    sel = f.label_selector(ctx, doc("matchExpressions: [{key: a, operator: In, values: [x, y]}, {key: b, operator: DoesNotExist}]\n"))
    assert sel is not None and sel.matches({"a": "y"}) and not sel.matches({"a": "y", "b": "1"})
    bad = f.label_selector(ctx, doc("matchExpressions: [{key: a, operator: In}]\n"))
    assert bad is not None and bad.match_expressions == ()
    assert messages(ctx) == ["1:39 matchExpressions[0].operator: expected a non-empty 'values' list with operator In, found none"]


def test_remembered_locations_and_names() -> None:
    ctx = Ctx(file="t.yaml")
    y = doc("metadata: {name: web}\n")
    ctx.remember(("k",), y.value["metadata"])
    ctx.remember_name(y, y.value["metadata"].value["name"])
    assert ctx.where[("k",)].line == 1 and ctx.name_at(ctx.source(y)) is not None
    assert ctx.name_at(None) is None
