"""Opening storage: URLs, errors, and what each backend promises beyond the shared contract."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import asyncpg
import pytest

import podium.storage
from podium.errors import ConfigError
from podium.storage import StorageUnavailable, open_storage
from podium.storage._sql import migrations
from tests.pg import fresh_schema


def test_public_names_resolve() -> None:
    """Every name in podium.storage.__all__ exists, and the list is sorted."""
    assert podium.storage.__all__ == sorted(podium.storage.__all__)
    for name in podium.storage.__all__:
        assert getattr(podium.storage, name) is not None


def test_migrations_are_numbered_alike() -> None:
    """Both dialects have migrations 1..N with the same numbers, so one schema_version means one schema."""
    sqlite_numbers = [n for n, _ in migrations("sqlite")]
    assert sqlite_numbers == list(range(1, len(sqlite_numbers) + 1))
    assert [n for n, _ in migrations("postgres")] == sqlite_numbers


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user:s3cret@db/podium",
        "podium.db",
        "sqlite://host/podium.db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///podium.db?mode=ro",
        "postgresql://postgres@127.0.0.1/test?schema=a;drop",
    ],
)
async def test_bad_url_is_a_config_error_on_storage_url(url: str) -> None:
    """A URL no backend can use is a ConfigError naming storage.url, and never echoes a password."""
    with pytest.raises(ConfigError) as caught:
        await open_storage(url)
    assert [p.path for p in caught.value.problems] == ["storage.url"]
    assert "s3cret" not in str(caught.value)


async def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    """A SQLite path that cannot be created raises StorageUnavailable naming the file."""
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(StorageUnavailable, match="a-file"):
        await open_storage(f"sqlite:///{tmp_path / 'a-file' / 'podium.db'}")


async def test_unreachable_postgres_is_unavailable_without_password() -> None:
    """A PostgreSQL server that does not answer raises StorageUnavailable naming host and port, not the password."""
    with pytest.raises(StorageUnavailable) as caught:
        await open_storage("postgresql://podium:s3cret@127.0.0.1:1/podium")
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_sqlite_relative_url_creates_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///relative/path.db is relative to the working directory, whose missing folders are created."""
    monkeypatch.chdir(tmp_path)
    storage = await open_storage("sqlite:///state/podium.db")
    try:
        await storage.migrate()
    finally:
        await storage.close()
    assert (tmp_path / "state" / "podium.db").is_file()


async def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    """The SQLite file is switched to WAL, so readers in other processes never block the writer."""
    path = tmp_path / "podium.db"
    storage = await open_storage(f"sqlite:///{path}")
    await storage.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


WRITER = """
import asyncio, sys
from podium.storage import KeyRecord, RequestRecord, open_storage

async def main(url, worker):
    storage = await open_storage(url)
    await storage.migrate()
    for n in range(25):
        key = KeyRecord(id=f"key_{worker}_{n}", name="k", hash=f"{worker}-{n}", prefix="pk", created_at=n)
        await storage.keys.create(key)
        await storage.keys.revoke(key.id, at=n + 0.5)
        await storage.requests.append_many(
            [RequestRecord(id=f"req_{worker}_{n}", created_at=n, key_id=key.id, requested_model="m",
                           status=200, latency_ms=1.0)]
        )
    await storage.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.slow
async def test_sqlite_file_is_shared_by_processes(tmp_path: Path) -> None:
    """Three processes writing one SQLite file at once (a server, replicas, the CLI) lose and repeat nothing."""
    url = f"sqlite:///{tmp_path / 'podium.db'}"
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, url, str(w), stderr=asyncio.subprocess.PIPE
        )
        for w in range(3)
    ]
    errors = [(await w.communicate())[1].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    storage = await open_storage(url)
    try:
        changes = await storage.keys.changes_since(0)
        assert len(changes) == 75
        assert all(k.revoked_at is not None for k in changes)
        revs = [k.rev for k in changes]
        assert revs == sorted(set(revs))
        assert max(revs) == 150  # every create and every revoke drew its own rev, none lost
        page = await storage.requests.query(podium.storage.RequestQuery(limit=1000))
        assert len(page.items) == 75
    finally:
        await storage.close()


@pytest.mark.postgres
async def test_postgres_tables_live_in_the_url_schema() -> None:
    """With ?schema=NAME, migrate creates that schema and puts every table in it."""
    async with fresh_schema() as url:
        schema = url.rsplit("schema=", 1)[1]
        storage = await open_storage(url)
        try:
            await storage.migrate()
        finally:
            await storage.close()
        conn = await asyncpg.connect(url.split("?")[0])
        try:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        finally:
            await conn.close()
        # A subset: every feature's migration adds tables of its own to the same schema.
        assert {
            "api_keys",
            "meta",
            "request_log",
            "schema_migrations",
            "tenants",
            "users",
            "audit_log",
        } <= {t["table_name"] for t in tables}
