"""Each evaluator type scores answers as documented: 1 pass, 0 fail, NaN unmeasured."""

from __future__ import annotations

import math

import msgspec
import pytest

from podium.canonical import JsonSchemaFormat, Message
from podium.config.observability import EvaluatorSettings
from podium.evaluation.evaluators import EvalInput, build_evaluator
from podium.evaluation.judge import parse_score


def _score(settings: dict[str, object], output: str, **item: object) -> float:
    import asyncio

    s = msgspec.convert(settings, EvaluatorSettings)
    evaluator = build_evaluator("e", s, judge_route=None, caller=None)
    data = EvalInput(messages=(Message(role="user", content="q"),), output=output, **item)  # type: ignore[arg-type]
    return asyncio.run(evaluator.evaluate(data)).score


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize(
    ("settings", "output", "item", "expected"),
    [
        ({"type": "json_valid"}, '{"a": 1}', {}, 1.0),
        ({"type": "json_valid"}, "not json", {}, 0.0),
        ({"type": "json_schema", "schema": SCHEMA}, '{"n": 3}', {}, 1.0),
        ({"type": "json_schema", "schema": SCHEMA}, '{"n": "x"}', {}, 0.0),
        (
            {"type": "json_schema"},
            '{"n": 3}',
            {"response_format": JsonSchemaFormat(name="s", schema=SCHEMA)},
            1.0,
        ),
        ({"type": "json_schema"}, '{"n": 3}', {}, math.nan),
        ({"type": "regex", "pattern": r"\d{4}-\d{2}"}, "due 2025-01", {}, 1.0),
        ({"type": "regex", "pattern": "secret", "must_match": False}, "a secret", {}, 0.0),
        ({"type": "contains", "values": ["alpha", "beta"]}, "Alpha only", {}, 0.5),
        ({"type": "contains", "values": ["alpha", "beta"], "mode": "any"}, "Alpha only", {}, 1.0),
        ({"type": "contains"}, "30 days notice", {"expected": "30 days"}, 1.0),
        ({"type": "contains"}, "anything", {}, math.nan),
        ({"type": "length", "max_words": 3}, "one two three four", {}, 0.0),
        ({"type": "length", "min_chars": 2, "max_chars": 10}, "fine", {}, 1.0),
        ({"type": "refusal"}, "I'm sorry, but I can't help with that.", {}, 0.0),
        ({"type": "refusal"}, "Paris is the capital of France.", {}, 1.0),
        ({"type": "refusal", "expect_refusal": True}, "I cannot assist with that request.", {}, 1.0),
        ({"type": "citation"}, "The term is 30 days [1].", {}, 1.0),
        ({"type": "citation"}, "The term is 30 days.", {}, 0.0),
        ({"type": "pii"}, "Write to jane.doe@example.com", {}, 0.0),
        ({"type": "pii"}, "No personal data here.", {}, 1.0),
    ],
)
def test_deterministic_evaluators(
    settings: dict[str, object], output: str, item: dict[str, object], expected: float
) -> None:
    """A deterministic evaluator gives the documented score for a passing, failing or unmeasurable answer."""
    got = _score(settings, output, **item)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 5, "reason": "great"}', 1.0),
        ('Sure! {"score": 3} is my verdict', 0.5),
        ("Score: 2", 0.25),
        ('{"score": 9}', math.nan),  # out of the 1..5 scale
        ("I think it is fine.", math.nan),
        ('{"score": true}', math.nan),
    ],
)
def test_judge_reply_parsing(reply: str, expected: float) -> None:
    """A judge's reply is normalised to 0..1; a reply without a usable score is NaN, never 0."""
    got, _ = parse_score(reply, 5)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)
