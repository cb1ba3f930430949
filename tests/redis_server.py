"""A Redis server for tests, isolated by a key prefix of each test's own.

The server is ``PODIUM_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). When nothing answers
there, a test that needs it is skipped with the reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_problems: dict[str, str] = {}


def server_url() -> str:
    return os.environ.get("PODIUM_TEST_REDIS_URL", DEFAULT_URL)


async def require_redis() -> str:
    """The server's URL once it answers; otherwise skip the test (fail it under ``CI=true``)."""
    url = server_url()
    if url not in _problems:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            await client.ping()
        except Exception as e:
            _problems[url] = f"Redis not reachable at {url}: {e}"
        else:
            _problems[url] = ""
        finally:
            await client.aclose()
    reason = _problems[url]
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return url


async def delete_prefix(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def fresh_prefix() -> AsyncIterator[tuple[str, str]]:
    """``(url, prefix)``: a key prefix no other test uses; every key under it is deleted afterwards."""
    url = await require_redis()
    prefix = f"podium-test-{secrets.token_hex(6)}:"
    try:
        yield url, prefix
    finally:
        await delete_prefix(url, prefix)
