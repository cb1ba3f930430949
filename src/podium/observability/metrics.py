"""Prometheus metrics, fed from the request records as they are built — never from the request path.

Each finished call becomes one :class:`~podium.storage.records.RequestRecord`, built after the response
by the recorder; :meth:`Metrics.observe` turns that same record into counter and histogram updates, so
``/metrics`` and the request log count exactly the same calls. The series every record feeds (requests,
latency, time to first token, tokens, cost and their GenAI twins) are kept as plain numbers in one
:class:`_Row` per label combination, found with one dict lookup and updated under one lock — instead
of sixteen ``prometheus_client`` value locks a record — and turned into metric families when scraped.
Values that are state rather than events — requests in flight, limit queues, circuit breakers, the
evaluation backlog, firing alerts — are read when ``/metrics`` is scraped.

Names follow the OpenTelemetry GenAI conventions where one exists (``gen_ai.server.request.duration``
→ ``gen_ai_server_request_duration_seconds``, ``gen_ai.client.token.usage`` →
``gen_ai_client_token_usage``…), with the attribute names as labels (dots as underscores); the rest
are ``podium_*``. The full list is in docs/observability.md.
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


_TOKEN_TYPES = ("input", "output", "cached", "reasoning")
_le_text: Callable[[float], str] = floatToGoString  # a bucket bound as prometheus_client writes it


class _Row:
    """What the records of one label combination added up to: plain numbers, changed under
    :attr:`Metrics.lock` (histograms as per-bucket counts, the last one +Inf; cumulated when scraped)."""

    __slots__ = (
        "cost",
        "genai",
        "input",
        "input_sum",
        "latency",
        "latency_sum",
        "output",
        "output_sum",
        "request",
        "requests",
        "tokens",
        "ttft",
        "ttft_sum",
    )

    def __init__(self, request: tuple[str, ...], genai: tuple[str, ...]) -> None:
        self.request = request  # api, route, deployment, status, tenant, error type
        self.genai = genai  # gen_ai operation, provider, request model, response model
        self.requests = 0
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.ttft = [0] * (len(TTFT_BUCKETS) + 1)
        self.ttft_sum = 0.0
        self.cost = 0.0
        self.tokens = [0, 0, 0, 0]  # as _TOKEN_TYPES
        self.input = [0] * (len(TOKEN_BUCKETS) + 1)
        self.input_sum = 0
        self.output = [0] * (len(TOKEN_BUCKETS) + 1)
        self.output_sum = 0


class _Histograms:
    """Histogram series being summed up from rows, by label values."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.le = [_le_text(b) for b in bounds] + ["+Inf"]
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def add(self, labels: tuple[str, ...], counts: list[int], total: float) -> None:
        found = self.series.get(labels)
        if found is None:
            self.series[labels] = (list(counts), [total])
            return
        into, sums = found
        for i, n in enumerate(counts):
            into[i] += n
        sums[0] += total

    def family(self, name: str, documentation: str, labels: list[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, documentation, labels=labels)
        for values, (counts, sums) in self.series.items():
            cumulative = list(itertools.accumulate(counts))
            family.add_metric(list(values), list(zip(self.le, cumulative, strict=True)), sums[0])
        return family


class _Records(Collector):
    """The record-fed families, made from the rows when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        with m.lock:  # a consistent copy; the sums are made outside the lock
            rows = [
                (
                    row.request,
                    row.genai,
                    row.requests,
                    list(row.latency),
                    row.latency_sum,
                    list(row.ttft),
                    row.ttft_sum,
                    row.cost,
                    list(row.tokens),
                    list(row.input),
                    row.input_sum,
                    list(row.output),
                    row.output_sum,
                )
                for row in itertools.chain(m._retired, m._rows.values())
            ]
        requests: dict[tuple[str, ...], float] = {}
        cost: dict[tuple[str, ...], float] = {}
        tokens: dict[tuple[str, ...], float] = {}
        duration, genai_duration = _Histograms(LATENCY_BUCKETS), _Histograms(LATENCY_BUCKETS)
        ttft, genai_ttft = _Histograms(TTFT_BUCKETS), _Histograms(TTFT_BUCKETS)
        genai_tokens = _Histograms(TOKEN_BUCKETS)
        for (
            request,
            genai,
            n,
            latency,
            latency_sum,
            tt,
            tt_sum,
            spent,
            used,
            gin,
            gin_sum,
            gout,
            gout_sum,
        ) in rows:
            api, route, deployment, status, tenant, error_type = request
            by = (api, route, deployment, status)
            requests[by] = requests.get(by, 0) + n
            duration.add(by, latency, latency_sum)
            ttft.add((route, deployment), tt, tt_sum)
            where = (tenant, route, deployment)
            cost[where] = cost.get(where, 0.0) + spent
            for kind, count in zip(_TOKEN_TYPES, used, strict=True):
                key = (route, deployment, kind)
                tokens[key] = tokens.get(key, 0) + count
            genai_duration.add((*genai, error_type), latency, latency_sum)
            genai_ttft.add(genai, tt, tt_sum)
            genai_tokens.add((*genai, "input"), gin, gin_sum)
            genai_tokens.add((*genai, "output"), gout, gout_sum)
        yield _counter("podium_requests", "Finished requests (one per request record).", _BY, requests)
        yield duration.family("podium_request_duration_seconds", "Request latency as the caller saw it.", _BY)
        yield ttft.family(
            "podium_time_to_first_token_seconds", "Time to the first streamed token.", ["route", "deployment"]
        )
        yield _counter(
            "podium_tokens",
            "Tokens by type: input, output, cached (input read from a cache), reasoning.",
            ["route", "deployment", "type"],
            tokens,
        )
        yield _counter("podium_cost_usd", "Spend in US dollars.", ["tenant", "route", "deployment"], cost)
        yield genai_duration.family(
            "gen_ai_server_request_duration_seconds",
            "GenAI: generative AI server request duration.",
            [*_GENAI, "error_type"],
        )
        yield genai_ttft.family(
            "gen_ai_server_time_to_first_token_seconds",
            "GenAI: time to generate the first token.",
            list(_GENAI),
        )
        yield genai_tokens.family(
            "gen_ai_client_token_usage", "GenAI: tokens used per operation.", [*_GENAI, "gen_ai_token_type"]
        )


_BY = ["api", "route", "deployment", "status"]


def _counter(
    name: str, documentation: str, labels: list[str], values: dict[tuple[str, ...], float]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


class Metrics:
    """One registry per gateway; a reload keeps it (counters never go back)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=False)
        # The record-fed series: one row per label combination (see _Row), summed up when scraped.
        self.lock = threading.Lock()
        self._rows: dict[tuple[Any, ...], _Row] = {}
        self._retired: list[_Row] = []  # rows bound before a reload changed a provider's type
        r.register(_Records(self))
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
        self.provider_types: dict[str, str] = {}  # provider name in the config -> its type
        self._bound: dict[tuple[Any, tuple[str, ...]], Any] = {}  # label children of the other metrics

    def configure(self, provider_types: dict[str, str]) -> None:
        if provider_types == self.provider_types:
            return
        with self.lock:  # a provider's type changed: new rows get the new gen_ai labels, old ones stay
            self.provider_types = provider_types
            self._retired.extend(self._rows.values())
            self._rows = {}

    def add_gauges(self, source: Gauges) -> None:
        """Register a function yielding gauge families, called on every scrape."""
        self._live.sources.append(source)

    def observe(self, r: RequestRecord) -> None:
        """Count one finished request (called where its record is built, off the request path)."""
        route = r.route or r.requested_model
        deployment = r.deployment or ""
        key = (r.api, route, deployment, r.status, r.tenant, r.provider, r.upstream_model, r.error_class)
        latency = r.latency_ms / 1000
        with self.lock:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = self._row(r, route, deployment)
            row.requests += 1
            row.latency[bisect_left(LATENCY_BUCKETS, latency)] += 1
            row.latency_sum += latency
            if r.ttft_ms is not None:
                ttft = r.ttft_ms / 1000
                row.ttft[bisect_left(TTFT_BUCKETS, ttft)] += 1
                row.ttft_sum += ttft
            if r.cost_usd:
                row.cost += r.cost_usd
            if r.input_tokens or r.output_tokens:
                tokens = row.tokens
                tokens[0] += r.input_tokens
                tokens[1] += r.output_tokens
                row.input[bisect_left(TOKEN_BUCKETS, r.input_tokens)] += 1
                row.input_sum += r.input_tokens
                row.output[bisect_left(TOKEN_BUCKETS, r.output_tokens)] += 1
                row.output_sum += r.output_tokens
            if r.cached_tokens:
                row.tokens[2] += r.cached_tokens
            if r.reasoning_tokens:
                row.tokens[3] += r.reasoning_tokens
        child = self._child
        if r.attempts > 1:
            child(self.attempts, (route,)).inc(r.attempts - 1)
        if r.cache is not None:
            child(self.cache, (route, r.cache)).inc()
        for v in r.guardrails:
            child(self.guardrails, (v.policy, v.scanner, v.stage, v.action)).inc()
        if r.limit_hit is not None:
            if r.status == 429:
                child(self.limits, (r.limit_hit,)).inc()
            if r.queued_ms is not None:
                child(self.queued, (r.limit_hit,)).observe(r.queued_ms / 1000)

    def _child(self, metric: Any, values: tuple[str, ...]) -> Any:
        """``metric.labels(*values)``, looked up once per label combination (``labels`` validates and locks)."""
        key = (metric, values)
        found = self._bound.get(key)
        if found is None:
            found = self._bound[key] = metric.labels(*values)
        return found

    def _row(self, r: RequestRecord, route: str, deployment: str) -> _Row:
        provider = provider_name(self.provider_types.get(r.provider or "", r.provider))
        genai = (operation_name(r.api), provider, r.requested_model, r.upstream_model or "")
        return _Row((r.api, route, deployment, str(r.status), r.tenant, r.error_class or ""), genai)

    def score(self, evaluator: str, route: str, value: float | None) -> None:
        if value is None:
            self.unmeasured.labels(evaluator, route).inc()
        else:
            self.scores.labels(evaluator, route).observe(value)

    def workflow_step(self, flow: str, step: str, status: str, seconds: float) -> None:
        """For the workflow engine: one finished step."""
        self._child(self.step_duration, (flow, step, status)).observe(seconds)

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
