"""The replicated backend: PostgreSQL through an asyncpg connection pool, shared by every replica.

``postgresql://user:password@host:5432/db?schema=podium`` keeps every table in the schema ``podium``
(created by :meth:`PostgresStorage.migrate` if missing); without ``schema`` the server's search_path
decides. The remaining query parameters go to asyncpg as they are.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import msgspec

from podium.errors import ConfigError, ConfigProblem
from podium.storage import _sql
from podium.storage.base import (
    AlertStore,
    AuditStore,
    EvalStore,
    IdentityStore,
    KeyStore,
    KnowledgeStore,
    MetaStore,
    PromptStore,
    RequestLog,
    ResponseStore,
    StorageUnavailable,
    UsageStore,
    WorkflowStore,
)
from podium.storage.postgres_audit import PostgresAuditStore
from podium.storage.postgres_identity import PostgresIdentityStore
from podium.storage.postgres_knowledge import PostgresKnowledgeStore
from podium.storage.postgres_observability import PostgresAlertStore, PostgresEvalStore, PostgresUsageStore
from podium.storage.postgres_prompts import PostgresPromptStore
from podium.storage.postgres_responses import PostgresResponseStore
from podium.storage.postgres_workflows import PostgresWorkflowStore
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord

__all__ = ["PostgresStorage"]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_KEY_SELECT = f"SELECT {', '.join(_sql.KEY_COLUMNS)} FROM api_keys"
# Taken by every key write before it draws a rev, and held until commit, so that revs commit in the
# order they are drawn. Without it a replica could read rev 12 while rev 11 is still uncommitted,
# move its mark past 11 and never see that key (or its revocation). Readers do not take it.
_LOCK_KEYS = "LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"


def _split_url(url: str) -> tuple[str, str | None]:
    """The DSN for asyncpg without ``schema``, and the schema."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for name, value in params if name == "schema"), None)
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            [ConfigProblem("storage.url", f"schema {schema!r} must be letters, digits and '_' (at most 63)")]
        )
    query = urlencode([(name, value) for name, value in params if name != "schema"])
    return urlunsplit(parts._replace(query=query)), schema


def _where(url: str) -> str:
    """The server and database, for messages; never the password."""
    parts = urlsplit(url)
    return f"PostgreSQL at {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class PostgresStorage:
    """Keys, request log and meta values in PostgreSQL tables."""

    def __init__(self, pool: Any, schema: str | None) -> None:
        self._pool = pool
        self.schema = schema
        self.keys: KeyStore = PostgresKeyStore(pool)
        self.requests: RequestLog = PostgresRequestLog(pool)
        self.meta: MetaStore = PostgresMetaStore(pool)
        self.identity: IdentityStore = PostgresIdentityStore(pool)
        self.audit: AuditStore = PostgresAuditStore(pool)
        self.responses: ResponseStore = PostgresResponseStore(pool)
        self.prompts: PromptStore = PostgresPromptStore(pool)
        self.knowledge: KnowledgeStore = PostgresKnowledgeStore(pool)
        self.usage: UsageStore = PostgresUsageStore(pool)
        self.evals: EvalStore = PostgresEvalStore(pool)
        self.alerts: AlertStore = PostgresAlertStore(pool)
        self.workflows: WorkflowStore = PostgresWorkflowStore(pool)

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10, connect_timeout: float = 10.0) -> PostgresStorage:
        dsn, schema = _split_url(url)
        settings = {"search_path": f'"{schema}"'} if schema else {}
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,  # connect now, so an unreachable server is reported at start-up
                max_size=pool_size,
                timeout=connect_timeout,
                server_settings=settings,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise StorageUnavailable(f"cannot connect to {_where(url)}: {e}") from e
        return cls(pool, schema)

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await self._lock_migrations(conn)
                if self.schema:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {_sql.MIGRATIONS_TABLE} "
                    "(version integer PRIMARY KEY, applied_at double precision NOT NULL)"
                )
            for number, script in _sql.migrations("postgres"):
                async with conn.transaction():
                    await self._lock_migrations(conn)
                    done = await conn.fetchval(
                        f"SELECT 1 FROM {_sql.MIGRATIONS_TABLE} WHERE version = $1", number
                    )
                    if done:
                        continue
                    await conn.execute(script)
                    await conn.execute(
                        f"INSERT INTO {_sql.MIGRATIONS_TABLE} (version, applied_at) VALUES ($1, $2)",
                        number,
                        time.time(),
                    )
                applied.append(number)
        return applied

    async def _lock_migrations(self, conn: Any) -> None:
        # Another process migrating the same schema waits here until this transaction ends, then
        # finds the migration recorded. Per schema, so separate test schemas never wait on each other.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"podium.migrate.{self.schema or ''}"
        )

    async def schema_version(self) -> int:
        try:
            version = await self._pool.fetchval(
                f"SELECT coalesce(max(version), 0) FROM {_sql.MIGRATIONS_TABLE}"
            )
        except asyncpg.UndefinedTableError:  # never migrated
            return 0
        return int(version)

    async def close(self) -> None:
        await self._pool.close()


