"""Usage analytics, evaluation scores and alerts: the SQL both backends share.

What differs is written per dialect here too: the hour/day bucket expression, and percentiles —
PostgreSQL's ``percentile_cont``; SQLite has none, so each group's rows are ranked by a window
function and the two ranks around the percentile are read back and interpolated in Python with
exactly ``percentile_cont``'s formula (value at ``p*(n-1)``, linear between its neighbours). Either
way the work stays in the database and the result is one row per group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from podium.errors import RequestError
from podium.storage.observability_records import (
    DIMENSIONS,
    AlertEvent,
    AlertState,
    EvalQuery,
    EvalScore,
    EvalSummary,
    UsageQuery,
    UsageRow,
)

__all__ = [
    "EVAL_COLUMNS",
    "EVENT_COLUMNS",
    "STATE_COLUMNS",
    "Statements",
    "eval_from_row",
    "eval_row",
    "eval_summary_sql",
    "event_from_row",
    "event_row",
    "state_from_row",
    "state_row",
    "statements",
    "summary_from_rows",
    "usage_rows",
    "usage_sql",
]

Dialect = Literal["sqlite", "postgres"]

EVAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(EvalScore))
STATE_COLUMNS: tuple[str, ...] = tuple(
    "grp" if f.name == "group" else f.name for f in msgspec.structs.fields(AlertState)
)
EVENT_COLUMNS: tuple[str, ...] = tuple(
    "grp" if f.name == "group" else f.name for f in msgspec.structs.fields(AlertEvent) if f.name != "id"
)


class Statements(msgspec.Struct, frozen=True):
    """The writes both backends make, in one placeholder style (``$1`` or ``?1``)."""

    insert_score: str
    upsert_state: str
    insert_event: str
    lease: str


def statements(mark: Literal["$", "?"]) -> Statements:
    def values(columns: tuple[str, ...]) -> str:
        return ", ".join(f"{mark}{i}" for i in range(1, len(columns) + 1))

    return Statements(
        insert_score=f"INSERT INTO eval_scores ({', '.join(EVAL_COLUMNS)}) VALUES ({values(EVAL_COLUMNS)}) "
        "ON CONFLICT (request_id, evaluator) DO NOTHING",
        upsert_state=f"INSERT INTO alert_states ({', '.join(STATE_COLUMNS)}) VALUES ({values(STATE_COLUMNS)}) "
        "ON CONFLICT (rule, grp) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS if c not in ("rule", "grp")),
        insert_event=f"INSERT INTO alert_events ({', '.join(EVENT_COLUMNS)}) "
        f"VALUES ({values(EVENT_COLUMNS)}) RETURNING id",
        lease=f"INSERT INTO leases (name, holder, expires_at) VALUES ({mark}1, {mark}2, {mark}3) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
        f"WHERE leases.holder = excluded.holder OR leases.expires_at < {mark}4 RETURNING holder",
    )


def _bucket(dialect: Dialect, seconds: int) -> str:
    if dialect == "sqlite":
        return f"(CAST(r.created_at / {seconds} AS INTEGER) * {seconds})"
    return f"(floor(r.created_at / {seconds}) * {seconds})::bigint"


def _dimension(name: str, dialect: Dialect, q: UsageQuery) -> str:
    if name == "bucket" and q.bucket_seconds:
        # Inlined as literals: both are floats from the caller, never text.
        width, origin = float(q.bucket_seconds), float(q.bucket_origin)
        if dialect == "sqlite":
            return f"CAST((r.created_at - {origin!r}) / {width!r} AS INTEGER)"
        return f"floor((r.created_at - {origin!r}) / {width!r})::bigint"
    match name:
        case "tenant":
            return "r.tenant"
        case "team":
            return "r.team"
        case "key":
            return "r.key_id"
        case "model":
            return "r.requested_model"
        case "route":
            return "r.route"
        case "deployment":
            return "r.deployment"
        case "provider":
            return "r.provider"
        case "prompt":
            return "r.prompt_name"
        case "prompt_version":
            return "(r.prompt_name || '@v' || r.prompt_version)"
        case "hour":
            return _bucket(dialect, 3600)
        case "day":
            return _bucket(dialect, 86400)
    raise RequestError(
        f"Cannot group by '{name}': use {', '.join(DIMENSIONS)}.", param="group_by", code="invalid_group_by"
    )


class _Args:
    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"{self.mark}{len(self.values)}"

    def within(self, column: str, values: Sequence[Any]) -> str:
        return f"{column} IN ({', '.join(self(v) for v in values)})"


def _filters(q: UsageQuery, a: _Args) -> list[str]:
    clauses: list[str] = []
    for column, values in (
        ("r.tenant", q.tenants),
        ("r.team", q.teams),
        ("r.key_id", q.keys),
        ("r.requested_model", q.models),
        ("r.route", q.routes),
        ("r.deployment", q.deployments),
        ("r.provider", q.providers),
        ("r.prompt_name", q.prompts),
    ):
        if values:
            clauses.append(a.within(column, values))
    if q.prompt_version is not None:
        clauses.append(f"r.prompt_version = {a(q.prompt_version)}")
    if q.since is not None:
        clauses.append(f"r.created_at >= {a(q.since)}")
    if q.until is not None:
        clauses.append(f"r.created_at < {a(q.until)}")
    return clauses


_PERCENTILES = (0.5, 0.95)


def usage_sql(q: UsageQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """One row per group: the dimensions, the totals, then the percentile columns of ``dialect``."""
    a = _Args("?" if dialect == "sqlite" else "$")
    dims = [_dimension(d, dialect, q) for d in q.group_by]
    if len(set(q.group_by)) != len(q.group_by):
        raise RequestError(
            "A dimension appears twice in group_by.", param="group_by", code="invalid_group_by"
        )
    scores = "SELECT request_id, avg(score) AS q FROM eval_scores WHERE score IS NOT NULL"
    if q.evaluator is not None:
        scores += f" AND evaluator = {a(q.evaluator)}"
    if q.since is not None:
        scores += f" AND created_at >= {a(q.since)}"  # a score is written after its request
    scores += " GROUP BY request_id"
    where = _filters(q, a)
    where_sql = f" WHERE {' AND '.join(where)}" if where else ""
    dim_cols = [f"{expr} AS d{i}" for i, expr in enumerate(dims)]
    base = (
        f"SELECT {', '.join([*dim_cols, ''])}r.latency_ms AS lat, r.ttft_ms AS ttft, r.status, r.input_tokens, "
        "r.output_tokens, r.cached_tokens, r.cost_usd, r.cache, r.guardrail_action, r.limit_hit, e.q "
        f"FROM request_log r LEFT JOIN ({scores}) e ON e.request_id = r.id{where_sql}"
    )
    names = [f"d{i}" for i in range(len(dims))]
    totals = (
        "count(*), sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END), sum(input_tokens), sum(output_tokens), "
        "sum(cached_tokens), sum(cost_usd), avg(lat), "
        "sum(CASE WHEN cache IN ('hit', 'semantic-hit') THEN 1 ELSE 0 END), "
        "sum(CASE WHEN guardrail_action = 'block' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 429 AND limit_hit IS NOT NULL THEN 1 ELSE 0 END), count(q), avg(q)"
    )
    group = f" GROUP BY {', '.join(names)} ORDER BY {', '.join(names)}" if names else ""
    limit = f" LIMIT {a(min(max(q.limit, 1), 10_000))}"
    head = ", ".join([*names, ""])
    if dialect == "postgres":
        pct = ", ".join(
            f"percentile_cont({p}) WITHIN GROUP (ORDER BY {col})"
            for col in ("lat", "ttft")
            for p in _PERCENTILES
        )
        return f"SELECT {head}{totals}, {pct} FROM ({base}) b{group}{limit}", a.values
    partition = f"PARTITION BY {', '.join(names)} " if names else ""
    ranked = (
        f"SELECT *, row_number() OVER ({partition}ORDER BY lat) AS lrn, count(*) OVER ({partition.strip()}) AS n, "
        f"row_number() OVER ({partition}ORDER BY ttft IS NULL, ttft) AS trn, "
        f"count(ttft) OVER ({partition.strip()}) AS tn FROM ({base})"
    )
    pct_cols = []
    for col, rank, count in (("lat", "lrn", "n"), ("ttft", "trn", "tn")):
        for p in _PERCENTILES:
            lo = f"CAST({p} * ({count} - 1) AS INTEGER) + 1"
            pct_cols.append(f"max(CASE WHEN {rank} = {lo} THEN {col} END)")
            pct_cols.append(f"max(CASE WHEN {rank} = {lo} + 1 THEN {col} END)")
            pct_cols.append(f"max({count})")
    return f"SELECT {head}{totals}, {', '.join(pct_cols)} FROM ({ranked}){group}{limit}", a.values


def _interpolate(lo: float | None, hi: float | None, n: int | None, p: float) -> float | None:
    if lo is None or not n:
        return None
    pos = p * (n - 1)
    frac = pos - math.floor(pos)
    return float(lo) if hi is None or frac == 0 else float(lo) + frac * (float(hi) - float(lo))


def _round(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def usage_rows(rows: list[Sequence[Any]], q: UsageQuery, dialect: Dialect) -> list[UsageRow]:
    out: list[UsageRow] = []
    k = len(q.group_by)
    for row in rows:
        count = int(row[k])
        if count == 0:
            continue  # no group: the aggregate of nothing
        (errors, tin, tout, tcached, cost, lat_avg, hits, blocks, limited, evaluated, quality) = row[
            k + 1 : k + 12
        ]
        rest = list(row[k + 12 :])
        if dialect == "postgres":
            p50, p95, t50, t95 = (_round(v) for v in rest[:4])
        else:
            vals = [
                _interpolate(rest[i], rest[i + 1], rest[i + 2], p)
                for i, p in zip(range(0, 12, 3), (*_PERCENTILES, *_PERCENTILES), strict=True)
            ]
            p50, p95, t50, t95 = (_round(v) for v in vals)
        group = {}
        for name, value in zip(q.group_by, row[:k], strict=True):
            group[name] = int(value) if name in ("hour", "day", "bucket") and value is not None else value
        out.append(
            UsageRow(
                group=group,
                requests=count,
                errors=int(errors or 0),
                error_rate=int(errors or 0) / count,
                input_tokens=int(tin or 0),
                output_tokens=int(tout or 0),
                cached_tokens=int(tcached or 0),
                cost_usd=round(float(cost or 0.0), 10),
                latency_avg_ms=_round(lat_avg),
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                ttft_p50_ms=t50,
                ttft_p95_ms=t95,
                cache_hits=int(hits or 0),
                guardrail_blocks=int(blocks or 0),
                limit_rejections=int(limited or 0),
                evaluated=int(evaluated or 0),
                quality=_round(quality, 6),
            )
        )
    return out


# --------------------------------------------------------------------------- evaluation scores

_EVAL_DIMENSIONS = {
    "route": "route",
    "model": "model",
    "deployment": "deployment",
    "prompt": "prompt_name",
    "prompt_version": "(prompt_name || '@v' || prompt_version)",
    "tenant": "tenant",
    "source": "source",
}


def eval_row(s: EvalScore) -> list[Any]:
    fields = msgspec.structs.asdict(s)
    score = fields["score"]
    if score is not None and math.isnan(score):
        fields["score"] = None
    return [fields[c] for c in EVAL_COLUMNS]


def eval_from_row(row: Sequence[Any]) -> EvalScore:
    return msgspec.convert(dict(zip(EVAL_COLUMNS, row, strict=True)), EvalScore, strict=False)


def eval_summary_sql(q: EvalQuery, mark: str) -> tuple[str, list[Any]]:
    a = _Args(mark)
    dims = []
    for name in q.group_by:
        expr = _EVAL_DIMENSIONS.get(name)
        if expr is None:
            raise RequestError(
                f"Cannot group scores by '{name}': use {', '.join(_EVAL_DIMENSIONS)}.",
                param="group_by",
                code="invalid_group_by",
            )
        dims.append(expr)
    clauses = []
    for column, value in (
        ("tenant", q.tenant),
        ("evaluator", q.evaluator),
        ("source", q.source),
        ("prompt_name", q.prompt),
    ):
        if value is not None:
            clauses.append(f"{column} = {a(value)}")
    if q.since is not None:
        clauses.append(f"created_at >= {a(q.since)}")
    if q.until is not None:
        clauses.append(f"created_at < {a(q.until)}")
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    cols = [*dims, "evaluator"]
    sql = (
        f"SELECT {', '.join(cols)}, count(*), count(score), avg(score), "
        f"sum(CASE WHEN score >= 0.5 THEN 1 ELSE 0 END) FROM eval_scores{where} "
        f"GROUP BY {', '.join(cols)} ORDER BY {', '.join(cols)}"
    )
    return sql, a.values


def summary_from_rows(rows: list[Sequence[Any]], q: EvalQuery) -> list[EvalSummary]:
    k = len(q.group_by)
    out = []
    for row in rows:
        measured = int(row[k + 2])
        out.append(
            EvalSummary(
                group=dict(zip(q.group_by, row[:k], strict=True)),
                evaluator=str(row[k]),
                count=int(row[k + 1]),
                measured=measured,
                mean=_round(row[k + 3], 6),
                pass_rate=round(int(row[k + 4] or 0) / measured, 6) if measured else None,
            )
        )
    return out


# --------------------------------------------------------------------------- alerts


def state_row(s: AlertState) -> list[Any]:
    return list(msgspec.structs.astuple(s))


def state_from_row(row: Sequence[Any]) -> AlertState:
    fields = dict(zip(STATE_COLUMNS, row, strict=True))
    fields["group"] = fields.pop("grp")
    return msgspec.convert(fields, AlertState, strict=False)


def event_row(e: AlertEvent) -> list[Any]:
    fields = msgspec.structs.asdict(e)
    fields["grp"] = fields.pop("group")
    fields["deliveries"] = msgspec.json.encode(e.deliveries).decode()
    return [fields[c] for c in EVENT_COLUMNS]


def event_from_row(row: Sequence[Any]) -> AlertEvent:
    fields = dict(zip(("id", *EVENT_COLUMNS), row, strict=True))
    fields["group"] = fields.pop("grp")
    fields["deliveries"] = msgspec.json.decode(fields["deliveries"])
    return msgspec.convert(fields, AlertEvent, strict=False)
