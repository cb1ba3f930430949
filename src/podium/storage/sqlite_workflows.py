"""Workflow runs, checkpoints, events and review tasks in the SQLite file (SQL: :mod:`podium.storage._workflow_sql`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import aiosqlite

from podium.storage._workflow_sql import Tx, WorkflowSQL

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["SQLiteWorkflowStore"]


class _SQLiteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self._conn.execute_fetchall(sql, args))

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        async with self._conn.execute(sql, args) as cursor:
            return int(cursor.rowcount)


class SQLiteWorkflowStore(WorkflowSQL):
    def __init__(self, db: _Database) -> None:
        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[Tx]:
            # BEGIN IMMEDIATE (in _Database) serialises writers across processes, so the plain
            # sub-select in acquire_run cannot hand one run to two replicas.
            async with db.transaction() as conn:
                yield _SQLiteTx(conn)

        super().__init__(transaction, db.fetch, "?", "sqlite")
