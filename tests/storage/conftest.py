"""Fixtures that hand every conformance test a real database of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from podium.storage import Storage, open_storage
from tests.pg import fresh_schema

OpenStorage = Callable[[], Awaitable[Storage]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each backend: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'podium.db'}"
    else:
        async with fresh_schema() as url:
            yield url


@pytest.fixture
async def open_instance(database_url: str) -> AsyncIterator[OpenStorage]:
    """Opens Storage instances on the test's database, each like a separate replica; closes them all."""
    opened: list[Storage] = []

    async def open_() -> Storage:
        storage = await open_storage(database_url, pool_size=4)
        opened.append(storage)
        return storage

    yield open_
    for storage in opened:
        await storage.close()


@pytest.fixture
async def storage(open_instance: OpenStorage) -> Storage:
    """A migrated Storage on the test's database."""
    storage = await open_instance()
    await storage.migrate()
    return storage
