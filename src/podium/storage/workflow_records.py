"""Workflow runs, their step checkpoints, events and review tasks, as stored (:mod:`podium.workflows`).

A run's ``definition`` is the flow as it was when the run started (JSON), so a run resumes on any
replica with the same steps even if the flow file has changed since. Each record carries its format
``version``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "FINAL_STATUSES",
    "ReviewQuery",
    "ReviewStatus",
    "ReviewTask",
    "RunError",
    "RunEvent",
    "RunPage",
    "RunQuery",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "StepStatus",
]

RunStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
StepStatus = Literal["running", "succeeded", "failed", "skipped", "timed_out", "waiting"]
ReviewStatus = Literal["pending", "claimed", "approved", "modified", "rejected", "expired", "cancelled"]
FINAL_STATUSES: tuple[RunStatus, ...] = ("succeeded", "failed", "cancelled")
OPEN_REVIEW: tuple[ReviewStatus, ...] = ("pending", "claimed")


class RunError(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # step_failed | budget_exceeded | rejected | cancelled | invalid_output | lease_lost …
    message: str
    step: str | None = None  # the step key where it happened


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of a flow. ``lease_owner`` / ``lease_until``: the replica executing it, and until when."""

    id: str  # "run_" + 24 hex
    tenant: str
    flow: str
    flow_hash: str  # SHA-256 of the definition's JSON, first 16 hex
    definition: bytes  # the flow's JSON as it was at start
    status: RunStatus = "queued"
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] | None = None
    error: RunError | None = None
    actor: str  # who started it: "key:key_…", "user:usr_…"
    principal: dict[str, Any] = {}  # what the run acts as: kind, id, name, team, roles, permissions
    metadata: dict[str, str] = {}
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float
    paused_s: float = 0.0  # seconds spent waiting for reviews (not counted against the flow's budget)
    cost_usd: float = 0.0
    current: str | None = None  # the step key running or waiting
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_until: float | None = None
    event_seq: int = 0  # the last event's seq
    version: int = 1


class StepRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One visit of one step: its checkpoint. A ``succeeded``/``skipped``/``timed_out`` step is never run again."""

    run_id: str
    key: str  # "parse", "parse#2" (second visit), "each[3]" (map item), "sub/inner" (subflow step)
    step: str  # the step's id in the definition
    kind: str
    status: StepStatus
    input: Any = None
    output: Any = None
    error: str | None = None
    attempts: int = 0
    started_at: float
    finished_at: float | None = None
    duration_ms: float | None = None
    cost_usd: float = 0.0
    request_ids: tuple[str, ...] = ()  # the gateway request ids of its model calls
    seq: int = 0  # assigned by storage: the order steps were first written
    version: int = 1


class RunEvent(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    seq: int = 0  # assigned by storage, 1.. per run
    at: float
    type: str  # run.started, step.succeeded, review.created … (docs/workflows.md)
    step: str | None = None
    data: dict[str, Any] = {}
    version: int = 1


class ReviewTask(msgspec.Struct, frozen=True, kw_only=True):
    """A human-review step's task: created when the run pauses, decided once."""

    id: str  # "rev_" + 24 hex
    run_id: str
    tenant: str
    flow: str
    step: str  # the step's id in the definition
    step_key: str
    role: str | None = None
    instructions: str | None = None
    content: Any = None
    schema: dict[str, Any] | None = None
    status: ReviewStatus = "pending"
    created_at: float
    deadline: float | None = None
    escalate_at: float | None = None
    escalation_role: str | None = None
    escalated: bool = False
    claimed_by: str | None = None
    claimed_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    result: Any = None  # the content as decided (edited by a modify)
    version: int = 1


class RunQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for runs, newest first. ``cursor`` is the opaque ``next_cursor`` of a page."""

    tenant: str | None = None
    flow: str | None = None
    status: RunStatus | None = None
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    limit: int = 50
    cursor: str | None = None


class RunPage(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[RunRecord, ...]
    next_cursor: str | None = None


class ReviewQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for review tasks, oldest first (the queue's order)."""

    tenant: str | None = None
    status: ReviewStatus | None = None  # None: open tasks (pending or claimed)
    role: str | None = None
    run_id: str | None = None
    limit: int = 100
