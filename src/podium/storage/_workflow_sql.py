"""The workflow store, written once for both SQL backends (:class:`WorkflowSQL`).

Each backend hands it a way to run a transaction (:class:`Tx`: ``rows`` and ``run`` with numbered
placeholders, ``?1`` or ``$1``) and to read outside one. Every write that a run's executor makes is
*fenced*: it happens only while that executor holds the run's lease, so a replica that lost its lease
(it stalled past the deadline and another took over) can never write a checkpoint again.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

import msgspec

from podium.errors import RequestError
from podium.storage.base import LeaseLost, ReviewConflict
from podium.storage.workflow_records import (
    FINAL_STATUSES,
    OPEN_REVIEW,
    ReviewQuery,
    ReviewTask,
    RunError,
    RunEvent,
    RunPage,
    RunQuery,
    RunRecord,
    StepRecord,
)

__all__ = ["Tx", "WorkflowSQL"]

RUN_COLUMNS = tuple(f.name for f in msgspec.structs.fields(RunRecord))
STEP_COLUMNS = tuple(f.name for f in msgspec.structs.fields(StepRecord))
EVENT_COLUMNS = tuple(f.name for f in msgspec.structs.fields(RunEvent))
REVIEW_COLUMNS = tuple(f.name for f in msgspec.structs.fields(ReviewTask))
_RUN_JSON = {"inputs", "outputs", "error", "principal", "metadata"}
_STEP_JSON = {"input", "output", "request_ids"}
_REVIEW_JSON = {"content", "schema", "result"}
_NULLABLE_JSON = {"outputs", "error", "schema"}
_BOOLS = {"cancel_requested", "escalated"}
_MAX_PAGE = 1000


class Tx(Protocol):
    async def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute; the number of rows changed."""
        ...


Transaction = Callable[[], AbstractAsyncContextManager[Tx]]
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Sequence[Any]]]]


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _row(record: msgspec.Struct, columns: tuple[str, ...], json: set[str]) -> list[Any]:
    out: list[Any] = []
    for column in columns:
        value = getattr(record, column)
        if column in json:
            value = None if value is None and column in _NULLABLE_JSON else _encode(value)
        elif column in _BOOLS:
            value = int(value)
        out.append(value)
    return out


def _record(row: Sequence[Any], columns: tuple[str, ...], json: set[str], cls: type[Any]) -> Any:
    fields = dict(zip(columns, row, strict=True))
    for column in json:
        value = fields[column]
        fields[column] = None if value is None else msgspec.json.decode(value)
    for column in _BOOLS & fields.keys():
        fields[column] = bool(fields[column])
    if "definition" in fields:
        fields["definition"] = bytes(fields["definition"])
    return msgspec.convert(fields, cls, strict=False)


def run_from_row(row: Sequence[Any]) -> RunRecord:
    record: RunRecord = _record(row, RUN_COLUMNS, _RUN_JSON, RunRecord)
    return record


def step_from_row(row: Sequence[Any]) -> StepRecord:
    record: StepRecord = _record(row, STEP_COLUMNS, _STEP_JSON, StepRecord)
    return record


def event_from_row(row: Sequence[Any]) -> RunEvent:
    fields = dict(zip(EVENT_COLUMNS, row, strict=True))
    fields["data"] = msgspec.json.decode(fields["data"])
    return msgspec.convert(fields, RunEvent, strict=False)


def review_from_row(row: Sequence[Any]) -> ReviewTask:
    record: ReviewTask = _record(row, REVIEW_COLUMNS, _REVIEW_JSON, ReviewTask)
    return record


def _encode_cursor(run: RunRecord) -> str:
    raw = msgspec.json.encode((run.created_at, run.id))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=tuple[float, str])
    except (binascii.Error, ValueError, msgspec.DecodeError) as e:
        raise RequestError("invalid cursor: pass the next_cursor of a previous page", param="cursor") from e


