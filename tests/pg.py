"""A PostgreSQL database for tests, isolated by a fresh schema.

The server is ``PODIUM_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When nothing answers there, a test that needs it is skipped with the reason, except under
``CI=true``, where it fails: CI must never pass by skipping the PostgreSQL half of a suite.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Why each URL could not be reached ("" when it could): the connect timeout is paid once per run, not per test.
_problems: dict[str, str] = {}


def server_url() -> str:
    return os.environ.get("PODIUM_TEST_POSTGRES_URL", DEFAULT_URL)


async def require_server() -> str:
    """The server's URL once it answers; otherwise skip the test (fail it under ``CI=true``)."""
    url = server_url()
    if url not in _problems:
        try:
            conn = await asyncpg.connect(url, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as e:
            _problems[url] = f"PostgreSQL not reachable at {url}: {e}"
        else:
            await conn.close()
            _problems[url] = ""
    reason = _problems[url]
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return url


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A storage URL whose tables go to a schema of its own, dropped (with everything in it) afterwards.

    The schema itself is not created here: ``Storage.migrate()`` creates it, as in production.
    """
    url = await require_server()
    name = f"test_{secrets.token_hex(6)}"
    try:
        yield f"{url}{'&' if '?' in url else '?'}schema={name}"
    finally:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()
