"""Executing one run: walk the flow, checkpoint every step, never run a finished step twice.

A run is *replayed* from its checkpoints whenever it is picked up (first start, after a review, after
a crash on another replica): the walk starts at the first step again, and every step visit whose
record is final (succeeded, skipped, timed out, failed-and-routed) takes its stored output instead of
running. Where to go after a step is a function of the definition and that record alone, so the
replay takes the same path the first execution took, and execution continues at the first visit
without a final record. A step that was running when its process died runs again (its attempts
counted on); one that finished never does.

Each visit has a key: the step id, ``#n`` for its n-th visit in a loop, ``[i]`` for a map's item, and
``parent/`` before a subflow's steps. Writes are fenced by the run's lease (:class:`LeaseLost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import msgspec

from podium.storage.base import LeaseLost, WorkflowStore
from podium.storage.workflow_records import ReviewTask, RunError, RunEvent, RunRecord, StepRecord
from podium.workflows.conditions import ExpressionError, compile_expression, render
from podium.workflows.definition import (
    END,
    BranchStep,
    Flow,
    HumanReviewStep,
    LlmStep,
    MapStep,
    RetrieveStep,
    Retry,
    Step,
    SubflowStep,
    ToolStep,
    ValidateStep,
)
from podium.workflows.errors import StepFailed
from podium.workflows.running import EarlyCheckpoint
from podium.workflows.schemas import schema_error
from podium.workflows.steps import (
    Actor,
    Spent,
    chat_request,
    evaluate_values,
    http_call,
    llm_call,
    retrieve,
    tool_call,
    validate,
)
from podium.workflows.tools import resolve_tool

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["Execution", "Outcome", "Paused", "RunFailed", "Snapshot", "review_id"]

log = logging.getLogger("podium.workflows")

FINAL_STEP = ("succeeded", "skipped", "timed_out", "failed")
_FLOW_BUDGET = "flow budget"  # how a step record cut short by the flow's budget says so


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a run executes: its flow and every flow it reaches as a subflow, as they were at start."""

    flow: Flow
    subflows: dict[str, Flow] = {}


class Paused(Exception):
    """The run waits for a review: its state is stored, the executor lets go."""


