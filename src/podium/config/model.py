"""The configuration's shape: one immutable object, validated once at start-up (and on reload).

``podium schema`` prints the JSON Schema of :class:`Config`, so editors complete ``podium.yaml``.
Secrets are ``${ENV_VAR}`` references, resolved by the loader; no value here is read from the
environment later.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "Capability",
    "Config",
    "Deployment",
    "Price",
    "Provider",
    "ProviderType",
    "Route",
    "ServerSettings",
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
]

Capability = Literal["chat", "streaming", "tools", "json_object", "json_schema", "vision", "embeddings"]

DEFAULT_CAPABILITIES: tuple[Capability, ...] = ("chat", "streaming", "tools", "json_object", "json_schema")


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Provider(_Section):
    """An account at a provider: where to send requests and with which credentials."""

    type: ProviderType
    base_url: str | None = None  # the vendor preset's URL when omitted
    api_key: str | None = None  # usually "${OPENAI_API_KEY}"
    api_version: str | None = None  # Azure OpenAI's api-version query parameter
    headers: dict[str, str] = {}
    region: str | None = None
    max_connections: int = 1000


class Price(_Section):
    """US dollars per million tokens."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None  # defaults to ``input``
    cache_write: float | None = None


class Timeouts(_Section):
    """Seconds. ``first_token`` bounds the wait for the first byte of the answer."""

    connect: float = 10.0
    first_token: float = 120.0
    total: float = 600.0


class Deployment(_Section):
    """One model at one provider, as Podium calls it."""

    provider: str
    model: str  # the upstream's model name ("*" in a wildcard deployment: the caller's suffix)
    capabilities: tuple[Capability, ...] = DEFAULT_CAPABILITIES
    context_window: int | None = None
    max_output_tokens: int | None = None
    price: Price | None = None  # the shipped price table's entry for ``model`` when omitted
    region: str | None = None  # the provider's region when omitted
    timeouts: Timeouts = Timeouts()


class Route(_Section):
    """A public model name mapped to deployments, tried in order: ``deployments`` then ``fallbacks``."""

    deployments: tuple[str, ...]
    fallbacks: tuple[str, ...] = ()
    description: str | None = None


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8400
    max_body_bytes: int = 16 * 1024 * 1024
    # How long a reload or shutdown waits for in-flight requests before closing them.
    drain_seconds: float = 30.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class StorageSettings(_Section):
    """``url``: ``sqlite:///path/to/podium.db`` or ``postgresql://user@host:5432/db``.

    Empty means SQLite in the data directory (``--data-dir``, ``PODIUM_DATA_DIR`` or ``./.podium``).
    """

    url: str | None = None
    pool_size: int = 10
    # Request records are written in batches off the request path.
    flush_interval_ms: int = 200
    flush_batch_size: int = 500


class Config(_Section):
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    providers: dict[str, Provider] = {}
    deployments: dict[str, Deployment] = {}
    routes: dict[str, Route] = {}
