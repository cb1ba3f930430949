"""LLM-as-judge: a rubric, a judge model reached through the gateway's own pipeline, n samples.

The judge is asked ``samples`` times to score the answer from 1 to ``scale`` against the rubric and
to reply with ``{"score": N, "reason": "..."}``; each reply's score is normalised to 0..1. A reply
without a usable score (no number, out of range, a failed call) is NaN — *unmeasured* — and left out
of the mean; only when every sample is unmeasured is the whole evaluation NaN. Judge calls are
ordinary gateway calls (routing, limits, fallbacks, a request record of their own) made as the
principal :data:`JUDGE_KEY_ID`, whose answers are never themselves sampled for evaluation.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from podium.canonical import Message
from podium.config.observability import EvaluatorSettings
from podium.evaluation.evaluators import Caller, EvalInput, Result

__all__ = ["JUDGE_KEY_ID", "Judge", "parse_score"]

JUDGE_KEY_ID = "podium:judge"
_MAX_ANSWER_CHARS = 12_000
_SCORE_TEXT = re.compile(r"\bscore\b\W{0,5}(\d+(?:\.\d+)?)", re.IGNORECASE)

_SYSTEM = (
    "You are an impartial evaluator of an AI assistant's answer. Judge the ANSWER against the RUBRIC "
    "only. Give an integer score from 1 (worst) to {scale} (best). Reply with one JSON object and nothing "
    'else, with the keys "score" (the integer) and "reason" (one sentence).'
)


def parse_score(text: str, scale: int) -> tuple[float, str | None]:
    """(score normalised to 0..1, reason) from a judge's reply; NaN when there is no usable score."""
    decoder_at = text.find("{")
    while decoder_at != -1:
        end = text.find("}", decoder_at)
        while end != -1:
            try:
                obj = msgspec.json.decode(text[decoder_at : end + 1])
            except msgspec.DecodeError:
                end = text.find("}", end + 1)
                continue
            if (
                isinstance(obj, dict)
                and isinstance(obj.get("score"), int | float)
                and not isinstance(obj["score"], bool)
            ):
                reason = obj.get("reason")
                return _normalise(float(obj["score"]), scale), reason if isinstance(reason, str) else None
            break
        decoder_at = text.find("{", decoder_at + 1)
    m = _SCORE_TEXT.search(text)
    if m is not None:
        return _normalise(float(m.group(1)), scale), None
    return math.nan, None


def _normalise(score: float, scale: int) -> float:
    if not 1 <= score <= scale:
        return math.nan
    return (score - 1) / (scale - 1)


@dataclass
class Judge:
    name: str
    settings: EvaluatorSettings
    route: str
    caller: Caller

    def messages(self, item: EvalInput) -> tuple[Message, ...]:
        s = self.settings
        parts = [f"RUBRIC:\n{s.rubric}", f"QUESTION:\n{item.question()}"]
        if item.expected:
            parts.append(f"REFERENCE ANSWER:\n{item.expected}")
        parts.append(f"ANSWER:\n{item.output[:_MAX_ANSWER_CHARS]}")
        return (
            Message(role="system", content=_SYSTEM.format(scale=s.scale)),
            Message(role="user", content="\n\n".join(parts)),
        )

    async def _sample(self, messages: tuple[Message, ...], tenant: str) -> tuple[float, str | None]:
        try:
            reply = await self.caller(tenant, self.route, messages, self.settings.temperature)
        except Exception as exc:  # noqa: BLE001 - a failed judge call is an unmeasured sample, not a failure
            return math.nan, f"judge call failed: {exc}"
        return parse_score(reply, self.settings.scale)

    async def evaluate(self, item: EvalInput) -> Result:
        messages = self.messages(item)
        samples = await asyncio.gather(
            *(self._sample(messages, item.tenant) for _ in range(self.settings.samples))
        )
        scores = [s for s, _ in samples if not math.isnan(s)]
        reasons = [r for _, r in samples if r]
        detail: Any = reasons[0] if reasons else None
        if not scores:
            return Result(math.nan, detail or "the judge gave no usable score")
        mean = sum(scores) / len(scores)
        if len(samples) > 1:
            detail = f"{len(scores)}/{len(samples)} samples scored" + (f"; {detail}" if detail else "")
        return Result(mean, detail)