class RunFailed(Exception):
    def __init__(self, error: RunError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Outcome:
    status: Literal["succeeded", "skipped", "timed_out", "failed"]
    output: Any
    error: str | None = None


def review_id(run_id: str, key: str) -> str:
    """The review task of one visit of a review step: fixed, so pausing twice never makes two."""
    return "rev_" + hashlib.sha256(f"{run_id}/{key}".encode()).hexdigest()[:24]


class Execution:
    """One executor's hold on one run, from acquiring it to finishing, pausing or letting go."""

    def __init__(
        self,
        gw: Gateway,
        store: WorkflowStore,
        run: RunRecord,
        owner: str,
        actor: Actor,
        session: aiohttp.ClientSession,
        notify: Callable[[str, bool], None],
    ) -> None:
        self.gw = gw
        self.store = store
        self.run = run
        self.owner = owner
        self.actor = actor
        self.session = session
        self.notify = notify
        self.snapshot = msgspec.json.decode(run.definition, type=Snapshot)
        self.records: dict[str, StepRecord] = {}
        self.seq = 0
        self.cancel_reason: str | None = None  # "cancelled" when a person cancelled it; else a shutdown
        self._pending: dict[str, EarlyCheckpoint] = {}  # background checkpoints of running steps, by key
        started = run.started_at or time.time()
        budget = self.snapshot.flow.budget_ms
        self.flow_deadline: float | None = (
            started + run.paused_s + budget / 1000 if budget is not None else None
        )

    # ------------------------------------------------------------------ the run

    async def execute(self) -> None:
        """Run to the end, a pause, a lost lease or cancellation; every outcome is stored."""
        run = self.run
        if run.cancel_requested:  # asked while another replica held it, which then went away
            error = RunError(code="cancelled", message="The run was cancelled.", step=run.current)
            await self.finish("cancelled", None, error)
            return
        for record in await self.store.steps(run.id):
            self.records[record.key] = record
            self.seq = max(self.seq, record.seq)
        first = run.event_seq <= 1
        await self._checkpoint(
            events=[self._event("run.started" if first else "run.resumed", data={"replica": self.owner})]
        )
        telemetry = self.gw.telemetry
        with telemetry.span(
            "podium.workflow.run", **{"podium.workflow.flow": run.flow, "podium.workflow.run_id": run.id}
        ):
            try:
                outputs = await self._walk(self.snapshot.flow, {"inputs": run.inputs}, "")
            except Paused:
                self.notify(run.id, True)
                return
            except RunFailed as e:
                await self.finish("failed", None, e.error)
                return
            except LeaseLost:
                raise
            except Exception as e:  # a bug or bad data: fail the run, never retry it forever
                log.exception("run %s: the engine failed", run.id)
                message = f"the engine failed: {type(e).__name__}: {e}"
                await self.finish(
                    "failed", None, RunError(code="engine_error", message=message, step=self._current())
                )
                return
            except asyncio.CancelledError:
                if self.cancel_reason == "cancelled":
                    error = RunError(code="cancelled", message="The run was cancelled.", step=self._current())
                    await asyncio.shield(self.finish("cancelled", None, error))
                else:
                    await asyncio.shield(self._let_go())
                raise
            finally:
                if self._pending:  # a lost lease: the background writes failed the same way
                    await asyncio.shield(self._drain_quietly())
        await self.finish("succeeded", outputs, None)

    async def _drain_quietly(self) -> None:
        """Let background checkpoints land before the run's last write; a failed one changes nothing
        now (the final write is fenced the same way)."""
        with contextlib.suppress(Exception):
            await self._drain()

    async def _let_go(self) -> None:
        await self._drain_quietly()
        await self.store.release_run(self.run.id, self.owner)

    def _current(self) -> str | None:
        running = [r for r in self.records.values() if r.status == "running"]
        return running[-1].key if running else None

    async def finish(
        self,
        status: Literal["succeeded", "failed", "cancelled"],
        outputs: dict[str, Any] | None,
        error: RunError | None,
    ) -> None:
        await self._drain_quietly()
        data: dict[str, Any] = {} if error is None else {"code": error.code, "message": error.message}
        self.run = await self.store.finish_run(
            self.owner,
            self.run.id,
            now=time.time(),
            status=status,
            outputs=outputs,
            error=error,
            event=self._event(f"run.{status}", step=error.step if error else None, data=data),
        )
        self.notify(self.run.id, True)

    def _event(self, type_: str, *, step: str | None = None, data: dict[str, Any] | None = None) -> RunEvent:
        return RunEvent(run_id=self.run.id, at=time.time(), type=type_, step=step, data=data or {})

    async def _early(self, step: StepRecord, events: list[RunEvent]) -> None:
        """Checkpoint a running step in the background, and only if it lasts: a step that ends
        within :data:`~podium.workflows.running.RUNNING_RECORD_AFTER_S` writes its start and its end in one checkpoint."""
        previous = self._pending.pop(step.key, None)  # the attempt before (a retry)
        if previous is not None:
            events = [*await previous.merge(), *events]
        self.records[step.key] = step
        self._pending[step.key] = EarlyCheckpoint(self._write, step, events)

    async def _drain(self) -> None:
        """Land every background checkpoint now (before the run's last write), in order."""
        pending, self._pending = list(self._pending.values()), {}
        for early in pending:
            await early.land()

    async def _checkpoint(
        self, *, step: StepRecord | None = None, events: list[RunEvent], cost: float = 0.0
    ) -> None:
        early = self._pending.pop(step.key, None) if step is not None else None
        if early is not None:
            events = [*await early.merge(), *events]
        await self._write(step, events, cost)

    async def _write(self, step: StepRecord | None, events: list[RunEvent], cost: float) -> None:
        await self.store.checkpoint(
            self.owner,
            self.run.id,
            now=time.time(),
            step=step,
            events=events,
            cost=cost,
            current=step.key if step is not None else None,
        )
        if step is not None:
            self.records[step.key] = step
        self.notify(self.run.id, False)

    def _record(
        self, key: str, step: Step, status: str, *, input: Any, started: float, **more: Any
    ) -> StepRecord:
        previous = self.records.get(key)
        if previous is None:
            self.seq += 1
        return StepRecord(
            run_id=self.run.id,
            key=key,
            step=step.id,
            kind=_kind(step),
            status=status,  # type: ignore[arg-type]
            input=input,
            started_at=started,
            seq=previous.seq if previous is not None else self.seq,
            **more,
        )

    # ------------------------------------------------------------------ walking the flow

    async def _walk(self, flow: Flow, data: dict[str, Any], prefix: str) -> dict[str, Any]:
        visits: dict[str, int] = {}
        index = {s.id: i for i, s in enumerate(flow.steps)}
        budgeted = prefix == "" and self.flow_deadline is not None
        position = flow.steps[0].id
        while position != END:
            step = flow.steps[index[position]]
            n = visits[position] = visits.get(position, 0) + 1
            key = f"{prefix}{position}" + (f"#{n}" if n > 1 else "")
            if step.max_visits is not None and n > step.max_visits:
                raise RunFailed(
                    RunError(
                        code="max_visits",
                        message=f"step '{position}' would run a {_nth(n)} time; its max_visits is {step.max_visits}",
                        step=key,
                    )
                )
            deadline = self.flow_deadline if budgeted else None
            outcome = await self._visit(flow, step, key, data, deadline)
            data[step.id] = outcome.output
            position = self._route(flow, step, key, outcome, data, budgeted)
            if outcome.error is not None and outcome.error.startswith(_FLOW_BUDGET):
                budgeted = False  # the flow's fallback runs without the budget it ran out of
        return {name: compile_expression(text)(data) for name, text in flow.outputs.items()}

    def _route(
        self, flow: Flow, step: Step, key: str, outcome: Outcome, data: dict[str, Any], budgeted: bool
    ) -> str:
        index = next(i for i, s in enumerate(flow.steps) if s.id == step.id)
        after = step.next or (flow.steps[index + 1].id if index + 1 < len(flow.steps) else END)
        error = outcome.error
        if error is not None and error.startswith(_FLOW_BUDGET):
            if flow.on_timeout == "fallback" and flow.fallback is not None:
                return flow.fallback
            raise RunFailed(RunError(code="budget_exceeded", message=error, step=key))
        match outcome.status:
            case "succeeded":
                if isinstance(step, BranchStep):
                    goto: str = outcome.output["goto"]
                    return goto
                if isinstance(step, HumanReviewStep) and outcome.output["decision"] == "reject":
                    if step.on_reject is not None:
                        return step.on_reject
                    reason = outcome.output.get("reason") or "no reason given"
                    raise RunFailed(
                        RunError(code="rejected", message=f"Rejected by the reviewer: {reason}", step=key)
                    )
                return after
            case "skipped":
                return after
            case "timed_out" if step.on_timeout == "fallback" and step.fallback is not None:
                return step.fallback
            case _:
                if isinstance(step, ValidateStep) and step.on_fail is not None and outcome.output is not None:
                    return step.on_fail
                if flow.on_error is not None and step.id != flow.on_error:
                    data["error"] = {"step": key, "message": error}
                    return flow.on_error
                code = "step_timed_out" if outcome.status == "timed_out" else "step_failed"
                raise RunFailed(RunError(code=code, message=f"step '{key}' failed: {error}", step=key))

    async def _visit(
        self, flow: Flow, step: Step, key: str, data: dict[str, Any], deadline: float | None
    ) -> Outcome:
        record = self.records.get(key)
        if record is not None and record.status in FINAL_STEP:
            return Outcome(record.status, record.output, record.error)  # type: ignore[arg-type]
        started = time.perf_counter()
        outcome: Outcome
        telemetry = self.gw.telemetry
        kind = _kind(step)
        with telemetry.span(
            "podium.workflow.step", **{"podium.workflow.step": key, "podium.workflow.step.kind": kind}
        ) as attributes:
            match step:
                case BranchStep() | ValidateStep():
                    outcome = await self._instant(flow, step, key, data)
                case HumanReviewStep():
                    outcome = await self._review(flow, step, key, data, record)
                case MapStep():
                    outcome = await self._map(flow, step, key, data, deadline, record)
                case _:
                    outcome = await self._work(flow, step, key, data, deadline, record)
            if attributes is not None:
                attributes["podium.workflow.step.status"] = outcome.status
        if telemetry.metrics_on:
            telemetry.metrics.workflow_step(
                self.run.flow, step.id, outcome.status, time.perf_counter() - started
            )
        return outcome

    # ------------------------------------------------------------------ steps without waiting

    async def _instant(
        self, flow: Flow, step: BranchStep | ValidateStep, key: str, data: dict[str, Any]
    ) -> Outcome:
        now = time.time()
        input_: Any = None
        try:
            if isinstance(step, BranchStep):
                goto, case = None, None
                for i, c in enumerate(step.cases):
                    if compile_expression(c.when)(data):
                        goto, case = c.goto, i
                        break
                if goto is None:
                    goto = step.default or step.next or _following(flow, step)
                outcome = Outcome("succeeded", {"goto": goto, "case": case})
            else:
                input_ = compile_expression(step.input)(data)
                problem = await validate(self.gw, step, input_)
                if problem is None:
                    outcome = Outcome("succeeded", {"valid": True, "value": input_})
                else:
                    # The output says the value was checked and refused (routes to on_fail).
                    outcome = Outcome(
                        "failed", {"valid": False, "value": input_}, f"invalid value: {problem}"
                    )
        except (ExpressionError, StepFailed) as e:
            outcome = Outcome("failed", None, str(e))
        record = self._record(
            key,
            step,
            outcome.status,
            input=input_ if isinstance(step, ValidateStep) else None,
            started=now,
            output=outcome.output,
            error=outcome.error,
            finished_at=time.time(),
            duration_ms=round((time.time() - now) * 1000, 3),
        )
        await self._checkpoint(step=record, events=[self._step_event(record)])
        return outcome

    def _step_event(self, record: StepRecord) -> RunEvent:
        data: dict[str, Any] = {"kind": record.kind, "attempts": record.attempts}
        if record.duration_ms is not None:
            data["duration_ms"] = record.duration_ms
        if record.error is not None:
            data["error"] = record.error
        return self._event(f"step.{record.status}", step=record.key, data=data)

    # ------------------------------------------------------------------ steps that do work

    async def _work(
        self,
        flow: Flow,
        step: Step,
        key: str,
        data: dict[str, Any],
        deadline: float | None,
        record: StepRecord | None,
    ) -> Outcome:
        """An llm / tool / retrieve / subflow visit, with retries, timeouts and budgets."""
        started_wall = time.time()
        spent = Spent()
        try:
            attempt, input_ = self._prepare(flow, step, data, key)
        except (ExpressionError, StepFailed, LookupError) as e:
            failed = self._record(
                key,
                step,
                "failed",
                input=None,
                started=started_wall,
                error=str(e),
                finished_at=time.time(),
                duration_ms=0.0,
            )
            await self._checkpoint(step=failed, events=[self._step_event(failed)])
            return Outcome("failed", None, str(e))
        retry = step.retry or Retry()
        attempts = record.attempts if record is not None else 0
        tries = max(retry.attempts, attempts + 1)
        budget_end = time.monotonic() + step.budget_ms / 1000 if step.budget_ms is not None else None
        flow_end = time.monotonic() + (deadline - time.time()) if deadline is not None else None
        delay = retry.backoff_ms / 1000
        error: str | None = None
        timed_out: str | None = None  # "step" or "flow" when a budget ended the step
        t0 = time.perf_counter()
        while True:
            attempts += 1
            running = self._record(
                key,
                step,
                "running",
                input=input_,
                started=started_wall,
                attempts=attempts,
                cost_usd=spent.cost,
                request_ids=tuple(spent.request_ids),
            )
            events = [
                self._event(
                    "step.started" if attempts == 1 else "step.retrying",
                    step=key,
                    data={"kind": _kind(step), "attempt": attempts},
                )
            ]
            # Written while the attempt starts: the record is for people and for counting attempts
            # across crashes, so the step need not wait for it (the step's end waits, in order).
            await self._early(running, events)
            limits = [(budget_end, "step"), (flow_end, "flow")]
            if step.timeout_ms is not None:
                limits.append((time.monotonic() + step.timeout_ms / 1000, "attempt"))
            end, which = min(((e, w) for e, w in limits if e is not None), default=(None, ""))
            try:
                async with asyncio.timeout_at(_loop_time(end)):
                    output = await attempt(spent)
            except TimeoutError:
                if which == "attempt":
                    error = f"the attempt timed out after {step.timeout_ms} ms"
                    retryable = True
                else:
                    timed_out = which
                    break
            except StepFailed as e:
                error, retryable = e.message, e.retryable
            except ExpressionError as e:
                error, retryable = str(e), False
            else:
                await self._step_done(
                    step, key, "succeeded", input_, started_wall, attempts, spent, t0, output=output
                )
                return Outcome("succeeded", output)
            if not retryable or attempts >= tries:
                if which == "attempt" and error is not None and error.startswith("the attempt timed out"):
                    timed_out = "attempt"
                break
            pause = delay
            delay *= retry.multiplier
            for limit, _ in limits[:2]:
                if limit is not None and time.monotonic() + pause >= limit:
                    pause = max(0.0, limit - time.monotonic())
            await asyncio.sleep(pause)
        return await self._end_work(step, key, input_, started_wall, attempts, spent, t0, error, timed_out)

    async def _end_work(
        self,
        step: Step,
        key: str,
        input_: Any,
        started_wall: float,
        attempts: int,
        spent: Spent,
        t0: float,
        error: str | None,
        timed_out: str | None,
    ) -> Outcome:
        status: Literal["failed", "timed_out", "skipped"] = "failed"
        if timed_out == "flow":
            error = f"{_FLOW_BUDGET} of {self.snapshot.flow.budget_ms} ms exceeded"
            status = "timed_out"
        elif timed_out is not None:
            if timed_out == "step":
                error = f"the step's budget of {step.budget_ms} ms ran out"
            status = "skipped" if step.on_timeout == "skip" else "timed_out"
        await self._step_done(step, key, status, input_, started_wall, attempts, spent, t0, error=error)
        return Outcome(status, None, error)

    async def _step_done(
        self,
        step: Step,
        key: str,
        status: Literal["succeeded", "failed", "timed_out", "skipped"],
        input_: Any,
        started_wall: float,
        attempts: int,
        spent: Spent,
        t0: float,
        *,
        output: Any = None,
        error: str | None = None,
    ) -> None:
        """Checkpoint a worked step's end: its record (with what it spent) and its event."""
        record = self._record(
            key,
            step,
            status,
            input=input_,
            started=started_wall,
            attempts=attempts,
            output=output,
            error=error,
            finished_at=time.time(),
            duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            cost_usd=spent.cost,
            request_ids=tuple(spent.request_ids),
        )
        await self._checkpoint(step=record, events=[self._step_event(record)], cost=spent.cost)

    def _prepare(
        self, flow: Flow, step: Step, data: dict[str, Any], key: str
    ) -> tuple[Callable[[Spent], Awaitable[Any]], Any]:
        """The attempt to make (called once per try) and the step's recorded input."""
        gw, actor = self.gw, self.actor
        match step:
            case LlmStep():
                chat = chat_request(step, data)
                input_: Any = {
                    "model": chat.model,
                    "messages": [{"role": m.role, "content": m.content} for m in chat.messages],
                }
                if chat.extra:
                    input_["prompt"] = chat.extra["podium"]["prompt"]
                return (lambda spent: llm_call(gw, actor, step, chat, spent)), input_
            case ToolStep() if step.http is not None:
                http = step.http
                return (lambda spent: http_call(self.session, http, data)), {"url": render(http.url, data)}
            case ToolStep():
                assert step.function is not None
                fn = resolve_tool(step.function, flow.source)
                args = evaluate_values(step.args, data)
                return (lambda spent: tool_call(fn, args)), args
            case RetrieveStep():
                query = str(render(step.query, data))
                return (lambda spent: retrieve(gw, actor, step, query)), {"query": query}
            case SubflowStep():
                child = self.snapshot.subflows.get(step.flow)
                if child is None:
                    raise StepFailed(f"no flow '{step.flow}' in the run's definition", retryable=False)
                inputs = evaluate_values(step.inputs, data)
                if child.inputs is not None:
                    problem = schema_error(child.inputs, inputs)
                    if problem is not None:
                        raise StepFailed(f"inputs of subflow '{step.flow}': {problem}", retryable=False)

                async def subflow(spent: Spent) -> Any:
                    try:
                        return await self._walk(child, {"inputs": inputs}, f"{key}/")
                    except RunFailed as e:  # the parent's step fails: its on_error may handle it
                        raise StepFailed(
                            f"subflow '{step.flow}': {e.error.message}", retryable=False
                        ) from None

                return subflow, inputs
        raise StepFailed(f"a {_kind(step)} step cannot run here", retryable=False)

    # ------------------------------------------------------------------ map

    async def _map(
        self,
        flow: Flow,
        step: MapStep,
        key: str,
        data: dict[str, Any],
        deadline: float | None,
        record: StepRecord | None,
    ) -> Outcome:
        started = time.time()
        try:
            items = compile_expression(step.over)(data)
        except ExpressionError as e:
            items = e
        if not isinstance(items, list):
            message = str(items) if isinstance(items, ExpressionError) else f"'{step.over}' is not a list"
            failed = self._record(
                key,
                step,
                "failed",
                input=None,
                started=started,
                error=message,
                finished_at=time.time(),
                duration_ms=0.0,
            )
            await self._checkpoint(step=failed, events=[self._step_event(failed)])
            return Outcome("failed", None, message)
        if record is None:
            running = self._record(
                key, step, "running", input={"items": len(items)}, started=started, attempts=1
            )
            await self._checkpoint(
                step=running,
                events=[self._event("step.started", step=key, data={"kind": "map", "items": len(items)})],
            )
        inner = msgspec.structs.replace(step.step, id=step.id)
        gate = asyncio.Semaphore(step.concurrency)
        t0 = time.perf_counter()

        async def one(i: int, item: Any) -> Outcome:
            async with gate:
                scope = {**data, step.as_: item, "index": i}
                outcome = await self._visit(flow, inner, f"{key}[{i}]", scope, deadline)
                if outcome.status == "timed_out" and inner.on_timeout == "skip":
                    return Outcome("skipped", None)
                return outcome

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(i, item)) for i, item in enumerate(items)]
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None
        outcomes = [t.result() for t in tasks]
        bad = [(i, o) for i, o in enumerate(outcomes) if o.status in ("failed", "timed_out")]
        status: Literal["succeeded", "failed"] = "failed" if bad else "succeeded"
        error = f"item {bad[0][0]}: {bad[0][1].error}" if bad else None
        output = [o.output for o in outcomes]
        children = [self.records.get(f"{key}[{i}]") for i in range(len(items))]
        cost = sum(c.cost_usd for c in children if c is not None)
        final = self._record(
            key,
            step,
            status,
            input={"items": len(items)},
            started=record.started_at if record else started,
            attempts=1,
            output=output,
            error=error,
            finished_at=time.time(),
            duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            cost_usd=cost,
        )
        await self._checkpoint(step=final, events=[self._step_event(final)])
        return Outcome(status, output, error)

    # ------------------------------------------------------------------ human review

    async def _review(
        self, flow: Flow, step: HumanReviewStep, key: str, data: dict[str, Any], record: StepRecord | None
    ) -> Outcome:
        task_id = review_id(self.run.id, key)
        if record is None or record.status == "running":
            try:
                content = compile_expression(step.content)(data)
            except ExpressionError as e:
                failed = self._record(
                    key,
                    step,
                    "failed",
                    input=None,
                    started=time.time(),
                    error=str(e),
                    finished_at=time.time(),
                    duration_ms=0.0,
                )
                await self._checkpoint(step=failed, events=[self._step_event(failed)])
                return Outcome("failed", None, str(e))
            now = time.time()
            task = ReviewTask(
                id=task_id,
                run_id=self.run.id,
                tenant=self.run.tenant,
                flow=self.run.flow,
                step=step.id,
                step_key=key,
                role=step.role,
                instructions=step.instructions,
                content=content,
                schema=step.schema or _schema_of(flow, step.content),
                created_at=now,
                deadline=now + step.deadline_s if step.deadline_s is not None else None,
                escalate_at=now + step.escalation.after_s if step.escalation is not None else None,
                escalation_role=step.escalation.role if step.escalation is not None else None,
                result=content,
            )
            waiting = self._record(key, step, "waiting", input=content, started=now, attempts=1)
            await self.store.pause_run(
                self.owner,
                self.run.id,
                now=now,
                step=waiting,
                task=task,
                events=[
                    self._event("step.waiting", step=key, data={"kind": "human_review", "review": task_id}),
                    self._event("review.created", step=key, data={"review": task_id, "role": step.role}),
                    self._event("run.waiting", step=key, data={"review": task_id}),
                ],
            )
            self.records[key] = waiting
            raise Paused
        decided = await self.store.get_review(task_id)
        if decided is None or decided.status in ("pending", "claimed", "cancelled"):
            state = decided.status if decided is not None else "missing"
            raise RunFailed(
                RunError(code="review_missing", message=f"the review {task_id} is {state}", step=key)
            )
        task = decided
        decision = {"approved": "approve", "modified": "modify", "rejected": "reject", "expired": "expire"}[
            task.status
        ]
        output = {
            "decision": decision,
            "content": task.result,
            "reason": task.reason,
            "reviewer": task.decided_by,
        }
        status: Literal["succeeded", "timed_out", "skipped"] = "succeeded"
        error = None
        if decision == "expire":
            error = "the review's deadline passed without a decision"
            status = "skipped" if step.on_timeout == "skip" else "timed_out"
        final = self._record(
            key,
            step,
            status,
            input=task.content,
            started=record.started_at,
            attempts=1,
            output=output,
            error=error,
            finished_at=time.time(),
            duration_ms=round((time.time() - record.started_at) * 1000, 3),
        )
        await self._checkpoint(step=final, events=[self._step_event(final)])
        return Outcome(status, output, error)


def _schema_of(flow: Flow, content: str) -> dict[str, Any] | None:
    """A review's default schema: the output schema of the llm step its content is (``assess``)."""
    try:
        step = flow.step(content.strip())
    except KeyError:
        return None
    return step.output_schema if isinstance(step, LlmStep) else None


def _following(flow: Flow, step: Step) -> str:
    ids = [s.id for s in flow.steps]
    i = ids.index(step.id)
    return ids[i + 1] if i + 1 < len(ids) else END


def _kind(step: Step) -> str:
    kind: str = type(step).__struct_config__.tag  # type: ignore[assignment]
    return kind


def _nth(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _loop_time(end: float | None) -> float | None:
    """A time.monotonic() instant as the event loop's clock (asyncio.timeout_at takes the loop's time)."""
    if end is None:
        return None
    return asyncio.get_running_loop().time() + (end - time.monotonic())
