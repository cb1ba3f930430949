"""Routing in ``podium.yaml``: policies on routes, routing facts on deployments, and the ``routing`` section.

::

    routing:                          # defaults for every route
      classifier: calibration.json    # from `podium route calibrate`; the shipped model when omitted
      retry: {attempts: 2, backoff_ms: 200}
      breaker: {consecutive_failures: 5, open_seconds: 15}
    deployments:
      coder: {provider: openai, model: gpt-4.1, tasks: [code, math], quality: 4, rpm: 500}
    routes:
      auto:
        deployments: [cheap, coder, smart]
        strategy: cost
        rules:
          - when: {task: [code]}
            use: [coder]
          - when: {complexity: {min: 0.6}}
            use: [smart]
        timeout_ms: 20000
        regions: [eu]

The checks of meaning that a type cannot say are :func:`check_routing`, run by the loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, get_args

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Callable

    from podium.config.model import Config, Route

__all__ = [
    "TASKS",
    "Breaker",
    "Match",
    "Range",
    "RetryClass",
    "RetryPolicy",
    "RoutingSettings",
    "Rule",
    "ScoreWeights",
    "Strategy",
    "TaskType",
    "check_routing",
]

TaskType = Literal[
    "code",
    "math",
    "extraction",
    "summarisation",
    "translation",
    "creative_writing",
    "reasoning",
    "chit_chat",
]
TASKS: tuple[TaskType, ...] = get_args(TaskType)

Strategy = Literal["ordered", "weighted", "least_busy", "latency", "p2c", "cost", "quality", "score"]
RetryClass = Literal["connect", "timeout", "rate_limited", "server_error", "overloaded"]
RETRY_CLASSES: tuple[RetryClass, ...] = get_args(RetryClass)


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Range(_Section, frozen=True):
    """Bounds, both inclusive; an omitted bound is open."""

    min: Annotated[float | None, Meta(description="The least value that matches.")] = None
    max: Annotated[float | None, Meta(description="The greatest value that matches.")] = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class Match(_Section, frozen=True):
    """Facts of a request that must all hold for a rule to apply; an omitted fact is not checked."""

    task: Annotated[
        tuple[TaskType, ...], Meta(description="The classifier's task type is one of these.")
    ] = ()
    complexity: Annotated[
        Range | None, Meta(description="The classifier's complexity score (0 to 1) is within these bounds.")
    ] = None
    input_tokens: Annotated[
        Range | None, Meta(description="The estimated input tokens are within these bounds.")
    ] = None
    headers: Annotated[
        dict[str, str],
        Meta(description='Request headers with these values ("*": present with any value).'),
    ] = {}
    metadata: Annotated[
        dict[str, str],
        Meta(description='Entries of the request\'s `metadata` with these values ("*": any value).'),
    ] = {}
    user: Annotated[tuple[str, ...], Meta(description="The request's `user` is one of these.")] = ()
    key_tags: Annotated[
        dict[str, str],
        Meta(description='Entries of the API key\'s metadata (its tags) with these values ("*": any value).'),
    ] = {}
    team: Annotated[tuple[str, ...], Meta(description="The API key belongs to one of these teams.")] = ()
    tenant: Annotated[tuple[str, ...], Meta(description="The API key belongs to one of these tenants.")] = ()
    tools: Annotated[bool | None, Meta(description="The request offers tools (true) or none (false).")] = None
    images: Annotated[bool | None, Meta(description="The request carries images (true) or none (false).")] = (
        None
    )
    json_schema: Annotated[
        bool | None, Meta(description="The request asks for a JSON schema answer (true) or not (false).")
    ] = None


class Rule(_Section, frozen=True):
    """When ``when`` holds, the route's candidates become ``use`` (in that order of preference)."""

    name: Annotated[str | None, Meta(description="Shown in explanations; the rule's index when omitted.")] = (
        None
    )
    when: Annotated[Match, Meta(description="The facts that must all hold.")] = Match()
    use: Annotated[
        tuple[str, ...],
        Meta(description="Deployments of this route to use when the rule applies; at least one."),
    ] = ()
    strategy: Annotated[
        Strategy | None, Meta(description="How to choose among `use`; the route's strategy when omitted.")
    ] = None


