"""Request records, written in batches off the request path.

The request path only appends a *builder* (a closure) to an in-memory buffer: turning a finished call
into a record — counting tokens the upstream did not report, pricing — happens here, after the
response has gone, in a worker thread, and a batch is written in one transaction. A failing database keeps the records
buffered (bounded) and retries; shutdown flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from podium.storage.base import RequestLog
from podium.storage.records import RequestRecord

__all__ = ["Recorder"]

log = logging.getLogger("podium.accounting")

Builder = Callable[[], RequestRecord]


class Recorder:
    def __init__(
        self,
        log_store: RequestLog,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_buffered: int = 200_000,
    ) -> None:
        self._store = log_store
        self._interval = flush_interval
        self._batch_size = batch_size
        self._pending: deque[Builder] = deque()
        self._built: list[RequestRecord] = []  # built but not yet written (a write failed)
        self._max = max_buffered
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    def submit(self, build: Builder) -> None:
        """Queue one finished call; never blocks, never raises."""
        if len(self._pending) + len(self._built) >= self._max:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("request log buffer full: %d records dropped so far", self.dropped)
            return
        self._pending.append(build)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="podium-recorder")

    async def _run(self) -> None:
        backoff = self._interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            ok = await self.flush()
            backoff = self._interval if ok else min(backoff * 2, 5.0)

    def _build_pending(self) -> None:
        while self._pending:
            build = self._pending.popleft()
            try:
                self._built.append(build())
            except Exception:
                log.exception("could not build a request record")

    async def flush(self) -> bool:
        """Write everything buffered; ``False`` if the store failed (the records stay buffered)."""
        if self._pending:
            # Building may count tokens locally, and the first count loads a tokenizer (about a
            # second): a worker thread keeps that off the event loop.
            await asyncio.to_thread(self._build_pending)
        while self._built:
            batch = self._built[: self._batch_size]
            try:
                await self._store.append_many(batch)
            except Exception as exc:  # noqa: BLE001 - keep the records and retry later
                log.warning("writing %d request records failed, will retry: %s", len(batch), exc)
                return False
            del self._built[: len(batch)]
            self.written += len(batch)
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not await self.flush():
            log.error("%d request records could not be written at shutdown", len(self._built))
