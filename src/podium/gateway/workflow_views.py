"""What the workflow and review APIs answer with: the public shape of flows, runs, steps, reviews
and events, built from the stored records (which also carry internals: leases, definition snapshots)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from podium.storage.workflow_records import ReviewTask, RunEvent, RunRecord, StepRecord

if TYPE_CHECKING:
    from podium.workflows import Flow

__all__ = ["FlowView", "ReviewView", "RunEventView", "RunView", "StepView", "review_view", "run_view"]


class StepSummary(msgspec.Struct, frozen=True):
    id: str
    kind: str


class FlowView(msgspec.Struct, frozen=True):
    name: str
    description: str | None
    inputs: dict[str, Any] | None  # the JSON Schema a run's inputs must meet
    outputs: dict[str, str]  # output name -> the expression that gives it
    steps: list[StepSummary]
    object: str = "flow"

    @classmethod
    def of(cls, flow: Flow) -> FlowView:
        return cls(
            name=flow.name,
            description=flow.description,
            inputs=flow.inputs,
            outputs=dict(flow.outputs),
            steps=[StepSummary(s.id, str(s.__struct_config__.tag)) for s in flow.steps],
        )


class RunErrorView(msgspec.Struct, frozen=True):
    code: str
    message: str
    step: str | None


class StepView(msgspec.Struct, frozen=True):
    key: str  # "parse"; "parse#2" on a second visit; "extract[3]" a map item; "sub/inner" in a subflow
    step: str  # the definition's step id
    kind: str
    status: str  # running | succeeded | failed | skipped | timed_out | waiting
    input: Any
    output: Any
    error: str | None
    attempts: int
    started_at: float
    finished_at: float | None
    duration_ms: float | None
    cost_usd: float
    request_ids: list[str]  # the gateway requests its model calls made (see GET /admin/requests)


class RunView(msgspec.Struct, frozen=True):
    id: str
    flow: str
    status: str  # queued | running | waiting | succeeded | failed | cancelled
    inputs: dict[str, Any]
    output: Any
    error: RunErrorView | None
    created_by: str
    metadata: dict[str, str]
    created_at: float
    started_at: float | None
    finished_at: float | None
    duration_ms: float | None
    cost_usd: float
    current_step: str | None
    review_id: str | None  # the open review task while the run waits for one
    steps: list[StepView] | None  # every step in the order it ran (left out of lists)
    object: str = "flow.run"


class ReviewView(msgspec.Struct, frozen=True):
    id: str
    run_id: str
    flow: str
    step: str
    role: str | None  # who may decide: holders of this role (or of the escalation role once escalated)
    instructions: str | None
    content: Any  # what the reviewer sees and may edit
    schema: Any  # what an edit must conform to (null: any JSON)
    status: str  # pending | claimed | approved | modified | rejected | expired | cancelled
    deadline: float | None
    escalate_at: float | None
    escalation_role: str | None
    escalated: bool
    claimed_by: str | None
    claimed_at: float | None
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    result: Any  # the content the run continued with
    created_at: float
    object: str = "review"


class RunEventView(msgspec.Struct, frozen=True):
    seq: int
    run_id: str
    type: str
    step: str | None
    time: float
    data: dict[str, Any]

    @classmethod
    def of(cls, event: RunEvent) -> RunEventView:
        return cls(event.seq, event.run_id, event.type, event.step, event.at, dict(event.data))


def run_view(run: RunRecord, steps: list[StepRecord] | None, review_id: str | None) -> RunView:
    end = run.finished_at
    duration = round((end - run.created_at) * 1000, 3) if end is not None else None
    error = RunErrorView(run.error.code, run.error.message, run.error.step) if run.error else None
    return RunView(
        id=run.id,
        flow=run.flow,
        status=run.status,
        inputs=dict(run.inputs),
        output=run.outputs,
        error=error,
        created_by=run.actor,
        metadata=dict(run.metadata),
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_ms=duration,
        cost_usd=run.cost_usd,
        current_step=run.current,
        review_id=review_id,
        steps=None if steps is None else [_step_view(s) for s in steps],
    )


def _step_view(step: StepRecord) -> StepView:
    return StepView(
        key=step.key,
        step=step.step,
        kind=step.kind,
        status=step.status,
        input=step.input,
        output=step.output,
        error=step.error,
        attempts=step.attempts,
        started_at=step.started_at,
        finished_at=step.finished_at,
        duration_ms=step.duration_ms,
        cost_usd=step.cost_usd,
        request_ids=list(step.request_ids),
    )


def review_view(task: ReviewTask) -> ReviewView:
    return ReviewView(
        id=task.id,
        run_id=task.run_id,
        flow=task.flow,
        step=task.step,
        role=task.role,
        instructions=task.instructions,
        content=task.content,
        schema=task.schema,
        status=task.status,
        deadline=task.deadline,
        escalate_at=task.escalate_at,
        escalation_role=task.escalation_role,
        escalated=task.escalated,
        claimed_by=task.claimed_by,
        claimed_at=task.claimed_at,
        decided_by=task.decided_by,
        decided_at=task.decided_at,
        reason=task.reason,
        result=task.result,
        created_at=task.created_at,
    )
