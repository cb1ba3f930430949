"""The audit store contract (hash chain, head, checkpoints), run against every backend on a real database."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from podium.audit.chain import GENESIS, ChainChecker
from podium.audit.checkpoints import Signer, verify_signature
from podium.storage import Storage
from podium.storage.audit_records import AuditEvent

OpenStorage = Callable[[], Awaitable[Storage]]
KEY = b"k" * 32


def event(n: int, **changes: object) -> AuditEvent:
    fields: dict[str, object] = {
        "time": 1_700_000_000.0 + n / 3,
        "tenant": "acme" if n % 2 else "default",
        "actor": f"key:key_{n}",
        "action": "admin.create_key",
        "resource": f"/admin/keys/key_{n}",
        "details": {"n": n, "float": n / 7, "list": [1, "two", None], "nested": {"z": 1, "a": True}},
    }
    fields.update(changes)
    return AuditEvent(**fields)  # type: ignore[arg-type]


async def test_empty_chain_has_genesis_head(storage: Storage) -> None:
    """A new trail's head is (0, 64 zeros) and it has no entries or checkpoints."""
    assert await storage.audit.head() == (0, GENESIS)
    assert await storage.audit.read() == []
    assert await storage.audit.checkpoints() == []


async def test_appends_chain_and_read_back_exactly(storage: Storage) -> None:
    """Appended events get consecutive seqs, each entry's prev_hash is the previous hash, and reading returns them equal."""
    first = await storage.audit.append([event(1), event(2)], key=KEY)
    second = await storage.audit.append([event(3)], key=KEY)
    entries = [*first, *second]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert await storage.audit.read() == entries
    assert await storage.audit.head() == (3, entries[-1].hash)
    checker = ChainChecker(KEY)
    assert all(checker.feed(e) for e in await storage.audit.read())


async def test_read_and_recent_filter_and_page(storage: Storage) -> None:
    """read() pages oldest first after a seq, recent() newest first before a seq, both by tenant."""
    await storage.audit.append([event(n) for n in range(1, 11)], key=KEY)
    assert [e.seq for e in await storage.audit.read(after=3, limit=4)] == [4, 5, 6, 7]
    assert [e.seq for e in await storage.audit.read(tenant="acme")] == [1, 3, 5, 7, 9]
    assert [e.seq for e in await storage.audit.recent(limit=3)] == [10, 9, 8]
    assert [e.seq for e in await storage.audit.recent(tenant="default", before=8, limit=2)] == [6, 4]


async def test_concurrent_appends_never_fork(open_instance: OpenStorage, storage: Storage) -> None:
    """Instances appending at once (like replicas) produce one chain with no shared or missing seq."""
    others = [await open_instance() for _ in range(2)]
    writers = [storage, *others]
    await asyncio.gather(
        *(writers[n % 3].audit.append([event(n), event(n + 100)], key=KEY) for n in range(30))
    )
    entries = await storage.audit.read(limit=1000)
    assert [e.seq for e in entries] == list(range(1, 61))
    checker = ChainChecker(KEY)
    assert all(checker.feed(e) for e in entries), checker.problem


async def test_checkpoints_are_stored_once_per_seq(storage: Storage) -> None:
    """A checkpoint is stored and read back; a second one for the same seq is refused (False)."""
    entries = await storage.audit.append([event(1)], key=KEY)
    signer = Signer(b"s" * 32)
    checkpoint = signer.checkpoint(1, entries[0].hash, 1_700_000_000.5)
    assert await storage.audit.add_checkpoint(checkpoint) is True
    assert await storage.audit.add_checkpoint(signer.checkpoint(1, entries[0].hash, 1_700_000_001.0)) is False
    stored = await storage.audit.checkpoints()
    assert stored == [checkpoint] and verify_signature(stored[0])


@pytest.mark.parametrize("value", [float("1e-300"), 0.1 + 0.2, 2**53 + 1, "ünïcødé ✓", ""])
async def test_details_hash_the_same_after_storage(storage: Storage, value: object) -> None:
    """Awkward detail values (tiny floats, big ints, unicode) come back so that the hash still matches."""
    await storage.audit.append([event(1, details={"v": value})], key=KEY)
    checker = ChainChecker(KEY)
    assert all(checker.feed(e) for e in await storage.audit.read()), checker.problem
