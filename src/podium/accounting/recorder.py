"""Request records, written in batches off the request path (:mod:`podium.batching`).

The request path only appends a *builder* (a closure) to an in-memory buffer: turning a finished call
into a record — counting tokens the upstream did not report, pricing — happens after the response
has gone, in a worker thread, and a batch is written in one transaction.
"""

from __future__ import annotations

import logging

from podium.batching import BatchWriter
from podium.storage.base import RequestLog
from podium.storage.records import RequestRecord

__all__ = ["Recorder"]

log = logging.getLogger("podium.accounting")


class Recorder(BatchWriter[RequestRecord]):
    what = "request records"
    # Building may count tokens locally, and the first count loads a tokenizer (about a second).
    build_in_thread = True

    def __init__(
        self,
        log_store: RequestLog,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_buffered: int = 200_000,
    ) -> None:
        super().__init__(log, flush_interval=flush_interval, batch_size=batch_size, max_buffered=max_buffered)
        self._store = log_store

    def start(self, name: str = "podium-recorder") -> None:
        super().start(name)

    async def write(self, batch: list[RequestRecord]) -> None:
        await self._store.append_many(batch)
