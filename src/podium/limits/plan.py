"""Which limits apply to a request, worked out once per key and model, then served from memory.

A :class:`Plan` is the list of :class:`Meter` (one counted quantity of one rule for one subject:
``per-key.rpm`` of key ``key_ab12``) a request of that key for that model is counted against.
Plans are memoised on everything they depend on (key id and revision, team, tenant, model), so the
request path pays one dict lookup.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Literal

from podium.config.limits import LimitMatch, LimitRule
from podium.storage.records import KeyRecord

__all__ = ["Meter", "Plan", "Planner", "period_window"]

Metric = Literal["rpm", "tpm", "concurrent", "usd_per_day", "usd_per_month"]
METRICS: tuple[Metric, ...] = ("rpm", "tpm", "concurrent", "usd_per_day", "usd_per_month")

_MEMO_LIMIT = 10_000

_UNITS: dict[Metric, str] = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "concurrent": "requests at once",
    "usd_per_day": "USD per day",
    "usd_per_month": "USD per month",
}


@dataclass(frozen=True, slots=True)
class Meter:
    """One limit on one subject: ``rule.metric`` for ``subject`` (a key id, team, tenant or deployment)."""

    rule: str
    metric: Metric
    per: str
    subject: str
    limit: float
    queue_wait: float  # seconds a refused request may wait; 0: no queue
    queue_size: int

    @property
    def name(self) -> str:
        """The limit's name as callers see it: ``per-key.rpm``."""
        return f"{self.rule}.{self.metric}"

    @property
    def key(self) -> str:
        return f"lim:{self.rule}:{self.metric}:{self.per}:{self.subject}"

    def describe(self) -> str:
        amount = f"{self.limit:g}" if self.metric.startswith("usd") else f"{int(self.limit)}"
        return f"{amount} {_UNITS[self.metric]} per {self.per}"


@dataclass(frozen=True, slots=True)
class Plan:
    meters: tuple[Meter, ...]  # key, team and tenant meters, counted by the limits step
    deployment_rules: tuple[tuple[str, LimitRule], ...]  # counted per attempt, by deployment

    @property
    def empty(self) -> bool:
        return not self.meters and not self.deployment_rules


EMPTY = Plan(meters=(), deployment_rules=())


def _matches(patterns: tuple[str, ...], *values: str | None) -> bool:
    if not patterns:
        return True
    return any(v is not None and (v == p or fnmatch.fnmatchcase(v, p)) for p in patterns for v in values)


def _applies(match: LimitMatch, key: KeyRecord, model: str) -> bool:
    return (
        _matches(match.keys, key.id, key.name)
        and _matches(match.teams, key.team)
        and _matches(match.tenants, key.tenant)
        and _matches(match.models, model)
    )


def meters_of(name: str, rule: LimitRule, subject: str) -> list[Meter]:
    wait = rule.queue.max_wait_seconds if rule.queue else 0.0
    size = rule.queue.max_size if rule.queue else 0
    return [
        Meter(name, metric, rule.per, subject, float(getattr(rule, metric)), wait, size)
        for metric in METRICS
        if getattr(rule, metric) is not None
    ]


class Planner:
    def __init__(self, rules: dict[str, LimitRule]) -> None:
        self.rules = rules
        self._memo: dict[tuple[str, int, str | None, str, str], Plan] = {}
        self.deployment_rules = tuple((n, r) for n, r in rules.items() if r.per == "deployment")

    def plan(self, key: KeyRecord, model: str) -> Plan:
        memo_key = (key.id, key.rev, key.team, key.tenant, model)
        plan = self._memo.get(memo_key)
        if plan is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            plan = self._memo[memo_key] = self._build(key, model)
        return plan

    def _build(self, key: KeyRecord, model: str) -> Plan:
        meters: list[Meter] = []
        deployment: list[tuple[str, LimitRule]] = []
        for name, rule in self.rules.items():
            if not _applies(rule.match, key, model):
                continue
            if rule.per == "deployment":
                deployment.append((name, rule))
                continue
            subject = {"key": key.id, "team": key.team, "tenant": key.tenant}[rule.per]
            if subject is None:  # a team rule, and the key has no team
                continue
            meters += meters_of(name, rule, subject)
        if not meters and not deployment:
            return EMPTY
        return Plan(meters=tuple(meters), deployment_rules=tuple(deployment))

    def deployment_meters(self, plan: Plan, deployment: str) -> list[Meter]:
        meters: list[Meter] = []
        for name, rule in plan.deployment_rules:
            if _matches(rule.match.deployments, deployment):
                meters += meters_of(name, rule, deployment)
        return meters


def period_window(metric: Metric, now: float) -> tuple[str, int]:
    """The calendar period (UTC) ``now`` is in, as a key suffix, and the milliseconds left in it."""
    day = dt.datetime.fromtimestamp(now, dt.UTC)
    if metric == "usd_per_day":
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + dt.timedelta(days=1)
        label = start.strftime("%Y%m%d")
    else:
        start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        label = start.strftime("%Y%m")
    return label, max(1, int((end.timestamp() - now) * 1000))
