"""Evaluators: each scores one answer from 0 (bad) to 1 (good), or NaN when it could not measure.

Deterministic ones check the text itself (valid JSON, a JSON Schema, a regex, expected texts, length,
refusals, citations, personal data); the LLM judge (:mod:`podium.evaluation.judge`) asks a model.
NaN means *unmeasured* — a judge that gave no usable score — and is never counted as a failure: it is
stored as no score and left out of every mean.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from podium.canonical import JsonSchemaFormat, Message
from podium.config.observability import EvaluatorSettings

__all__ = ["EvalInput", "Evaluator", "Result", "build_evaluator"]

NAN = math.nan


@dataclass(frozen=True, slots=True)
class EvalInput:
    """What an evaluator sees of one call."""

    messages: tuple[Message, ...]  # what the model was sent (after the prompt was rendered)
    output: str  # everything it answered
    tenant: str = "default"
    response_format: Any = None  # the request's: None, "json_object" or a JsonSchemaFormat
    expected: str | None = None  # a dataset row's expected answer
    refused: bool = False  # the model sent a refusal (an explicit refusal part)

    def question(self) -> str:
        users = [m.text() for m in self.messages if m.role == "user"]
        return users[-1] if users else ""


@dataclass(frozen=True, slots=True)
class Result:
    score: float  # 0..1, or NaN: unmeasured
    detail: str | None = None


class Evaluator(Protocol):
    name: str
    settings: EvaluatorSettings

    async def evaluate(self, item: EvalInput) -> Result: ...


def _passed(ok: bool, failure: str) -> Result:
    return Result(1.0 if ok else 0.0, None if ok else failure)


@dataclass
class _Check:
    """A deterministic evaluator: a plain function of the input, run inline (microseconds)."""

    name: str
    settings: EvaluatorSettings
    check: Callable[[EvalInput], Result]

    async def evaluate(self, item: EvalInput) -> Result:
        return self.check(item)


def _json_valid(item: EvalInput) -> Result:
    try:
        msgspec.json.decode(item.output.strip() or b"")
    except msgspec.DecodeError as exc:
        return Result(0.0, f"not valid JSON: {exc}")
    return Result(1.0)


@dataclass
class _Schema:
    schema: dict[str, Any] | None
    _compiled: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def _validator(self, schema: dict[str, Any]) -> Callable[[Any], Any]:
        import fastjsonschema

        key = msgspec.json.encode(schema).decode()
        v = self._compiled.get(key)
        if v is None:
            if len(self._compiled) > 256:
                self._compiled.clear()
            v = self._compiled[key] = fastjsonschema.compile(schema)
        return v

    def __call__(self, item: EvalInput) -> Result:
        schema = self.schema
        rf = item.response_format
        if schema is None and isinstance(rf, JsonSchemaFormat):
            schema = rf.schema
        if schema is None:
            return Result(NAN, "no schema: neither the evaluator nor the request gave one")
        try:
            value = msgspec.json.decode(item.output.strip() or b"")
        except msgspec.DecodeError as exc:
            return Result(0.0, f"not valid JSON: {exc}")
        import fastjsonschema

        try:
            self._validator(schema)(value)
        except fastjsonschema.JsonSchemaException as exc:
            return Result(0.0, f"does not match the schema: {exc}")
        return Result(1.0)


def _regex(s: EvaluatorSettings) -> Callable[[EvalInput], Result]:
    pattern = re.compile(s.pattern or "")

    def check(item: EvalInput) -> Result:
        found = pattern.search(item.output) is not None
        if s.must_match:
            return _passed(found, f"no match for /{pattern.pattern}/")
        return _passed(not found, f"matches /{pattern.pattern}/")

    return check


def _contains(s: EvaluatorSettings) -> Callable[[EvalInput], Result]:
    def check(item: EvalInput) -> Result:
        values = list(s.values) or ([item.expected] if item.expected else [])
        if not values:
            return Result(NAN, "nothing to look for: no values and no expected answer")
        text = item.output if s.case_sensitive else item.output.lower()
        hits = [v for v in values if (v if s.case_sensitive else v.lower()) in text]
        missing = [v for v in values if v not in hits]
        if s.mode == "any":
            return _passed(bool(hits), f"none of {values!r} found")
        return Result(len(hits) / len(values), f"missing {missing!r}" if missing else None)

    return check


def _length(s: EvaluatorSettings) -> Callable[[EvalInput], Result]:
    def check(item: EvalInput) -> Result:
        chars = len(item.output)
        words = len(item.output.split())
        problems = []
        if s.min_chars is not None and chars < s.min_chars:
            problems.append(f"{chars} characters < {s.min_chars}")
        if s.max_chars is not None and chars > s.max_chars:
            problems.append(f"{chars} characters > {s.max_chars}")
        if s.min_words is not None and words < s.min_words:
            problems.append(f"{words} words < {s.min_words}")
        if s.max_words is not None and words > s.max_words:
            problems.append(f"{words} words > {s.max_words}")
        return _passed(not problems, "; ".join(problems))

    return check


_REFUSAL = re.compile(
    r"\b(?:I\s*(?:'m| am)\s+(?:sorry|afraid|unable|not able)|I\s+(?:can(?:not|'t)|won't|will not|must decline)"
    r"\s+(?:help|assist|provide|do|comply|answer|share|fulfil)|as an ai(?: language model)?,? I\b"
    r"|I\s+(?:can(?:not|'t)|am not able to)\s+(?:help|assist) with (?:that|this))",
    re.IGNORECASE,
)


def is_refusal(item: EvalInput) -> bool:
    return item.refused or _REFUSAL.search(item.output[:2000]) is not None


def _refusal(s: EvaluatorSettings) -> Callable[[EvalInput], Result]:
    def check(item: EvalInput) -> Result:
        refused = is_refusal(item)
        if s.expect_refusal:
            return _passed(refused, "the model answered instead of refusing")
        return _passed(not refused, "the model refused")

    return check


# [1], [12], [^3], [source: …], 【1】: markers a grounded answer cites its passages with.
_CITATION = re.compile(
    r"\[\^?\d{1,3}\]|\[(?:source|doc|ref)[^\]]{0,200}\]|【\d{1,3}(?:†[^】]*)?】", re.IGNORECASE
)


def _citation(s: EvaluatorSettings) -> Callable[[EvalInput], Result]:
    pattern = re.compile(s.pattern) if s.pattern else _CITATION

    def check(item: EvalInput) -> Result:
        return _passed(pattern.search(item.output) is not None, "no citation found")

    return check


def _pii(item: EvalInput) -> Result:
    from podium.observability.redact import pii_scanner

    findings = pii_scanner().find(item.output)
    if not findings:
        return Result(1.0)
    kinds = sorted({f.kind for f in findings})
    return Result(0.0, f"personal data in the answer: {', '.join(kinds)}")


Caller = Callable[[str, str, tuple[Message, ...], float | None], Awaitable[str]]


def build_evaluator(
    name: str, s: EvaluatorSettings, *, judge_route: str | None, caller: Caller | None
) -> Evaluator:
    """The evaluator ``name`` configured by ``s``; judges need ``caller`` (how to ask the judge model)."""
    match s.type:
        case "json_valid":
            return _Check(name, s, _json_valid)
        case "json_schema":
            return _Check(name, s, _Schema(s.schema))
        case "regex":
            return _Check(name, s, _regex(s))
        case "contains":
            return _Check(name, s, _contains(s))
        case "length":
            return _Check(name, s, _length(s))
        case "refusal":
            return _Check(name, s, _refusal(s))
        case "citation":
            return _Check(name, s, _citation(s))
        case "pii":
            return _Check(name, s, _pii)
        case "judge":
            from podium.evaluation.judge import Judge

            route = s.route or judge_route
            if route is None or caller is None:
                raise ValueError(f"evaluator '{name}' is a judge and needs a judge route")
            return Judge(name, s, route=route, caller=caller)
    raise ValueError(f"unknown evaluator type {s.type!r}")
