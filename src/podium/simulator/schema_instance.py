"""A JSON value that conforms to a JSON Schema: what the simulator answers structured-output requests with.

Covers what OpenAI structured outputs and Pydantic's schemas use: ``type`` (and nullable unions such
as ``["string", "null"]``), ``enum``, ``const``, ``anyOf`` / ``oneOf`` (the first usable branch),
``allOf`` (merged), ``$ref`` to any ``#/...`` pointer (``$defs``, ``definitions``), ``properties`` /
``required`` / ``additionalProperties``, ``items`` / ``prefixItems`` / ``minItems`` / ``maxItems`` /
``uniqueItems``, numeric bounds and ``multipleOf``, ``minLength`` / ``maxLength`` and common
``format`` values. ``pattern`` is not honoured (no regex inversion).

The output is deterministic: the same schema and text give the same value. String fields carry the
caller's text where there is one, so an echo through a schema stays recognisable.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_for"]

# Past this depth, or inside a schema that refers to itself, only the smallest instance is built.
_MAX_DEPTH = 8

_FORMATS: dict[str, str] = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "12:00:00",
    "duration": "PT1S",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "url": "https://example.com/",
}

_TYPE_HINTS: tuple[tuple[str, str], ...] = (
    ("properties", "object"),
    ("additionalProperties", "object"),
    ("required", "object"),
    ("items", "array"),
    ("prefixItems", "array"),
    ("minItems", "array"),
    ("minimum", "number"),
    ("maximum", "number"),
    ("exclusiveMinimum", "number"),
    ("exclusiveMaximum", "number"),
    ("minLength", "string"),
    ("maxLength", "string"),
    ("format", "string"),
)


def instance_for(schema: Mapping[str, Any] | bool | None, *, text: str = "") -> Any:
    """A value that validates against ``schema``; ``text`` fills string fields."""
    if schema is None:
        schema = {}
    root = schema if isinstance(schema, Mapping) else {}
    return _Generator(root, text).value(schema, depth=0, variant=0, name="")


class _Generator:
    __slots__ = ("_active", "_root", "_text")

    def __init__(self, root: Mapping[str, Any], text: str) -> None:
        self._root = root
        self._text = text
        self._active: list[str] = []  # the $refs being expanded, outermost first

    # ------------------------------------------------------------------ schema plumbing

    def _resolve(self, schema: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Mapping[str, Any]:
        """``schema`` with its ``$ref`` followed (siblings of ``$ref`` win over the target)."""
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        if ref in seen or not ref.startswith("#"):
            return {k: v for k, v in schema.items() if k != "$ref"}
        target: Any = self._root
        for token in ref[1:].split("/")[1:] if ref != "#" else ():
            key = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                raise ValueError(f"unresolvable $ref {ref!r} in the JSON schema")
        if not isinstance(target, Mapping):
            target = {} if target is True else {"not": {}}
        resolved = self._resolve(target, seen | {ref})
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {**resolved, **siblings} if siblings else resolved

    def _merge_all_of(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if not isinstance(part, Mapping):
                continue
            part = self._resolve(part)
            if "allOf" in part:
                part = self._merge_all_of(part)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                elif key in ("minimum", "exclusiveMinimum", "minLength", "minItems"):
                    merged[key] = max(merged.get(key, value), value)
                elif key in ("maximum", "exclusiveMaximum", "maxLength", "maxItems"):
                    merged[key] = min(merged.get(key, value), value)
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _type_of(schema: Mapping[str, Any], minimal: bool) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            # a nullable union: the first non-null type, unless recursion asks for the smallest value
            if minimal and "null" in declared:
                return "null"
            non_null = [t for t in declared if t != "null"]
            return str(non_null[0]) if non_null else "null"
        if isinstance(declared, str):
            return declared
        for keyword, implied in _TYPE_HINTS:
            if keyword in schema:
                return implied
        return "string"

    # ------------------------------------------------------------------ values

    def value(self, schema: Mapping[str, Any] | bool, *, depth: int, variant: int, name: str) -> Any:
        if schema is True:
            schema = {}
        elif schema is False or not isinstance(schema, Mapping):
            return None
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return self._value(schema, depth=depth, variant=variant, name=name)
        if ref in self._active:
            # a schema that contains itself (a tree): from here on, the smallest instance will do
            depth = max(depth, _MAX_DEPTH)
        self._active.append(ref)
        try:
            return self._value(self._resolve(schema), depth=depth, variant=variant, name=name)
        finally:
            self._active.pop()

    def _value(self, schema: Mapping[str, Any], *, depth: int, variant: int, name: str) -> Any:
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        minimal = depth >= _MAX_DEPTH
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[variant % len(enum)]
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                branch = self._pick_branch(branches, minimal)
                merged = {**rest, **branch} if isinstance(branch, Mapping) and rest else branch
                return self.value(merged, depth=depth + 1, variant=variant, name=name)
        kind = self._type_of(schema, minimal)
        if kind == "object":
            return self._object(schema, depth, minimal)
        if kind == "array":
            return self._array(schema, depth, minimal)
        if kind == "integer":
            return self._integer(schema, variant)
        if kind == "number":
            return self._number(schema, variant)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return self._string(schema, variant, name)

    def _pick_branch(self, branches: list[Any], minimal: bool) -> Any:
        if minimal:
            for branch in branches:
                if isinstance(branch, Mapping) and branch.get("type") == "null":
                    return branch
            for branch in branches:
                if isinstance(branch, Mapping) and "$ref" not in branch:
                    return branch
        return branches[0]

    def _object(self, schema: Mapping[str, Any], depth: int, minimal: bool) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            if minimal and key not in required:
                continue
            out[key] = self.value(sub, depth=depth + 1, variant=0, name=key)
        for key in required - out.keys():
            # required but not described: any value will do
            out[key] = self.value(
                schema.get("additionalProperties", {}), depth=depth + 1, variant=0, name=key
            )
        extra = schema.get("additionalProperties", True)
        wanted = int(schema.get("minProperties", 0))
        if extra is not False:
            k = 1
            while len(out) < wanted:
                out[f"key{k}"] = self.value(extra, depth=depth + 1, variant=k, name="")
                k += 1
        return out

    def _array(self, schema: Mapping[str, Any], depth: int, minimal: bool) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = low if minimal else max(low, 1)
        if high is not None:
            count = min(count, int(high))
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        out: list[Any] = []
        if isinstance(prefix, list):
            out = [self.value(p, depth=depth + 1, variant=0, name="") for p in prefix]
            count = max(count, len(prefix)) if items is not False else len(prefix)
        elif isinstance(items, list):  # draft-07 tuple form
            out = [self.value(p, depth=depth + 1, variant=0, name="") for p in items]
            items = schema.get("additionalItems", {})
            count = max(count, len(out))
        for i in range(len(out), count):
            out.append(self.value(items, depth=depth + 1, variant=i, name=""))
        return out

    @staticmethod
    def _bounds(schema: Mapping[str, Any], step: float) -> tuple[float, float]:
        low, high = -math.inf, math.inf
        if isinstance(schema.get("minimum"), int | float):
            low = schema["minimum"]
        if isinstance(schema.get("exclusiveMinimum"), int | float):
            low = max(low, schema["exclusiveMinimum"] + step)
        if isinstance(schema.get("maximum"), int | float):
            high = schema["maximum"]
        if isinstance(schema.get("exclusiveMaximum"), int | float):
            high = min(high, schema["exclusiveMaximum"] - step)
        return low, high

    def _integer(self, schema: Mapping[str, Any], variant: int) -> int:
        low, high = self._bounds(schema, 1)
        value = 1 + variant
        if value < low:
            value = math.ceil(low) + variant
        if value > high:
            value = math.floor(high)
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int) and multiple > 0 and value % multiple:
            up = value + (multiple - value % multiple)
            value = up if up <= high else value - value % multiple
        return int(value)

    def _number(self, schema: Mapping[str, Any], variant: int) -> float:
        multiple = schema.get("multipleOf")
        if isinstance(multiple, int | float) and multiple > 0:
            # a multiple of an integer step is an integer; any other step: a multiple of it near 1
            if float(multiple).is_integer():
                return float(self._integer(schema, variant))
            return float(multiple * max(1, round(1 / multiple)))
        low, high = self._bounds(schema, 0.0)
        low_open = "exclusiveMinimum" in schema and low == schema["exclusiveMinimum"]
        high_open = "exclusiveMaximum" in schema and high == schema["exclusiveMaximum"]

        def fits(v: float) -> bool:
            return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)

        value = 1.5 + variant
        if not fits(value):
            if math.isfinite(low) and math.isfinite(high):
                value = (low + high) / 2
            elif math.isfinite(low):
                value = low + 1.0 + variant
            else:
                value = high - 1.0 - variant
        return float(value)

    def _string(self, schema: Mapping[str, Any], variant: int, name: str) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            value = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._text}#{name}#{variant}"))
        elif isinstance(fmt, str) and fmt in _FORMATS:
            value = _FORMATS[fmt]
            if variant and fmt in ("email", "idn-email"):
                value = f"user{variant}@example.com"
        else:
            value = self._text or name or "text"
            if variant:
                value = f"{value} {variant}"
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if len(value) < low:
            value += "x" * (low - len(value))
        if high is not None and len(value) > int(high):
            value = value[: int(high)]
        return value
