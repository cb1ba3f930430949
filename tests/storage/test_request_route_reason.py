"""The request record's routing reason (migration 0005), on every backend."""

from __future__ import annotations

from podium.storage import RequestQuery, RequestRecord, Storage


async def test_route_reason_round_trips(storage: Storage) -> None:
    """A record's route_reason comes back exactly, and defaults to null."""
    routed = RequestRecord(
        id="req_routed",
        created_at=1_700_000_000.5,
        key_id="key_a",
        requested_model="auto",
        route="auto",
        deployment="coder",
        status=200,
        latency_ms=1.5,
        route_reason="rule code, task code; fallback after primary (upstream_server_error)",
    )
    plain = RequestRecord(
        id="req_plain",
        created_at=1_700_000_001.0,
        key_id="key_a",
        requested_model="m",
        status=200,
        latency_ms=1,
    )
    await storage.requests.append_many([routed, plain])
    page = await storage.requests.query(RequestQuery(limit=10))
    by_id = {r.id: r for r in page.items}
    assert by_id["req_routed"] == routed
    assert by_id["req_plain"].route_reason is None