class ScoreWeights(_Section, frozen=True):
    """How much each fact counts in the ``score`` strategy (each normalised to 0..1 over the candidates)."""

    cost: Annotated[float, Meta(description="Weight of the estimated cost of the request.")] = 1.0
    latency: Annotated[float, Meta(description="Weight of the live latency (EWMA).")] = 1.0
    quality: Annotated[float, Meta(description="Weight of the quality tier.")] = 1.0
    load: Annotated[float, Meta(description="Weight of the requests in flight.")] = 0.5


class RetryPolicy(_Section, frozen=True):
    """Attempts on one deployment before moving to the next; backoff doubles with full jitter."""

    attempts: Annotated[
        int, Meta(description="Attempts per deployment, the first included (1: no retry, go to the next).")
    ] = 1
    classes: Annotated[
        tuple[RetryClass, ...],
        Meta(
            description="Failures worth retrying on the same deployment: connect, timeout, rate_limited, server_error, overloaded."
        ),
    ] = RETRY_CLASSES
    backoff_ms: Annotated[float, Meta(description="The first wait before a retry, in milliseconds.")] = 200.0
    max_backoff_ms: Annotated[float, Meta(description="The longest wait between retries.")] = 5000.0
    multiplier: Annotated[float, Meta(description="Each wait is this many times the previous one.")] = 2.0
    jitter: Annotated[
        bool, Meta(description="Wait a random time up to the backoff (full jitter) instead of exactly it.")
    ] = True
    max_retry_after_ms: Annotated[
        float,
        Meta(description="An upstream Retry-After longer than this moves on to the next deployment instead."),
    ] = 10000.0


class Breaker(_Section, frozen=True):
    """A circuit breaker per deployment, shared by every replica (through Redis when configured)."""

    enabled: Annotated[bool, Meta(description="Whether failing deployments are taken out of rotation.")] = (
        True
    )
    consecutive_failures: Annotated[
        int, Meta(description="This many failures in a row open the circuit.")
    ] = 5
    error_rate: Annotated[
        float, Meta(description="A share of failures (0..1) over the window that opens the circuit.")
    ] = 0.5
    min_requests: Annotated[
        int, Meta(description="The error rate counts only once the window holds this many calls.")
    ] = 20
    window_seconds: Annotated[float, Meta(description="The window the error rate is measured over.")] = 30.0
    open_seconds: Annotated[
        float, Meta(description="How long an open circuit refuses traffic before it lets a probe through.")
    ] = 15.0
    half_open_probes: Annotated[
        int, Meta(description="Probe calls let through when half-open; that many successes close it.")
    ] = 1


class RoutingSettings(_Section, frozen=True):
    """Defaults for every route, the classifier, and the live statistics behind routing decisions."""

    classifier: Annotated[
        str | None,
        Meta(
            description="A calibration file written by `podium route calibrate`; the shipped one when omitted."
        ),
    ] = None
    retry: Annotated[
        RetryPolicy, Meta(description="Retries on one deployment, unless a route says otherwise.")
    ] = RetryPolicy()
    breaker: Annotated[Breaker, Meta(description="Circuit breakers, one per deployment.")] = Breaker()
    ewma_alpha: Annotated[
        float, Meta(description="Weight of the newest sample in the moving averages of latency (0..1].")
    ] = 0.2
    sync_interval_ms: Annotated[
        float,
        Meta(
            description="How often this replica exchanges breaker state and statistics with the others (Redis)."
        ),
    ] = 100.0
    min_attempt_ms: Annotated[
        float,
        Meta(description="An attempt (a retry or a fallback) starts only with at least this budget left."),
    ] = 50.0
    default_output_tokens: Annotated[
        int, Meta(description="Output tokens assumed in cost estimates when a request sets no max_tokens.")
    ] = 256


# --------------------------------------------------------------------------- checks of meaning


