"""The embedded backend: one SQLite file in WAL mode that several processes can share.

Writes go through one connection, one transaction at a time. ``BEGIN IMMEDIATE`` takes the file's
write lock before anything is read, so a second process (another replica, or the CLI next to a
running server) waits up to ``busy_timeout`` for its turn instead of failing half-way through.
Reads use a second connection, which WAL lets proceed while a write is in progress. aiosqlite runs
each connection on its own thread, so the event loop never waits on the disk. Needs SQLite >= 3.24.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
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
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord
from podium.storage.sqlite_audit import SQLiteAuditStore
from podium.storage.sqlite_identity import SQLiteIdentityStore
from podium.storage.sqlite_knowledge import SQLiteKnowledgeStore
from podium.storage.sqlite_observability import SQLiteAlertStore, SQLiteEvalStore, SQLiteUsageStore
from podium.storage.sqlite_prompts import SQLitePromptStore
from podium.storage.sqlite_responses import SQLiteResponseStore
from podium.storage.sqlite_workflows import SQLiteWorkflowStore

__all__ = ["SQLiteStorage", "path_from_url"]

BUSY_TIMEOUT_MS = 10_000
_JSON_COLUMNS = frozenset({"scopes", "models", "metadata", "roles", "allowed_regions"})
_KEY_SELECT = f"SELECT {', '.join(_sql.KEY_COLUMNS)} FROM api_keys"


def path_from_url(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` → the file's path."""
    rest = url.removeprefix("sqlite://")
    if not rest.startswith("/") or len(rest) < 2 or "?" in rest:
        raise ConfigError(
            [
                ConfigProblem(
                    "storage.url",
                    f"{url!r} is not a SQLite URL: use sqlite:///relative/path.db or sqlite:////absolute/path.db",
                )
            ]
        )
    path = rest[1:]
    if path == ":memory:":
        # The reader and writer are two connections; an in-memory database would be two databases.
        raise ConfigError(
            [ConfigProblem("storage.url", "SQLite needs a file; use a path in a temporary directory")]
        )
    return Path(path)


