"""Scanners of what the model wrote (some serve the input stage too): schema, patterns, length.

- :class:`JsonSchemaScanner` — the answer must be JSON valid against a schema: the policy's, else the
  request's own ``response_format`` schema (``json_object`` asks only for JSON). The policy may ask the
  model once more, quoting the error, before its action applies (:mod:`podium.guardrails.policy`).
- :class:`RegexScanner` — named regular expressions and deny-listed words.
- :class:`MaxLengthScanner` — a text longer than the limit.

PII and secret leakage in answers is the PII scanner (:mod:`podium.guardrails.pii`) on the output stage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import fastjsonschema
import msgspec

from podium.canonical import JsonSchemaFormat
from podium.guardrails.moderation import DenyList
from podium.guardrails.scanner import Finding, LocalScanner, Scan, ScanContext

__all__ = ["JsonSchemaScanner", "MaxLengthScanner", "RegexScanner"]

Validator = Callable[[Any], Any]


@lru_cache(maxsize=256)
def _compiled(schema_json: bytes) -> Validator:
    validator: Validator = fastjsonschema.compile(msgspec.json.decode(schema_json))
    return validator


def _validator(schema: Mapping[str, Any]) -> Validator:
    # Keyed by the schema's canonical JSON: requests repeat the same response_format schema.
    return _compiled(msgspec.json.encode(schema, order="sorted"))


class JsonSchemaScanner(LocalScanner):
    """The whole answer must parse as JSON and, when a schema applies, validate against it."""

    kind = "json_schema"
    whole_text = True  # a partial answer cannot be validated: the policy buffers streams for it

    def __init__(self, *, schema: Mapping[str, Any] | None = None, repair: bool = False) -> None:
        self.schema = schema
        self.repair = repair
        if schema is not None:
            _validator(schema)  # compile now: a bad schema fails at start-up, not on a request

    def _schema_for(self, ctx: ScanContext) -> tuple[bool, Mapping[str, Any] | None]:
        """(whether JSON is expected at all, the schema if one applies)."""
        if self.schema is not None:
            return True, self.schema
        fmt = ctx.request.response_format if ctx.request is not None else None
        if isinstance(fmt, JsonSchemaFormat):
            return True, fmt.schema
        return fmt == "json_object", None

    def check(self, text: str, ctx: ScanContext) -> Scan:
        expected, schema = self._schema_for(ctx)
        if not expected:
            return Scan()
        try:
            value = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return _violation(text, "the answer is not valid JSON")
        if schema is not None:
            try:
                _validator(schema)(value)
            except fastjsonschema.JsonSchemaValueException as exc:
                return _violation(text, f"the answer does not match the JSON schema: {exc.message}")
            except fastjsonschema.JsonSchemaDefinitionException:
                return Scan(
                    message="the request's JSON schema cannot be compiled; the answer was not validated"
                )
        return Scan()


def _violation(text: str, message: str) -> Scan:
    return Scan(findings=(Finding("SCHEMA_VIOLATION", 0, len(text)),), score=1.0, message=message)


class RegexScanner(LocalScanner):
    """Each match of a named pattern is a finding of that name; each deny-listed word one of DENIED_TERM."""

    kind = "regex"

    def __init__(self, *, patterns: Mapping[str, str], deny: Iterable[str] = ()) -> None:
        self.patterns = [(name.upper(), re.compile(p)) for name, p in patterns.items()]
        self.deny = DenyList("DENIED_TERM", deny)

    def check(self, text: str, ctx: ScanContext) -> Scan:
        findings = [
            Finding(kind, m.start(), m.end())
            for kind, p in self.patterns
            for m in p.finditer(text)
            if m.end() > m.start()
        ]
        findings += self.deny.find(text)
        return Scan(findings=tuple(findings), score=1.0 if findings else 0.0)


class MaxLengthScanner(LocalScanner):
    kind = "max_length"

    def __init__(self, *, limit: int) -> None:
        self.limit = limit

    def check(self, text: str, ctx: ScanContext) -> Scan:
        if len(text) <= self.limit:
            return Scan()
        finding = Finding("MAX_LENGTH", 0, len(text))
        return Scan(
            findings=(finding,),
            score=1.0,
            message=f"{len(text)} characters, more than the {self.limit} allowed",
        )
