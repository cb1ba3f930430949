"""Metadata filters: which documents a query (or an access rule) may draw on.

A filter is a JSON object, as in most vector stores::

    {"department": "legal"}                           equal (or, for a list value, contains)
    {"year": {"$gte": 2022}, "region": {"$in": ["eu", "uk"]}}
    {"$or": [{"department": "legal"}, {"public": true}]}
    {"source": {"$prefix": "contracts/"}}

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $prefix``, and ``$and $or $not`` to combine.
Keys are metadata fields, plus ``source``, ``title``, ``media_type`` and ``document_id``, which name
the document's own fields. Several keys in one object must all match. A filter is checked when it is
given (a bad one is a 400 naming its path) and compiled once into a predicate over documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from podium.errors import RequestError
from podium.storage.knowledge_records import DocumentRecord

__all__ = ["Predicate", "compile_filter"]

Predicate = Callable[[DocumentRecord], bool]

_MISSING = object()
_BUILTIN: dict[str, Callable[[DocumentRecord], Any]] = {
    "source": lambda d: d.source,
    "title": lambda d: d.title,
    "media_type": lambda d: d.media_type,
    "document_id": lambda d: d.id,
}
_COMPARE = {"$gt", "$gte", "$lt", "$lte"}


def compile_filter(spec: Any, *, param: str = "filter") -> Predicate:
    """A predicate for ``spec``; ``RequestError`` (with the offending path) for a malformed filter."""
    if not isinstance(spec, dict):
        raise RequestError("A filter is a JSON object of field conditions.", param=param)
    parts: list[Predicate] = []
    for key, value in spec.items():
        where = f"{param}.{key}"
        if key == "$and" or key == "$or":
            if not isinstance(value, list) or not value:
                raise RequestError(f"`{key}` takes a non-empty list of filters.", param=where)
            subs = [compile_filter(v, param=f"{where}[{i}]") for i, v in enumerate(value)]
            parts.append(_all(subs) if key == "$and" else _any(subs))
        elif key == "$not":
            parts.append(_negate(compile_filter(value, param=where)))
        elif key.startswith("$"):
            raise RequestError(
                f"Unknown filter operator `{key}` (use $and, $or, $not at the top).", param=where
            )
        else:
            parts.append(_field(key, value, where))
    return _all(parts)


def _negate(inner: Predicate) -> Predicate:
    return lambda d: not inner(d)


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda d: all(p(d) for p in parts)


def _any(parts: list[Predicate]) -> Predicate:
    return lambda d: any(p(d) for p in parts)


def _getter(key: str) -> Callable[[DocumentRecord], Any]:
    builtin = _BUILTIN.get(key)
    if builtin is not None:
        return builtin
    return lambda d: d.metadata.get(key, _MISSING)


def _field(key: str, condition: Any, where: str) -> Predicate:
    get = _getter(key)
    if not isinstance(condition, dict):
        return lambda d: _equal(get(d), condition)
    tests: list[Callable[[Any], bool]] = []
    for op, operand in condition.items():
        tests.append(_operator(op, operand, f"{where}.{op}"))
    return lambda d: all(t(get(d)) for t in tests)


def _operator(op: str, operand: Any, where: str) -> Callable[[Any], bool]:
    if op == "$eq":
        return lambda v: _equal(v, operand)
    if op == "$ne":
        return lambda v: not _equal(v, operand)
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise RequestError(f"`{op}` takes a list of values.", param=where)
        if op == "$in":
            return lambda v: any(_equal(v, o) for o in operand)
        return lambda v: not any(_equal(v, o) for o in operand)
    if op == "$exists":
        if not isinstance(operand, bool):
            raise RequestError("`$exists` takes true or false.", param=where)
        return lambda v: (v is not _MISSING) is operand
    if op == "$prefix":
        if not isinstance(operand, str):
            raise RequestError("`$prefix` takes a string.", param=where)
        return lambda v: isinstance(v, str) and v.startswith(operand)
    if op in _COMPARE:
        if isinstance(operand, bool) or not isinstance(operand, int | float | str):
            raise RequestError(f"`{op}` takes a number or a string.", param=where)
        return lambda v: _compare(op, v, operand)
    raise RequestError(f"Unknown filter operator `{op}`.", param=where)


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, list):
        return value == expected or any(_equal(v, expected) for v in value)
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected  # true is not 1
    return value is not _MISSING and bool(value == expected)


def _compare(op: str, value: Any, operand: Any) -> bool:
    numeric = (int, float)
    if isinstance(value, bool) or value is _MISSING:
        return False
    if isinstance(operand, numeric) and not isinstance(value, numeric):
        return False
    if isinstance(operand, str) and not isinstance(value, str):
        return False
    if op == "$gt":
        return bool(value > operand)
    if op == "$gte":
        return bool(value >= operand)
    if op == "$lt":
        return bool(value < operand)
    return bool(value <= operand)