class _Database:
    """The two connections, and the lock that keeps the writer to one transaction at a time."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self.lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.lock:
            try:
                await self.writer.execute("BEGIN IMMEDIATE")
                yield self.writer
                await self.writer.execute("COMMIT")
            except BaseException:
                # Also on cancellation: the connection's thread runs this ROLLBACK after whatever
                # statement was in flight, so the next transaction never starts inside this one.
                with contextlib.suppress(sqlite3.Error):
                    await self.writer.execute("ROLLBACK")
                raise

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(await self.reader.execute_fetchall(sql, args))


async def _connect(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: no implicit transactions; _Database.transaction says BEGIN itself.
    # Statements that return rows go through execute_fetchall: a cursor left unfinished keeps its
    # statement active (aiosqlite's thread holds the last result), which can hold a lock.
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute_fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # NORMAL is durable against process crashes in WAL mode; only power loss can drop the last commits.
        await conn.execute_fetchall("PRAGMA synchronous = NORMAL")
    except BaseException:
        await conn.close()
        raise
    return conn


class SQLiteStorage:
    """Keys, request log and meta values in one SQLite file."""

    def __init__(self, db: _Database, path: Path) -> None:
        self._db = db
        self.path = path
        self.keys: KeyStore = SQLiteKeyStore(db)
        self.requests: RequestLog = SQLiteRequestLog(db)
        self.meta: MetaStore = SQLiteMetaStore(db)
        self.identity: IdentityStore = SQLiteIdentityStore(db)
        self.audit: AuditStore = SQLiteAuditStore(db)
        self.responses: ResponseStore = SQLiteResponseStore(db)
        self.prompts: PromptStore = SQLitePromptStore(db)
        self.knowledge: KnowledgeStore = SQLiteKnowledgeStore(db)
        self.usage: UsageStore = SQLiteUsageStore(db)
        self.evals: EvalStore = SQLiteEvalStore(db)
        self.alerts: AlertStore = SQLiteAlertStore(db)
        self.workflows: WorkflowStore = SQLiteWorkflowStore(db)
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> SQLiteStorage:
        path = path_from_url(url)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            writer = await _connect(path)
        except (OSError, sqlite3.Error) as e:
            raise StorageUnavailable(f"cannot open SQLite file {str(path)!r}: {e}") from e
        try:
            # WAL is a property of the file, so the writer sets it once for every process.
            await writer.execute_fetchall("PRAGMA journal_mode = WAL")
            reader = await _connect(path)
        except BaseException as e:
            await writer.close()
            if isinstance(e, sqlite3.Error):
                raise StorageUnavailable(f"cannot open SQLite file {str(path)!r}: {e}") from e
            raise
        return cls(_Database(writer, reader), path)

    async def migrate(self) -> list[int]:
        async with self._db.transaction() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_sql.MIGRATIONS_TABLE} "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
        applied: list[int] = []
        for number, script in _sql.migrations("sqlite"):
            # The check runs under the write lock, so a second process migrating at the same time
            # waits, then sees the number recorded and skips it.
            async with self._db.transaction() as conn:
                done = await conn.execute_fetchall(
                    f"SELECT 1 FROM {_sql.MIGRATIONS_TABLE} WHERE version = ?", (number,)
                )
                if list(done):
                    continue
                for statement in _statements(script):
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {_sql.MIGRATIONS_TABLE} (version, applied_at) VALUES (?, ?)",
                    (number, time.time()),
                )
            applied.append(number)
        return applied

    async def schema_version(self) -> int:
        try:
            rows = await self._db.fetch(f"SELECT coalesce(max(version), 0) FROM {_sql.MIGRATIONS_TABLE}")
        except sqlite3.OperationalError:  # no such table: never migrated
            return 0
        return int(rows[0][0])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._db.lock:  # let a write in progress finish
            await self._db.writer.close()
            await self._db.reader.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements; executescript would COMMIT the migration's transaction."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = "".join(line for line in pending.splitlines() if not line.strip().startswith("--")).strip()
    if leftover:  # a statement without its ';' would otherwise vanish silently
        raise ValueError(f"unterminated SQL statement in a migration: {leftover[:80]!r}")
    return statements


def _key_row(key: KeyRecord, rev: int) -> list[Any]:
    row = msgspec.structs.asdict(key)
    row["rev"] = rev
    for column in _JSON_COLUMNS:
        row[column] = msgspec.json.encode(row[column]).decode()
    return [row[c] for c in _sql.KEY_COLUMNS]


def _key_from_row(row: Sequence[Any]) -> KeyRecord:
    fields = dict(zip(_sql.KEY_COLUMNS, row, strict=True))
    for column in _JSON_COLUMNS:
        fields[column] = msgspec.json.decode(fields[column])
    return msgspec.convert(fields, KeyRecord)


async def _next_rev(conn: aiosqlite.Connection) -> int:
    # Inside BEGIN IMMEDIATE no other process can take the same number. (RETURNING needs 3.35.)
    await conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'key_rev'")
    rows = list(await conn.execute_fetchall("SELECT value FROM counters WHERE name = 'key_rev'"))
    return int(rows[0][0])


class SQLiteKeyStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def create(self, key: KeyRecord) -> KeyRecord:
        values = ", ".join(_sql.placeholders("?", len(_sql.KEY_COLUMNS)))
        try:
            async with self._db.transaction() as conn:
                rev = await _next_rev(conn)
                await conn.execute(
                    f"INSERT INTO api_keys ({', '.join(_sql.KEY_COLUMNS)}) VALUES ({values})",
                    _key_row(key, rev),
                )
        except sqlite3.IntegrityError as e:
            raise ValueError(f"key {key.id!r} refused: {e}") from e
        return msgspec.structs.replace(key, rev=rev)

    async def get(self, key_id: str) -> KeyRecord | None:
        rows = await self._db.fetch(f"{_KEY_SELECT} WHERE id = ?", (key_id,))
        return _key_from_row(rows[0]) if rows else None

    async def revoke(self, key_id: str, *, at: float) -> KeyRecord | None:
        async with self._db.transaction() as conn:
            rows = list(await conn.execute_fetchall(f"{_KEY_SELECT} WHERE id = ?", (key_id,)))
            if not rows:
                return None
            key = _key_from_row(rows[0])
            if key.revoked_at is not None:  # already revoked: nothing changes, so no new rev
                return key
            rev = await _next_rev(conn)
            await conn.execute("UPDATE api_keys SET revoked_at = ?, rev = ? WHERE id = ?", (at, rev, key_id))
        return msgspec.structs.replace(key, revoked_at=at, rev=rev)

    async def changes_since(self, rev: int) -> list[KeyRecord]:
        rows = await self._db.fetch(f"{_KEY_SELECT} WHERE rev > ? ORDER BY rev", (rev,))
        return [_key_from_row(r) for r in rows]

    # Last: below a method named ``list``, annotations would read ``list`` as the method.
    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._db.fetch(f"{_KEY_SELECT}{where} ORDER BY created_at, id")
        return [_key_from_row(r) for r in rows]


class SQLiteRequestLog:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def append_many(self, records: list[RequestRecord]) -> None:
        if not records:
            return
        try:
            async with self._db.transaction() as conn:
                await conn.executemany(_sql.insert_requests_sql("?"), _sql.request_rows(records))
        except sqlite3.IntegrityError as e:
            raise ValueError(f"request records refused, none written: {e}") from e

    async def query(self, query: RequestQuery) -> RequestPage:
        sql, args = _sql.select_requests_sql(query, "?")
        rows = await self._db.fetch(sql, args)
        return _sql.request_page([_sql.request_from_row(r) for r in rows], query)


class SQLiteMetaStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def get(self, name: str) -> str | None:
        rows = await self._db.fetch("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def set_if_absent(self, name: str, value: str) -> bool:
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, value)
            ) as cursor,
        ):
            return cursor.rowcount == 1
