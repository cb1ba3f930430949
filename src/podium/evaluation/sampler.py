"""Evaluating a sampled share of live answers, in the background, never on the request path.

Where a request record is built (after the response, in the recorder's worker thread), :meth:`offer`
draws each configured evaluator's sample; a sampled answer becomes a job in a bounded queue — full
means the job is dropped and counted, never that anything waits. A few workers on the event loop run
the evaluators (a judge is a gateway call of its own) and write the scores in batches.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podium.config.observability import EvaluationSettings
from podium.evaluation.evaluators import EvalInput, Evaluator, build_evaluator
from podium.evaluation.judge import JUDGE_KEY_ID
from podium.storage.observability_records import EvalScore
from podium.storage.records import RequestRecord

if TYPE_CHECKING:
    from podium.collect import Collector
    from podium.gateway.app import Gateway
    from podium.gateway.call import Call

__all__ = ["LiveEvaluation"]

log = logging.getLogger("podium.evaluation")

_rng = random.Random()


@dataclass(frozen=True, slots=True)
class _Job:
    record: RequestRecord
    item: EvalInput
    evaluators: tuple[Evaluator, ...]


class LiveEvaluation:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.settings = EvaluationSettings()
        self.evaluators: list[tuple[Evaluator, float]] = []
        self.active = False
        self._queue: collections.deque[_Job] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = 0
        self.dropped = 0
        self.evaluated = 0

    def configure(self, settings: EvaluationSettings) -> None:
        from podium.evaluation.calls import judge_caller

        caller = judge_caller(self.gw)
        evaluators = []
        for name, s in settings.evaluators.items():
            rate = settings.sample_rate if s.sample_rate is None else s.sample_rate
            evaluators.append(
                (build_evaluator(name, s, judge_route=settings.judge_route, caller=caller), rate)
            )
        self.settings = settings
        self.evaluators = evaluators
        self.active = any(rate > 0 for _, rate in evaluators)

    @property
    def backlog(self) -> int:
        return len(self._queue) + self._busy

    # ------------------------------------------------------------------ the builder thread

    def offer(self, record: RequestRecord, call: Call, collector: Collector | None) -> None:
        """Draw the samples for one finished call; queue it if any evaluator took it. Never blocks."""
        if record.status != 200 or record.key_id == JUDGE_KEY_ID or call.chat is None or collector is None:
            return
        chosen = tuple(
            e for e, rate in self.evaluators if rate > 0 and _rng.random() < rate and _matches(e, record)
        )
        if not chosen:
            return
        if len(self._queue) >= self.settings.queue_size:
            self.dropped += 1
            return
        item = EvalInput(
            messages=call.chat.messages,
            output=collector.output_text(),
            tenant=record.tenant,
            response_format=call.chat.response_format,
        )
        self._queue.append(_Job(record, item, chosen))
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------ the workers

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for i in range(self.settings.concurrency):
            self._tasks.append(asyncio.create_task(self._work(), name=f"podium-evaluation-{i}"))

    async def _work(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            job = self._queue.popleft()
            self._busy += 1
            try:
                scores = await score_job(job.record, job.item, job.evaluators, source="live")
                await self.gw.storage.evals.put_many(scores)
                self.evaluated += 1
                metrics = self.gw.telemetry.metrics
                route = job.record.route or job.record.requested_model
                for s in scores:
                    metrics.score(s.evaluator, route, s.score)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evaluating request %s failed", job.record.id)
            finally:
                self._busy -= 1

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until the queue is empty and no job is running (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self.backlog and time.monotonic() < deadline:  # noqa: ASYNC110 - several workers change it
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def _matches(e: Evaluator, r: RequestRecord) -> bool:
    s = e.settings
    if s.routes and r.requested_model not in s.routes and (r.route is None or r.route not in s.routes):
        return False
    return not (s.prompts and r.prompt_name not in s.prompts)


async def score_job(
    record: RequestRecord, item: EvalInput, evaluators: tuple[Evaluator, ...], *, source: str
) -> list[EvalScore]:
    """Every evaluator's score of one answer, as records ready to store."""
    results = await asyncio.gather(*(e.evaluate(item) for e in evaluators), return_exceptions=True)
    now = time.time()
    scores = []
    for e, result in zip(evaluators, results, strict=True):
        detail: str | None
        if isinstance(result, BaseException):
            value, detail = math.nan, f"evaluator failed: {type(result).__name__}: {result}"
        else:
            value, detail = result.score, result.detail
        scores.append(
            EvalScore(
                request_id=record.id,
                evaluator=e.name,
                score=None if math.isnan(value) else round(value, 6),
                created_at=now,
                source=source,
                tenant=record.tenant,
                model=record.requested_model,
                route=record.route,
                deployment=record.deployment,
                prompt_name=record.prompt_name,
                prompt_version=record.prompt_version,
                detail=detail[:2000] if detail else None,
            )
        )
    return scores
