"""The prompt registry in PostgreSQL (the SQL itself is shared: :mod:`podium.storage._prompt_sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from podium.storage import _prompt_sql as q
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelHistoryEntry,
    LabelRecord,
    PromptChanges,
    PromptVersionRecord,
    VersionMetrics,
)

__all__ = ["PostgresPromptStore"]

# Taken by every write that draws a rev, held until commit, so that revs commit in the order they are
# drawn: a replica that has seen rev N has seen every rev below it. Readers do not take it.
_LOCK = "LOCK TABLE prompts IN SHARE ROW EXCLUSIVE MODE"


class _Tx:
    mark = "$"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.fetch(sql, *args))

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, *args)

    async def next_rev(self) -> int:
        return int(await self._conn.fetchval("SELECT nextval('prompt_rev_seq')"))


def _metrics_sql(where: str) -> str:
    # percentile_disc is the nearest-rank percentile, as the SQLite query computes it.
    aggregates = ", ".join(q.AGGREGATES)
    return (
        "SELECT prompt_version, "
        "percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms), "
        "percentile_disc(0.95) WITHIN GROUP (ORDER BY latency_ms), "
        f"{aggregates} FROM request_log WHERE {where} GROUP BY prompt_version ORDER BY prompt_version"
    )


class PostgresPromptStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def _fetch(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return list(await self._pool.fetch(sql, *args))

    async def add_version(
        self, record: PromptVersionRecord, *, only_if_changed: bool = False
    ) -> tuple[PromptVersionRecord, bool]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK)
                return await q.add_version(_Tx(conn), record, only_if_changed=only_if_changed)
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"prompt version refused: {e}") from e

    async def get_version(self, tenant: str, name: str, number: int) -> PromptVersionRecord | None:
        rows = await self._fetch(
            f"{q.select('prompt_versions', q.VERSION_COLUMNS)} WHERE tenant = $1 AND name = $2 AND number = $3",
            tenant,
            name,
            number,
        )
        return q.version_from_row(rows[0]) if rows else None

    async def versions(self, tenant: str, name: str) -> list[PromptVersionRecord]:
        rows = await self._fetch(
            f"{q.select('prompt_versions', q.VERSION_COLUMNS)} WHERE tenant = $1 AND name = $2 ORDER BY number",
            tenant,
            name,
        )
        return [q.version_from_row(r) for r in rows]

    async def latest_versions(self, tenant: str) -> list[PromptVersionRecord]:
        columns = ", ".join(f"v.{c}" for c in q.VERSION_COLUMNS)
        rows = await self._fetch(
            f"SELECT {columns} FROM prompts p JOIN prompt_versions v "
            "ON v.tenant = p.tenant AND v.name = p.name AND v.number = p.latest "
            "WHERE p.tenant = $1 ORDER BY p.name",
            tenant,
        )
        return [q.version_from_row(r) for r in rows]

    async def labels(self, tenant: str, name: str) -> list[LabelRecord]:
        rows = await self._fetch(
            f"{q.select('prompt_labels', q.LABEL_COLUMNS)} WHERE tenant = $1 AND name = $2 "
            "AND targets <> '[]' ORDER BY label",
            tenant,
            name,
        )
        return [q.label_from_row(r) for r in rows]

    async def set_label(self, record: LabelRecord, *, expected_rev: int | None = None) -> LabelRecord:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK)
            return await q.set_label(_Tx(conn), record, expected_rev=expected_rev)

    async def label_history(
        self, tenant: str, name: str, label: str, *, limit: int = 50
    ) -> list[LabelHistoryEntry]:
        rows = await self._fetch(
            f"{q.select('prompt_label_history', q.HISTORY_COLUMNS)} WHERE tenant = $1 AND name = $2 "
            "AND label = $3 ORDER BY rev DESC LIMIT $4",
            tenant,
            name,
            label,
            limit,
        )
        return [q.history_from_row(r) for r in rows]

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await q.create_approval(_Tx(conn), approval)
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"approval refused: {e}") from e
        return approval

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        rows = await self._fetch(
            f"{q.select('prompt_approvals', q.APPROVAL_COLUMNS)} WHERE id = $1", approval_id
        )
        return q.approval_from_row(rows[0]) if rows else None

    async def decide_approval(
        self, approval_id: str, *, approve: bool, decided_by: str, at: float
    ) -> ApprovalRecord | None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK)
            # FOR UPDATE: two approvers at once decide one after the other; the second sees it decided.
            await conn.execute("SELECT 1 FROM prompt_approvals WHERE id = $1 FOR UPDATE", approval_id)
            return await q.decide_approval(
                _Tx(conn), approval_id, approve=approve, decided_by=decided_by, at=at
            )

    async def approvals(
        self, tenant: str, *, name: str | None = None, status: str | None = None
    ) -> list[ApprovalRecord]:
        sql, args = q.approvals_sql("$", tenant, name, status)
        return [q.approval_from_row(r) for r in await self._fetch(sql, *args)]

    async def changes_since(self, rev: int) -> PromptChanges:
        # One snapshot for both reads, so a label is never seen without a version committed before it.
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return await q.changes(_Tx(conn), rev)

    async def version_metrics(
        self, tenant: str, name: str, *, since: float | None = None, until: float | None = None
    ) -> list[VersionMetrics]:
        where, args = q.metrics_where("$", since, until)
        rows = await self._fetch(_metrics_sql(where), tenant, name, *args)
        return [q.metrics_from_row(r) for r in rows]
