"""Evaluating a dataset: every row through the gateway's pipeline, every answer through the evaluators.

A dataset is JSON Lines, one case per line::

    {"variables": {"contract": "..."}, "expected": "termination"}
    {"input": "What is the notice period?", "expected": "30 days"}
    {"messages": [{"role": "user", "content": "..."}]}

``variables`` fill a registry prompt (``--prompt NAME@LABEL``); ``input`` (a user message) or
``messages`` follow the prompt's own messages, or stand alone with ``--model``. ``expected`` is what
``contains`` evaluators without ``values`` look for, and what a judge is shown as the reference.
A label that splits traffic between versions is evaluated per version that actually served.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from podium.canonical import ChatRequest, Message
from podium.errors import RequestError
from podium.evaluation.calls import chat_call, internal_principal
from podium.evaluation.evaluators import EvalInput, Evaluator
from podium.evaluation.sampler import score_job
from podium.storage.observability_records import EvalScore

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["EVAL_KEY_ID", "Case", "Summary", "load_dataset", "run_dataset"]

EVAL_KEY_ID = "podium:eval"


class Case(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str | None = None
    variables: dict[str, Any] = {}
    input: str | None = None
    messages: list[dict[str, Any]] = []
    expected: str | None = None


def load_dataset(path: Path) -> list[Case]:
    """Every case of the file; a bad line is a ``ValueError`` naming its line number."""
    cases = []
    decoder = msgspec.json.Decoder(Case)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(decoder.decode(line))
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path.name}:{number}: {exc}") from None
    if not cases:
        raise ValueError(f"{path.name}: no cases")
    return cases


def _messages(case: Case) -> tuple[Message, ...]:
    out = [msgspec.convert(m, Message) for m in case.messages]
    if case.input is not None:
        out.append(Message(role="user", content=case.input))
    return tuple(out)


@dataclass
class Summary:
    """Scores of one target (``prompt@vN`` or a model) per evaluator."""

    target: str
    cases: int = 0
    failed_calls: int = 0
    scores: dict[str, list[float]] = field(default_factory=dict)

    def row(self, evaluator: str) -> dict[str, Any]:
        values = self.scores.get(evaluator, [])
        measured = [v for v in values if not math.isnan(v)]
        return {
            "target": self.target,
            "evaluator": evaluator,
            "cases": len(values),
            "measured": len(measured),
            "mean": round(sum(measured) / len(measured), 4) if measured else None,
            "pass_rate": round(sum(1 for v in measured if v >= 0.5) / len(measured), 4) if measured else None,
        }


async def run_dataset(
    gw: Gateway,
    cases: Sequence[Case],
    *,
    target: str,
    evaluators: Sequence[Evaluator],
    tenant: str,
    source: str,
    concurrency: int = 4,
) -> tuple[dict[str, Summary], list[str]]:
    """Run every case against ``target`` ("prompt:NAME@LABEL" or a model name); summaries by served
    target, and the errors of calls that failed."""
    principal = internal_principal(EVAL_KEY_ID, tenant, "evaluation run")
    gate = asyncio.Semaphore(concurrency)
    summaries: dict[str, Summary] = {}
    errors: list[str] = []
    stored: list[EvalScore] = []
    is_prompt = target.startswith("prompt:")

    async def one(case: Case) -> None:
        extra = (
            {"podium": {"prompt": {"variables": case.variables}}} if is_prompt and case.variables else None
        )
        messages = _messages(case)
        if not is_prompt and not messages:
            raise RequestError(f"case {case.id or '?'} has no input or messages to send to a model")
        chat = ChatRequest(model=target, messages=messages, extra=extra)
        async with gate:
            call, collector, error = await chat_call(gw, principal, chat)
        served = f"{call.prompt_name}@v{call.prompt_version}" if call.prompt_name is not None else target
        summary = summaries.setdefault(served, Summary(served))
        summary.cases += 1
        if error is not None:
            summary.failed_calls += 1
            errors.append(f"{case.id or served}: {error.message}")
            return
        assert call.chat is not None
        item = EvalInput(
            messages=call.chat.messages,
            output=collector.output_text(),
            tenant=tenant,
            response_format=call.chat.response_format,
            expected=case.expected,
        )
        record = _stub_record(call, tenant)
        scores = await score_job(record, item, tuple(evaluators), source=source)
        stored.extend(scores)
        for s in scores:
            summary.scores.setdefault(s.evaluator, []).append(math.nan if s.score is None else s.score)

    await asyncio.gather(*(one(c) for c in cases))
    await gw.recorder.flush()  # the calls' request records first: scores refer to them
    await gw.storage.evals.put_many(stored)
    return summaries, errors


def _stub_record(call: Any, tenant: str) -> Any:
    """What :func:`score_job` reads of a request record, from the call itself."""
    from podium.storage.records import RequestRecord

    cand = call.candidate
    return RequestRecord(
        id=call.id,
        created_at=call.received_at,
        key_id=EVAL_KEY_ID,
        tenant=tenant,
        requested_model=call.model,
        route=call.target.route if call.target else None,
        deployment=cand.deployment if cand else None,
        status=200,
        latency_ms=0.0,
        prompt_name=call.prompt_name,
        prompt_version=call.prompt_version,
    )
