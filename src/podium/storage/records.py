"""What storage holds, as immutable records. Each carries the format ``version`` it was written in."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["GuardrailVerdict", "KeyRecord", "RequestPage", "RequestQuery", "RequestRecord"]

Scope = Literal["inference", "admin"]


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An API key. Only ``hash`` (SHA-256 of the secret) is stored; the secret is shown once."""

    id: str  # "key_" + 16 hex chars; safe to log
    name: str
    hash: str  # hex SHA-256 of the whole secret
    prefix: str  # the secret's first characters, to recognise it in listings ("pk-3fA9c…")
    scopes: tuple[Scope, ...] = ("inference",)
    models: tuple[str, ...] = ("*",)  # public model names or glob patterns the key may use
    tenant: str = "default"
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    metadata: dict[str, str] = {}
    roles: tuple[str, ...] = ()  # admin-API roles (docs/access-control.md); "admin" scope alone = owner
    team: str | None = None  # a team of the key's tenant
    guardrail_policy: str | None = None  # the guardrail policy applied to this key's calls
    allowed_regions: tuple[str, ...] = ()  # regions its calls may be processed in; empty: any
    rev: int = 0  # assigned by storage on every write; replicas sync on it
    version: int = 1


class GuardrailVerdict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What one guardrail scanner decided about one call: on the request record and in the audit trail.

    ``kinds`` says what was found (``EMAIL``, ``PROMPT_INJECTION``…), never the matched text.
    """

    policy: str
    scanner: str  # the scanner's name in the policy (its type unless named)
    stage: Literal["input", "output"]
    action: Literal["allow", "redact", "pseudonymize", "block", "flag"]
    kinds: tuple[str, ...] = ()
    count: int = 0  # findings
    score: float = 0.0  # the highest score, 0..1
    latency_ms: float = 0.0
    error: str | None = None  # "timeout", "error: ValueError", "oversize", "binary": why it did not scan


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One model call as it ended: the accounting and audit unit. Written once, never updated."""

    id: str  # the x-request-id
    created_at: float  # epoch seconds when the request arrived
    key_id: str | None
    tenant: str = "default"
    api: Literal["chat", "embeddings", "messages", "responses"] = "chat"  # the inbound API
    requested_model: str
    route: str | None = None
    deployment: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    status: int  # the HTTP status the caller received (499: the caller went away)
    error_class: str | None = None
    latency_ms: float
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float = 0.0
    streamed: bool = False
    attempts: int = 0
    overhead_ms: float | None = None
    prompt_name: str | None = None  # the registry prompt the request used, if any
    prompt_version: int | None = None  # the version of it that served (a label may split traffic)
    route_reason: str | None = None  # why this deployment answered (the x-podium-route header's reason)
    cache: str | None = None  # "hit", "semantic-hit", "miss" or "skip"; None when no cache applied
    limit_hit: str | None = None  # the limit that refused the request or made it wait ("per-key.rpm")
    queued_ms: float | None = None  # time waited in a limit's queue
    guardrail_action: str | None = None  # the strongest guardrail action: block, redact, pseudonymize, flag
    guardrails: tuple[GuardrailVerdict, ...] = ()  # every scanner's verdict (docs/guardrails.md)
    team: str | None = None  # the key's team when the request was made (usage by team)
    version: int = 1


class RequestQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters for the request log, newest first. ``cursor`` is the opaque ``next_cursor`` of a page."""

    key_id: str | None = None
    tenant: str | None = None
    model: str | None = None  # matches requested_model
    deployment: str | None = None
    status: int | None = None
    errors_only: bool = False
    guardrail_action: str | None = None  # only requests where a guardrail blocked, redacted… ("block")
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    limit: int = 50  # clamped to 1..1000
    cursor: str | None = None


class RequestPage(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[RequestRecord, ...]
    next_cursor: str | None = None
