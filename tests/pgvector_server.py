"""A PostgreSQL 16 server with pgvector for tests, from the ``pgserver`` package, in a temporary directory.

This machine's PostgreSQL has no pgvector, so the tests of Podium's HNSW path start their own server
(one per test session, about two seconds) and give each test a fresh schema on it, like tests/pg.py.
``pgserver`` is a dev dependency: without it these tests fail rather than skip.
"""

from __future__ import annotations

import atexit
import secrets
import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

_server: Any = None
_directory: tempfile.TemporaryDirectory[str] | None = None


def server_url() -> str:
    """The session's pgvector server (started on first use, stopped at exit)."""
    global _server, _directory
    if _server is None:
        _directory = tempfile.TemporaryDirectory(prefix="podium-pgvector-")
        with warnings.catch_warnings():
            # platformdirs warns (on import) that XDG_RUNTIME_DIR is unset on CI machines; nothing here needs it.
            warnings.simplefilter("ignore")
            import pgserver

            _server = pgserver.get_server(_directory.name, cleanup_mode="stop")
        atexit.register(stop)
    uri: str = _server.get_uri()
    return uri


def stop() -> None:
    global _server, _directory
    if _server is not None:
        _server.cleanup()
        _server = None
    if _directory is not None:
        _directory.cleanup()
        _directory = None


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A storage URL on the pgvector server whose tables go to a schema of their own, dropped afterwards."""
    url = server_url()
    name = f"test_{secrets.token_hex(6)}"
    try:
        yield f"{url}&schema={name}"
    finally:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()
