"""Tenants, teams and people in the SQLite file (see :mod:`podium.storage.sqlite` for the connections)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite
import msgspec

from podium.storage.identity_records import IdentityChanges, TeamRecord, TenantRecord, UserRecord

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["SQLiteIdentityStore"]

R = TypeVar("R", bound=msgspec.Struct)

TENANT_COLUMNS = tuple(f.name for f in msgspec.structs.fields(TenantRecord))
TEAM_COLUMNS = tuple(f.name for f in msgspec.structs.fields(TeamRecord))
USER_COLUMNS = tuple(f.name for f in msgspec.structs.fields(UserRecord))
_JSON = frozenset({"metadata", "roles"})


def _row(record: msgspec.Struct, columns: Sequence[str]) -> list[Any]:
    fields = msgspec.structs.asdict(record)
    return [msgspec.json.encode(fields[c]).decode() if c in _JSON else fields[c] for c in columns]


def _record(row: Sequence[Any], columns: Sequence[str], kind: type[R]) -> R:
    fields = dict(zip(columns, row, strict=True))
    for column in _JSON & fields.keys():
        fields[column] = msgspec.json.decode(fields[column])
    return msgspec.convert(fields, kind, strict=False)  # strict=False: SQLite's 0/1 → bool


async def _next_rev(conn: aiosqlite.Connection) -> int:
    # Inside BEGIN IMMEDIATE no other process can draw the same number.
    await conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'identity_rev'")
    rows = list(await conn.execute_fetchall("SELECT value FROM counters WHERE name = 'identity_rev'"))
    return int(rows[0][0])


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _update(table: str, columns: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = ?" for c in columns if c != "id")
    return f"UPDATE {table} SET {sets} WHERE id = ?"


class SQLiteIdentityStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def _create(self, table: str, columns: Sequence[str], record: R, *, with_rev: bool) -> R:
        try:
            async with self._db.transaction() as conn:
                if with_rev:
                    record = msgspec.structs.replace(record, rev=await _next_rev(conn))
                await conn.execute(_insert(table, columns), _row(record, columns))
        except sqlite3.IntegrityError as e:
            raise ValueError(f"{table[:-1]} refused: {e}") from e
        return record

    async def _replace(self, table: str, columns: Sequence[str], record: R) -> R | None:
        async with self._db.transaction() as conn:
            record = msgspec.structs.replace(record, rev=await _next_rev(conn))
            values = _row(record, columns)
            ident = values[columns.index("id")]
            values = [v for c, v in zip(columns, values, strict=True) if c != "id"]
            cursor = await conn.execute(_update(table, columns), [*values, ident])
            if cursor.rowcount != 1:
                # Nothing to update: undo the rev drawn above by failing the transaction.
                raise _NoSuchRow
        return record

    # --- tenants

    async def create_tenant(self, tenant: TenantRecord) -> TenantRecord:
        return await self._create("tenants", TENANT_COLUMNS, tenant, with_rev=True)

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        rows = await self._db.fetch(
            f"SELECT {', '.join(TENANT_COLUMNS)} FROM tenants WHERE id = ?", (tenant_id,)
        )
        return _record(rows[0], TENANT_COLUMNS, TenantRecord) if rows else None

    async def update_tenant(self, tenant: TenantRecord) -> TenantRecord | None:
        try:
            return await self._replace("tenants", TENANT_COLUMNS, tenant)
        except _NoSuchRow:
            return None

    async def list_tenants(self) -> list[TenantRecord]:
        rows = await self._db.fetch(f"SELECT {', '.join(TENANT_COLUMNS)} FROM tenants ORDER BY id")
        return [_record(r, TENANT_COLUMNS, TenantRecord) for r in rows]

    # --- teams

    async def create_team(self, team: TeamRecord) -> TeamRecord:
        return await self._create("teams", TEAM_COLUMNS, team, with_rev=False)

    async def delete_team(self, tenant: str, name: str) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM teams WHERE tenant = ? AND name = ?", (tenant, name))
            return cursor.rowcount == 1

    async def list_teams(self, tenant: str) -> list[TeamRecord]:
        rows = await self._db.fetch(
            f"SELECT {', '.join(TEAM_COLUMNS)} FROM teams WHERE tenant = ? ORDER BY name", (tenant,)
        )
        return [_record(r, TEAM_COLUMNS, TeamRecord) for r in rows]

    # --- users

    async def create_user(self, user: UserRecord) -> UserRecord:
        return await self._create("users", USER_COLUMNS, user, with_rev=True)

    async def get_user(self, user_id: str) -> UserRecord | None:
        rows = await self._db.fetch(f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE id = ?", (user_id,))
        return _record(rows[0], USER_COLUMNS, UserRecord) if rows else None

    async def find_user(self, tenant: str, username: str) -> UserRecord | None:
        rows = await self._db.fetch(
            f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE tenant = ? AND username = ?",
            (tenant, username),
        )
        return _record(rows[0], USER_COLUMNS, UserRecord) if rows else None

    async def update_user(self, user: UserRecord) -> UserRecord | None:
        try:
            return await self._replace("users", USER_COLUMNS, user)
        except _NoSuchRow:
            return None
        except sqlite3.IntegrityError as e:
            raise ValueError(f"user refused: {e}") from e

    async def list_users(self, tenant: str) -> list[UserRecord]:
        rows = await self._db.fetch(
            f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE tenant = ? ORDER BY username", (tenant,)
        )
        return [_record(r, USER_COLUMNS, UserRecord) for r in rows]

    async def changes_since(self, rev: int) -> IdentityChanges:
        # One statement, so tenants and users come from one snapshot: two queries could see a later
        # user but miss an earlier tenant committed in between, and the mirror would skip it for good.
        rows = await self._db.fetch(_CHANGES_SQL, (rev, rev))
        tenants: list[TenantRecord] = []
        users: list[UserRecord] = []
        for kind, data, _ in rows:
            if kind == "t":
                tenants.append(msgspec.json.decode(data, type=TenantRecord, strict=False))
            else:
                users.append(msgspec.json.decode(data, type=UserRecord, strict=False))
        return IdentityChanges(tenants=tuple(tenants), users=tuple(users))


def _json_object(columns: Sequence[str]) -> str:
    parts = [f"'{c}', json({c})" if c in _JSON else f"'{c}', {c}" for c in columns]
    return f"json_object({', '.join(parts)})"


_CHANGES_SQL = (
    f"SELECT 't', {_json_object(TENANT_COLUMNS)}, rev FROM tenants WHERE rev > ? "
    f"UNION ALL SELECT 'u', {_json_object(USER_COLUMNS)}, rev FROM users WHERE rev > ? ORDER BY 3"
)


class _NoSuchRow(Exception):
    """Raised inside a transaction to roll it back when an update found nothing to update."""
