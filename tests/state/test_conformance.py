"""One contract, every backend: what limits and caches rely on from the shared state."""

from __future__ import annotations

import asyncio

import pytest

from podium.state.base import Adjust, Append, Counter, Put, Release, Renew, SharedState
from tests.state.conftest import MakeState


def rpm(key: str, limit: float, cost: float = 1, window_ms: int = 60_000) -> Counter:
    return Counter(key=key, kind="window", limit=limit, cost=cost, window_ms=window_ms, slots=60)


async def test_window_admits_up_to_its_limit_then_says_when(state: SharedState) -> None:
    """A window admits exactly its limit, then refuses with a retry-after inside the window."""
    results = [await state.admit([rpm("w", 5)]) for _ in range(7)]
    assert [r.allowed for r in results] == [True] * 5 + [False] * 2
    refused = results[-1]
    assert refused.failed == 0
    assert refused.retry_after is not None and 0 < refused.retry_after <= 60


async def test_admission_counts_nothing_unless_every_counter_admits(state: SharedState) -> None:
    """A request refused by one counter is counted against none of them."""
    assert (await state.admit([rpm("full", 1)])).allowed
    for _ in range(3):
        refused = await state.admit([rpm("roomy", 2), rpm("full", 1)])
        assert not refused.allowed and refused.failed == 1
    both = [await state.admit([rpm("roomy", 2)]) for _ in range(3)]
    assert [r.allowed for r in both] == [True, True, False]


async def test_cost_above_the_limit_is_never_admitted(state: SharedState) -> None:
    """A request whose cost alone exceeds the limit is refused with no retry-after at all."""
    refused = await state.admit([rpm("tpm", 100, cost=101)])
    assert not refused.allowed and refused.retry_after is None
    assert (await state.admit([rpm("tpm", 100, cost=100)])).allowed


async def test_window_adjustment_refunds_an_estimate(state: SharedState) -> None:
    """A negative adjustment of the admission's slot gives the estimate back."""
    first = await state.admit([rpm("est", 100, cost=90)])
    assert first.allowed
    assert not (await state.admit([rpm("est", 100, cost=20)])).allowed
    state.submit(
        [Adjust(key="est", kind="window", amount=-80, window_ms=60_000, slots=60, at_ms=first.now_ms)]
    )
    await state.flush()
    assert (await state.admit([rpm("est", 100, cost=20)])).allowed


async def test_window_slides(state: SharedState) -> None:
    """Usage leaves a short window as its slots age out."""
    short = Counter(key="short", kind="window", limit=2, cost=1, window_ms=400, slots=4)
    assert (await state.admit([short])).allowed
    assert (await state.admit([short])).allowed
    refused = await state.admit([short])
    assert not refused.allowed and refused.retry_after is not None and refused.retry_after <= 0.4
    await asyncio.sleep(0.5)
    assert (await state.admit([short])).allowed


async def test_period_budget_admits_while_under_and_counts_spend(state: SharedState) -> None:
    """A budget (cost 0) admits while spend is under it and refuses once adjustments reach it."""
    budget = Counter(key="usd", kind="period", limit=1.0, cost=0, window_ms=3_600_000)
    assert (await state.admit([budget])).allowed
    state.submit([Adjust(key="usd", kind="period", amount=0.6, window_ms=3_600_000)])
    await state.flush()
    assert (await state.admit([budget])).allowed
    state.submit([Adjust(key="usd", kind="period", amount=0.4, window_ms=3_600_000)])
    await state.flush()
    refused = await state.admit([budget])
    assert not refused.allowed and refused.retry_after == 3600


async def test_leases_count_concurrency_and_free_on_release(state: SharedState) -> None:
    """Leases admit up to the limit; a release frees a slot at once."""

    def lease(i: str) -> Counter:
        return Counter(key="conc", kind="lease", limit=2, cost=1, window_ms=30_000, lease_id=i)

    assert (await state.admit([lease("a")])).allowed
    assert (await state.admit([lease("b")])).allowed
    refused = await state.admit([lease("c")])
    assert not refused.allowed and refused.retry_after == 0.0
    state.submit([Release(key="conc", lease_id="a")])
    await state.flush()
    assert (await state.admit([lease("c")])).allowed


