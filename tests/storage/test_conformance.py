"""The storage contract, run against every backend on a real database (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from podium.errors import RequestError
from podium.storage import KeyRecord, RequestQuery, RequestRecord, Storage

OpenStorage = Callable[[], Awaitable[Storage]]  # the open_instance fixture


def make_key(n: int, **changes: object) -> KeyRecord:
    key = KeyRecord(
        id=f"key_{n:016x}",
        name=f"key {n}",
        hash=f"{n:064x}",
        prefix=f"pk-{n:04x}",
        created_at=1_700_000_000.0 + n,
    )
    return msgspec.structs.replace(key, **changes)


def make_request(n: int, **changes: object) -> RequestRecord:
    record = RequestRecord(
        id=f"req_{n:06d}",
        created_at=1_700_000_000.0 + n,
        key_id="key_a",
        requested_model="gpt-4o-mini",
        status=200,
        latency_ms=120.5,
    )
    return msgspec.structs.replace(record, **changes)


async def all_requests(storage: Storage, query: RequestQuery) -> list[RequestRecord]:
    """Every record ``query`` matches, following next_cursor to the end."""
    records: list[RequestRecord] = []
    cursor: str | None = None
    while True:
        page = await storage.requests.query(msgspec.structs.replace(query, cursor=cursor))
        records.extend(page.items)
        if page.next_cursor is None:
            return records
        cursor = page.next_cursor


# --- migrations ----------------------------------------------------------------------------------


async def test_migrate_applies_each_migration_once(open_instance: OpenStorage) -> None:
    """The first migrate applies every numbered migration; a second applies none and changes nothing."""
    storage = await open_instance()
    assert await storage.schema_version() == 0
    applied = await storage.migrate()
    assert applied == sorted(applied)
    assert applied[0] == 1
    assert await storage.schema_version() == applied[-1]
    assert await storage.migrate() == []
    assert await storage.schema_version() == applied[-1]


async def test_concurrent_migrate_applies_once(open_instance: OpenStorage) -> None:
    """Two instances migrating one empty database at the same time apply each migration exactly once."""
    first, second = await open_instance(), await open_instance()
    applied_first, applied_second = await asyncio.gather(first.migrate(), second.migrate())
    assert sorted(applied_first + applied_second) == list(range(1, len(applied_first + applied_second) + 1))
    assert await first.schema_version() == await second.schema_version() >= 1
    await first.keys.create(make_key(1))  # the tables really exist for both
    assert await second.keys.get(make_key(1).id) is not None


async def test_data_outlives_the_instance(open_instance: OpenStorage) -> None:
    """What one instance wrote is read by an instance opened after the first is closed."""
    writer = await open_instance()
    await writer.migrate()
    await writer.keys.create(make_key(1))
    await writer.requests.append_many([make_request(1)])
    await writer.meta.set_if_absent("bootstrapped", "yes")
    await writer.close()
    reader = await open_instance()
    assert await reader.migrate() == []
    assert await reader.keys.get(make_key(1).id) is not None
    assert [r.id for r in (await reader.requests.query(RequestQuery())).items] == [make_request(1).id]
    assert await reader.meta.get("bootstrapped") == "yes"


# --- keys ----------------------------------------------------------------------------------------


async def test_key_round_trips_exactly(storage: Storage) -> None:
    """A created key is read back equal in every field, with the rev storage assigned."""
    key = make_key(
        1,
        scopes=("inference", "admin"),
        models=("gpt-4o*", "claude-*", "*"),
        tenant="acme",
        expires_at=1_800_000_000.123456,
        metadata={"team": "search", "owner": "ana@example.com", "empty": ""},
        created_at=1_732_600_000.987654321,
    )
    created = await storage.keys.create(key)
    assert created.rev > 0
    assert created == msgspec.structs.replace(key, rev=created.rev)
    assert await storage.keys.get(key.id) == created


async def test_get_unknown_key_is_none(storage: Storage) -> None:
    """Getting a key id that was never stored returns None."""
    assert await storage.keys.get("key_missing") is None


@pytest.mark.parametrize("clash", ["id", "hash"])
async def test_duplicate_key_is_refused(storage: Storage, clash: str) -> None:
    """A second key with an existing id or hash raises ValueError and stores nothing."""
    first = await storage.keys.create(make_key(1))
    second = make_key(2, **{clash: getattr(first, clash)})
    with pytest.raises(ValueError):
        await storage.keys.create(second)
    assert await storage.keys.list(include_revoked=True) == [first]
    assert await storage.keys.changes_since(first.rev) == []


async def test_list_is_oldest_first_and_hides_revoked(storage: Storage) -> None:
    """list() gives keys oldest first, without revoked ones unless asked."""
    for n in (3, 1, 2):
        await storage.keys.create(make_key(n))
    await storage.keys.revoke(make_key(2).id, at=1_800_000_000.0)
    assert [k.id for k in await storage.keys.list()] == [make_key(1).id, make_key(3).id]
    everything = await storage.keys.list(include_revoked=True)
    assert [k.id for k in everything] == [make_key(n).id for n in (1, 2, 3)]
    assert everything[1].revoked_at == 1_800_000_000.0


async def test_revoke_is_idempotent(storage: Storage) -> None:
    """Revoking twice keeps the first revoked_at and draws a new rev only the first time."""
    created = await storage.keys.create(make_key(1))
    revoked = await storage.keys.revoke(created.id, at=1_800_000_000.5)
    assert revoked is not None
    assert revoked == msgspec.structs.replace(created, revoked_at=1_800_000_000.5, rev=revoked.rev)
    assert revoked.rev > created.rev
    again = await storage.keys.revoke(created.id, at=1_900_000_000.0)
    assert again == revoked
    assert await storage.keys.get(created.id) == revoked


async def test_revoke_unknown_key_is_none(storage: Storage) -> None:
    """Revoking a key id that was never stored returns None and writes nothing."""
    assert await storage.keys.revoke("key_missing", at=1.0) is None
    assert await storage.keys.changes_since(0) == []


async def test_changes_since_follows_writes_in_rev_order(storage: Storage) -> None:
    """changes_since returns the keys created or revoked after a rev, in rev order, each at its latest."""
    a = await storage.keys.create(make_key(1))
    b = await storage.keys.create(make_key(2))
    assert await storage.keys.changes_since(0) == [a, b]
    revoked_a = await storage.keys.revoke(a.id, at=1_800_000_000.0)
    assert revoked_a is not None
    assert await storage.keys.changes_since(0) == [b, revoked_a]
    assert await storage.keys.changes_since(b.rev) == [revoked_a]
    assert await storage.keys.changes_since(revoked_a.rev) == []


async def test_revs_increase_across_instances(open_instance: OpenStorage, storage: Storage) -> None:
    """Two instances writing keys at once (like two replicas) draw distinct, increasing revs."""
    other = await open_instance()
    writes = [(storage if n % 2 else other).keys.create(make_key(n)) for n in range(20)]
    created = await asyncio.gather(*writes)
    revs = [k.rev for k in created]
    assert len(set(revs)) == 20
    revoked = await other.keys.revoke(created[0].id, at=1_800_000_000.0)
    assert revoked is not None
    assert revoked.rev > max(revs)
    seen_by_first = await storage.keys.changes_since(0)
    assert [k.rev for k in seen_by_first] == sorted([*revs[1:], revoked.rev])
    assert seen_by_first == await other.keys.changes_since(0)


# --- request log ---------------------------------------------------------------------------------


async def test_request_round_trips_exactly(storage: Storage) -> None:
    """An appended record is read back equal in every field."""
    record = RequestRecord(
        id="req_full",
        created_at=1_732_600_000.123456789,
        key_id="key_a",
        tenant="acme",
        api="embeddings",
        requested_model="auto",
        route="support",
        deployment="openai-east",
        provider="openai",
        upstream_model="text-embedding-3-small",
        status=502,
        error_class="upstream_timeout",
        latency_ms=1234.5,
        ttft_ms=98.25,
        input_tokens=2_000_000_000_000,
        output_tokens=7,
        cached_tokens=3,
        reasoning_tokens=2,
        tokens_estimated=True,
        cost_usd=0.000123,
        streamed=True,
        attempts=3,
        overhead_ms=0.75,
        version=1,
    )
    await storage.requests.append_many([record])
    page = await storage.requests.query(RequestQuery())
    assert page.items == (record,)
    assert page.next_cursor is None


async def test_append_skips_known_ids(storage: Storage) -> None:
    """Appending a record whose id is already stored (a retried batch) skips it instead of doubling it."""
    await storage.requests.append_many([make_request(1), make_request(2)])
    await storage.requests.append_many([make_request(2), make_request(3)])
    await storage.requests.append_many([make_request(1), make_request(2), make_request(3)])
    ids = [r.id for r in await all_requests(storage, RequestQuery())]
    assert ids == [make_request(n).id for n in (3, 2, 1)]


async def test_append_many_is_all_or_nothing(storage: Storage) -> None:
    """A batch with one record the database refuses raises ValueError and stores none of the batch."""
    bad = msgspec.structs.replace(make_request(2), requested_model=None)
    with pytest.raises(ValueError):
        await storage.requests.append_many([make_request(1), bad, make_request(3)])
    assert (await storage.requests.query(RequestQuery())).items == ()
    await storage.requests.append_many([make_request(1)])  # the log still takes writes afterwards
    assert len((await storage.requests.query(RequestQuery())).items) == 1


async def test_append_nothing_is_a_no_op(storage: Storage) -> None:
    """Appending an empty batch stores nothing and raises nothing."""
    await storage.requests.append_many([])
    assert (await storage.requests.query(RequestQuery())).items == ()


FILTER_DATA = [
    make_request(1, key_id="key_a", tenant="acme", requested_model="gpt-4o", deployment="d1", status=200),
    make_request(2, key_id="key_b", tenant="acme", requested_model="gpt-4o", deployment="d2", status=429),
    make_request(3, key_id="key_a", tenant="globex", requested_model="claude", deployment="d1", status=500),
    make_request(4, key_id=None, tenant="globex", requested_model="claude", deployment=None, status=400),
    make_request(5, key_id="key_b", tenant="acme", requested_model="gpt-4o", deployment="d2", status=200),
    make_request(6, key_id="key_a", tenant="acme", requested_model="auto", deployment="d1", status=399),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (RequestQuery(), [6, 5, 4, 3, 2, 1]),
        (RequestQuery(key_id="key_a"), [6, 3, 1]),
        (RequestQuery(tenant="globex"), [4, 3]),
        (RequestQuery(model="gpt-4o"), [5, 2, 1]),
        (RequestQuery(deployment="d2"), [5, 2]),
        (RequestQuery(status=200), [5, 1]),
        (RequestQuery(errors_only=True), [4, 3, 2]),
        (RequestQuery(since=1_700_000_003.0), [6, 5, 4, 3]),
        (RequestQuery(until=1_700_000_003.0), [2, 1]),
        (RequestQuery(since=1_700_000_002.0, until=1_700_000_005.0), [4, 3, 2]),
        (RequestQuery(tenant="acme", errors_only=True), [2]),
        (RequestQuery(key_id="key_a", model="claude", deployment="d1", status=500), [3]),
        (RequestQuery(key_id="nobody"), []),
    ],
    ids=[
        "all",
        "key_id",
        "tenant",
        "model",
        "deployment",
        "status",
        "errors_only",
        "since",
        "until",
        "since_until",
        "tenant_errors",
        "combined",
        "no_match",
    ],
)
async def test_query_filters(storage: Storage, query: RequestQuery, expected: list[int]) -> None:
    """Each filter keeps exactly the matching records, newest first (since inclusive, until exclusive)."""
    await storage.requests.append_many(FILTER_DATA)
    page = await storage.requests.query(query)
    assert [r.id for r in page.items] == [make_request(n).id for n in expected]
    assert page.next_cursor is None


async def test_pagination_has_no_gaps_or_duplicates(storage: Storage) -> None:
    """Following next_cursor through 250 records, 100 a page, yields each once, newest first, then None."""
    # Many records share a created_at, so the id must break ties for the cursor to be exact.
    records = [make_request(n, created_at=1_700_000_000.0 + n // 7) for n in range(250)]
    await storage.requests.append_many(records[::2])
    await storage.requests.append_many(records[1::2])
    pages = []
    cursor: str | None = None
    while True:
        page = await storage.requests.query(RequestQuery(limit=100, cursor=cursor))
        pages.append(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [100, 100, 50]
    expected = sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)
    assert [r.id for p in pages for r in p] == [r.id for r in expected]


async def test_last_full_page_has_no_cursor(storage: Storage) -> None:
    """A page that ends exactly at the last record has next_cursor None."""
    await storage.requests.append_many([make_request(n) for n in range(10)])
    first = await storage.requests.query(RequestQuery(limit=5))
    assert first.next_cursor is not None
    second = await storage.requests.query(RequestQuery(limit=5, cursor=first.next_cursor))
    assert len(second.items) == 5
    assert second.next_cursor is None


async def test_pagination_keeps_filters(storage: Storage) -> None:
    """A cursor combined with filters pages through the filtered records only."""
    records = [make_request(n, key_id="key_a" if n % 3 else "key_b") for n in range(30)]
    await storage.requests.append_many(records)
    got = await all_requests(storage, RequestQuery(key_id="key_b", limit=3))
    assert [r.id for r in got] == [r.id for r in reversed(records) if r.key_id == "key_b"]


async def test_limit_is_clamped(storage: Storage) -> None:
    """A limit below 1 gives one record per page and one above 1000 gives at most 1000."""
    await storage.requests.append_many([make_request(n) for n in range(1001)])
    assert len((await storage.requests.query(RequestQuery(limit=0))).items) == 1
    assert len((await storage.requests.query(RequestQuery(limit=-5))).items) == 1
    big = await storage.requests.query(RequestQuery(limit=5000))
    assert len(big.items) == 1000
    assert big.next_cursor is not None


@pytest.mark.parametrize("cursor", ["not a cursor!", "e30", ""])
async def test_unreadable_cursor_is_a_request_error(storage: Storage, cursor: str) -> None:
    """A cursor that storage did not write is the caller's mistake (RequestError on param 'cursor')."""
    with pytest.raises(RequestError) as caught:
        await storage.requests.query(RequestQuery(cursor=cursor))
    assert caught.value.param == "cursor"


# --- meta ----------------------------------------------------------------------------------------


async def test_meta_get_unknown_is_none(storage: Storage) -> None:
    """Getting a name that was never set returns None."""
    assert await storage.meta.get("nothing") is None


async def test_set_if_absent_has_one_winner_across_instances(
    open_instance: OpenStorage, storage: Storage
) -> None:
    """Two instances racing to set one name: exactly one succeeds and both then read its value."""
    other = await open_instance()
    results = await asyncio.gather(
        *(s.meta.set_if_absent("first_admin", f"from-{i}") for i, s in enumerate([storage, other] * 5))
    )
    assert results.count(True) == 1
    winner = f"from-{results.index(True)}"
    assert await storage.meta.get("first_admin") == winner
    assert await other.meta.get("first_admin") == winner
    assert await other.meta.set_if_absent("first_admin", "later") is False
    assert await storage.meta.get("first_admin") == winner
