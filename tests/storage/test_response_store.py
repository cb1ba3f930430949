"""The ResponseStore contract (stored Responses-API answers), on every backend (see conftest.py)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from podium.storage import Storage
from podium.storage.response_records import StoredResponse


def make_response(n: int, **changes: object) -> StoredResponse:
    record = StoredResponse(
        id=f"resp_{n:06d}",
        tenant="acme",
        key_id="key_a",
        created_at=1_700_000_000.0 + n,
        model="sim/echo",
        conversation=b'[{"role":"user","content":"hi"}]',
        body=b'{"id":"resp","object":"response"}',
    )
    return msgspec.structs.replace(record, **changes)


async def test_put_then_get_round_trips(storage: Storage) -> None:
    """What put_many stores, get returns field for field, bytes included."""
    stored = make_response(1, previous_response_id="resp_000000", body=bytes(range(256)))
    await storage.responses.put_many([stored, make_response(2, key_id=None)])
    assert await storage.responses.get(stored.id, tenant="acme") == stored
    assert await storage.responses.get("resp_000002", tenant="acme") == make_response(2, key_id=None)


async def test_get_is_scoped_to_the_tenant(storage: Storage) -> None:
    """Another tenant gets None for an id that exists, exactly as for an id that does not."""
    await storage.responses.put_many([make_response(1)])
    assert await storage.responses.get("resp_000001", tenant="other") is None
    assert await storage.responses.get("resp_999999", tenant="acme") is None


async def test_put_is_idempotent(storage: Storage) -> None:
    """Putting a known id again (a retried batch) keeps the first version and fails nothing."""
    first = make_response(1)
    await storage.responses.put_many([first])
    await storage.responses.put_many([msgspec.structs.replace(first, body=b"{}"), make_response(2)])
    assert await storage.responses.get(first.id, tenant="acme") == first
    assert await storage.responses.get("resp_000002", tenant="acme") is not None


async def test_refused_batch_writes_nothing(storage: Storage) -> None:
    """A batch with a record the database refuses raises ValueError and writes none of the batch."""
    bad = msgspec.structs.replace(make_response(2), tenant=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await storage.responses.put_many([make_response(1), bad])
    assert await storage.responses.get("resp_000001", tenant="acme") is None


async def test_delete_is_scoped_to_the_tenant(storage: Storage) -> None:
    """Only the owning tenant deletes an answer; a second delete finds nothing."""
    await storage.responses.put_many([make_response(1)])
    assert await storage.responses.delete("resp_000001", tenant="other") is False
    assert await storage.responses.get("resp_000001", tenant="acme") is not None
    assert await storage.responses.delete("resp_000001", tenant="acme") is True
    assert await storage.responses.get("resp_000001", tenant="acme") is None
    assert await storage.responses.delete("resp_000001", tenant="acme") is False


async def test_concurrent_writers(storage: Storage) -> None:
    """Batches written at the same time all land."""
    batches = [[make_response(b * 10 + i) for i in range(5)] for b in range(4)]
    await asyncio.gather(*(storage.responses.put_many(batch) for batch in batches))
    for batch in batches:
        for r in batch:
            assert await storage.responses.get(r.id, tenant="acme") == r
