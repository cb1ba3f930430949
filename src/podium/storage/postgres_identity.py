"""Tenants, teams and people in PostgreSQL (see :mod:`podium.storage.postgres` for the pool)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg
import msgspec

from podium.storage.identity_records import IdentityChanges, TeamRecord, TenantRecord, UserRecord

__all__ = ["PostgresIdentityStore"]

R = TypeVar("R", bound=msgspec.Struct)

TENANT_COLUMNS = tuple(f.name for f in msgspec.structs.fields(TenantRecord))
TEAM_COLUMNS = tuple(f.name for f in msgspec.structs.fields(TeamRecord))
USER_COLUMNS = tuple(f.name for f in msgspec.structs.fields(UserRecord))
# Taken by every tenant or user write before it draws a rev, held until commit, so revs commit in the
# order they are drawn (a replica that saw rev N has seen every rev below it). Readers do not take it.
_LOCK = "LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"


def _values(record: msgspec.Struct, columns: Sequence[str]) -> list[Any]:
    fields = msgspec.structs.asdict(record)
    return [msgspec.json.encode(fields[c]).decode() if c == "metadata" else fields[c] for c in columns]


def _marks(columns: Sequence[str], start: int = 1) -> list[str]:
    return [f"${i}::jsonb" if c == "metadata" else f"${i}" for i, c in enumerate(columns, start)]


def _record(row: Any, columns: Sequence[str], kind: type[R]) -> R:
    fields = dict(zip(columns, row, strict=True))
    if "metadata" in fields:
        fields["metadata"] = msgspec.json.decode(fields["metadata"])
    return msgspec.convert(fields, kind)


class PostgresIdentityStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def _insert(self, table: str, columns: Sequence[str], record: R, *, with_rev: bool) -> R:
        cols = [c for c in columns if c != "rev"] if with_rev else list(columns)
        marks = _marks(cols)
        rev_col = ", rev" if with_rev else ""
        rev_val = ", nextval('identity_rev_seq')" if with_rev else ""
        sql = f"INSERT INTO {table} ({', '.join(cols)}{rev_col}) VALUES ({', '.join(marks)}{rev_val})"
        if with_rev:
            sql += " RETURNING rev"
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if with_rev:
                    await conn.execute(_LOCK)
                    rev = await conn.fetchval(sql, *_values(record, cols))
                    return msgspec.structs.replace(record, rev=int(rev))
                await conn.execute(sql, *_values(record, cols))
                return record
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"{table[:-1]} refused: {e}") from e

    async def _replace(self, table: str, columns: Sequence[str], record: R) -> R | None:
        cols = [c for c in columns if c not in ("id", "rev")]
        sets = ", ".join(f"{c} = {m}" for c, m in zip(cols, _marks(cols, 2), strict=True))
        sql = f"UPDATE {table} SET {sets}, rev = nextval('identity_rev_seq') WHERE id = $1 RETURNING rev"
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK)
                rev = await conn.fetchval(sql, msgspec.structs.asdict(record)["id"], *_values(record, cols))
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"{table[:-1]} refused: {e}") from e
        return None if rev is None else msgspec.structs.replace(record, rev=int(rev))

    # --- tenants

    async def create_tenant(self, tenant: TenantRecord) -> TenantRecord:
        return await self._insert("tenants", TENANT_COLUMNS, tenant, with_rev=True)

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {', '.join(TENANT_COLUMNS)} FROM tenants WHERE id = $1", tenant_id
        )
        return None if row is None else _record(row, TENANT_COLUMNS, TenantRecord)

    async def update_tenant(self, tenant: TenantRecord) -> TenantRecord | None:
        return await self._replace("tenants", TENANT_COLUMNS, tenant)

    async def list_tenants(self) -> list[TenantRecord]:
        rows = await self._pool.fetch(f"SELECT {', '.join(TENANT_COLUMNS)} FROM tenants ORDER BY id")
        return [_record(r, TENANT_COLUMNS, TenantRecord) for r in rows]

    # --- teams

    async def create_team(self, team: TeamRecord) -> TeamRecord:
        return await self._insert("teams", TEAM_COLUMNS, team, with_rev=False)

    async def delete_team(self, tenant: str, name: str) -> bool:
        status = await self._pool.execute("DELETE FROM teams WHERE tenant = $1 AND name = $2", tenant, name)
        return bool(status == "DELETE 1")

    async def list_teams(self, tenant: str) -> list[TeamRecord]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(TEAM_COLUMNS)} FROM teams WHERE tenant = $1 ORDER BY name", tenant
        )
        return [_record(r, TEAM_COLUMNS, TeamRecord) for r in rows]

    # --- users

    async def create_user(self, user: UserRecord) -> UserRecord:
        return await self._insert("users", USER_COLUMNS, user, with_rev=True)

    async def get_user(self, user_id: str) -> UserRecord | None:
        row = await self._pool.fetchrow(f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE id = $1", user_id)
        return None if row is None else _record(row, USER_COLUMNS, UserRecord)

    async def find_user(self, tenant: str, username: str) -> UserRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE tenant = $1 AND username = $2",
            tenant,
            username,
        )
        return None if row is None else _record(row, USER_COLUMNS, UserRecord)

    async def update_user(self, user: UserRecord) -> UserRecord | None:
        return await self._replace("users", USER_COLUMNS, user)

    async def list_users(self, tenant: str) -> list[UserRecord]:
        rows = await self._pool.fetch(
            f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE tenant = $1 ORDER BY username", tenant
        )
        return [_record(r, USER_COLUMNS, UserRecord) for r in rows]

    async def changes_since(self, rev: int) -> IdentityChanges:
        # Both reads in one snapshot: otherwise a tenant committed between them could be skipped for good.
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            tenants = await conn.fetch(
                f"SELECT {', '.join(TENANT_COLUMNS)} FROM tenants WHERE rev > $1 ORDER BY rev", rev
            )
            users = await conn.fetch(
                f"SELECT {', '.join(USER_COLUMNS)} FROM users WHERE rev > $1 ORDER BY rev", rev
            )
        return IdentityChanges(
            tenants=tuple(_record(r, TENANT_COLUMNS, TenantRecord) for r in tenants),
            users=tuple(_record(r, USER_COLUMNS, UserRecord) for r in users),
        )
