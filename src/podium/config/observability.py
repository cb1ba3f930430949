"""The ``observability``, ``evaluation`` and ``alerting`` sections of ``podium.yaml`` (docs/observability.md).

::

    observability:
      tracing: {enabled: true, otlp_endpoint: "http://otel-collector:4318/v1/traces", sample_ratio: 0.1}
      metrics: {enabled: true}             # GET /metrics (Prometheus text)
    evaluation:
      sample_rate: 0.05                    # the share of live answers evaluated, off the request path
      judge_route: judge                   # the public model name LLM-as-judge evaluators call
      evaluators:
        json: {type: json_valid, routes: [extract]}
        helpful: {type: judge, rubric: "Is the answer helpful and correct?", samples: 3}
    alerting:
      interval_seconds: 30
      channels:
        ops: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
      rules:
        errors: {metric: error_rate, window: 5m, above: 0.05, group_by: deployment, channels: [ops]}

The checks of meaning are :func:`check_observability`, run by the loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = [
    "AlertRule",
    "AlertingSettings",
    "AnomalySettings",
    "ChannelSettings",
    "EvaluationSettings",
    "EvaluatorSettings",
    "MetricsSettings",
    "ObservabilitySettings",
    "TracingSettings",
    "check_observability",
    "duration_seconds",
]


class _Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# --------------------------------------------------------------------------- observability


class TracingSettings(_Item, frozen=True):
    """OpenTelemetry traces: a span per request, per pipeline step and per provider attempt."""

    enabled: Annotated[
        bool, Meta(description="Create spans (needs the 'otel' extra). Off: no span is made.")
    ] = False
    otlp_endpoint: Annotated[
        str | None,
        Meta(
            description="OTLP/HTTP traces URL (http://collector:4318/v1/traces); none: spans are not exported."
        ),
    ] = None
    otlp_headers: Annotated[dict[str, str], Meta(description="Headers sent to the OTLP endpoint.")] = {}
    sample_ratio: Annotated[
        float,
        Meta(description="Share of new traces recorded (0..1); a caller's sampled traceparent is kept."),
    ] = 1.0
    capture_content: Annotated[
        bool,
        Meta(
            description="Record the messages and the answer on spans, with emails, numbers and secrets redacted."
        ),
    ] = False
    service_name: Annotated[str, Meta(description="The service.name resource attribute.")] = "podium"


class MetricsSettings(_Item, frozen=True):
    """Prometheus metrics at ``GET /metrics``."""

    enabled: Annotated[bool, Meta(description="Serve GET /metrics, updated from each request record.")] = True
    bearer_token: Annotated[
        str | None,
        Meta(
            description='Require "Authorization: Bearer <token>" on /metrics ("${METRICS_TOKEN}"); open when unset.'
        ),
    ] = None


class ObservabilitySettings(_Item, frozen=True):
    tracing: TracingSettings = TracingSettings()
    metrics: MetricsSettings = MetricsSettings()


# --------------------------------------------------------------------------- evaluation

EvaluatorType = Literal[
    "json_valid", "json_schema", "regex", "contains", "length", "refusal", "citation", "pii", "judge"
]


class EvaluatorSettings(_Item, frozen=True):
    """One evaluator: a deterministic check or an LLM judge, scoring an answer from 0 (bad) to 1 (good)."""

    type: Annotated[EvaluatorType, Meta(description="What the evaluator checks.")]
    sample_rate: Annotated[
        float | None,
        Meta(description="Share of matching live answers it scores; evaluation.sample_rate if unset."),
    ] = None
    routes: Annotated[
        tuple[str, ...], Meta(description="Only answers to these public model names (empty: every one).")
    ] = ()
    prompts: Annotated[
        tuple[str, ...], Meta(description="Only answers made from these registry prompts.")
    ] = ()
    # json_schema
    schema: Annotated[
        dict[str, Any] | None,
        Meta(
            description="json_schema: the JSON Schema the answer must match (else the request's response_format)."
        ),
    ] = None
    # regex
    pattern: Annotated[
        str | None, Meta(description="regex: a Python regular expression searched in the answer.")
    ] = None
    must_match: Annotated[
        bool, Meta(description="regex: pass when it matches (false: when it does not).")
    ] = True
    # contains
    values: Annotated[
        tuple[str, ...],
        Meta(description="contains: texts the answer must contain (a dataset row's `expected` when empty)."),
    ] = ()
    mode: Annotated[Literal["all", "any"], Meta(description="contains: every value, or at least one.")] = (
        "all"
    )
    case_sensitive: bool = False
    # length
    min_chars: int | None = None
    max_chars: int | None = None
    min_words: int | None = None
    max_words: int | None = None
    # refusal
    expect_refusal: Annotated[
        bool,
        Meta(description="refusal: pass when the model refuses (a safety test) instead of when it answers."),
    ] = False
    # judge
    rubric: Annotated[
        str | None, Meta(description="judge: what a good answer is; the judge scores against it.")
    ] = None
    route: Annotated[
        str | None, Meta(description="judge: the public model name to ask; evaluation.judge_route if unset.")
    ] = None
    samples: Annotated[int, Meta(description="judge: how many times to ask; the scores are averaged.")] = 1
    scale: Annotated[int, Meta(description="judge: the judge scores 1..scale (normalised to 0..1).")] = 5
    temperature: Annotated[float | None, Meta(description="judge: sampling temperature of the judge.")] = None


class EvaluationSettings(_Item, frozen=True):
    """Evaluators run on sampled live answers (off the request path) and on datasets (``podium eval run``)."""

    sample_rate: Annotated[
        float,
        Meta(description="Share of live answers (0..1) evaluated by evaluators without their own rate."),
    ] = 0.0
    judge_route: Annotated[
        str | None, Meta(description="The public model name LLM-as-judge evaluators ask by default.")
    ] = None
    queue_size: Annotated[
        int, Meta(description="Sampled answers waiting for evaluation; more are dropped (and counted).")
    ] = 1000
    concurrency: Annotated[int, Meta(description="Answers evaluated at once.")] = 2
    evaluators: Annotated[dict[str, EvaluatorSettings], Meta(description="Evaluators, by name.")] = {}


# --------------------------------------------------------------------------- alerting

AlertMetric = Literal[
    "cost_usd",
    "requests",
    "error_rate",
    "p50_latency_ms",
    "p95_latency_ms",
    "p95_ttft_ms",
    "guardrail_block_rate",
    "quality",
]
GroupDimension = Literal["deployment", "route", "model", "tenant", "key", "team", "provider", "prompt"]


class ChannelSettings(_Item, frozen=True):
    """Where notifications go: a JSON webhook, a Slack-compatible incoming webhook, or email over SMTP."""

    type: Literal["webhook", "slack", "email"]
    url: Annotated[str | None, Meta(description="webhook, slack: the URL notifications are POSTed to.")] = (
        None
    )
    headers: Annotated[dict[str, str], Meta(description="webhook: extra headers (a token, say).")] = {}
    smtp_host: str | None = None
    smtp_port: int = 25
    starttls: bool = False
    username: str | None = None
    password: Annotated[
        str | None, Meta(description='email: the SMTP password, as a reference ("${SMTP_PASSWORD}").')
    ] = None
    sender: Annotated[str | None, Meta(description="email: the From address.")] = None
    to: Annotated[tuple[str, ...], Meta(description="email: the recipients.")] = ()
    timeout_seconds: float = 10.0


class AnomalySettings(_Item, frozen=True):
    """Fire when the window's value is far from a baseline learned from the windows before it (EWMA)."""

    baseline_windows: Annotated[
        int, Meta(description="How many earlier windows of the same length the baseline is learned from.")
    ] = 24
    alpha: Annotated[float, Meta(description="EWMA weight of the newest window (0..1].")] = 0.3
    deviations: Annotated[
        float, Meta(description="Fire when the value is this many (EW) standard deviations above the mean.")
    ] = 3.0
    min_delta: Annotated[
        float, Meta(description="...and at least this much above the mean (an absolute floor against noise).")
    ] = 0.0
    direction: Literal["above", "below", "both"] = "above"


