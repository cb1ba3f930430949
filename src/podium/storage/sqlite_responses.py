"""Stored Responses-API answers in the SQLite file (see :class:`podium.storage.base.ResponseStore`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from podium.storage.response_records import StoredResponse

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["RESPONSE_COLUMNS", "SQLiteResponseStore", "response_from_row", "response_row"]

RESPONSE_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(StoredResponse))
_SELECT = f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM stored_responses WHERE id = ?1 AND tenant = ?2"
# ON CONFLICT (id), not INSERT OR IGNORE, which would also drop a row that breaks NOT NULL silently.
_INSERT = (
    f"INSERT INTO stored_responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join(f'?{i}' for i in range(1, len(RESPONSE_COLUMNS) + 1))}) ON CONFLICT (id) DO NOTHING"
)


def response_row(r: StoredResponse) -> tuple[Any, ...]:
    return msgspec.structs.astuple(r)


def response_from_row(row: Sequence[Any]) -> StoredResponse:
    fields = {
        c: bytes(v) if isinstance(v, memoryview) else v for c, v in zip(RESPONSE_COLUMNS, row, strict=True)
    }
    return msgspec.convert(fields, StoredResponse)


class SQLiteResponseStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def put_many(self, responses: list[StoredResponse]) -> None:
        if not responses:
            return
        try:
            async with self._db.transaction() as conn:
                await conn.executemany(_INSERT, [response_row(r) for r in responses])
        except sqlite3.IntegrityError as e:
            raise ValueError(f"stored responses refused, none written: {e}") from e

    async def get(self, response_id: str, *, tenant: str) -> StoredResponse | None:
        rows = await self._db.fetch(_SELECT, (response_id, tenant))
        return response_from_row(rows[0]) if rows else None

    async def delete(self, response_id: str, *, tenant: str) -> bool:
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "DELETE FROM stored_responses WHERE id = ?1 AND tenant = ?2", (response_id, tenant)
            ) as cur,
        ):
            return cur.rowcount == 1
