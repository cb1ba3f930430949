"""Stored Responses-API answers in PostgreSQL (see :class:`podium.storage.base.ResponseStore`)."""

from __future__ import annotations

from typing import Any

import asyncpg

from podium.storage.response_records import StoredResponse
from podium.storage.sqlite_responses import RESPONSE_COLUMNS, response_from_row, response_row

__all__ = ["PostgresResponseStore"]

_SELECT = f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM stored_responses WHERE id = $1 AND tenant = $2"
_INSERT = (
    f"INSERT INTO stored_responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(RESPONSE_COLUMNS) + 1))}) ON CONFLICT (id) DO NOTHING"
)


class PostgresResponseStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def put_many(self, responses: list[StoredResponse]) -> None:
        if not responses:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(_INSERT, [response_row(r) for r in responses])
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"stored responses refused, none written: {e}") from e

    async def get(self, response_id: str, *, tenant: str) -> StoredResponse | None:
        row = await self._pool.fetchrow(_SELECT, response_id, tenant)
        return response_from_row(tuple(row)) if row is not None else None

    async def delete(self, response_id: str, *, tenant: str) -> bool:
        status = await self._pool.execute(
            "DELETE FROM stored_responses WHERE id = $1 AND tenant = $2", response_id, tenant
        )
        return bool(status == "DELETE 1")
