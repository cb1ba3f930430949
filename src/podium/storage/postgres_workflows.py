"""Workflow runs, checkpoints, events and review tasks in PostgreSQL (SQL: :mod:`podium.storage._workflow_sql`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from podium.storage._workflow_sql import Tx, WorkflowSQL

__all__ = ["PostgresWorkflowStore"]


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return [tuple(r) for r in await self._conn.fetch(sql, *args)]

    async def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self._conn.execute(sql, *args)  # the command tag: "UPDATE 3", "INSERT 0 1"
        tail = str(status).rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class PostgresWorkflowStore(WorkflowSQL):
    def __init__(self, pool: Any) -> None:
        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[Tx]:
            async with pool.acquire() as conn, conn.transaction():
                yield _PostgresTx(conn)

        async def fetch(sql: str, args: Sequence[Any]) -> list[Sequence[Any]]:
            return [tuple(r) for r in await pool.fetch(sql, *args)]

        super().__init__(transaction, fetch, "$", "postgres")
