"""Limits in ``podium.yaml``: named rules of RPM, TPM, concurrency and money budgets (docs/limits.md).

::

    limits:
      per-key:                       # the limit's name, as a refused caller sees it
        per: key                     # one counter per key (team, tenant, deployment)
        rpm: 60
        tpm: 100000
        concurrent: 4
        queue: {max_wait_seconds: 10, max_size: 100}
      acme-budget:
        per: tenant
        match: {tenants: [acme]}
        usd_per_day: 50
        usd_per_month: 1000

Every rule whose ``match`` fits a request applies to it, and every one must admit it. The checks of
meaning are :func:`check_limits`, run by the loader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = ["LimitMatch", "LimitRule", "LimitScope", "QueueSettings", "check_limits"]

LimitScope = Literal["key", "team", "tenant", "deployment"]


class _Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class LimitMatch(_Item, frozen=True):
    """Which requests a rule applies to; every list given must match (glob patterns allowed)."""

    keys: Annotated[tuple[str, ...], Meta(description="Key ids or key names.")] = ()
    teams: Annotated[tuple[str, ...], Meta(description="Teams of the calling key.")] = ()
    tenants: Annotated[tuple[str, ...], Meta(description="Tenants of the calling key.")] = ()
    models: Annotated[tuple[str, ...], Meta(description="Public model names the request asks for.")] = ()
    deployments: Annotated[
        tuple[str, ...], Meta(description="Deployments attempted (rules with `per: deployment`).")
    ] = ()


class QueueSettings(_Item, frozen=True):
    """Over the limit, wait in a priority queue for up to ``max_wait_seconds`` instead of a 429 at once."""

    max_wait_seconds: Annotated[float, Meta(description="The longest a request waits for its turn.")] = 10.0
    max_size: Annotated[
        int, Meta(description="Requests waiting at once per counter (per replica); more get a 429.")
    ] = 100


class LimitRule(_Item, frozen=True):
    per: Annotated[
        LimitScope,
        Meta(description="What one counter counts: each key, team, tenant, or deployment separately."),
    ] = "key"
    match: LimitMatch = LimitMatch()
    rpm: Annotated[int | None, Meta(description="Requests per minute (sliding window).")] = None
    tpm: Annotated[
        int | None,
        Meta(description="Tokens per minute: estimated before the call, corrected by the real usage after."),
    ] = None
    concurrent: Annotated[int | None, Meta(description="Requests in flight at once.")] = None
    usd_per_day: Annotated[float | None, Meta(description="US dollars per UTC day, every endpoint.")] = None
    usd_per_month: Annotated[float | None, Meta(description="US dollars per calendar month (UTC).")] = None
    queue: Annotated[
        QueueSettings | None, Meta(description="Wait for capacity instead of answering 429 at once.")
    ] = None


def check_limits(
    rules: dict[str, LimitRule],
    known_deployment: Callable[[str], bool],
    join: Callable[[str, str], str],
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for name, rule in rules.items():
        path = join("limits", name)
        if not name.strip() or any(c.isspace() for c in name):
            problems.append(ConfigProblem(path, "a limit's name must not be empty or contain spaces"))
        amounts = ("rpm", "tpm", "concurrent", "usd_per_day", "usd_per_month")
        if all(getattr(rule, f) is None for f in amounts):
            problems.append(ConfigProblem(path, f"sets no limit: give at least one of {', '.join(amounts)}"))
        for field in ("rpm", "tpm", "concurrent"):
            value = getattr(rule, field)
            if value is not None and value < 1:
                problems.append(ConfigProblem(f"{path}.{field}", f"must be positive, got {value}"))
        for field in ("usd_per_day", "usd_per_month"):
            value = getattr(rule, field)
            if value is not None and value <= 0:
                problems.append(ConfigProblem(f"{path}.{field}", f"must be positive, got {value:g}"))
        if rule.match.deployments and rule.per != "deployment":
            problems.append(
                ConfigProblem(f"{path}.match.deployments", "only for rules with `per: deployment`")
            )
        for i, ref in enumerate(rule.match.deployments):
            if not any(c in ref for c in "*?[") and not known_deployment(ref):
                problems.append(
                    ConfigProblem(f"{path}.match.deployments[{i}]", f"unknown deployment '{ref}'")
                )
        if rule.queue is not None:
            q = rule.queue
            if not 0 < q.max_wait_seconds <= 600:
                problems.append(
                    ConfigProblem(
                        f"{path}.queue.max_wait_seconds", f"must be in (0, 600], got {q.max_wait_seconds:g}"
                    )
                )
            if q.max_size < 1:
                problems.append(
                    ConfigProblem(f"{path}.queue.max_size", f"must be positive, got {q.max_size}")
                )
    return problems
