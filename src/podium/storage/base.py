"""The storage contract: one Protocol per kind of state, implemented by every backend.

Backends: :mod:`podium.storage.sqlite` (the embedded default: one file, WAL) and
:mod:`podium.storage.postgres` (many replicas). ``tests/storage/test_conformance.py`` runs this whole
contract against each of them on a real database.

Errors: a bad ``storage.url`` is a :class:`~podium.errors.ConfigError`; a database that cannot be
opened or reached is :class:`StorageUnavailable`; a record the database refuses (a duplicate key id
or hash, a null where a value is required) is a ``ValueError``, since it is the calling code's bug;
a page cursor that storage did not write is a :class:`~podium.errors.RequestError` (the caller's).
"""

from __future__ import annotations

from typing import Protocol

from podium.errors import PodiumError
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord

__all__ = ["KeyStore", "MetaStore", "RequestLog", "Storage", "StorageUnavailable"]


class StorageUnavailable(PodiumError):
    """The database cannot be opened or reached; the message names it (never with its password)."""

    status = 503
    code = "storage_unavailable"


class KeyStore(Protocol):
    async def create(self, key: KeyRecord) -> KeyRecord:
        """Store a new key; returns it with its ``rev``. A duplicate id or hash raises ``ValueError``."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def revoke(self, key_id: str, *, at: float) -> KeyRecord | None:
        """Mark a key revoked; ``None`` if there is no such key.

        Idempotent: revoking a revoked key keeps its first ``revoked_at`` and draws no new ``rev``.
        """
        ...

    async def changes_since(self, rev: int) -> list[KeyRecord]:
        """Keys written (created or revoked) after ``rev``, in ``rev`` order: how replicas stay in sync."""
        ...

    # Last on purpose: below a method named ``list``, the annotation ``list[...]`` means the method.
    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        """Every key, oldest first."""
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
