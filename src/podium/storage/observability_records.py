"""What observability keeps in storage: usage aggregates, evaluation scores, alert state and history.

Usage aggregates are computed from the request log on demand (never stored); scores, alert states and
alert events are records with a format ``version`` like every other stored record.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "DIMENSIONS",
    "AlertEvent",
    "AlertState",
    "EvalQuery",
    "EvalScore",
    "EvalSummary",
    "UsageQuery",
    "UsageRow",
]

# The dimensions usage and scores can be grouped by, in the order a group's values are listed.
DIMENSIONS: tuple[str, ...] = (
    "tenant",
    "team",
    "key",
    "model",
    "route",
    "deployment",
    "provider",
    "prompt",
    "prompt_version",
    "hour",
    "day",
)


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which requests to aggregate, and by what. Each filter is a set of allowed values (empty: any)."""

    group_by: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    models: tuple[str, ...] = ()  # requested (public) model names
    routes: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    prompt_version: int | None = None
    evaluator: str | None = None  # the quality column averages only this evaluator's scores
    bucket_seconds: float | None = None  # with the dimension "bucket": windows of this length…
    bucket_origin: float = 0.0  # …counted from this instant (bucket 0 starts here)
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    limit: int = 1000  # groups


class UsageRow(msgspec.Struct, frozen=True, kw_only=True):
    """One group's totals. Latency percentiles are interpolated (PostgreSQL's ``percentile_cont``)."""

    group: dict[str, str | int | None]
    requests: int
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_avg_ms: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    cache_hits: int
    guardrail_blocks: int
    limit_rejections: int
    evaluated: int  # requests with at least one measured score
    quality: float | None  # mean score (0..1) of those requests; None: none evaluated


class EvalScore(msgspec.Struct, frozen=True, kw_only=True):
    """One evaluator's score of one answer. ``score`` None means unmeasured (NaN), never a failure."""

    request_id: str
    evaluator: str
    score: float | None
    created_at: float
    source: str = "live"  # "live" (sampled traffic) or "dataset:<file name>"
    tenant: str = "default"
    model: str  # the requested (public) model name
    route: str | None = None
    deployment: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    detail: str | None = None  # why: the failed check, the judge's reasoning, the error
    version: int = 1


class EvalQuery(msgspec.Struct, frozen=True, kw_only=True):
    group_by: tuple[str, ...] = ()  # route, model, deployment, prompt, prompt_version, tenant, source
    tenant: str | None = None
    evaluator: str | None = None
    source: str | None = None
    prompt: str | None = None
    since: float | None = None
    until: float | None = None


class EvalSummary(msgspec.Struct, frozen=True, kw_only=True):
    group: dict[str, str | int | None]
    evaluator: str
    count: int  # scores, measured or not
    measured: int
    mean: float | None  # over the measured scores
    pass_rate: float | None  # share of measured scores >= 0.5


AlertStatus = Literal["firing", "resolved"]


class AlertState(msgspec.Struct, frozen=True, kw_only=True):
    """Where one rule stands for one group (``group`` is "" for a rule over all traffic)."""

    rule: str
    group: str = ""
    status: AlertStatus
    value: float | None
    condition: str  # "error_rate > 0.05", "cost_usd 3.1SD above baseline 0.42"
    since: float  # when it entered this status
    updated_at: float
    notified_at: float | None = None
    severity: str = "warning"
    version: int = 1


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change of an alert: it fired, resolved, or was repeated while firing."""

    id: int = 0  # assigned by storage, increasing
    rule: str
    group: str = ""
    kind: Literal["fired", "resolved", "repeated"]
    value: float | None
    condition: str
    message: str
    severity: str = "warning"
    at: float
    deliveries: dict[str, str] = {}  # channel -> "ok" or the error
    version: int = 1
