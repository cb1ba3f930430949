"""Expressions over a run's data, parsed by hand and evaluated without ``eval``.

The language: dotted paths (``assess.risk``, ``parse.clauses[0].text``, ``row["a b"]``), literals
(``"text"``, ``'text'``, ``12``, ``1.5``, ``true``, ``false``, ``null``, ``[1, "a"]``), comparisons
(``== != < <= > >=``), ``in`` / ``not in`` (substring of a string, item of a list, key of a mapping),
``and`` / ``or`` / ``not`` and parentheses. A path that leads nowhere is ``null``, so a condition over
an optional field needs no guard. There are no calls and no attribute access beyond the data, so a
definition can never run code. ``{{ expr }}`` inside a string is a template (:func:`render`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

__all__ = ["Expression", "ExpressionError", "compile_expression", "render", "template_parts"]


class ExpressionError(ValueError):
    """A malformed expression (at parse time) or an impossible comparison (at run time)."""


Evaluate = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
_WORDS = {"and", "or", "not", "in", "true", "false", "null", "True", "False", "None"}
_CONSTANTS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    roots: frozenset[str]  # the names its paths start from (inputs, step ids, a map item's name)
    evaluate: Evaluate

    def __call__(self, data: Mapping[str, Any]) -> Any:
        return self.evaluate(data)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"unexpected {text[pos:].strip()[:20]!r} at position {pos + 1}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.roots: set[str] = set()

    def peek(self, value: str | None = None) -> tuple[str, str] | None:
        if self.i >= len(self.tokens):
            return None
        token = self.tokens[self.i]
        if value is not None and token[1] != value:
            return None
        return token

    def take(self, value: str) -> None:
        if self.peek(value) is None:
            found = self.tokens[self.i][1] if self.i < len(self.tokens) else "the end"
            raise ExpressionError(f"expected {value!r}, found {found!r}")
        self.i += 1

    def parse(self) -> Evaluate:
        if not self.tokens:
            raise ExpressionError("empty expression")
        result = self.or_()
        if self.i != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.i][1]!r}")
        return result

    def or_(self) -> Evaluate:
        left = self.and_()
        while self.peek("or"):
            self.i += 1
            right = self.and_()
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def and_(self) -> Evaluate:
        left = self.not_()
        while self.peek("and"):
            self.i += 1
            right = self.not_()
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
        return left

    def not_(self) -> Evaluate:
        if self.peek("not"):
            self.i += 1
            inner = self.not_()
            return lambda d: not inner(d)
        return self.comparison()

    def comparison(self) -> Evaluate:
        left = self.primary()
        token = self.peek()
        if token is None:
            return left
        op = token[1]
        if op == "not" and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][1] == "in":
            self.i += 2
            right = self.primary()
            return lambda d: not _contains(right(d), left(d))
        if op not in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return left
        self.i += 1
        right = self.primary()
        return _compare(op, left, right)

    def primary(self) -> Evaluate:
        token = self.peek()
        if token is None:
            raise ExpressionError("the expression ends too early")
        kind, value = token
        self.i += 1
        if kind == "num":
            number: Any = float(value) if "." in value else int(value)
            return lambda d: number
        if kind == "str":
            text = _unquote(value)
            return lambda d: text
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if value == "[":
            items: list[Evaluate] = []
            if not self.peek("]"):
                items.append(self.or_())
                while self.peek(","):
                    self.i += 1
                    items.append(self.or_())
            self.take("]")
            return lambda d: [item(d) for item in items]
        if kind == "name" and value in _CONSTANTS:
            constant = _CONSTANTS[value]
            return lambda d: constant
        if kind == "name" and value not in _WORDS:
            return self.path(value)
        raise ExpressionError(f"unexpected {value!r}")

    def path(self, root: str) -> Evaluate:
        self.roots.add(root)
        parts: list[str | int] = []
        while True:
            if self.peek("."):
                self.i += 1
                token = self.peek()
                if (
                    token is None
                    or token[0] not in ("name", "num")
                    or (token[0] == "num" and "." in token[1])
                ):
                    raise ExpressionError("expected a field name after '.'")
                self.i += 1
                parts.append(int(token[1]) if token[0] == "num" else token[1])
            elif self.peek("["):
                self.i += 1
                token = self.peek()
                if token is None or token[0] not in ("num", "str"):
                    raise ExpressionError("expected a number or a quoted key inside [ ]")
                self.i += 1
                parts.append(int(token[1]) if token[0] == "num" else _unquote(token[1]))
                self.take("]")
            else:
                break
        steps = tuple(parts)
        return lambda d: _walk(d, root, steps)


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _walk(data: Mapping[str, Any], root: str, parts: tuple[str | int, ...]) -> Any:
    value: Any = data.get(root)
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(str(part), _MISSING)
        elif isinstance(value, list | tuple) and isinstance(part, int):
            value = value[part] if -len(value) <= part < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return None
    return value


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(f"'in' a string needs a string, got {type(item).__name__}")
        return item in container
    if isinstance(container, Mapping | list | tuple):
        return item in container
    raise ExpressionError(f"'in' needs a string, list or mapping, got {type(container).__name__}")


def _compare(op: str, left: Evaluate, right: Evaluate) -> Evaluate:
    def evaluate(d: Mapping[str, Any]) -> Any:
        a, b = left(d), right(d)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "in":
            return _contains(b, a)
        if a is None or b is None:
            return False  # an absent value is neither smaller nor larger than anything
        try:
            if op == "<":
                return a < b
            if op == "<=":
                return a <= b
            if op == ">":
                return a > b
            return a >= b
        except TypeError:
            raise ExpressionError(f"cannot compare {type(a).__name__} {op} {type(b).__name__}") from None

    return evaluate


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Parse ``text`` (once: parses are cached); raises :class:`ExpressionError` with what is wrong."""
    parser = _Parser(text)
    evaluate = parser.parse()
    return Expression(source=text, roots=frozenset(parser.roots), evaluate=evaluate)


_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def template_parts(text: str) -> list[Expression]:
    """The expressions inside ``{{ }}`` of a template (parse errors raised)."""
    return [compile_expression(m.group(1).strip()) for m in _TEMPLATE.finditer(text)]


def render(text: str, data: Mapping[str, Any]) -> Any:
    """A template's value: ``"{{ expr }}"`` alone is the value itself; otherwise the text with each
    ``{{ expr }}`` replaced (a mapping or list as JSON, null as nothing)."""
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole is not None:
        return compile_expression(whole.group(1).strip())(data)

    def replace(m: re.Match[str]) -> str:
        value = compile_expression(m.group(1).strip())(data)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return msgspec.json.encode(value).decode()

    return _TEMPLATE.sub(replace, text)
