"""Measuring one alert rule over its rolling window, and judging it: threshold or learned baseline.

A rule's value per group comes from the usage analytics (:class:`podium.storage.base.UsageStore`), so
an alert and the usage page always agree. An anomaly rule reads the ``baseline_windows`` windows of
the same length before the current one in the same query (grouped by a ``bucket`` dimension) and
fires when the current window is ``deviations`` exponentially weighted standard deviations (and at
least ``min_delta``) away from the exponentially weighted mean of those windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from podium.config.observability import AlertRule, duration_seconds
from podium.storage.base import UsageStore
from podium.storage.observability_records import UsageQuery, UsageRow

__all__ = ["Verdict", "ewma", "judge_rule"]

# Metrics for which a window without requests has a value (zero) rather than none.
_ADDITIVE = frozenset({"cost_usd", "requests"})


@dataclass(frozen=True, slots=True)
class Verdict:
    group: str  # "" for the whole rule, else the group's value ("dep-a")
    firing: bool
    value: float | None
    condition: str
    requests: int


def metric_value(metric: str, row: UsageRow | None) -> float | None:
    if row is None:
        return 0.0 if metric in _ADDITIVE else None
    match metric:
        case "cost_usd":
            return row.cost_usd
        case "requests":
            return float(row.requests)
        case "error_rate":
            return row.error_rate
        case "p50_latency_ms":
            return row.latency_p50_ms
        case "p95_latency_ms":
            return row.latency_p95_ms
        case "p95_ttft_ms":
            return row.ttft_p95_ms
        case "guardrail_block_rate":
            return row.guardrail_blocks / row.requests if row.requests else None
        case "quality":
            return row.quality
    raise ValueError(f"unknown metric {metric!r}")


def ewma(values: list[float], alpha: float) -> tuple[float, float]:
    """The exponentially weighted mean and standard deviation of ``values`` (oldest first)."""
    mean = values[0]
    var = 0.0
    for x in values[1:]:
        diff = x - mean
        incr = alpha * diff
        mean += incr
        var = (1 - alpha) * (var + diff * incr)
    return mean, math.sqrt(max(var, 0.0))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _query(rule: AlertRule, now: float, window: float, extra: tuple[str, ...], since: float) -> UsageQuery:
    return UsageQuery(
        group_by=((rule.group_by,) if rule.group_by else ()) + extra,
        routes=rule.routes,
        deployments=rule.deployments,
        tenants=rule.tenants,
        since=since,
        until=now,
        bucket_seconds=window if extra else None,
        bucket_origin=since,
    )


def _group_of(rule: AlertRule, row: UsageRow) -> str:
    if rule.group_by is None:
        return ""
    value = row.group.get(rule.group_by)
    return "" if value is None else str(value)


async def judge_rule(store: UsageStore, rule: AlertRule, now: float) -> list[Verdict]:
    """The rule's verdict for every group seen in its window (one verdict when it has no group_by)."""
    window = duration_seconds(rule.window)
    if rule.anomaly is None:
        rows = await store.summary(_query(rule, now, window, (), now - window))
        by_group = {_group_of(rule, r): r for r in rows}
        if rule.group_by is None and not by_group:
            by_group[""] = None  # type: ignore[assignment]  # no traffic: additive metrics are 0
        return [_threshold(rule, group, row) for group, row in by_group.items()]
    a = rule.anomaly
    since = now - window * (a.baseline_windows + 1)
    rows = await store.summary(_query(rule, now, window, ("bucket",), since))
    series: dict[str, dict[int, UsageRow]] = {}
    for r in rows:
        bucket = r.group.get("bucket")
        if isinstance(bucket, int):
            series.setdefault(_group_of(rule, r), {})[bucket] = r
    if rule.group_by is None:
        series.setdefault("", {})
    return [_anomaly(rule, group, buckets, a.baseline_windows) for group, buckets in series.items()]


def _threshold(rule: AlertRule, group: str, row: UsageRow | None) -> Verdict:
    requests = row.requests if row is not None else 0
    value = metric_value(rule.metric, row)
    if value is None or requests < rule.min_requests:
        return Verdict(group, False, value, f"{rule.metric}: not enough data ({requests} requests)", requests)
    if rule.above is not None and value > rule.above:
        return Verdict(group, True, value, f"{rule.metric} {_fmt(value)} > {_fmt(rule.above)}", requests)
    if rule.below is not None and value < rule.below:
        return Verdict(group, True, value, f"{rule.metric} {_fmt(value)} < {_fmt(rule.below)}", requests)
    bound = f" > {_fmt(rule.above)}" if rule.above is not None else f" < {_fmt(rule.below or 0)}"
    return Verdict(group, False, value, f"{rule.metric} {_fmt(value)}, not{bound}", requests)


def _anomaly(rule: AlertRule, group: str, buckets: dict[int, UsageRow], n: int) -> Verdict:
    a = rule.anomaly
    assert a is not None
    current_row = buckets.get(n)
    requests = current_row.requests if current_row is not None else 0
    current = metric_value(rule.metric, current_row)
    history = [metric_value(rule.metric, buckets.get(i)) for i in range(n)]
    baseline = [v for v in history if v is not None]
    if current is None or requests < rule.min_requests or len(baseline) < 2:
        return Verdict(group, False, current, f"{rule.metric}: not enough data for a baseline", requests)
    mean, std = ewma(baseline, a.alpha)
    margin = max(a.deviations * std, a.min_delta)
    above = current > mean + margin
    below = current < mean - margin
    firing = (a.direction in ("above", "both") and above) or (a.direction in ("below", "both") and below)
    sigmas = abs(current - mean) / std if std > 0 else math.inf
    where = "above" if current >= mean else "below"
    sigma_text = f"{sigmas:.1f} SD" if math.isfinite(sigmas) else "infinitely many SD"
    condition = (
        f"{rule.metric} {_fmt(current)} is {sigma_text} {where} its baseline {_fmt(mean)} (±{_fmt(std)})"
    )
    return Verdict(group, firing, current, condition, requests)