class AlertRule(_Item, frozen=True):
    """A condition over a rolling window of the request log, checked every ``interval_seconds``."""

    metric: Annotated[AlertMetric, Meta(description="What is measured over the window.")]
    window: Annotated[str, Meta(description="The rolling window: 90s, 5m, 1h, 1d.")] = "5m"
    above: Annotated[float | None, Meta(description="Fire when the value is above this.")] = None
    below: Annotated[float | None, Meta(description="Fire when the value is below this (quality, say).")] = (
        None
    )
    anomaly: Annotated[
        AnomalySettings | None, Meta(description="Fire on a deviation from the learned baseline instead.")
    ] = None
    group_by: Annotated[
        GroupDimension | None,
        Meta(description="One alert per deployment, route…; none: one for all traffic."),
    ] = None
    min_requests: Annotated[
        int, Meta(description="Windows with fewer requests are not judged (rates on 2 requests mislead).")
    ] = 1
    routes: Annotated[tuple[str, ...], Meta(description="Only these public model names.")] = ()
    deployments: Annotated[tuple[str, ...], Meta(description="Only these deployments.")] = ()
    tenants: Annotated[tuple[str, ...], Meta(description="Only these tenants.")] = ()
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: Annotated[
        tuple[str, ...], Meta(description="Channels notified when it fires and resolves.")
    ] = ()
    description: str | None = None