async def test_an_unrenewed_lease_expires_and_a_renewed_one_stays(state: SharedState) -> None:
    """A lease nobody renews frees its slot when it expires (a crashed replica leaks nothing)."""

    def lease(i: str) -> Counter:
        return Counter(key="exp", kind="lease", limit=2, cost=1, window_ms=300, lease_id=i)

    assert (await state.admit([lease("kept")])).allowed
    assert (await state.admit([lease("lost")])).allowed
    assert not (await state.admit([lease("new")])).allowed
    await asyncio.sleep(0.15)
    state.submit([Renew(key="exp", lease_id="kept", lease_ms=1000)])
    await state.flush()
    await asyncio.sleep(0.25)
    assert (await state.admit([lease("new")])).allowed
    assert not (await state.admit([lease("newer")])).allowed


async def test_values_have_a_ttl_and_prefetch_reads_them_in_the_admission(state: SharedState) -> None:
    """A put value is read back, prefetched with an admission even when refused, and gone after its TTL."""
    state.submit([Put(key="v1", value=b"\x00answer", ttl_ms=300)])
    await state.flush()
    assert await state.get("v1") == b"\x00answer"
    assert await state.get("v2") is None
    admitted = await state.admit([rpm("p", 1)], prefetch=["v1", "v2"])
    assert admitted.allowed and admitted.values == (b"\x00answer", None)
    refused = await state.admit([rpm("p", 1)], prefetch=["v1"])
    assert not refused.allowed and refused.values == (b"\x00answer",)
    assert (await state.admit([], prefetch=["v1"])).values == (b"\x00answer",)
    await asyncio.sleep(0.4)
    assert await state.get("v1") is None


async def test_log_reads_entries_after_a_position(state: SharedState) -> None:
    """A log returns the entries after a position, and the position after the last one."""
    entries, pos = await state.read_log("log", "")
    assert entries == []
    state.submit([Append(name="log", entry=b"a", max_len=100), Append(name="log", entry=b"b", max_len=100)])
    await state.flush()
    entries, pos = await state.read_log("log", "")
    assert entries == [b"a", b"b"]
    state.submit([Append(name="log", entry=b"c", max_len=100)])
    await state.flush()
    entries, pos2 = await state.read_log("log", pos)
    assert entries == [b"c"] and pos2 != pos
    assert (await state.read_log("log", pos2))[0] == []


async def test_concurrent_admissions_from_several_instances_never_exceed_the_limit(
    make_state: MakeState,
) -> None:
    """Admissions racing from several instances (replicas) admit exactly the limit in total."""
    states = [make_state() for _ in range(3)]
    for s in states:
        await s.start()
    results = await asyncio.gather(*(states[i % 3].admit([rpm("race", 20)]) for i in range(60)))
    assert sum(r.allowed for r in results) == 20


@pytest.mark.redis
async def test_an_unreachable_redis_fails_fast_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """Against a dead port, calls raise StateUnavailable quickly, ops are dropped, and the outage is logged once."""
    import socket
    import time

    from podium.state.base import StateUnavailable
    from podium.state.redis import RedisState

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = RedisState(f"redis://127.0.0.1:{port}/0", prefix="dead:", on_unavailable="closed")
    try:
        await state.start()
        assert not state.available
        t0 = time.perf_counter()
        for _ in range(20):
            with pytest.raises(StateUnavailable):
                await state.admit([rpm("x", 1)])
        assert time.perf_counter() - t0 < 0.5
        state.submit([Put(key="k", value=b"v", ttl_ms=1000)])
        await state.flush()
        assert state.dropped == 1
        errors = [r for r in caplog.records if "shared state unreachable" in r.getMessage()]
        assert len(errors) == 1 and "closed" in errors[0].getMessage()
    finally:
        await state.close()
