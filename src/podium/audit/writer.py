"""Audit events, appended to the chain in batches off the request path.

The request path (or an admin handler) only puts an event — or a closure that builds one — into an
in-memory buffer; ``submit`` never blocks, never raises and may be called from a worker thread (the
request recorder builds model-call events there). Every ``flush_interval`` the buffer is appended in
one transaction; a failing database keeps the events buffered (bounded) and retries with backoff;
shutdown flushes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from podium.storage.audit_records import AuditEvent
from podium.storage.base import AuditStore

__all__ = ["AuditWriter"]

log = logging.getLogger("podium.audit")

Pending = AuditEvent | Callable[[], AuditEvent | None]


class AuditWriter:
    def __init__(
        self,
        store: AuditStore,
        key: bytes,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_buffered: int = 200_000,
    ) -> None:
        self._store = store
        self._key = key
        self._interval = flush_interval
        self._batch_size = batch_size
        self._max = max_buffered
        self._pending: deque[Pending] = deque()  # deque.append is atomic: safe from other threads
        self._built: list[AuditEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0
        self.written = 0

    def set_key(self, key: bytes) -> None:
        self._key = key

    def submit(self, event: Pending) -> None:
        """Queue one event (or its builder); never blocks, never raises."""
        if len(self._pending) + len(self._built) >= self._max:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("audit buffer full: %d audit events dropped so far", self.dropped)
            return
        self._pending.append(event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="podium-audit-writer")

    async def _run(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            ok = await self.flush()
            delay = self._interval if ok else min(delay * 2, 5.0)

    def _build_pending(self) -> None:
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, AuditEvent):
                self._built.append(item)
                continue
            try:
                event = item()
            except Exception:
                log.exception("could not build an audit event")
                continue
            if event is not None:
                self._built.append(event)

    async def flush(self) -> bool:
        """Append everything buffered; ``False`` if the store failed (the events stay buffered)."""
        async with self._lock:  # one flush at a time keeps this process's events in submit order
            self._build_pending()
            while self._built:
                batch = self._built[: self._batch_size]
                try:
                    await self._store.append(batch, key=self._key)
                except Exception as exc:  # noqa: BLE001 - keep the events and retry later
                    log.warning("appending %d audit events failed, will retry: %s", len(batch), exc)
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
            log.error("%d audit events could not be appended at shutdown", len(self._built))
