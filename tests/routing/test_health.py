"""The health board, in process and shared through Redis: one suite for both, on a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from podium.config.routing import Breaker
from podium.routing.health import LocalHealth
from podium.routing.redis_health import RedisHealth
from tests.redis_server import fresh_prefix

FAST = Breaker(consecutive_failures=3, error_rate=0.5, min_requests=6, window_seconds=10, open_seconds=0.3)


def fail(board: LocalHealth, dep: str = "d", *, probe: bool = False) -> None:
    board.begin(dep)
    board.report(dep, ok=False, probe=probe, latency_ms=5.0, ttft_ms=None, tokens=0)


def succeed(board: LocalHealth, dep: str = "d", *, probe: bool = False, latency: float = 10.0) -> None:
    board.begin(dep)
    board.report(dep, ok=True, probe=probe, latency_ms=latency, ttft_ms=latency / 2, tokens=7)


@pytest.fixture(params=["memory", "redis"])
async def board(request: pytest.FixtureRequest) -> AsyncIterator[LocalHealth]:
    if request.param == "memory":
        yield LocalHealth(FAST)
        return
    async with fresh_prefix() as (url, prefix):
        b = RedisHealth(FAST, url=url, prefix=prefix, interval=0.05)
        await b.start()
        try:
            yield b
        finally:
            await b.close()


async def test_consecutive_failures_open_the_circuit(board: LocalHealth) -> None:
    """Three failures in a row open the circuit; a call is then refused with the time left."""
    for _ in range(2):
        fail(board)
    assert board.get("d").admit(time.time()).ok
    fail(board)
    admit = board.get("d").admit(time.time())
    assert not admit.ok and admit.reason == "circuit open" and 0 < admit.retry_in <= 0.3


async def test_error_rate_opens_the_circuit(board: LocalHealth) -> None:
    """Failures alternating with successes open the circuit once the window's error rate is reached."""
    for _ in range(3):
        succeed(board)
        fail(board)
    assert board.get("d").state(time.time()) == "open"


async def test_half_open_probe_closes_or_reopens(board: LocalHealth) -> None:
    """After the open period one probe goes through; its failure reopens, its success closes the circuit."""
    for _ in range(3):
        fail(board)
    await asyncio.sleep(0.35)
    first = board.get("d").admit(time.time())
    assert first.ok and first.probe
    assert not board.get("d").admit(time.time()).ok  # one probe at a time
    fail(board, probe=True)
    assert board.get("d").state(time.time()) == "open"
    await asyncio.sleep(0.35)
    probe = board.get("d").admit(time.time())
    assert probe.ok and probe.probe
    succeed(board, probe=True)
    assert board.get("d").state(time.time()) == "closed"
    assert board.get("d").admit(time.time()).ok


async def test_statistics(board: LocalHealth) -> None:
    """Latency moving averages, calls in flight and this minute's requests and tokens are kept."""
    succeed(board, latency=100.0)
    succeed(board, latency=200.0)
    board.begin("d")
    snap = board.get("d").snapshot(time.time())
    assert snap.latency_ms is not None and 100.0 < snap.latency_ms < 200.0
    assert snap.in_flight == 1 and snap.minute_requests == 3 and snap.minute_tokens == 14


async def test_a_circuit_opened_by_one_replica_is_honoured_by_another() -> None:
    """Two boards sharing Redis: failures seen by one open the circuit for both after one exchange."""
    async with fresh_prefix() as (url, prefix):
        a = RedisHealth(FAST, url=url, prefix=prefix, interval=0.05)
        b = RedisHealth(FAST, url=url, prefix=prefix, interval=0.05)
        await a.start()
        await b.start()
        try:
            b.get("d")  # b routes to "d" too
            for _ in range(3):
                fail(a)
            deadline = time.monotonic() + 3
            while b.get("d").admit(time.time()).ok and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert b.get("d").state(time.time()) == "open"
            # Failures split between replicas add up: two on a and one on b open "e".
            fail(a, "e")
            fail(a, "e")
            await a.sync()
            b.get("e")
            await b.sync()
            fail(b, "e")
            assert b.get("e").state(time.time()) == "open"
            # In-flight calls of the other replica count for least-busy balancing.
            a.begin("f")
            a.begin("f")
            await a.sync()
            b.get("f")
            await b.sync()
            assert b.get("f").snapshot(time.time()).in_flight == 2
        finally:
            await a.close()
            await b.close()


async def test_redis_down_follows_the_policy() -> None:
    """Unreachable Redis: the board says so in its status; fail-open keeps routing, fail-closed refuses."""
    opened = RedisHealth(FAST, url="redis://127.0.0.1:1/0", interval=0.05)
    closed = RedisHealth(FAST, url="redis://127.0.0.1:1/0", interval=0.05, fail_closed=True)
    await opened.start()
    await closed.start()
    try:
        assert opened.status()["ok"] is False and opened.usable()
        assert closed.status()["policy"] == "closed" and not closed.usable()
        for _ in range(3):
            fail(opened)
        assert opened.get("d").state(time.time()) == "open"  # local breakers still work
    finally:
        await opened.close()
        await closed.close()