def _key_from_row(row: Sequence[Any]) -> KeyRecord:
    fields = dict(zip(_sql.KEY_COLUMNS, row, strict=True))
    fields["metadata"] = msgspec.json.decode(fields["metadata"])
    return msgspec.convert(fields, KeyRecord)


class PostgresKeyStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def create(self, key: KeyRecord) -> KeyRecord:
        row = msgspec.structs.asdict(key)
        row["metadata"] = msgspec.json.encode(key.metadata).decode()
        columns = [c for c in _sql.KEY_COLUMNS if c != "rev"]
        values = [f"${i}::jsonb" if c == "metadata" else f"${i}" for i, c in enumerate(columns, 1)]
        sql = (
            f"INSERT INTO api_keys ({', '.join(columns)}, rev) "
            f"VALUES ({', '.join(values)}, nextval('key_rev_seq')) RETURNING rev"
        )
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK_KEYS)
                rev = await conn.fetchval(sql, *(row[c] for c in columns))
        except asyncpg.UniqueViolationError as e:
            raise ValueError(f"key {key.id!r} refused: {e}") from e
        return msgspec.structs.replace(key, rev=int(rev))

    async def get(self, key_id: str) -> KeyRecord | None:
        row = await self._pool.fetchrow(f"{_KEY_SELECT} WHERE id = $1", key_id)
        return _key_from_row(row) if row is not None else None

    async def revoke(self, key_id: str, *, at: float) -> KeyRecord | None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_LOCK_KEYS)
            # Only an unrevoked key changes (and gets a new rev); a second revoke keeps the first time.
            row = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = $2, rev = nextval('key_rev_seq') "
                f"WHERE id = $1 AND revoked_at IS NULL RETURNING {', '.join(_sql.KEY_COLUMNS)}",
                key_id,
                at,
            )
            if row is None:
                row = await conn.fetchrow(f"{_KEY_SELECT} WHERE id = $1", key_id)
        return _key_from_row(row) if row is not None else None

    async def changes_since(self, rev: int) -> list[KeyRecord]:
        rows = await self._pool.fetch(f"{_KEY_SELECT} WHERE rev > $1 ORDER BY rev", rev)
        return [_key_from_row(r) for r in rows]

    # Last: below a method named ``list``, annotations would read ``list`` as the method.
    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._pool.fetch(f"{_KEY_SELECT}{where} ORDER BY created_at, id")
        return [_key_from_row(r) for r in rows]


class PostgresRequestLog:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def append_many(self, records: list[RequestRecord]) -> None:
        if not records:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.executemany(_sql.insert_requests_sql("$"), _sql.request_rows(records))
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"request records refused, none written: {e}") from e

    async def query(self, query: RequestQuery) -> RequestPage:
        sql, args = _sql.select_requests_sql(query, "$")
        rows = await self._pool.fetch(sql, *args)
        return _sql.request_page([_sql.request_from_row(r) for r in rows], query)


class PostgresMetaStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def get(self, name: str) -> str | None:
        value = await self._pool.fetchval("SELECT value FROM meta WHERE name = $1", name)
        return None if value is None else str(value)

    async def set_if_absent(self, name: str, value: str) -> bool:
        status = await self._pool.execute(
            "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value
        )
        return bool(status == "INSERT 0 1")  # the command tag: "INSERT <oid> <rows>"
