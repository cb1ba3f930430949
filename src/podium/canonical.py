"""The one internal shape of a model call, whatever API the caller spoke and whatever the upstream speaks.

Inbound edges (OpenAI Chat Completions, later Anthropic Messages and OpenAI Responses) parse their wire
JSON into a :class:`ChatRequest`; provider adapters turn it into their wire format and answer with a
stream of :data:`Event` records; the edge turns events back into the caller's format. A non-streaming
call is the same stream, collected by :func:`podium.collect.collect` — one code path to keep correct.

Everything here is an immutable msgspec Struct: cheap to build, impossible to mutate by accident.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "ChatRequest",
    "Completion",
    "Embedding",
    "EmbeddingRequest",
    "EmbeddingResult",
    "Event",
    "Finish",
    "FinishReason",
    "ImagePart",
    "JsonSchemaFormat",
    "Message",
    "Part",
    "Reasoning",
    "ReasoningDelta",
    "RefusalDelta",
    "ResponseStart",
    "Role",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class _Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


# --------------------------------------------------------------------------- request


class TextPart(_Record, frozen=True, tag="text"):
    text: str


class ImagePart(_Record, frozen=True, tag="image"):
    """An image by URL; ``data:`` URLs carry inline base64 bytes."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


Part = TextPart | ImagePart


class ToolCall(_Record, frozen=True):
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


class Reasoning(_Record, frozen=True):
    """One block of a model's own earlier reasoning, carried in the assistant turn that produced it.

    Anthropic (and Claude on Bedrock) want a turn's thinking blocks back unchanged when the
    conversation continues after a tool call: ``text`` with the ``signature`` that proves it is the
    model's own, or a redacted block's opaque ``redacted`` data. Adapters of other providers leave
    them out: those APIs take no earlier reasoning back (docs/providers.md, "Reasoning in the history").
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None  # redacted_thinking ``data`` / Bedrock ``redactedContent`` (base64)


class Message(_Record, frozen=True):
    role: Role
    content: str | tuple[Part, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # on role="tool": the call this result answers
    reasoning: tuple[Reasoning, ...] = ()  # on role="assistant": the turn's reasoning, in order

    def text(self) -> str:
        """The message's text parts joined; images contribute nothing."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


class Tool(_Record, frozen=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class JsonSchemaFormat(_Record, frozen=True):
    name: str
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


ToolChoice = Literal["auto", "none", "required"] | str  # a bare tool name forces that tool


class ChatRequest(_Record, frozen=True):
    """A chat call. ``model`` is the public name the caller asked for (route or deployment)."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    user: str | None = None
    n: int = 1
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    # response format: None (text), "json_object", or a JSON schema
    response_format: Literal["json_object"] | JsonSchemaFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    metadata: dict[str, str] | None = None
    # Fields of the caller's API that have no canonical meaning (``logit_bias``, ``reasoning_effort``,
    # ``service_tier``…): an adapter of the same dialect passes them through unchanged; any other
    # adapter refuses them by name rather than dropping them silently.
    extra: dict[str, Any] | None = None
    # The dialect ``extra`` is written in: "openai" (Chat Completions, and Responses, whose extras the
    # edge writes as their Chat Completions names) or "anthropic" (Messages). An adapter passes
    # ``extra`` through only when it speaks that dialect (see podium.wire.dialect).
    dialect: Literal["openai", "anthropic"] = "openai"


class EmbeddingRequest(_Record, frozen=True):
    model: str
    inputs: tuple[str, ...] | tuple[tuple[int, ...], ...]
    dimensions: int | None = None
    user: str | None = None


# --------------------------------------------------------------------------- response events


class ResponseStart(_Record, frozen=True, tag="start"):
    """First event of every stream: the upstream's id and the model that answered."""

    id: str
    model: str
    created: int
    system_fingerprint: str | None = None


class TextDelta(_Record, frozen=True, tag="text"):
    text: str
    index: int = 0
    logprobs: msgspec.Raw | None = None  # the upstream's logprobs object, passed through as is


class RefusalDelta(_Record, frozen=True, tag="refusal"):
    text: str
    index: int = 0


class ReasoningDelta(_Record, frozen=True, tag="reasoning"):
    text: str
    index: int = 0
    # Anthropic's and Bedrock's proof that a thinking block is the model's own; a same-dialect
    # round trip must send it back unchanged. Arrives on its own delta, after the block's text, and
    # ends the block: reasoning that follows starts a new one.
    signature: str | None = None
    # A redacted block: the reasoning as opaque data only the upstream can read (``text`` is empty).
    redacted: str | None = None


class ToolCallDelta(_Record, frozen=True, tag="tool_call"):
    """A piece of one tool call: ``id`` and ``name`` arrive on the call's first delta."""

    call_index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None
    index: int = 0


class Finish(_Record, frozen=True, tag="finish"):
    reason: FinishReason
    index: int = 0
    # The upstream's own account of why it stopped (Bedrock's guardrail trace), passed through as is.
    trace: msgspec.Raw | None = None


class Usage(_Record, frozen=True, tag="usage"):
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False  # counted locally because the upstream did not say

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


Event = ResponseStart | TextDelta | RefusalDelta | ReasoningDelta | ToolCallDelta | Finish | Usage


class Choice(_Record, frozen=True):
    index: int
    text: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    refusal: str | None = None
    reasoning: str | None = None
    reasoning_blocks: tuple[Reasoning, ...] = ()  # the same reasoning as blocks, with signatures
    logprobs: tuple[msgspec.Raw, ...] = ()


class Completion(_Record, frozen=True):
    """A whole answer: what a collected stream amounts to."""

    id: str
    model: str
    created: int
    choices: tuple[Choice, ...]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Embedding(_Record, frozen=True):
    index: int
    vector: tuple[float, ...] | bytes  # floats, or little-endian float32 bytes as the upstream sent


class EmbeddingResult(_Record, frozen=True):
    model: str
    data: tuple[Embedding, ...]
    usage: Usage
