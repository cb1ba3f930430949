"""The prompt registry in the SQLite file (the SQL itself is shared: :mod:`podium.storage._prompt_sql`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiosqlite

from podium.storage import _prompt_sql as q
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelHistoryEntry,
    LabelRecord,
    PromptChanges,
    PromptVersionRecord,
    VersionMetrics,
)

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["SQLiteMetricsSQL", "SQLitePromptStore"]


class _Tx:
    mark = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.execute_fetchall(sql, args))

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, args)

    async def next_rev(self) -> int:
        # Inside BEGIN IMMEDIATE no other process can draw the same number.
        await self._conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'prompt_rev'")
        rows = list(await self._conn.execute_fetchall("SELECT value FROM counters WHERE name = 'prompt_rev'"))
        return int(rows[0][0])


class _Reader:
    """Reads outside a write transaction, on the reader connection (WAL lets them run alongside)."""

    mark = "?"

    def __init__(self, db: _Database) -> None:
        self._db = db

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return await self._db.fetch(sql, args)

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        raise RuntimeError("read-only")

    async def next_rev(self) -> int:
        raise RuntimeError("read-only")


def SQLiteMetricsSQL(where: str) -> str:  # noqa: N802 - a SQL template, named like the query it makes
    """Per-version metrics; percentiles by nearest rank (SQLite has no percentile function)."""
    aggregates = ", ".join(q.AGGREGATES)
    return (
        "WITH r AS (SELECT prompt_version, latency_ms, status, error_class, guardrail_action, input_tokens, output_tokens, "
        "cost_usd, created_at, "
        "row_number() OVER (PARTITION BY prompt_version ORDER BY latency_ms) AS rn, "
        "count(*) OVER (PARTITION BY prompt_version) AS n "
        f"FROM request_log WHERE {where}) "
        "SELECT prompt_version, "
        "max(CASE WHEN rn = (50 * n + 99) / 100 THEN latency_ms END), "
        "max(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_ms END), "
        f"{aggregates} FROM r GROUP BY prompt_version ORDER BY prompt_version"
    )


class SQLitePromptStore:
    def __init__(self, db: _Database) -> None:
        self._db = db
        self._read = _Reader(db)

    async def add_version(
        self, record: PromptVersionRecord, *, only_if_changed: bool = False
    ) -> tuple[PromptVersionRecord, bool]:
        try:
            async with self._db.transaction() as conn:
                return await q.add_version(_Tx(conn), record, only_if_changed=only_if_changed)
        except sqlite3.IntegrityError as e:
            raise ValueError(f"prompt version refused: {e}") from e

    async def get_version(self, tenant: str, name: str, number: int) -> PromptVersionRecord | None:
        rows = await self._read.fetch(
            f"{q.select('prompt_versions', q.VERSION_COLUMNS)} WHERE tenant = ?1 AND name = ?2 AND number = ?3",
            (tenant, name, number),
        )
        return q.version_from_row(rows[0]) if rows else None

    async def versions(self, tenant: str, name: str) -> list[PromptVersionRecord]:
        rows = await self._read.fetch(
            f"{q.select('prompt_versions', q.VERSION_COLUMNS)} WHERE tenant = ?1 AND name = ?2 ORDER BY number",
            (tenant, name),
        )
        return [q.version_from_row(r) for r in rows]

    async def latest_versions(self, tenant: str) -> list[PromptVersionRecord]:
        columns = ", ".join(f"v.{c}" for c in q.VERSION_COLUMNS)
        rows = await self._read.fetch(
            f"SELECT {columns} FROM prompts p JOIN prompt_versions v "
            "ON v.tenant = p.tenant AND v.name = p.name AND v.number = p.latest "
            "WHERE p.tenant = ?1 ORDER BY p.name",
            (tenant,),
        )
        return [q.version_from_row(r) for r in rows]

    async def labels(self, tenant: str, name: str) -> list[LabelRecord]:
        rows = await self._read.fetch(
            f"{q.select('prompt_labels', q.LABEL_COLUMNS)} WHERE tenant = ?1 AND name = ?2 "
            "AND targets <> '[]' ORDER BY label",
            (tenant, name),
        )
        return [q.label_from_row(r) for r in rows]

    async def set_label(self, record: LabelRecord, *, expected_rev: int | None = None) -> LabelRecord:
        async with self._db.transaction() as conn:
            return await q.set_label(_Tx(conn), record, expected_rev=expected_rev)

    async def label_history(
        self, tenant: str, name: str, label: str, *, limit: int = 50
    ) -> list[LabelHistoryEntry]:
        rows = await self._read.fetch(
            f"{q.select('prompt_label_history', q.HISTORY_COLUMNS)} WHERE tenant = ?1 AND name = ?2 "
            "AND label = ?3 ORDER BY rev DESC LIMIT ?4",
            (tenant, name, label, limit),
        )
        return [q.history_from_row(r) for r in rows]

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord:
        try:
            async with self._db.transaction() as conn:
                await q.create_approval(_Tx(conn), approval)
        except sqlite3.IntegrityError as e:
            raise ValueError(f"approval refused: {e}") from e
        return approval

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        rows = await self._read.fetch(
            f"{q.select('prompt_approvals', q.APPROVAL_COLUMNS)} WHERE id = ?1", (approval_id,)
        )
        return q.approval_from_row(rows[0]) if rows else None

    async def decide_approval(
        self, approval_id: str, *, approve: bool, decided_by: str, at: float
    ) -> ApprovalRecord | None:
        async with self._db.transaction() as conn:
            return await q.decide_approval(
                _Tx(conn), approval_id, approve=approve, decided_by=decided_by, at=at
            )

    async def approvals(
        self, tenant: str, *, name: str | None = None, status: str | None = None
    ) -> list[ApprovalRecord]:
        sql, args = q.approvals_sql("?", tenant, name, status)
        return [q.approval_from_row(r) for r in await self._read.fetch(sql, args)]

    async def changes_since(self, rev: int) -> PromptChanges:
        # Every rev up to the counter's committed value is committed (the counter moves in the same
        # transaction as the row), so both reads below see all of them, whatever commits in between.
        rows = await self._read.fetch("SELECT value FROM counters WHERE name = 'prompt_rev'")
        return await q.changes(self._read, rev, int(rows[0][0]))

    async def version_metrics(
        self, tenant: str, name: str, *, since: float | None = None, until: float | None = None
    ) -> list[VersionMetrics]:
        where, args = q.metrics_where("?", since, until)
        rows = await self._read.fetch(SQLiteMetricsSQL(where), [tenant, name, *args])
        return [q.metrics_from_row(r) for r in rows]
