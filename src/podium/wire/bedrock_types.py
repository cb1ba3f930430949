"""AWS Bedrock Converse / ConverseStream / InvokeModel response shapes, as msgspec Structs."""

from __future__ import annotations

import msgspec

__all__ = [
    "CohereEmbedResponse",
    "ContentBlock",
    "ConverseResponse",
    "StreamPayload",
    "TitanEmbedResponse",
    "WireUsage",
]


# msgspec.Raw cannot share a union with None: an empty Raw means "absent".
_EMPTY = msgspec.Raw(b"")


class _In(msgspec.Struct, kw_only=True, rename="camel"):
    pass


class ToolUse(_In):
    tool_use_id: str | None = None
    name: str | None = None
    input: msgspec.Raw = _EMPTY  # an object in Converse; a JSON-text piece in a stream delta


class ReasoningText(_In):
    text: str | None = None
    signature: str | None = None


class ReasoningContent(_In):
    reasoning_text: ReasoningText | None = None
    redacted_content: str | None = None
    # stream deltas put these directly in reasoningContent
    text: str | None = None
    signature: str | None = None


class ContentBlock(_In):
    text: str | None = None
    tool_use: ToolUse | None = None
    reasoning_content: ReasoningContent | None = None
    guard_content: msgspec.Raw = _EMPTY
    image: msgspec.Raw = _EMPTY


class OutputMessage(_In):
    role: str = "assistant"
    content: list[ContentBlock] = []


class Output(_In):
    message: OutputMessage | None = None


class WireUsage(_In):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class ConverseResponse(_In):
    output: Output | None = None
    stop_reason: str | None = None
    usage: WireUsage | None = None
    trace: msgspec.Raw = _EMPTY
    additional_model_response_fields: msgspec.Raw = _EMPTY


class Start(_In):
    tool_use: ToolUse | None = None


class StreamPayload(_In):
    """The JSON payload of any ConverseStream event; the event type comes from the frame's headers."""

    role: str | None = None  # messageStart
    content_block_index: int | None = None
    start: Start | None = None  # contentBlockStart
    delta: ContentBlock | None = None  # contentBlockDelta
    stop_reason: str | None = None  # messageStop
    usage: WireUsage | None = None  # metadata
    trace: msgspec.Raw = _EMPTY  # metadata
    message: str | None = None  # exceptions


class TitanEmbedResponse(_In):
    embedding: list[float]
    input_text_token_count: int = 0


class CohereEmbedResponse(msgspec.Struct, kw_only=True):
    embeddings: list[list[float]] | dict[str, list[list[float]]]
    id: str | None = None