class WorkflowSQL:
    """:class:`~podium.storage.base.WorkflowStore` over one SQL backend."""

    def __init__(
        self, transaction: Transaction, fetch: Fetch, mark: str, dialect: Literal["sqlite", "postgres"]
    ) -> None:
        self._tx = transaction
        self._fetch = fetch
        self._mark = mark
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if dialect == "postgres" else ""
        self._one_statement = dialect == "postgres"

    def _p(self, count: int, start: int = 1) -> str:
        return ", ".join(f"{self._mark}{i}" for i in range(start, start + count))

    def _m(self, i: int) -> str:
        return f"{self._mark}{i}"

    # ------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord, event: RunEvent) -> RunRecord:
        run = msgspec.structs.replace(run, event_seq=1)
        try:
            async with self._tx() as tx:
                await tx.run(
                    f"INSERT INTO workflow_runs ({', '.join(RUN_COLUMNS)}) VALUES ({self._p(len(RUN_COLUMNS))})",
                    _row(run, RUN_COLUMNS, _RUN_JSON),
                )
                await self._insert_events(tx, [msgspec.structs.replace(event, run_id=run.id, seq=1)])
        except Exception as e:
            if _is_integrity(e):
                raise ValueError(f"run {run.id!r} refused: {e}") from e
            raise
        return run

    async def get_run(self, run_id: str, *, tenant: str | None = None) -> RunRecord | None:
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM workflow_runs WHERE id = {self._m(1)}"
        rows = await self._fetch(sql, (run_id,))
        if not rows:
            return None
        run = run_from_row(rows[0])
        return run if tenant is None or run.tenant == tenant else None

    def _filters(self, equal: dict[str, Any]) -> tuple[list[str], list[Any], Callable[[Any], str]]:
        """(clauses, args, arg): ``column = value`` for each value given; ``arg`` adds a parameter."""
        clauses: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return self._m(len(args))

        clauses.extend(f"{column} = {arg(value)}" for column, value in equal.items() if value is not None)
        return clauses, args, arg

    async def list_runs(self, query: RunQuery) -> RunPage:
        clauses, args, arg = self._filters(
            {"tenant": query.tenant, "flow": query.flow, "status": query.status}
        )
        if query.since is not None:
            clauses.append(f"created_at >= {arg(query.since)}")
        if query.until is not None:
            clauses.append(f"created_at < {arg(query.until)}")
        if query.cursor is not None:
            created_at, run_id = _decode_cursor(query.cursor)
            clauses.append(f"(created_at, id) < ({arg(created_at)}, {arg(run_id)})")
        size = min(max(query.limit, 1), _MAX_PAGE)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetch(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM workflow_runs{where} "
            f"ORDER BY created_at DESC, id DESC LIMIT {arg(size + 1)}",
            args,
        )
        runs = [run_from_row(r) for r in rows]
        if len(runs) <= size:
            return RunPage(items=tuple(runs))
        return RunPage(items=tuple(runs[:size]), next_cursor=_encode_cursor(runs[size - 1]))

    async def steps(self, run_id: str) -> list[StepRecord]:
        rows = await self._fetch(
            f"SELECT {', '.join(STEP_COLUMNS)} FROM workflow_steps WHERE run_id = {self._m(1)} ORDER BY seq",
            (run_id,),
        )
        return [step_from_row(r) for r in rows]

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        rows = await self._fetch(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM workflow_events "
            f"WHERE run_id = {self._m(1)} AND seq > {self._m(2)} ORDER BY seq LIMIT {self._m(3)}",
            (run_id, after, min(max(limit, 1), 10_000)),
        )
        return [event_from_row(r) for r in rows]

    # ------------------------------------------------------------------ leases

    async def acquire_run(self, owner: str, *, now: float, lease_s: float) -> RunRecord | None:
        m = self._m
        sql = (
            f"UPDATE workflow_runs SET lease_owner = {m(1)}, lease_until = {m(2)}, status = 'running', "
            f"started_at = coalesce(started_at, {m(3)}), updated_at = {m(3)} "
            "WHERE id = (SELECT id FROM workflow_runs WHERE "
            f"(status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < {m(3)}))) "
            f"ORDER BY created_at, id LIMIT 1{self._skip_locked}) "
            f"RETURNING {', '.join(RUN_COLUMNS)}"
        )
        # A read first: an idle worker polls often, and must not take the write lock to find nothing.
        runnable = await self._fetch(
            "SELECT 1 FROM workflow_runs WHERE status = 'queued' OR (status = 'running' "
            f"AND (lease_until IS NULL OR lease_until < {m(1)})) LIMIT 1",
            (now,),
        )
        if not runnable:
            return None
        async with self._tx() as tx:
            rows = await tx.rows(sql, (owner, now + lease_s, now))
        return run_from_row(rows[0]) if rows else None

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> dict[str, bool]:
        if not run_ids:
            return {}
        m = self._m
        kept: dict[str, bool] = {}
        async with self._tx() as tx:
            for run_id in run_ids:
                rows = await tx.rows(
                    f"UPDATE workflow_runs SET lease_until = {m(1)} WHERE id = {m(2)} "
                    f"AND lease_owner = {m(3)} AND status = 'running' RETURNING cancel_requested",
                    (now + lease_s, run_id, owner),
                )
                if rows:
                    kept[run_id] = bool(rows[0][0])
        return kept

    async def release_run(self, run_id: str, owner: str) -> None:
        async with self._tx() as tx:
            await tx.run(
                f"UPDATE workflow_runs SET lease_owner = NULL, lease_until = NULL "
                f"WHERE id = {self._m(1)} AND lease_owner = {self._m(2)}",
                (run_id, owner),
            )

    async def _fence(
        self,
        tx: Tx,
        run_id: str,
        owner: str,
        events: int,
        now: float,
        cost: float = 0.0,
        current: str | None = None,
    ) -> int:
        """Check the lease, reserve ``events`` seqs, add ``cost``; the first seq. LeaseLost if not held."""
        m = self._m
        rows = await tx.rows(
            f"UPDATE workflow_runs SET event_seq = event_seq + {m(1)}, updated_at = {m(2)}, "
            f"cost_usd = cost_usd + {m(5)}, current = coalesce({m(6)}, current) "
            f"WHERE id = {m(3)} AND lease_owner = {m(4)} AND status = 'running' RETURNING event_seq",
            (events, now, run_id, owner, cost, current),
        )
        if not rows:
            raise LeaseLost(f"run {run_id} is no longer leased by {owner}")
        return int(rows[0][0]) - events + 1

    async def _insert_events(self, tx: Tx, events: list[RunEvent]) -> None:
        sql = (
            f"INSERT INTO workflow_events ({', '.join(EVENT_COLUMNS)}) VALUES ({self._p(len(EVENT_COLUMNS))})"
        )
        for event in events:
            row = [_encode(event.data) if c == "data" else getattr(event, c) for c in EVENT_COLUMNS]
            await tx.run(sql, row)

    async def _seq_events(
        self,
        tx: Tx,
        run_id: str,
        owner: str,
        events: Sequence[RunEvent],
        now: float,
        cost: float = 0.0,
        current: str | None = None,
    ) -> None:
        first = await self._fence(tx, run_id, owner, len(events), now, cost, current)
        stamped = [msgspec.structs.replace(e, run_id=run_id, seq=first + i) for i, e in enumerate(events)]
        await self._insert_events(tx, stamped)

    async def _put_step(self, tx: Tx, step: StepRecord) -> None:
        """Insert the step, or replace the one with its key (keeping that one's seq)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in STEP_COLUMNS if c not in ("run_id", "key", "seq"))
        await tx.run(
            f"INSERT INTO workflow_steps ({', '.join(STEP_COLUMNS)}) VALUES ({self._p(len(STEP_COLUMNS))}) "
            f"ON CONFLICT (run_id, key) DO UPDATE SET {updates}",
            _row(step, STEP_COLUMNS, _STEP_JSON),
        )

    async def checkpoint(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        step: StepRecord | None = None,
        events: Sequence[RunEvent] = (),
        cost: float = 0.0,
        current: str | None = None,
    ) -> None:
        if self._one_statement:
            # One round trip instead of five (BEGIN, fence, events, step, COMMIT): a checkpoint is on
            # the path of every step, and PostgreSQL runs data-modifying CTEs as one atomic statement.
            sql = _PG_CHECKPOINT_WITH_STEP if step is not None else _PG_CHECKPOINT
            args: list[Any] = [
                len(events),
                now,
                run_id,
                owner,
                cost,
                current,
                [e.at for e in events],
                [e.type for e in events],
                [e.step for e in events],
                [_encode(e.data) for e in events],
            ]
            if step is not None:
                args += _row(step, STEP_COLUMNS, _STEP_JSON)
            if not await self._fetch(sql, args):
                raise LeaseLost(f"run {run_id} is no longer leased by {owner}")
            return
        async with self._tx() as tx:
            await self._seq_events(tx, run_id, owner, events, now, cost, current)
            if step is not None:
                await self._put_step(tx, step)

    async def finish_run(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        status: Literal["succeeded", "failed", "cancelled"],
        outputs: dict[str, Any] | None,
        error: RunError | None,
        event: RunEvent,
    ) -> RunRecord:
        m = self._m
        async with self._tx() as tx:
            await self._seq_events(tx, run_id, owner, [event], now)
            rows = await tx.rows(
                f"UPDATE workflow_runs SET status = {m(1)}, outputs = {m(2)}, error = {m(3)}, "
                f"finished_at = {m(4)}, updated_at = {m(4)}, current = NULL, lease_owner = NULL, "
                f"lease_until = NULL WHERE id = {m(5)} RETURNING {', '.join(RUN_COLUMNS)}",
                (
                    status,
                    None if outputs is None else _encode(outputs),
                    None if error is None else _encode(error),
                    now,
                    run_id,
                ),
            )
            await tx.run(
                f"UPDATE review_tasks SET status = 'cancelled' WHERE run_id = {m(1)} "
                "AND status IN ('pending', 'claimed')",
                (run_id,),
            )
        return run_from_row(rows[0])

    async def pause_run(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        step: StepRecord,
        task: ReviewTask,
        events: Sequence[RunEvent],
    ) -> ReviewTask:
        m = self._m
        async with self._tx() as tx:
            await self._seq_events(tx, run_id, owner, events, now)
            await self._put_step(tx, step)
            await tx.run(
                f"INSERT INTO review_tasks ({', '.join(REVIEW_COLUMNS)}) VALUES ({self._p(len(REVIEW_COLUMNS))})",
                _row(task, REVIEW_COLUMNS, _REVIEW_JSON),
            )
            await tx.run(
                f"UPDATE workflow_runs SET status = 'waiting', current = {m(1)}, lease_owner = NULL, "
                f"lease_until = NULL WHERE id = {m(2)}",
                (step.key, run_id),
            )
        return task

    async def request_cancel(self, run_id: str, *, tenant: str, at: float) -> RunRecord | None:
        """A queued or waiting run is cancelled now; a running one is asked to stop (its executor does)."""
        m = self._m
        async with self._tx() as tx:
            rows = await tx.rows(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM workflow_runs WHERE id = {m(1)} AND tenant = {m(2)}"
                f"{self._skip_locked.replace(' SKIP LOCKED', '')}",
                (run_id, tenant),
            )
            if not rows:
                return None
            run = run_from_row(rows[0])
            if run.status in FINAL_STATUSES:
                return run
            if run.status == "running" and run.lease_until is not None and run.lease_until >= at:
                await tx.run(
                    f"UPDATE workflow_runs SET cancel_requested = 1, updated_at = {m(1)} WHERE id = {m(2)}",
                    (at, run_id),
                )
                return msgspec.structs.replace(run, cancel_requested=True, updated_at=at)
            error = RunError(code="cancelled", message="The run was cancelled.", step=run.current)
            seq = run.event_seq + 1
            await tx.run(
                f"UPDATE workflow_runs SET status = 'cancelled', cancel_requested = 1, error = {m(1)}, "
                f"finished_at = {m(2)}, updated_at = {m(2)}, event_seq = {m(3)}, lease_owner = NULL, "
                f"lease_until = NULL WHERE id = {m(4)}",
                (_encode(error), at, seq, run_id),
            )
            await tx.run(
                f"UPDATE review_tasks SET status = 'cancelled' WHERE run_id = {m(1)} "
                "AND status IN ('pending', 'claimed')",
                (run_id,),
            )
            await self._insert_events(
                tx, [RunEvent(run_id=run_id, seq=seq, at=at, type="run.cancelled", step=run.current)]
            )
        return msgspec.structs.replace(
            run,
            status="cancelled",
            cancel_requested=True,
            error=error,
            finished_at=at,
            updated_at=at,
            event_seq=seq,
            lease_owner=None,
            lease_until=None,
        )

    async def purge_runs(self, *, before: float) -> int:
        """Delete finished runs (with their steps, events and reviews) that ended before ``before``."""
        m = self._m
        final = ", ".join(f"'{s}'" for s in FINAL_STATUSES)
        select = f"SELECT id FROM workflow_runs WHERE status IN ({final}) AND finished_at < {m(1)}"
        async with self._tx() as tx:
            for table in ("workflow_steps", "workflow_events", "review_tasks"):
                await tx.run(f"DELETE FROM {table} WHERE run_id IN ({select})", (before,))
            return await tx.run(
                f"DELETE FROM workflow_runs WHERE status IN ({final}) AND finished_at < {m(1)}", (before,)
            )

    # ------------------------------------------------------------------ reviews

    async def get_review(self, task_id: str, *, tenant: str | None = None) -> ReviewTask | None:
        rows = await self._fetch(
            f"SELECT {', '.join(REVIEW_COLUMNS)} FROM review_tasks WHERE id = {self._m(1)}", (task_id,)
        )
        if not rows:
            return None
        task = review_from_row(rows[0])
        return task if tenant is None or task.tenant == tenant else None

    async def list_reviews(self, query: ReviewQuery) -> list[ReviewTask]:
        clauses, args, arg = self._filters(
            {"tenant": query.tenant, "role": query.role, "run_id": query.run_id}
        )
        if query.status is not None:
            clauses.append(f"status = {arg(query.status)}")
        else:
            clauses.append("status IN ('pending', 'claimed')")
        rows = await self._fetch(
            f"SELECT {', '.join(REVIEW_COLUMNS)} FROM review_tasks WHERE {' AND '.join(clauses)} "
            f"ORDER BY created_at, id LIMIT {arg(min(max(query.limit, 1), _MAX_PAGE))}",
            args,
        )
        return [review_from_row(r) for r in rows]

    async def _locked_review(self, tx: Tx, task_id: str, tenant: str | None) -> ReviewTask | None:
        lock = self._skip_locked.replace(" SKIP LOCKED", "")
        rows = await tx.rows(
            f"SELECT {', '.join(REVIEW_COLUMNS)} FROM review_tasks WHERE id = {self._m(1)}{lock}", (task_id,)
        )
        if not rows:
            return None
        task = review_from_row(rows[0])
        return task if tenant is None or task.tenant == tenant else None

    async def claim_review(self, task_id: str, *, tenant: str, reviewer: str, at: float) -> ReviewTask | None:
        m = self._m
        async with self._tx() as tx:
            task = await self._locked_review(tx, task_id, tenant)
            if task is None:
                return None
            if task.status not in OPEN_REVIEW:
                raise ReviewConflict(
                    f"The review {task_id} was already decided ({task.status}).", code="review_decided"
                )
            if task.status == "claimed" and task.claimed_by != reviewer:
                raise ReviewConflict(
                    f"The review {task_id} is claimed by {task.claimed_by}.", code="review_claimed"
                )
            await tx.run(
                f"UPDATE review_tasks SET status = 'claimed', claimed_by = {m(1)}, claimed_at = {m(2)} "
                f"WHERE id = {m(3)}",
                (reviewer, at, task_id),
            )
            await self._review_event(tx, task, at, "review.claimed", {"reviewer": reviewer})
        return msgspec.structs.replace(task, status="claimed", claimed_by=reviewer, claimed_at=at)

    async def _review_event(
        self, tx: Tx, task: ReviewTask, at: float, kind: str, data: dict[str, Any]
    ) -> None:
        """One event of a review's life on its (paused) run: the review's id, then ``data``."""
        event = RunEvent(
            run_id=task.run_id, at=at, type=kind, step=task.step_key, data={"review": task.id, **data}
        )
        await self._run_event(tx, task.run_id, event)

    async def _run_event(self, tx: Tx, run_id: str, *events: RunEvent) -> None:
        """Append events to a run that no executor holds (a paused one): seqs drawn under the row's lock."""
        rows = await tx.rows(
            f"UPDATE workflow_runs SET event_seq = event_seq + {self._m(1)} WHERE id = {self._m(2)} RETURNING event_seq",
            (len(events), run_id),
        )
        first = int(rows[0][0]) - len(events) + 1
        await self._insert_events(
            tx, [msgspec.structs.replace(e, seq=first + i) for i, e in enumerate(events)]
        )

    async def decide_review(
        self,
        task_id: str,
        *,
        tenant: str,
        reviewer: str,
        at: float,
        status: Literal["approved", "modified", "rejected", "expired"],
        result: Any,
        reason: str | None,
    ) -> ReviewTask | None:
        """Decide an open task and requeue its run, in one transaction; ReviewConflict if decided already,
        or claimed by someone else."""
        m = self._m
        async with self._tx() as tx:
            task = await self._locked_review(tx, task_id, tenant)
            if task is None:
                return None
            if task.status not in OPEN_REVIEW:
                raise ReviewConflict(
                    f"The review {task_id} was already decided ({task.status}).", code="review_decided"
                )
            if task.status == "claimed" and task.claimed_by != reviewer and status != "expired":
                raise ReviewConflict(
                    f"The review {task_id} is claimed by {task.claimed_by}.", code="review_claimed"
                )
            await tx.run(
                f"UPDATE review_tasks SET status = {m(1)}, decided_by = {m(2)}, decided_at = {m(3)}, "
                f"reason = {m(4)}, result = {m(5)} WHERE id = {m(6)}",
                (status, reviewer, at, reason, _encode(result), task_id),
            )
            await tx.run(
                f"UPDATE workflow_runs SET status = 'queued', paused_s = paused_s + {m(1)}, updated_at = {m(2)} "
                f"WHERE id = {m(3)} AND status = 'waiting'",
                (max(0.0, at - task.created_at), at, task.run_id),
            )
            decision = {
                "approved": "approve",
                "modified": "modify",
                "rejected": "reject",
                "expired": "expire",
            }[status]
            kind = "review.decided" if status != "expired" else "review.expired"
            await self._review_event(tx, task, at, kind, {"decision": decision, "reviewer": reviewer})
        return msgspec.structs.replace(
            task, status=status, decided_by=reviewer, decided_at=at, reason=reason, result=result
        )

    async def due_reviews(self, *, now: float) -> list[ReviewTask]:
        """Open tasks whose deadline has passed, or whose escalation is due."""
        m = self._m
        rows = await self._fetch(
            f"SELECT {', '.join(REVIEW_COLUMNS)} FROM review_tasks WHERE status IN ('pending', 'claimed') "
            f"AND (deadline <= {m(1)} OR (escalated = 0 AND escalate_at <= {m(1)})) ORDER BY created_at LIMIT 100",
            (now,),
        )
        return [review_from_row(r) for r in rows]

    async def escalate_review(self, task_id: str, *, at: float) -> ReviewTask | None:
        m = self._m
        async with self._tx() as tx:
            task = await self._locked_review(tx, task_id, None)
            if task is None or task.status not in OPEN_REVIEW or task.escalated:
                return None
            role = task.escalation_role or task.role
            await tx.run(
                f"UPDATE review_tasks SET escalated = 1, role = {m(1)} WHERE id = {m(2)}", (role, task_id)
            )
            await self._review_event(tx, task, at, "review.escalated", {"role": role})
        return msgspec.structs.replace(task, escalated=True, role=role)

    async def review_backlog(self) -> int:
        rows = await self._fetch(
            "SELECT count(*) FROM review_tasks WHERE status IN ('pending', 'claimed')", ()
        )
        return int(rows[0][0])


