"""Usage analytics, evaluation scores and alert state on every backend (see conftest.py)."""

from __future__ import annotations

import math

import msgspec
import pytest

from podium.errors import RequestError
from podium.storage import RequestRecord, Storage
from podium.storage.observability_records import AlertEvent, AlertState, EvalQuery, EvalScore, UsageQuery

T0 = 1_700_000_000.0  # a whole day boundary minus some hours does not matter: buckets are computed


def _request(n: int, **changes: object) -> RequestRecord:
    record = RequestRecord(
        id=f"req_{n:06d}",
        created_at=T0 + n,
        key_id="key_a",
        requested_model="support",
        route="support",
        deployment="dep-a",
        status=200,
        latency_ms=float(n),
        cost_usd=0.5,
        input_tokens=10,
        output_tokens=5,
    )
    return msgspec.structs.replace(record, **changes)


def _percentile(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont, for checking."""
    values = sorted(values)
    pos = p * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (pos - lo) * (values[hi] - values[lo])


async def test_usage_groups_totals_and_interpolated_percentiles(storage: Storage) -> None:
    """Usage rows carry per-group counts, errors, tokens, cost and percentile_cont latencies."""
    records = [_request(n, deployment="dep-a" if n % 2 else "dep-b", team="red") for n in range(1, 22)]
    records.append(_request(100, deployment="dep-a", status=502, error_class="upstream", ttft_ms=7.0))
    records.append(_request(101, tenant="other", deployment="dep-a"))
    await storage.requests.append_many(records)
    rows = await storage.usage.summary(UsageQuery(group_by=("deployment",), tenants=("default",)))
    by = {r.group["deployment"]: r for r in rows}
    assert set(by) == {"dep-a", "dep-b"}
    a = by["dep-a"]
    lat_a = [float(n) for n in range(1, 22) if n % 2] + [100.0]
    assert a.requests == len(lat_a) and a.errors == 1
    assert a.error_rate == pytest.approx(1 / len(lat_a))
    assert a.cost_usd == pytest.approx(0.5 * len(lat_a))
    assert a.input_tokens == 10 * len(lat_a)
    assert a.latency_p50_ms == pytest.approx(_percentile(lat_a, 0.5))
    assert a.latency_p95_ms == pytest.approx(_percentile(lat_a, 0.95))
    assert a.ttft_p95_ms == pytest.approx(7.0)
    assert by["dep-b"].ttft_p50_ms is None
    total = await storage.usage.summary(UsageQuery())
    assert len(total) == 1 and total[0].requests == 23
    teams = await storage.usage.summary(UsageQuery(group_by=("team",), teams=("red",)))
    assert [(r.group["team"], r.requests) for r in teams] == [("red", 21)]


async def test_usage_by_hour_and_window_filters(storage: Storage) -> None:
    """Hour buckets are epoch seconds; since/until bound the window; an empty window has no rows."""
    await storage.requests.append_many([_request(n, created_at=T0 + n * 1800) for n in range(4)])
    rows = await storage.usage.summary(UsageQuery(group_by=("hour",)))
    assert sum(r.requests for r in rows) == 4
    assert all(isinstance(r.group["hour"], int) and r.group["hour"] % 3600 == 0 for r in rows)
    assert len(rows) in (2, 3)
    assert await storage.usage.summary(UsageQuery(since=T0 + 10**6)) == []
    window = await storage.usage.summary(UsageQuery(since=T0 + 1800, until=T0 + 3 * 1800))
    assert window[0].requests == 2


async def test_usage_rejects_unknown_dimension(storage: Storage) -> None:
    """An unknown group_by dimension is the caller's error, named."""
    with pytest.raises(RequestError, match="colour"):
        await storage.usage.summary(UsageQuery(group_by=("colour",)))


async def test_scores_join_usage_and_aggregate_per_prompt_version(storage: Storage) -> None:
    """Scores attach to requests: usage shows their mean, summaries group them; NaN is unmeasured."""
    await storage.requests.append_many(
        [_request(n, prompt_name="summary", prompt_version=1 + n % 2) for n in range(1, 5)]
    )

    def score(n: int, value: float, evaluator: str = "json") -> EvalScore:
        return EvalScore(
            request_id=f"req_{n:06d}",
            evaluator=evaluator,
            score=value,
            created_at=T0 + 10,
            model="support",
            prompt_name="summary",
            prompt_version=1 + n % 2,
        )

    await storage.evals.put_many([score(1, 1.0), score(2, 0.0), score(3, 0.5), score(4, math.nan, "judge")])
    await storage.evals.put_many([score(1, 0.0)])  # a known (request, evaluator) is not overwritten
    rows = await storage.usage.summary(UsageQuery(group_by=("prompt_version",)))
    by = {r.group["prompt_version"]: r for r in rows}
    assert by["summary@v2"].evaluated == 2 and by["summary@v2"].quality == pytest.approx(0.75)
    assert by["summary@v1"].evaluated == 1 and by["summary@v1"].quality == pytest.approx(0.0)
    summary = await storage.evals.summary(EvalQuery(group_by=("prompt_version",)))
    found = {(s.group["prompt_version"], s.evaluator): s for s in summary}
    assert found[("summary@v1", "judge")].count == 1 and found[("summary@v1", "judge")].measured == 0
    assert found[("summary@v1", "judge")].mean is None
    assert found[("summary@v2", "json")].pass_rate == pytest.approx(1.0)
    stored = await storage.evals.for_request("req_000004")
    assert [s.score for s in stored] == [None]


async def test_alert_state_history_and_lease(storage: Storage) -> None:
    """States are replaced per (rule, group), events get increasing ids, a lease has one holder."""
    state = AlertState(
        rule="errors",
        group="dep-a",
        status="firing",
        value=0.5,
        condition="error_rate > 0.1",
        since=T0,
        updated_at=T0,
    )
    event = AlertEvent(
        rule="errors",
        group="dep-a",
        kind="fired",
        value=0.5,
        condition="error_rate > 0.1",
        message="m",
        at=T0,
        deliveries={"hook": "ok"},
    )
    first = await storage.alerts.record(state, event)
    resolved = msgspec.structs.replace(state, status="resolved", since=T0 + 60, updated_at=T0 + 60)
    second = await storage.alerts.record(
        resolved, msgspec.structs.replace(event, kind="resolved", at=T0 + 60)
    )
    assert first is not None and second is not None and second.id > first.id
    assert [s.status for s in await storage.alerts.states()] == ["resolved"]
    events = await storage.alerts.events(rule="errors")
    assert [e.kind for e in events] == ["resolved", "fired"] and events[1].deliveries == {"hook": "ok"}
    assert [e.kind for e in await storage.alerts.events(before=second.id)] == ["fired"]
    assert await storage.alerts.acquire_lease("alerts", "a", ttl=10, now=T0)
    assert not await storage.alerts.acquire_lease("alerts", "b", ttl=10, now=T0 + 1)
    assert await storage.alerts.acquire_lease("alerts", "a", ttl=10, now=T0 + 2)  # renewed by its holder
    assert await storage.alerts.acquire_lease("alerts", "b", ttl=10, now=T0 + 20)  # taken over once expired


async def test_usage_by_fixed_width_buckets(storage: Storage) -> None:
    """The bucket dimension counts windows of bucket_seconds from bucket_origin (what anomaly rules read)."""
    await storage.requests.append_many(
        [_request(n, created_at=T0 + n * 10, cost_usd=float(n)) for n in range(6)]
    )
    rows = await storage.usage.summary(
        UsageQuery(group_by=("bucket",), bucket_seconds=20.0, bucket_origin=T0, since=T0, until=T0 + 60)
    )
    assert [(r.group["bucket"], r.requests, r.cost_usd) for r in rows] == [
        (0, 2, 1.0),
        (1, 2, 5.0),
        (2, 2, 9.0),
    ]
