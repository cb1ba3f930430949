"""Shared state in Redis (or Valkey), for many replicas: a limit holds across all of them.

An admission is one ``EVALSHA`` of :data:`podium.state.scripts.ADMIT` (one round trip); ops
submitted after calls are written by a background task in one pipelined round trip per batch.

When Redis stops answering, the first failure marks it down and is logged once; from then on calls
fail at once with :class:`StateUnavailable` (no request waits on a dead socket) while a probe pings
Redis every half second, and its return is logged once too. Keys start with ``state.key_prefix``.
Standalone Redis, Sentinel-managed Redis and Valkey work; a Redis Cluster would need every Podium key
in one hash slot, which is not done here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from podium.state.base import (
    Adjust,
    Admission,
    Append,
    Counter,
    Op,
    Put,
    Release,
    Renew,
    StateUnavailable,
)
from podium.state.scripts import ADMIT

__all__ = ["RedisState", "describe_url"]

log = logging.getLogger("podium.state")

PROBE_INTERVAL_SECONDS = 0.5
_KIND = {"window": "w", "period": "p", "lease": "l"}
_MAX_BATCH = 2000
MAX_CONNECTIONS = 64


def describe_url(url: str) -> str:
    """``Redis at host:port/db``, never with the password."""
    parts = urlsplit(url)
    return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


class RedisState:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "podium:",
        timeout: float = 0.25,
        on_unavailable: str = "open",
    ) -> None:
        self._prefix = prefix
        self._where = describe_url(url)
        self._policy = on_unavailable
        # No retries inside the client: an outage must fail fast and be handled by the policy.
        # A bounded pool that makes a burst wait for a free connection (briefly) instead of failing.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=max(1.0, timeout * 4),
            socket_timeout=timeout,
            socket_connect_timeout=max(1.0, timeout * 4),  # a new connection under load takes longer
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = Redis(connection_pool=pool, decode_responses=False)
        self._admit = self._redis.register_script(ADMIT)
        self._available = True
        self._down_since = 0.0
        self._pending: list[Op] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.round_trips = 0  # calls a request waited on (admit, get), for the benchmark
        self.writes = 0  # pipelined write-behind batches, off the request path
        self.dropped = 0

    @property
    def available(self) -> bool:
        return self._available

    @property
    def description(self) -> str:
        return self._where

    # ------------------------------------------------------------------ health

    def _down(self, exc: BaseException) -> StateUnavailable:
        if self._available:
            self._available = False
            self._down_since = time.monotonic()
            what = (
                "limits are not enforced until it is back (state.on_unavailable: open)"
                if self._policy == "open"
                else "requests under a limit are refused until it is back (state.on_unavailable: closed)"
            )
            log.error("shared state unreachable (%s): %s; %s", self._where, exc or type(exc).__name__, what)
            self._tasks.append(
                asyncio.get_running_loop().create_task(self._probe(), name="podium-state-probe")
            )
        return StateUnavailable(f"The shared state ({self._where}) cannot be reached.")

    async def _probe(self) -> None:
        while not self._available:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            try:
                await self._redis.ping()
            except (RedisError, OSError):
                continue
            self._available = True
            log.warning(
                "shared state reachable again (%s) after %.1f s",
                self._where,
                time.monotonic() - self._down_since,
            )

    def _check(self) -> None:
        if not self._available:
            raise StateUnavailable(f"The shared state ({self._where}) cannot be reached.")

    # ------------------------------------------------------------------ calls that wait

    async def admit(self, counters: Sequence[Counter], prefetch: Sequence[str] = ()) -> Admission:
        self._check()
        p = self._prefix
        keys = [p + c.key for c in counters] + [p + k for k in prefetch]
        spec = [[_KIND[c.kind], c.limit, c.cost, c.window_ms, c.slots, c.lease_id] for c in counters]
        self.round_trips += 1
        try:
            reply = await self._admit(keys=keys, args=[msgspec.json.encode(spec)])
        except (RedisError, OSError) as exc:
            raise self._down(exc) from exc
        failed, retry_ms, now_ms = int(reply[0]), int(reply[1]), int(reply[2])
        values = tuple(reply[3:])
        if failed == 0:
            return Admission(allowed=True, now_ms=now_ms, values=values)
        retry = None if retry_ms == -1 else 0.0 if retry_ms == -2 else retry_ms / 1000
        return Admission(allowed=False, now_ms=now_ms, failed=failed - 1, retry_after=retry, values=values)

    async def get(self, key: str) -> bytes | None:
        self._check()
        self.round_trips += 1
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            raise self._down(exc) from exc
        return value if isinstance(value, bytes) else None

    async def read_log(self, name: str, after: str) -> tuple[list[bytes], str]:
        self._check()
        start = f"({after}" if after else "-"
        try:
            rows = await self._redis.xrange(self._prefix + name, min=start, max="+", count=1000)
        except (RedisError, OSError) as exc:
            raise self._down(exc) from exc
        if not rows:
            return [], after
        entries: list[bytes] = [fields[b"e"] for _, fields in rows]  # type: ignore[index,misc]
        last: bytes = rows[-1][0]  # type: ignore[assignment]
        return entries, last.decode()

    # ------------------------------------------------------------------ write-behind

    def submit(self, ops: Sequence[Op]) -> None:
        if not self._available:
            self.dropped += len(ops)
            return
        self._pending.extend(ops)
        self._idle.clear()
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                await self._write(batch)
            self._idle.set()

    async def _write(self, ops: list[Op]) -> None:
        if not self._available:
            self.dropped += len(ops)
            return
        p = self._prefix
        pipe = self._redis.pipeline(transaction=False)
        for op in ops:
            if isinstance(op, Adjust):
                key = p + op.key
                if op.kind == "window":
                    slot_ms = op.window_ms / op.slots
                    # A slot that has left the window meanwhile is harmless: the next admission drops it.
                    pipe.hincrbyfloat(key, str(int(op.at_ms // slot_ms)), op.amount)
                    pipe.pexpire(key, int(op.window_ms + slot_ms), gt=True)
                    pipe.pexpire(key, int(op.window_ms + slot_ms), nx=True)
                else:
                    pipe.incrbyfloat(key, op.amount)
                    pipe.pexpire(key, op.window_ms, nx=True)
            elif isinstance(op, Release):
                pipe.zrem(p + op.key, op.lease_id)
            elif isinstance(op, Renew):
                pipe.zadd(p + op.key, {op.lease_id: int(time.time() * 1000) + op.lease_ms}, xx=True)
                pipe.pexpire(p + op.key, op.lease_ms, gt=True)
            elif isinstance(op, Put):
                pipe.set(p + op.key, op.value, px=max(1, op.ttl_ms))
            elif isinstance(op, Append):
                pipe.xadd(p + op.name, {b"e": op.entry}, maxlen=op.max_len, approximate=True)
        self.writes += 1
        try:
            await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            self.dropped += len(ops)
            self._down(exc)
        finally:
            await pipe.reset()  # type: ignore[no-untyped-call]

    async def flush(self) -> None:
        if self._pending:
            self._wake.set()
        await self._idle.wait()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect and load the script now, so the first request pays neither; an outage is not fatal."""
        self._tasks.append(asyncio.get_running_loop().create_task(self._writer(), name="podium-state-writer"))
        try:
            await self._admit.__call__(keys=[], args=[b"[]"])
        except (RedisError, OSError) as exc:
            self._down(exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=2.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._redis.aclose(close_connection_pool=True)  # the pool is ours: close its connections
