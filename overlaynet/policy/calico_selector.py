"""Calico's label selector language, parsed into a small AST.

    key == "v"   key != "v"   has(key)   !has(key)   key in {"a", "b"}   key not in {…}
    key contains "s"   key starts with "s"   key ends with "s"   all()   global()
    !expr   expr && expr   expr || expr   ( expr )

Precedence: match operations > parentheses > ``!`` > ``&&`` > ``||`` (Calico's docs,
``_selectors.mdx``). An empty selector selects nothing in a rule and everything as a
policy's ``selector``; callers decide (``parse("")`` gives ``All``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from overlaynet.errors import SelectorError

__all__ = ["All", "And", "Compare", "Expr", "Global", "Has", "In", "Not", "Or", "SelectorError", "parse"]


class Expr:
    def matches(self, labels: Mapping[str, str]) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class All(Expr):
    def matches(self, labels: Mapping[str, str]) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Global(Expr):
    """``global()``: non-namespaced resources only; pods never match it."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    key: str
    op: str  # == != contains startswith endswith
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.key)
        if self.op == "!=":
            return have != self.value
        if have is None:
            return False
        if self.op == "==":
            return have == self.value
        if self.op == "contains":
            return self.value in have
        if self.op == "startswith":
            return have.startswith(self.value)
        return have.endswith(self.value)


@dataclass(frozen=True, slots=True)
class Has(Expr):
    key: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels


@dataclass(frozen=True, slots=True)
class In(Expr):
    key: str
    values: frozenset[str]
    negate: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        inside = labels.get(self.key) in self.values
        return not inside if self.negate else inside


@dataclass(frozen=True, slots=True)
class Not(Expr):
    inner: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.inner.matches(labels)


@dataclass(frozen=True, slots=True)
class And(Expr):
    parts: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(p.matches(labels) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Or(Expr):
    parts: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(p.matches(labels) for p in self.parts)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"[^"]*"|'[^']*')
     |(?P<op>==|!=|&&|\|\||[!(){},])
     |(?P<word>[A-Za-z0-9_./\-]+)
    )""",
    re.VERBOSE,
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise SelectorError(text, pos + (len(text[pos:]) - len(text[pos:].lstrip())), "a label key, a string or an operator")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None, expected: str = "") -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise SelectorError(self.text, tok[2] if tok else len(self.text), expected or repr(value))
        self.i += 1
        return tok

    def parse(self) -> Expr:
        if not self.tokens:
            return All()
        expr = self.or_()
        if self.peek() is not None:
            raise SelectorError(self.text, self.peek()[2], "&&, || or the end")  # type: ignore[index]
        return expr

    def or_(self) -> Expr:
        parts = [self.and_()]
        while (t := self.peek()) is not None and t[1] == "||":
            self.i += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Expr:
        parts = [self.not_()]
        while (t := self.peek()) is not None and t[1] == "&&":
            self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_(self) -> Expr:
        t = self.peek()
        if t is not None and t[1] == "!":
            self.i += 1
            return Not(self.not_())
        return self.atom()

    def _string(self) -> str:
        return self.take(kind="str", expected="a quoted string")[1][1:-1]

    def atom(self) -> Expr:
        t = self.peek()
        if t is None:
            raise SelectorError(self.text, len(self.text), "a selector expression")
        if t[1] == "(":
            self.i += 1
            e = self.or_()
            self.take(")", expected="')'")
            return e
        word = self.take(kind="word", expected="a label key, has(), all() or '('")[1]
        if word in ("has", "all", "global") and (n := self.peek()) is not None and n[1] == "(":
            self.i += 1
            if word == "has":
                key = self.take(kind="word", expected="a label key")[1]
                self.take(")", expected="')'")
                return Has(key)
            self.take(")", expected="')'")
            return All() if word == "all" else Global()
        op = self.peek()
        if op is None:
            raise SelectorError(self.text, len(self.text), "==, !=, in, not in, contains, starts with or ends with")
        if op[1] in ("==", "!="):
            self.i += 1
            return Compare(word, op[1], self._string())
        if op[1] == "in":
            self.i += 1
            return In(word, self._set())
        if op[1] == "not":
            self.i += 1
            self.take("in", expected="'in'")
            return In(word, self._set(), negate=True)
        if op[1] == "contains":
            self.i += 1
            return Compare(word, "contains", self._string())
        if op[1] in ("starts", "ends"):
            self.i += 1
            self.take("with", expected="'with'")
            return Compare(word, op[1] + "with", self._string())
        raise SelectorError(self.text, op[2], "==, !=, in, not in, contains, starts with or ends with")

    def _set(self) -> frozenset[str]:
        self.take("{", expected="'{'")
        values: list[str] = []
        t = self.peek()
        if t is not None and t[1] == "}":
            self.i += 1
            return frozenset()
        values.append(self._string())
        while (t := self.peek()) is not None and t[1] == ",":
            self.i += 1
            values.append(self._string())
        self.take("}", expected="'}' or ','")
        return frozenset(values)


def parse(text: str) -> Expr:
    """Parse a Calico selector; raise SelectorError naming the column and what was expected."""
    return _Parser(text).parse()