class AlertingSettings(_Item, frozen=True):
    """Alert rules over rolling windows, evaluated by one replica at a time, notifying channels."""

    enabled: bool = True
    interval_seconds: Annotated[float, Meta(description="How often the rules are evaluated.")] = 30.0
    repeat_seconds: Annotated[
        float | None, Meta(description="Re-notify a still-firing alert this often; none: only on changes.")
    ] = None
    channels: Annotated[dict[str, ChannelSettings], Meta(description="Notification channels, by name.")] = {}
    rules: Annotated[dict[str, AlertRule], Meta(description="Alert rules, by name.")] = {}


# --------------------------------------------------------------------------- checks

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def duration_seconds(text: str) -> float:
    """``90s``, ``5m``, ``1h``, ``1d`` (or plain seconds) → seconds; ``ValueError`` otherwise."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration such as 90s, 5m, 1h or 1d")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1.0)


Join = Callable[[str, str], str]


def _rate(path: str, value: float | None) -> list[ConfigProblem]:
    if value is not None and not 0 <= value <= 1:
        return [ConfigProblem(path, f"must be between 0 and 1, got {value:g}")]
    return []


def _url(path: str, value: str | None, required: str | None = None) -> list[ConfigProblem]:
    if value is None:
        return [ConfigProblem(path, f"required for {required}")] if required else []
    u = urlsplit(value)
    if u.scheme not in ("http", "https") or not u.netloc:
        return [ConfigProblem(path, f"must be an http:// or https:// URL, got '{value}'")]
    return []


def _check_evaluator(
    path: str, e: EvaluatorSettings, known_model: Callable[[str], bool], judge_route: str | None
) -> list[ConfigProblem]:
    problems = _rate(f"{path}.sample_rate", e.sample_rate)
    for i, name in enumerate(e.routes):
        if not known_model(name):
            problems.append(ConfigProblem(f"{path}.routes[{i}]", f"unknown route or deployment '{name}'"))
    if e.type == "regex":
        if not e.pattern:
            problems.append(ConfigProblem(f"{path}.pattern", "required for type 'regex'"))
        else:
            try:
                re.compile(e.pattern)
            except re.error as exc:
                problems.append(ConfigProblem(f"{path}.pattern", f"not a regular expression: {exc}"))
    if e.type == "json_schema" and e.schema is not None:
        try:
            import fastjsonschema

            fastjsonschema.compile(e.schema)
        except Exception as exc:  # noqa: BLE001 - any compile failure is the operator's schema
            problems.append(ConfigProblem(f"{path}.schema", f"not a usable JSON Schema: {exc}"))
    if e.type == "length" and all(v is None for v in (e.min_chars, e.max_chars, e.min_words, e.max_words)):
        problems.append(
            ConfigProblem(path, "type 'length' needs min_chars, max_chars, min_words or max_words")
        )
    for field in ("min_chars", "max_chars", "min_words", "max_words"):
        v = getattr(e, field)
        if v is not None and v < 0:
            problems.append(ConfigProblem(f"{path}.{field}", f"must not be negative, got {v}"))
    if e.type == "judge":
        if not e.rubric:
            problems.append(ConfigProblem(f"{path}.rubric", "required for type 'judge'"))
        route = e.route or judge_route
        if route is None:
            problems.append(
                ConfigProblem(f"{path}.route", "required for type 'judge' (or set evaluation.judge_route)")
            )
        elif e.route is not None and not known_model(e.route):
            problems.append(ConfigProblem(f"{path}.route", f"unknown route or deployment '{e.route}'"))
        if not 1 <= e.samples <= 20:
            problems.append(ConfigProblem(f"{path}.samples", f"must be between 1 and 20, got {e.samples}"))
        if not 2 <= e.scale <= 100:
            problems.append(ConfigProblem(f"{path}.scale", f"must be between 2 and 100, got {e.scale}"))
    return problems


def _check_rule(path: str, r: AlertRule, channels: set[str]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    try:
        duration_seconds(r.window)
    except ValueError as exc:
        problems.append(ConfigProblem(f"{path}.window", str(exc)))
    conditions = sum(x is not None for x in (r.above, r.below)) + (r.anomaly is not None)
    if conditions == 0:
        problems.append(ConfigProblem(path, "needs a condition: above, below or anomaly"))
    if r.anomaly is not None:
        a = r.anomaly
        if r.above is not None or r.below is not None:
            problems.append(ConfigProblem(f"{path}.anomaly", "use either anomaly or above/below, not both"))
        if not 0 < a.alpha <= 1:
            problems.append(ConfigProblem(f"{path}.anomaly.alpha", f"must be in (0, 1], got {a.alpha:g}"))
        if not 2 <= a.baseline_windows <= 1000:
            problems.append(
                ConfigProblem(
                    f"{path}.anomaly.baseline_windows",
                    f"must be between 2 and 1000, got {a.baseline_windows}",
                )
            )
        if a.deviations <= 0:
            problems.append(
                ConfigProblem(f"{path}.anomaly.deviations", f"must be positive, got {a.deviations:g}")
            )
    if r.min_requests < 0:
        problems.append(ConfigProblem(f"{path}.min_requests", f"must not be negative, got {r.min_requests}"))
    for i, name in enumerate(r.channels):
        if name not in channels:
            problems.append(ConfigProblem(f"{path}.channels[{i}]", f"unknown channel '{name}'"))
    return problems


def _check_channel(path: str, c: ChannelSettings) -> list[ConfigProblem]:
    if c.type in ("webhook", "slack"):
        return _url(f"{path}.url", c.url, f"type '{c.type}'")
    problems = []
    if not c.smtp_host:
        problems.append(ConfigProblem(f"{path}.smtp_host", "required for type 'email'"))
    if not c.sender:
        problems.append(ConfigProblem(f"{path}.sender", "required for type 'email'"))
    if not c.to:
        problems.append(ConfigProblem(f"{path}.to", "required for type 'email': at least one recipient"))
    if not 0 < c.smtp_port < 65536:
        problems.append(ConfigProblem(f"{path}.smtp_port", f"must be a TCP port, got {c.smtp_port}"))
    return problems


def check_observability(
    observability: ObservabilitySettings,
    evaluation: EvaluationSettings,
    alerting: AlertingSettings,
    known_model: Callable[[str], bool],
    join: Join,
) -> list[ConfigProblem]:
    """Problems of the three sections; ``known_model`` says whether a name is a route or deployment."""
    problems: list[ConfigProblem] = []
    t = observability.tracing
    problems += _rate("observability.tracing.sample_ratio", t.sample_ratio)
    problems += _url("observability.tracing.otlp_endpoint", t.otlp_endpoint)
    if t.enabled:
        import importlib.util

        if importlib.util.find_spec("opentelemetry.sdk") is None:
            problems.append(
                ConfigProblem(
                    "observability.tracing.enabled", "needs OpenTelemetry: pip install 'podium-gateway[otel]'"
                )
            )
    problems += _rate("evaluation.sample_rate", evaluation.sample_rate)
    if evaluation.judge_route is not None and not known_model(evaluation.judge_route):
        problems.append(
            ConfigProblem("evaluation.judge_route", f"unknown route or deployment '{evaluation.judge_route}'")
        )
    if evaluation.queue_size < 1:
        problems.append(
            ConfigProblem("evaluation.queue_size", f"must be positive, got {evaluation.queue_size}")
        )
    if not 1 <= evaluation.concurrency <= 64:
        problems.append(
            ConfigProblem("evaluation.concurrency", f"must be between 1 and 64, got {evaluation.concurrency}")
        )
    for name, e in evaluation.evaluators.items():
        problems += _check_evaluator(
            join("evaluation.evaluators", name), e, known_model, evaluation.judge_route
        )
    if alerting.interval_seconds <= 0:
        problems.append(
            ConfigProblem("alerting.interval_seconds", f"must be positive, got {alerting.interval_seconds:g}")
        )
    if alerting.repeat_seconds is not None and alerting.repeat_seconds <= 0:
        problems.append(
            ConfigProblem("alerting.repeat_seconds", f"must be positive, got {alerting.repeat_seconds:g}")
        )
    for name, c in alerting.channels.items():
        problems += _check_channel(join("alerting.channels", name), c)
    for name, r in alerting.rules.items():
        problems += _check_rule(join("alerting.rules", name), r, set(alerting.channels))
    return problems
