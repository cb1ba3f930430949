"""The storage contract: one Protocol per kind of state, implemented by every backend.

Backends: :mod:`podium.storage.sqlite` (the embedded default: one file, WAL) and
:mod:`podium.storage.postgres` (many replicas). ``tests/storage/test_conformance.py`` runs this whole
contract against each of them on a real database.
"""

from __future__ import annotations

from typing import Protocol

from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord

__all__ = ["KeyStore", "MetaStore", "RequestLog", "Storage"]


class KeyStore(Protocol):
    async def create(self, key: KeyRecord) -> KeyRecord:
        """Store a new key; returns it with its ``rev``. A duplicate id or hash raises ``ValueError``."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...

    async def revoke(self, key_id: str, *, at: float) -> KeyRecord | None:
        """Mark a key revoked (idempotent); ``None`` if there is no such key."""
        ...

    async def changes_since(self, rev: int) -> list[KeyRecord]:
        """Keys written (created or revoked) after ``rev``, in ``rev`` order: how replicas stay in sync."""
        ...


class RequestLog(Protocol):
    async def append_many(self, records: list[RequestRecord]) -> None:
        """Append records in one transaction: all of them or none. A known id is skipped, not doubled."""
        ...

    async def query(self, query: RequestQuery) -> RequestPage: ...


class MetaStore(Protocol):
    """Small named values the server keeps for itself (e.g. whether the first admin key was made)."""

    async def get(self, name: str) -> str | None: ...

    async def set_if_absent(self, name: str, value: str) -> bool:
        """Set ``name`` unless it exists; ``True`` if this call set it. Atomic across processes."""
        ...


class Storage(Protocol):
    keys: KeyStore
    requests: RequestLog
    meta: MetaStore

    async def migrate(self) -> list[int]:
        """Apply pending numbered migrations; the numbers applied (empty when up to date)."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...
