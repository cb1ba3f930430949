"""Stored Responses-API answers on the request path: an in-process LRU in front of a write-behind store.

``remember`` costs a dict insert: the answer goes into the LRU (so a ``previous_response_id`` sent a
moment later is found at once, on this replica) and into a queue that a background task writes to
storage in batches, off the request path. Another replica sees the answer once its batch is written,
within ``flush_interval`` (plus the write's duration) — the cross-replica window the docs state.
A failing database keeps answers queued (bounded) and retries; shutdown flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from podium.storage.base import ResponseStore
from podium.storage.response_records import StoredResponse

__all__ = ["ResponseCache"]

log = logging.getLogger("podium.responses")


class ResponseCache:
    def __init__(
        self,
        store: ResponseStore,
        *,
        flush_interval: float = 0.2,
        capacity: int = 2048,
        batch_size: int = 200,
        max_queued: int = 20_000,
    ) -> None:
        self._store = store
        self._interval = flush_interval
        self._capacity = capacity
        self._batch_size = batch_size
        self._max_queued = max_queued
        self._recent: OrderedDict[str, StoredResponse] = OrderedDict()
        self._queue: dict[str, StoredResponse] = {}  # not yet written, by id (a delete can withdraw one)
        self._writing: dict[str, StoredResponse] = {}  # the batch being written
        self._deleted: set[str] = set()  # deleted while its batch was being written
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def remember(self, response: StoredResponse) -> None:
        """Keep ``response`` in memory now and queue it for storage; never blocks, never raises."""
        self._recent[response.id] = response
        if len(self._recent) > self._capacity:
            self._recent.popitem(last=False)
        if len(self._queue) >= self._max_queued:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("stored-response queue full: %d answers not stored so far", self.dropped)
            return
        self._queue[response.id] = response
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    async def get(self, response_id: str, *, tenant: str) -> StoredResponse | None:
        """The tenant's answer: from memory when recent, else from storage."""
        found = self._recent.get(response_id) or self._queue.get(response_id)
        if found is not None:
            return found if found.tenant == tenant else None
        return await self._store.get(response_id, tenant=tenant)

    async def delete(self, response_id: str, *, tenant: str) -> bool:
        found = self._recent.get(response_id) or self._queue.get(response_id)
        if found is not None and found.tenant != tenant:
            return False
        self._recent.pop(response_id, None)
        queued = self._queue.pop(response_id, None) is not None
        if response_id in self._writing:
            self._deleted.add(response_id)  # the write in flight may land after this delete
        return await self._store.delete(response_id, tenant=tenant) or queued

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="podium-stored-responses")

    async def _run(self) -> None:
        backoff = self._interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            ok = await self.flush()
            backoff = self._interval if ok else min(backoff * 2, 5.0)

    async def flush(self) -> bool:
        """Write everything queued; ``False`` if storage failed (the answers stay queued)."""
        while self._queue:
            batch = list(self._queue.values())[: self._batch_size]
            self._writing = {r.id: r for r in batch}
            try:
                await self._store.put_many(batch)
                for r in batch:
                    if r.id in self._deleted:
                        await self._store.delete(r.id, tenant=r.tenant)
            except Exception as exc:  # noqa: BLE001 - keep the answers and retry later
                log.warning("storing %d responses failed, will retry: %s", len(batch), exc)
                return False
            finally:
                self._writing = {}
            self._deleted.clear()
            for r in batch:
                if self._queue.get(r.id) is r:
                    del self._queue[r.id]
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not await self.flush():
            log.error("%d stored responses could not be written at shutdown", len(self._queue))
