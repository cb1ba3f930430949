"""Usage analytics, evaluation scores and alerts in PostgreSQL (SQL: :mod:`podium.storage._observability_sql`)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from podium.storage import _observability_sql as q
from podium.storage.observability_records import (
    AlertEvent,
    AlertState,
    EvalQuery,
    EvalScore,
    EvalSummary,
    UsageQuery,
    UsageRow,
)

__all__ = ["PostgresAlertStore", "PostgresEvalStore", "PostgresUsageStore"]

_SQL = q.statements("$")


class PostgresUsageStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def summary(self, query: UsageQuery) -> list[UsageRow]:
        sql, args = q.usage_sql(query, "postgres")
        rows = await self._pool.fetch(sql, *args)
        return q.usage_rows([tuple(r) for r in rows], query, "postgres")


class PostgresEvalStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def put_many(self, scores: list[EvalScore]) -> None:
        if not scores:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(_SQL.insert_score, [q.eval_row(s) for s in scores])
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"evaluation scores refused, none written: {e}") from e

    async def for_request(self, request_id: str) -> list[EvalScore]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(q.EVAL_COLUMNS)} FROM eval_scores WHERE request_id = $1 ORDER BY evaluator",
            request_id,
        )
        return [q.eval_from_row(tuple(r)) for r in rows]

    async def summary(self, query: EvalQuery) -> list[EvalSummary]:
        sql, args = q.eval_summary_sql(query, "$")
        rows = await self._pool.fetch(sql, *args)
        return q.summary_from_rows([tuple(r) for r in rows], query)


class PostgresAlertStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def acquire_lease(self, name: str, holder: str, *, ttl: float, now: float) -> bool:
        got = await self._pool.fetchval(_SQL.lease, name, holder, now + ttl, now)
        return bool(got == holder)

    async def states(self) -> list[AlertState]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(q.STATE_COLUMNS)} FROM alert_states ORDER BY rule, grp"
        )
        return [q.state_from_row(tuple(r)) for r in rows]

    async def record(self, state: AlertState, event: AlertEvent | None = None) -> AlertEvent | None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_SQL.upsert_state, *q.state_row(state))
            if event is None:
                return None
            event_id = await conn.fetchval(_SQL.insert_event, *q.event_row(event))
        return msgspec.structs.replace(event, id=int(event_id))

    async def events(
        self, *, rule: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        clauses: list[str] = []
        args: list[object] = []
        if rule is not None:
            args.append(rule)
            clauses.append(f"rule = ${len(args)}")
        if before is not None:
            args.append(before)
            clauses.append(f"id < ${len(args)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        args.append(min(max(limit, 1), 1000))
        rows = await self._pool.fetch(
            f"SELECT id, {', '.join(q.EVENT_COLUMNS)} FROM alert_events{where} ORDER BY id DESC LIMIT ${len(args)}",
            *args,
        )
        return [q.event_from_row(tuple(r)) for r in rows]
