"""The configuration's shape: one immutable object, validated once at start-up (and on reload).

``podium schema`` prints the JSON Schema of :class:`Config`, so editors complete ``podium.yaml``; the
field descriptions below are what an editor shows. Secrets are ``${ENV_VAR}`` references, resolved by
the loader (:mod:`podium.config.loader`); no value here is read from the environment later.

The loader also checks what a type cannot say (cross-references, wildcards, ranges); build a
:class:`Config` by hand only in tests, and pass it through :func:`podium.config.validate_config`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from podium.config.caching import CacheSettings
from podium.config.credentials import AwsSettings, EntraSettings, GoogleSettings
from podium.config.governance import AuditSettings, IdentitySettings
from podium.config.guardrails import GuardrailSettings
from podium.config.knowledge import KnowledgeSettings
from podium.config.limits import LimitRule
from podium.config.observability import AlertingSettings, EvaluationSettings, ObservabilitySettings
from podium.config.prompts import PromptSettings
from podium.config.routing import RetryPolicy, RoutingSettings, Rule, ScoreWeights, Strategy, TaskType
from podium.config.workflows import WorkflowSettings

__all__ = [
    "Capability",
    "Config",
    "Deployment",
    "Price",
    "Provider",
    "ProviderType",
    "Route",
    "ServerSettings",
    "StateSettings",
    "StorageSettings",
    "Timeouts",
]

ProviderType = Literal[
    "openai",
    "azure",
    "ollama",
    "vllm",
    "tgi",
    "llamacpp",
    "groq",
    "mistral",
    "deepseek",
    "together",
    "openrouter",
    "openai-compatible",
    "simulated",
    "anthropic",
    "gemini",
    "vertex",
    "bedrock",
]

Capability = Literal["chat", "streaming", "tools", "json_object", "json_schema", "vision", "embeddings"]

DEFAULT_CAPABILITIES: tuple[Capability, ...] = ("chat", "streaming", "tools", "json_object", "json_schema")


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Provider(_Section, frozen=True):
    """An account at a provider: where to send requests and with which credentials."""

    type: Annotated[
        ProviderType, Meta(description="The provider's kind; it picks the wire format and the preset.")
    ]
    base_url: Annotated[
        str | None,
        Meta(
            description="The API's base URL; the preset's when omitted (required for azure and openai-compatible)."
        ),
    ] = None
    api_key: Annotated[
        str | None, Meta(description='The credential, as a reference: "${OPENAI_API_KEY}". Never a literal.')
    ] = None
    api_version: Annotated[
        str | None, Meta(description="Azure OpenAI's api-version query parameter (required for azure).")
    ] = None
    headers: Annotated[dict[str, str], Meta(description="Extra HTTP headers sent with every request.")] = {}
    region: Annotated[
        str | None,
        Meta(description="Where the provider processes data (eu, us-east-1…), for region policies."),
    ] = None
    max_connections: Annotated[int, Meta(description="Upper bound on open connections to this provider.")] = (
        1000
    )
    aws: Annotated[
        AwsSettings | None,
        Meta(description="bedrock: AWS credentials (else the AWS_* variables or a profile) and a guardrail."),
    ] = None
    google: Annotated[
        GoogleSettings | None, Meta(description="vertex: the service-account key file and project.")
    ] = None
    entra: Annotated[
        EntraSettings | None, Meta(description="azure: a Microsoft Entra ID token instead of api_key.")
    ] = None


class Price(_Section, frozen=True):
    """US dollars per million tokens."""

    input: Annotated[float, Meta(description="USD per million input (prompt) tokens.")] = 0.0
    output: Annotated[
        float, Meta(description="USD per million output tokens, reasoning tokens included.")
    ] = 0.0
    cached_input: Annotated[
        float | None,
        Meta(
            description="USD per million input tokens read from the provider's cache; `input` when omitted."
        ),
    ] = None
    cache_write: Annotated[
        float | None,
        Meta(
            description="USD per million input tokens written to the provider's cache; `input` when omitted."
        ),
    ] = None


class Timeouts(_Section, frozen=True):
    """Seconds. ``first_token`` bounds the wait for the first byte of the answer."""

    connect: Annotated[float, Meta(description="Seconds to open a connection.")] = 10.0
    first_token: Annotated[float, Meta(description="Seconds to wait for the first byte of the answer.")] = (
        120.0
    )
    total: Annotated[float, Meta(description="Seconds for the whole call, streaming included.")] = 600.0


class Deployment(_Section, frozen=True):
    """One model at one provider, as Podium calls it."""

    provider: Annotated[str, Meta(description="The name of a provider in `providers`.")]
    model: Annotated[
        str,
        Meta(description='The upstream\'s model name; "*" in a wildcard deployment (named like "openai/*").'),
    ]
    capabilities: Annotated[
        tuple[Capability, ...], Meta(description="What the model can do; requests needing more go elsewhere.")
    ] = DEFAULT_CAPABILITIES
    context_window: Annotated[int | None, Meta(description="Input plus output tokens the model accepts.")] = (
        None
    )
    max_output_tokens: Annotated[
        int | None, Meta(description="The most tokens the model writes in one answer.")
    ] = None
    price: Annotated[
        Price | None, Meta(description="Overrides the shipped price table's entry for `model`.")
    ] = None
    region: Annotated[str | None, Meta(description="Overrides the provider's region.")] = None
    timeouts: Timeouts = Timeouts()
    # Routing facts (docs/routing.md).
    weight: Annotated[
        float, Meta(description="Share of traffic in weighted balancing (relative to the others).")
    ] = 1.0
    rpm: Annotated[
        int | None,
        Meta(description="Requests per minute this deployment can take; routing skips it when full."),
    ] = None
    tpm: Annotated[
        int | None,
        Meta(description="Tokens per minute this deployment can take; routing skips it when full."),
    ] = None
    quality: Annotated[
        int | None,
        Meta(description="Quality tier from 1 (basic) to 5 (best), for `min_quality` and scoring."),
    ] = None
    tasks: Annotated[
        tuple[TaskType, ...], Meta(description="Task types this deployment is good at; preferred for them.")
    ] = ()
    fallbacks: Annotated[
        tuple[str, ...], Meta(description="Deployments tried next, in order, when this one fails.")
    ] = ()


class Route(_Section, frozen=True):
    """A public model name mapped to deployments, tried in order: ``deployments`` then ``fallbacks``."""

    deployments: Annotated[
        tuple[str, ...],
        Meta(
            description='Deployment names tried first, in order; "openai/gpt-4o" works under a wildcard "openai/*".'
        ),
    ]
    fallbacks: Annotated[
        tuple[str, ...],
        Meta(description="Deployment names tried, in order, when every one of `deployments` failed."),
    ] = ()
    description: Annotated[str | None, Meta(description="Shown in the model list and the console.")] = None
    # Routing policy (docs/routing.md).
    strategy: Annotated[
        Strategy,
        Meta(
            description="How to order the candidates: ordered, weighted, least_busy, latency, p2c, cost, quality, score."
        ),
    ] = "ordered"
    rules: Annotated[
        tuple[Rule, ...],
        Meta(description="Rules on request facts, first match wins; each narrows the candidates."),
    ] = ()
    weights: Annotated[
        dict[str, float], Meta(description="Per-deployment weights for this route (weighted strategy).")
    ] = {}
    max_cost_usd: Annotated[
        float | None,
        Meta(description="Candidates whose estimated cost for the request is higher are skipped."),
    ] = None
    latency_slo_ms: Annotated[
        float | None, Meta(description="Candidates whose live latency (EWMA) is higher are skipped.")
    ] = None
    min_quality: Annotated[
        int | None, Meta(description="Candidates below this quality tier (1..5) are skipped.")
    ] = None
    regions: Annotated[
        tuple[str, ...], Meta(description="Regions this route's requests may be processed in; empty: any.")
    ] = ()
    timeout_ms: Annotated[
        float | None,
        Meta(
            description="Latency budget of a request, every attempt included (x-podium-timeout-ms may lower it)."
        ),
    ] = None
    first_token_timeout_ms: Annotated[
        float | None, Meta(description="An attempt without a first token by then is abandoned for the next.")
    ] = None
    retry: Annotated[RetryPolicy | None, Meta(description="Overrides routing.retry for this route.")] = None
    score_weights: Annotated[
        ScoreWeights | None,
        Meta(description="Weights of cost, latency, quality and load for strategy `score`."),
    ] = None
    on_content_policy: Annotated[
        tuple[str, ...],
        Meta(description="Deployments tried when the upstream refuses the content (its policy)."),
    ] = ()
    on_context_overflow: Annotated[
        tuple[str, ...], Meta(description="Deployments tried when the request exceeds the context window.")
    ] = ()


class ServerSettings(_Section, frozen=True):
    """Where and how the gateway listens."""

    host: Annotated[str, Meta(description="The address to listen on; 0.0.0.0 for every interface.")] = (
        "127.0.0.1"
    )
    port: Annotated[int, Meta(description="The TCP port (0 picks a free one).")] = 8400
    max_body_bytes: Annotated[int, Meta(description="Larger request bodies are refused with 413.")] = (
        16 * 1024 * 1024
    )
    # How long a reload or shutdown waits for in-flight requests before closing them.
    drain_seconds: Annotated[
        float, Meta(description="How long a reload or shutdown waits for in-flight requests.")
    ] = 30.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class StorageSettings(_Section, frozen=True):
    """``url``: ``sqlite:///path/to/podium.db`` or ``postgresql://user@host:5432/db``.

    Empty means SQLite in the data directory (``--data-dir``, ``PODIUM_DATA_DIR`` or ``./.podium``).
    """

    url: Annotated[
        str | None,
        Meta(
            description="sqlite:///path/to/podium.db or postgresql://user@host:5432/db; SQLite in the data directory when omitted."
        ),
    ] = None
    pool_size: Annotated[int, Meta(description="Database connections kept open (PostgreSQL).")] = 10
    # Request records are written in batches off the request path.
    flush_interval_ms: Annotated[int, Meta(description="How often buffered request records are written.")] = (
        200
    )
    flush_batch_size: Annotated[int, Meta(description="The most request records written in one batch.")] = 500


class StateSettings(_Section, frozen=True):
    """Fast state shared by replicas: rate-limit counters, caches, circuit breakers, live statistics.

    Without ``redis_url`` it lives in this process (right for one replica).
    """

    redis_url: Annotated[
        str | None,
        Meta(description="redis://host:6379/0 (or rediss://) shared by every replica; empty: in process."),
    ] = None
    on_unavailable: Annotated[
        Literal["open", "closed"],
        Meta(
            description="When Redis cannot be reached: 'open' admits requests (limits unenforced), 'closed' refuses them."
        ),
    ] = "open"
    key_prefix: Annotated[
        str,
        Meta(description="Prefix of every Redis key Podium writes (several gateways may share one Redis)."),
    ] = "podium:"
    timeout_ms: Annotated[
        float, Meta(description="How long one Redis call may take before Redis counts as unreachable.")
    ] = 250.0


class Config(_Section, frozen=True):
    """A whole ``podium.yaml``: every section is optional."""

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    state: StateSettings = StateSettings()
    routing: RoutingSettings = RoutingSettings()
    identity: IdentitySettings = IdentitySettings()
    audit: AuditSettings = AuditSettings()
    limits: Annotated[
        dict[str, LimitRule],
        Meta(description="Named limits: RPM, TPM, concurrency and budgets (docs/limits.md)."),
    ] = {}
    cache: CacheSettings = CacheSettings()
    prompts: PromptSettings = PromptSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    observability: ObservabilitySettings = ObservabilitySettings()  # traces, /metrics (docs/observability.md)
    evaluation: EvaluationSettings = EvaluationSettings()  # quality evaluators on live traffic and datasets
    alerting: AlertingSettings = AlertingSettings()  # alert rules over rolling windows, notification channels
    knowledge: KnowledgeSettings = KnowledgeSettings()
    workflows: WorkflowSettings = WorkflowSettings()  # flow files and the run worker (docs/workflows.md)
    providers: Annotated[dict[str, Provider], Meta(description="Accounts at providers, by name.")] = {}
    deployments: Annotated[
        dict[str, Deployment], Meta(description='Models at providers, by name ("openai/*" for a wildcard).')
    ] = {}
    routes: Annotated[
        dict[str, Route], Meta(description="Public model names mapped to deployments and fallbacks.")
    ] = {}