def check_routing(
    config: Config,
    deployment_names: set[str],
    route_names: set[str],
    known: Callable[[str], bool],
    join: Callable[[str, str], str],
) -> list[ConfigProblem]:
    """Problems in the routing parts of ``config``; ``known(name)`` says a name is a usable deployment."""
    problems: list[ConfigProblem] = []
    problems += _check_settings(config.routing)
    for name, dep in config.deployments.items():
        path = join("deployments", name)
        if dep.weight <= 0:
            problems.append(ConfigProblem(f"{path}.weight", f"must be positive, got {dep.weight:g}"))
        for field in ("rpm", "tpm"):
            value = getattr(dep, field)
            if value is not None and value < 1:
                problems.append(ConfigProblem(f"{path}.{field}", f"must be positive, got {value}"))
        if dep.quality is not None and not 1 <= dep.quality <= 5:
            problems.append(ConfigProblem(f"{path}.quality", f"must be between 1 and 5, got {dep.quality}"))
        for i, ref in enumerate(dep.fallbacks):
            where = f"{path}.fallbacks[{i}]"
            if ref == name:
                problems.append(ConfigProblem(where, f"deployment '{name}' refers to itself"))
            elif ref in route_names:
                problems.append(ConfigProblem(where, f"'{ref}' is a route; name deployments here"))
            elif not known(ref):
                problems.append(ConfigProblem(where, _unknown(ref, deployment_names)))
    for name, route in config.routes.items():
        problems += _check_route(
            join("routes", name), name, route, config, deployment_names, route_names, known
        )
    return problems