_PG_TYPES = {
    "attempts": "integer",
    "seq": "integer",
    "version": "integer",
    "started_at": "double precision",
    "finished_at": "double precision",
    "duration_ms": "double precision",
    "cost_usd": "double precision",
}
_PG_CHECKPOINT = (
    "WITH fence AS (UPDATE workflow_runs SET event_seq = event_seq + $1::integer, updated_at = $2, "
    "cost_usd = cost_usd + $5, current = coalesce($6, current) "
    "WHERE id = $3 AND lease_owner = $4 AND status = 'running' RETURNING event_seq), "
    "events AS (INSERT INTO workflow_events (run_id, seq, at, type, step, data, version) "
    "SELECT $3, fence.event_seq - $1::integer + e.n::integer, e.at, e.type, e.step, e.data, 1 FROM fence, "
    "unnest($7::double precision[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY AS e(at, type, step, data, n))"
)
_PG_CHECKPOINT_WITH_STEP = (
    _PG_CHECKPOINT
    + ", step AS (INSERT INTO workflow_steps ("
    + ", ".join(STEP_COLUMNS)
    + ") SELECT "
    + ", ".join(f"${i}::{_PG_TYPES.get(c, 'text')}" for i, c in enumerate(STEP_COLUMNS, 11))
    + " FROM fence ON CONFLICT (run_id, key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in STEP_COLUMNS if c not in ("run_id", "key", "seq"))
    + ") SELECT event_seq FROM fence"
)
_PG_CHECKPOINT += " SELECT event_seq FROM fence"


def _is_integrity(e: Exception) -> bool:
    name = type(e).__name__
    return name in (
        "IntegrityError",
        "UniqueViolationError",
        "NotNullViolationError",
        "ForeignKeyViolationError",
    )
