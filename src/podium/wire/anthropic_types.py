"""Anthropic Messages API response shapes, as msgspec Structs (field names follow the API reference).

Content blocks are one loose Struct rather than a tagged union, so a block type this release does not
know is reported by name (:mod:`podium.wire.anthropic`) instead of failing as an unreadable body.
"""

from __future__ import annotations

import msgspec

__all__ = ["Block", "Delta", "ErrorBody", "Message", "StreamEvent", "WireUsage"]


# msgspec.Raw cannot share a union with None: an empty Raw means "absent".
_EMPTY = msgspec.Raw(b"")


class _In(msgspec.Struct, kw_only=True):
    pass


class WireUsage(_In):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Block(_In):
    type: str
    text: str | None = None
    id: str | None = None  # tool_use
    name: str | None = None
    input: msgspec.Raw = _EMPTY  # tool_use: the arguments object, kept as its exact JSON text
    thinking: str | None = None  # thinking
    signature: str | None = None
    data: str | None = None  # redacted_thinking


class Message(_In):
    id: str = ""
    type: str = "message"
    role: str = "assistant"
    model: str = ""
    content: list[Block] = []
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: WireUsage | None = None


class Delta(_In):
    type: str | None = None
    text: str | None = None  # text_delta
    partial_json: str | None = None  # input_json_delta
    thinking: str | None = None  # thinking_delta
    signature: str | None = None  # signature_delta
    stop_reason: str | None = None  # message_delta
    stop_sequence: str | None = None


class ErrorBody(_In):
    type: str = "api_error"
    message: str = ""


class StreamEvent(_In):
    """One ``data:`` payload of the SSE stream; ``type`` says which of the other fields it carries."""

    type: str
    message: Message | None = None  # message_start
    index: int | None = None  # content_block_*
    content_block: Block | None = None  # content_block_start
    delta: Delta | None = None  # content_block_delta, message_delta
    usage: WireUsage | None = None  # message_delta
    error: ErrorBody | None = None  # error
