"""Items written in batches off the request path: the request log and the audit trail share this.

The request path only appends an item — or a closure that builds one — to an in-memory buffer:
``submit`` never blocks, never raises, and may be called from a worker thread. Every
``flush_interval`` (sooner once a batch is full) the buffer is built and written, a batch per
transaction; a failing database keeps the items buffered (bounded: beyond ``max_buffered`` new ones
are dropped and counted) and retries with backoff; shutdown flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Subclasses say how a batch is written (:meth:`write`); ``what`` names the items in the logs."""

    what = "items"
    build_in_thread = False  # True when building may be slow (token counting): kept off the loop

    def __init__(
        self,
        log: logging.Logger,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_buffered: int = 200_000,
    ) -> None:
        self._log = log
        self._interval = flush_interval
        self._batch_size = batch_size
        self._max = max_buffered
        self._pending: deque[T | Callable[[], T | None]] = deque()  # deque.append is atomic: thread-safe
        self._built: list[T] = []  # built but not yet written (a write failed)
        self._lock = asyncio.Lock()  # one flush at a time keeps this process's items in submit order
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    async def write(self, batch: list[T]) -> None:
        raise NotImplementedError

    def submit(self, item: T | Callable[[], T | None]) -> None:
        """Queue one item (or its builder); never blocks, never raises."""
        if len(self._pending) + len(self._built) >= self._max:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                self._log.error("buffer full: %d %s dropped so far", self.dropped, self.what)
            return
        self._pending.append(item)
        if len(self._pending) == self._batch_size and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)  # a full batch goes now (from any thread)

    def start(self, name: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=name)

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
            item = self._pending.popleft()
            if callable(item):
                try:
                    built = item()
                except Exception:  # noqa: BLE001 - a bad builder loses its own item, not the batch
                    self._log.exception("could not build one of the %s", self.what)
                    continue
                if built is not None:
                    self._built.append(built)
            else:
                self._built.append(item)

    async def flush(self) -> bool:
        """Write everything buffered; ``False`` if the store failed (the items stay buffered)."""
        async with self._lock:
            if self._pending:
                if self.build_in_thread:
                    await asyncio.to_thread(self._build_pending)
                else:
                    self._build_pending()
            while self._built:
                batch = self._built[: self._batch_size]
                try:
                    await self.write(batch)
                except Exception as exc:  # noqa: BLE001 - keep the items and retry later
                    self._log.warning("writing %d %s failed, will retry: %s", len(batch), self.what, exc)
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
            self._log.error("%d %s could not be written at shutdown", len(self._built), self.what)
