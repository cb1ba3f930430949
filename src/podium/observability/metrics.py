"""Prometheus metrics, fed from the request records as they are built — never from the request path.

Each finished call becomes one :class:`~podium.storage.records.RequestRecord`, built after the response
by the recorder; :meth:`Metrics.observe` turns that same record into counter and histogram updates, so
``/metrics`` and the request log count exactly the same calls. The label children of each label
combination are looked up once and kept, so a record costs a dict lookup and a handful of ``inc`` /
``observe`` calls. Values that are state rather than events — requests in flight, limit queues,
circuit breakers, the evaluation backlog, firing alerts — are read when ``/metrics`` is scraped.

Names follow the OpenTelemetry GenAI conventions where one exists (``gen_ai.server.request.duration``
→ ``gen_ai_server_request_duration_seconds``, ``gen_ai.client.token.usage`` →
``gen_ai_client_token_usage``…), with the attribute names as labels (dots as underscores); the rest
are ``podium_*``. The full list is in docs/observability.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podium.observability.conventions import operation_name, provider_name
from podium.storage.records import RequestRecord

__all__ = ["LATENCY_BUCKETS", "Metrics"]

# Seconds: a gateway's own answers (cache hits) are milliseconds, model answers up to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 20, 40)
# The GenAI convention's advice for gen_ai.client.token.usage.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

_GENAI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")
_CIRCUIT = {"closed": 0.0, "half_open": 1.0, "open": 2.0}

Gauges = Callable[[], Iterable[Metric]]


class _Live(Collector):
    """Gauges read at scrape time from whoever holds the state."""

    def __init__(self, sources: list[Gauges]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source()


class Metrics:
    """One registry per gateway; a reload keeps it (counters never go back)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=False)
        by = ["api", "route", "deployment", "status"]
        self.requests = Counter(
            "podium_requests", "Finished requests (one per request record).", by, registry=r
        )
        self.duration = Histogram(
            "podium_request_duration_seconds",
            "Request latency as the caller saw it.",
            by,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "podium_time_to_first_token_seconds",
            "Time to the first streamed token.",
            ["route", "deployment"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "podium_tokens",
            "Tokens by type: input, output, cached (input read from a cache), reasoning.",
            ["route", "deployment", "type"],
            registry=r,
        )
        self.cost = Counter(
            "podium_cost_usd", "Spend in US dollars.", ["tenant", "route", "deployment"], registry=r
        )
        self.cache = Counter(
            "podium_cache_lookups", "Response-cache lookups by result.", ["route", "result"], registry=r
        )
        self.guardrails = Counter(
            "podium_guardrail_verdicts",
            "Guardrail scanner verdicts.",
            ["policy", "scanner", "stage", "action"],
            registry=r,
        )
        self.limits = Counter(
            "podium_limit_rejections", "Requests refused by a limit (HTTP 429).", ["limit"], registry=r
        )
        self.queued = Histogram(
            "podium_limit_queue_wait_seconds",
            "Time requests waited in a limit's queue.",
            ["limit"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "podium_fallback_attempts",
            "Upstream attempts beyond the first (retries and fallbacks).",
            ["route"],
            registry=r,
        )
        self.genai_duration = Histogram(
            "gen_ai_server_request_duration_seconds",
            "GenAI: generative AI server request duration.",
            [*_GENAI, "error_type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.genai_ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "GenAI: time to generate the first token.",
            list(_GENAI),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.genai_tokens = Histogram(
            "gen_ai_client_token_usage",
            "GenAI: tokens used per operation.",
            [*_GENAI, "gen_ai_token_type"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.scores = Histogram(
            "podium_evaluation_score",
            "Quality scores (0..1) of evaluated answers.",
            ["evaluator", "route"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.unmeasured = Counter(
            "podium_evaluation_unmeasured",
            "Evaluations that gave no score (a judge's unusable answer).",
            ["evaluator", "route"],
            registry=r,
        )
        self.step_duration = Histogram(
            "podium_workflow_step_duration_seconds",
            "Workflow step durations.",
            ["flow", "step", "status"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self._live = _Live([])
        r.register(self._live)
        self._children: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.provider_types: dict[str, str] = {}  # provider name in the config -> its type

    def configure(self, provider_types: dict[str, str]) -> None:
        self.provider_types = provider_types
        self._children.clear()  # a provider's type may have changed: bind the children again

    def add_gauges(self, source: Gauges) -> None:
        """Register a function yielding gauge families, called on every scrape."""
        self._live.sources.append(source)

    def observe(self, r: RequestRecord) -> None:
        """Count one finished request (called where its record is built, off the request path)."""
        route = r.route or r.requested_model
        deployment = r.deployment or ""
        key = (r.api, route, deployment, r.status, r.tenant, r.provider, r.upstream_model, r.error_class)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._bind(r, route, deployment)
        requests, duration, ttft, cost, genai_duration, genai_ttft, tin, tout, tcached, treason, gin, gout = (
            children
        )
        requests.inc()
        duration.observe(r.latency_ms / 1000)
        if r.ttft_ms is not None:
            ttft.observe(r.ttft_ms / 1000)
            genai_ttft.observe(r.ttft_ms / 1000)
        if r.cost_usd:
            cost.inc(r.cost_usd)
        genai_duration.observe(r.latency_ms / 1000)
        if r.input_tokens or r.output_tokens:
            tin.inc(r.input_tokens)
            tout.inc(r.output_tokens)
            gin.observe(r.input_tokens)
            gout.observe(r.output_tokens)
        if r.cached_tokens:
            tcached.inc(r.cached_tokens)
        if r.reasoning_tokens:
            treason.inc(r.reasoning_tokens)
        if r.attempts > 1:
            self.attempts.labels(route).inc(r.attempts - 1)
        if r.cache is not None:
            self.cache.labels(route, r.cache).inc()
        for v in r.guardrails:
            self.guardrails.labels(v.policy, v.scanner, v.stage, v.action).inc()
        if r.limit_hit is not None:
            if r.status == 429:
                self.limits.labels(r.limit_hit).inc()
            if r.queued_ms is not None:
                self.queued.labels(r.limit_hit).observe(r.queued_ms / 1000)

    def _bind(self, r: RequestRecord, route: str, deployment: str) -> tuple[Any, ...]:
        status = str(r.status)
        provider = provider_name(self.provider_types.get(r.provider or "", r.provider))
        genai = (operation_name(r.api), provider, r.requested_model, r.upstream_model or "")
        return (
            self.requests.labels(r.api, route, deployment, status),
            self.duration.labels(r.api, route, deployment, status),
            self.ttft.labels(route, deployment),
            self.cost.labels(r.tenant, route, deployment),
            self.genai_duration.labels(*genai, r.error_class or ""),
            self.genai_ttft.labels(*genai),
            self.tokens.labels(route, deployment, "input"),
            self.tokens.labels(route, deployment, "output"),
            self.tokens.labels(route, deployment, "cached"),
            self.tokens.labels(route, deployment, "reasoning"),
            self.genai_tokens.labels(*genai, "input"),
            self.genai_tokens.labels(*genai, "output"),
        )

    def score(self, evaluator: str, route: str, value: float | None) -> None:
        if value is None:
            self.unmeasured.labels(evaluator, route).inc()
        else:
            self.scores.labels(evaluator, route).observe(value)

    def workflow_step(self, flow: str, step: str, status: str, seconds: float) -> None:
        """For the workflow engine: one finished step."""
        self.step_duration.labels(flow, step, status).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def gauge(
    name: str,
    documentation: str,
    labels: Iterable[str] = (),
    samples: Iterable[tuple[Iterable[str], float]] = (),
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def circuit_value(state: str) -> float:
    return _CIRCUIT.get(state, 0.0)
