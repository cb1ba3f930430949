"""The request record's cache and limit columns (migration 0007), on every backend."""

from __future__ import annotations

from podium.storage import RequestQuery, RequestRecord, Storage


async def test_cache_and_limit_columns_round_trip(storage: Storage) -> None:
    """A record's cache status, the limit it hit and its queue wait come back exactly, and default to null."""
    hit = RequestRecord(
        id="req_cache",
        created_at=1_700_000_000.5,
        key_id="key_a",
        requested_model="sim/echo",
        status=200,
        latency_ms=1.5,
        cache="semantic-hit",
        limit_hit="per-key.rpm",
        queued_ms=250.125,
    )
    plain = RequestRecord(
        id="req_plain",
        created_at=1_700_000_001.0,
        key_id="key_a",
        requested_model="m",
        status=429,
        latency_ms=1,
    )
    await storage.requests.append_many([hit, plain])
    page = await storage.requests.query(RequestQuery(limit=10))
    by_id = {r.id: r for r in page.items}
    assert by_id["req_cache"] == hit
    assert (by_id["req_plain"].cache, by_id["req_plain"].limit_hit, by_id["req_plain"].queued_ms) == (
        None,
        None,
        None,
    )
