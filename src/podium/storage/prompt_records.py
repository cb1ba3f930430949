"""The prompt registry as storage holds it: immutable versions, movable labels, approvals.

A version's content is a :class:`PromptSpec` — the template (text, or chat messages), its typed
variables, and the model configuration that goes with it. Versions are numbered 1, 2, 3… per prompt
and never change; labels (``production``, ``staging``…) point at one version or split traffic across
several by weight. Each record carries the format ``version`` it was written in.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ApprovalRecord",
    "ApprovalStatus",
    "JsonSchemaSpec",
    "LabelHistoryEntry",
    "LabelRecord",
    "LabelTarget",
    "MessageTemplate",
    "ModelSettings",
    "PromptChanges",
    "PromptSpec",
    "PromptVersionRecord",
    "ResponseFormatSpec",
    "ToolSpec",
    "VariableSpec",
    "VariableType",
    "VersionMetrics",
]

VariableType = Literal["string", "number", "integer", "boolean", "list", "object"]
ApprovalStatus = Literal["pending", "applied", "rejected", "superseded"]


class _Spec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    pass


class VariableSpec(_Spec, frozen=True):
    """A template variable: its type, and a default that makes it optional."""

    type: VariableType = "string"
    default: Any | msgspec.UnsetType = msgspec.UNSET  # UNSET: required
    description: str | None = None


class MessageTemplate(_Spec, frozen=True):
    role: Literal["system", "developer", "user", "assistant"]
    content: str  # a template


class ToolSpec(_Spec, frozen=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class JsonSchemaSpec(_Spec, frozen=True):
    name: str
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class ResponseFormatSpec(_Spec, frozen=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


class ModelSettings(_Spec, frozen=True):
    """What the prompt runs on; a request's own value for any of these wins."""

    model: str | None = None  # a route or model name
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: ResponseFormatSpec | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None  # "auto", "none", "required", or a tool's name


class PromptSpec(_Spec, frozen=True):
    """A version's content. Exactly one of ``template`` (a text prompt: one user message) and
    ``messages`` (a chat prompt) is given."""

    description: str | None = None
    template: str | None = None
    messages: tuple[MessageTemplate, ...] = ()
    variables: dict[str, VariableSpec] = {}
    config: ModelSettings = ModelSettings()


class PromptVersionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable version of a prompt; ``number`` and ``rev`` are drawn by storage."""

    tenant: str
    name: str
    number: int = 0
    spec: PromptSpec
    content_hash: str  # hex SHA-256 of the spec's canonical JSON
    message: str = ""  # the commit message
    author: str  # the actor who created it ("key:key_…", "user:usr_…", "cli:alice")
    created_at: float
    rev: int = 0
    version: int = 1


class LabelTarget(msgspec.Struct, frozen=True, array_like=True):
    """A version a label points at, with its share of traffic (weights are relative)."""

    version: int
    weight: float = 100.0


class LabelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Where a label points now. ``targets`` empty: the label was removed."""

    tenant: str
    name: str
    label: str
    targets: tuple[LabelTarget, ...]
    updated_at: float
    updated_by: str
    approved_by: str | None = None
    rev: int = 0  # drawn by storage on every write; replicas sync on it
    version: int = 1


class LabelHistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One move of a label, from ``previous`` to ``targets``: what a rollback reads."""

    tenant: str
    name: str
    label: str
    targets: tuple[LabelTarget, ...]
    previous: tuple[LabelTarget, ...]
    actor: str
    approved_by: str | None = None
    at: float
    rev: int
    version: int = 1


class ApprovalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A requested move of a protected label, applied only once a second person approves it."""

    id: str  # "apr_" + 16 hex chars
    tenant: str
    name: str
    label: str
    targets: tuple[LabelTarget, ...]
    base_rev: int  # the label's rev when requested (0: it did not exist); a later move supersedes this
    requested_by: str
    requested_at: float
    note: str = ""
    status: ApprovalStatus = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    version: int = 1


class PromptChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Versions and labels written after a rev, each in rev order: how replicas keep their mirror."""

    versions: tuple[PromptVersionRecord, ...] = ()
    labels: tuple[LabelRecord, ...] = ()


class VersionMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """What the request log says about one version of a prompt over a time window."""

    version: int
    requests: int
    errors: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    guardrail_blocks: int
    first_at: float | None = None
    last_at: float | None = None
