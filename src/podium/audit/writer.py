"""Audit events, appended to the chain in batches off the request path (:mod:`podium.batching`).

The request path (or an admin handler) only puts an event — or a closure that builds one — into an
in-memory buffer; ``submit`` may be called from a worker thread (the request recorder builds
model-call events there). Each batch is sealed into the chain and appended in one transaction.
"""

from __future__ import annotations

import logging

from podium.batching import BatchWriter
from podium.storage.audit_records import AuditEvent
from podium.storage.base import AuditStore

__all__ = ["AuditWriter"]

log = logging.getLogger("podium.audit")


class AuditWriter(BatchWriter[AuditEvent]):
    what = "audit events"

    def __init__(
        self,
        store: AuditStore,
        key: bytes,
        *,
        flush_interval: float = 0.2,
        batch_size: int = 500,
        max_buffered: int = 200_000,
    ) -> None:
        super().__init__(log, flush_interval=flush_interval, batch_size=batch_size, max_buffered=max_buffered)
        self._store = store
        self._key = key

    def set_key(self, key: bytes) -> None:
        self._key = key

    def start(self, name: str = "podium-audit-writer") -> None:
        super().start(name)

    async def write(self, batch: list[AuditEvent]) -> None:
        await self._store.append(batch, key=self._key)
