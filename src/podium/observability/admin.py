"""Admin routes: ``GET /admin/usage`` (JSON or CSV), ``GET /admin/evaluations``, ``GET /admin/alerts``.

Usage and evaluation scores are scoped to the caller's tenant. Alerts are the platform's (rules live
in the configuration), so ``alerts:read`` shows every rule's state and history.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from podium.alerting.engine import describe_rules
from podium.config.observability import duration_seconds
from podium.errors import RequestError
from podium.gateway.permissions import Raw, admin_route, query_float, query_int, query_limit
from podium.gateway.router import Route
from podium.identity.principal import Principal
from podium.storage.observability_records import (
    DIMENSIONS,
    AlertEvent,
    AlertState,
    EvalQuery,
    EvalSummary,
    UsageQuery,
    UsageRow,
)

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES"]

_USAGE_QUERY = (
    ("group_by", f"comma-separated: {', '.join(DIMENSIONS)}"),
    ("since", "epoch seconds (default: 24 hours ago)"),
    ("until", "epoch seconds (default: now)"),
    ("window", "instead of since: the last 15m, 24h, 7d…"),
    ("key", "only this key id"),
    ("team", "only this team"),
    ("model", "only this requested model"),
    ("route", "only this route"),
    ("deployment", "only this deployment"),
    ("provider", "only this provider"),
    ("prompt", "only this registry prompt"),
    ("prompt_version", "only this version of it"),
    ("evaluator", "quality from this evaluator's scores only"),
    ("format", "json (default) or csv"),
    ("limit", "the most groups (default 1000)"),
)
_CSV_FIELDS = [
    "requests", "errors", "error_rate", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
    "latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms", "ttft_p95_ms", "cache_hits",
    "guardrail_blocks", "limit_rejections", "evaluated", "quality",
]  # fmt: skip


def _one(request: web.BaseRequest, name: str) -> tuple[str, ...]:
    value = request.query.get(name)
    return (value,) if value else ()


def _window(request: web.BaseRequest) -> tuple[float, float]:
    now = time.time()
    until = query_float(request, "until") or now
    window = request.query.get("window")
    if window:
        try:
            return until - duration_seconds(window), until
        except ValueError as exc:
            raise RequestError(str(exc), param="window") from None
    since = query_float(request, "since")
    return (since if since is not None else until - 86400.0), until


def _group_by(request: web.BaseRequest) -> tuple[str, ...]:
    raw = request.query.get("group_by") or ""
    dims = tuple(d.strip() for d in raw.split(",") if d.strip())
    for d in dims:
        if d not in DIMENSIONS:
            raise RequestError(
                f"Cannot group by '{d}': use {', '.join(DIMENSIONS)}.",
                param="group_by",
                code="invalid_group_by",
            )
    return dims


def _csv(rows: list[UsageRow], dims: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*dims, *_CSV_FIELDS])
    for r in rows:
        writer.writerow([_cell(r.group.get(d)) for d in dims] + [_cell(getattr(r, f)) for f in _CSV_FIELDS])
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@admin_route("usage:read", response=list[UsageRow], query=_USAGE_QUERY)
async def usage(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Cost, tokens, requests, latency percentiles, error rates and quality of the caller's tenant, grouped."""
    dims = _group_by(request)
    since, until = _window(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise RequestError("'format' must be json or csv.", param="format")
    limit = query_limit(request, 1000, most=10_000)
    query = UsageQuery(
        group_by=dims,
        tenants=(principal.tenant,),
        keys=_one(request, "key"),
        teams=_one(request, "team"),
        models=_one(request, "model"),
        routes=_one(request, "route"),
        deployments=_one(request, "deployment"),
        providers=_one(request, "provider"),
        prompts=_one(request, "prompt"),
        prompt_version=query_int(request, "prompt_version"),
        evaluator=request.query.get("evaluator") or None,
        since=since,
        until=until,
        limit=limit,
    )
    rows = await gw.storage.usage.summary(query)
    if fmt == "csv":
        return 200, Raw(_csv(rows, dims), "text/csv")
    return 200, {"object": "list", "group_by": list(dims), "since": since, "until": until, "data": rows}


_EVAL_QUERY = (
    ("group_by", "comma-separated: route, model, deployment, prompt, prompt_version, source"),
    ("evaluator", "only this evaluator"),
    ("source", "live or dataset:<file>"),
    ("prompt", "only this registry prompt"),
    ("since", "epoch seconds (default: 24 hours ago)"),
    ("until", "epoch seconds"),
    ("window", "instead of since: the last 15m, 24h, 7d…"),
)


@admin_route("evaluations:read", response=list[EvalSummary], query=_EVAL_QUERY)
async def evaluations(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Quality scores of the caller's tenant, aggregated per evaluator and the chosen groups."""
    raw = request.query.get("group_by") or ""
    since, until = _window(request)
    query = EvalQuery(
        group_by=tuple(d.strip() for d in raw.split(",") if d.strip()),
        tenant=principal.tenant,
        evaluator=request.query.get("evaluator") or None,
        source=request.query.get("source") or None,
        prompt=request.query.get("prompt") or None,
        since=since,
        until=until,
    )
    return 200, {"object": "list", "data": await gw.storage.evals.summary(query)}


@admin_route(
    "alerts:read",
    response=dict[str, Any],
    query=(
        ("rule", "only this rule's history"),
        ("before", "history with id below this"),
        ("limit", "events (default 100)"),
    ),
)
async def alerts(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Every alert rule, where each stands (firing or resolved), and the history of notifications."""
    limit = query_limit(request, 100)
    rule = request.query.get("rule") or None
    states: list[AlertState] = await gw.storage.alerts.states()
    history: list[AlertEvent] = await gw.storage.alerts.events(
        rule=rule, before=query_int(request, "before"), limit=limit
    )
    return 200, {
        "rules": describe_rules(gw.config.alerting),
        "firing": [s for s in states if s.status == "firing" and (rule is None or s.rule == rule)],
        "states": [s for s in states if rule is None or s.rule == rule],
        "history": history,
        "next_before": history[-1].id if len(history) == limit else None,
    }


ROUTES = [
    Route("GET", "/admin/usage", usage),
    Route("GET", "/admin/evaluations", evaluations),
    Route("GET", "/admin/alerts", alerts),
]