def _check_settings(s: RoutingSettings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if s.classifier is not None:
        from podium.routing.classifier import load_classifier

        try:
            load_classifier(s.classifier)
        except ValueError as exc:
            problems.append(ConfigProblem("routing.classifier", str(exc)))
    if not 0 < s.ewma_alpha <= 1:
        problems.append(ConfigProblem("routing.ewma_alpha", f"must be in (0, 1], got {s.ewma_alpha:g}"))
    for field in ("sync_interval_ms", "default_output_tokens"):
        value = getattr(s, field)
        if value <= 0:
            problems.append(ConfigProblem(f"routing.{field}", f"must be positive, got {value:g}"))
    if s.min_attempt_ms < 0:
        problems.append(ConfigProblem("routing.min_attempt_ms", "must not be negative"))
    problems += _check_retry("routing.retry", s.retry)
    b = s.breaker
    for field in ("consecutive_failures", "min_requests", "half_open_probes"):
        if getattr(b, field) < 1:
            problems.append(
                ConfigProblem(f"routing.breaker.{field}", f"must be at least 1, got {getattr(b, field)}")
            )
    if not 0 < b.error_rate <= 1:
        problems.append(
            ConfigProblem("routing.breaker.error_rate", f"must be in (0, 1], got {b.error_rate:g}")
        )
    for field in ("window_seconds", "open_seconds"):
        if getattr(b, field) <= 0:
            problems.append(
                ConfigProblem(f"routing.breaker.{field}", f"must be positive, got {getattr(b, field):g}")
            )
    return problems


def _check_retry(path: str, r: RetryPolicy) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if not 1 <= r.attempts <= 10:
        problems.append(ConfigProblem(f"{path}.attempts", f"must be between 1 and 10, got {r.attempts}"))
    problems += [
        ConfigProblem(f"{path}.{field}", "must not be negative")
        for field in ("backoff_ms", "max_backoff_ms", "max_retry_after_ms")
        if getattr(r, field) < 0
    ]
    if r.multiplier < 1:
        problems.append(ConfigProblem(f"{path}.multiplier", f"must be at least 1, got {r.multiplier:g}"))
    return problems


def _check_route(
    path: str,
    name: str,
    route: Route,
    config: Config,
    deployment_names: set[str],
    route_names: set[str],
    known: Callable[[str], bool],
) -> list[ConfigProblem]:
    from podium.config.loader import _check_region

    problems: list[ConfigProblem] = []
    members = set(route.deployments) | set(route.fallbacks)

    def ref_problem(where: str, ref: str) -> ConfigProblem | None:
        if ref == name:
            return ConfigProblem(where, f"route '{name}' refers to itself")
        if ref in route_names:
            return ConfigProblem(where, f"'{ref}' is a route; a route lists deployments, not other routes")
        if not known(ref):
            return ConfigProblem(where, _unknown(ref, deployment_names))
        return None

    for i, rule in enumerate(route.rules):
        where = f"{path}.rules[{i}]"
        if not rule.use:
            problems.append(ConfigProblem(f"{where}.use", "must list at least one deployment"))
        for j, ref in enumerate(rule.use):
            problem = ref_problem(f"{where}.use[{j}]", ref)
            if problem is None and ref not in members:
                problem = ConfigProblem(
                    f"{where}.use[{j}]",
                    f"'{ref}' is not one of this route's deployments or fallbacks; add it to `deployments`",
                )
            if problem is not None:
                problems.append(problem)
        for field in ("complexity", "input_tokens"):
            bounds: Range | None = getattr(rule.when, field)
            if (
                bounds is not None
                and bounds.min is not None
                and bounds.max is not None
                and bounds.min > bounds.max
            ):
                problems.append(
                    ConfigProblem(
                        f"{where}.when.{field}", f"min ({bounds.min:g}) exceeds max ({bounds.max:g})"
                    )
                )
    for field in ("on_content_policy", "on_context_overflow"):
        for j, ref in enumerate(getattr(route, field)):
            problem = ref_problem(f"{path}.{field}[{j}]", ref)
            if problem is not None:
                problems.append(problem)
    for ref in route.weights:
        if ref not in members:
            problems.append(
                ConfigProblem(f"{path}.weights.{ref}", f"'{ref}' is not one of this route's deployments")
            )
        elif route.weights[ref] <= 0:
            problems.append(ConfigProblem(f"{path}.weights.{ref}", "must be positive"))
    for field in ("timeout_ms", "first_token_timeout_ms", "latency_slo_ms"):
        value = getattr(route, field)
        if value is not None and value <= 0:
            problems.append(ConfigProblem(f"{path}.{field}", f"must be positive, got {value:g}"))
    if (
        route.timeout_ms is not None
        and route.first_token_timeout_ms is not None
        and route.first_token_timeout_ms > route.timeout_ms
    ):
        problems.append(
            ConfigProblem(
                f"{path}.first_token_timeout_ms",
                f"{route.first_token_timeout_ms:g} exceeds timeout_ms ({route.timeout_ms:g})",
            )
        )
    if route.retry is not None:
        problems += _check_retry(f"{path}.retry", route.retry)
    for i, region in enumerate(route.regions):
        problems += _check_region(f"{path}.regions[{i}]", region)
    # Impossible constraints: no candidate could ever satisfy them.
    deps = [config.deployments[d] for d in route.deployments if d in config.deployments]
    if route.min_quality is not None:
        if not 1 <= route.min_quality <= 5:
            problems.append(
                ConfigProblem(f"{path}.min_quality", f"must be between 1 and 5, got {route.min_quality}")
            )
        elif (
            deps
            and len(deps) == len(route.deployments)
            and all((d.quality or 0) < route.min_quality for d in deps)
        ):
            problems.append(
                ConfigProblem(
                    f"{path}.min_quality",
                    f"no deployment of this route has quality {route.min_quality} or more "
                    "(set `quality` on the deployments)",
                )
            )
    if route.max_cost_usd is not None and route.max_cost_usd <= 0:
        problems.append(
            ConfigProblem(f"{path}.max_cost_usd", f"must be positive, got {route.max_cost_usd:g}")
        )
    if route.regions and deps and len(deps) == len(route.deployments):
        from podium.routing.residency import region_allowed

        regions = {d: config.deployments[d].region or _provider_region(config, d) for d in route.deployments}
        if not any(region_allowed(r, route.regions) for r in regions.values()):
            listed = ", ".join(f"{d} ({r or 'no region'})" for d, r in regions.items())
            problems.append(
                ConfigProblem(
                    f"{path}.regions",
                    f"no deployment of this route is in {', '.join(route.regions)}: {listed}",
                )
            )
    return problems


def _provider_region(config: Config, deployment: str) -> str | None:
    provider = config.providers.get(config.deployments[deployment].provider)
    return provider.region if provider else None


def _unknown(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
    message = f"unknown deployment '{name}'"
    return f"{message} (did you mean '{close[0]}'?)" if close else message
