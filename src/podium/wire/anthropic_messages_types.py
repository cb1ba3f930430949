"""Anthropic Messages API request shapes, as the caller sends them to Podium (``POST /v1/messages``).

Decoding into these validates the caller's JSON in one pass and names the bad field; content blocks
are a tagged union, so an unknown block ``type`` is reported with its path. Field names follow the
API reference. (The adapter side, Podium calling Anthropic, has its own shapes in
:mod:`podium.wire.anthropic_types`.)
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "KNOWN_FIELDS",
    "Block",
    "InMessage",
    "MessagesRequest",
    "StrictMessagesRequest",
]


class _In(msgspec.Struct, kw_only=True):
    pass


class TextBlock(_In, tag="text"):
    text: str
    cache_control: Any = None  # a caching hint; see docs/inbound-apis.md
    citations: Any = None


class Base64Source(_In, tag="base64"):
    media_type: str
    data: str


class UrlSource(_In, tag="url"):
    url: str


class FileSource(_In, tag="file"):
    file_id: str


class ImageBlock(_In, tag="image"):
    source: Base64Source | UrlSource | FileSource
    cache_control: Any = None


class ToolUseBlock(_In, tag="tool_use"):
    id: str
    name: str
    input: msgspec.Raw  # the arguments object, kept as its exact JSON text
    cache_control: Any = None


class ToolResultBlock(_In, tag="tool_result"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] | None = None
    is_error: bool | None = None
    cache_control: Any = None


class ThinkingBlock(_In, tag="thinking"):
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_In, tag="redacted_thinking"):
    data: str


Block = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock


class InMessage(_In):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class ToolDef(_In):
    name: str
    # absent on Anthropic's server tools (web_search_20250305, bash_…), which Podium cannot run
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    type: str | None = None  # "custom" or absent for a client tool
    strict: bool | None = None
    cache_control: Any = None


class ToolChoice(_In):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Metadata(_In):
    user_id: str | None = None


class OutputFormat(_In):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(_In):
    format: OutputFormat | None = None
    effort: str | None = None


class MessagesRequest(_In):
    model: str
    messages: list[InMessage]
    max_tokens: int | None = None  # required by /v1/messages, not by /v1/messages/count_tokens
    system: str | list[TextBlock] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: dict[str, Any] | None = None
    service_tier: str | None = None
    output_config: OutputConfig | None = None


KNOWN_FIELDS = frozenset(MessagesRequest.__struct_fields__)


class StrictMessagesRequest(MessagesRequest, forbid_unknown_fields=True):
    """The same request, refusing unknown top-level fields: the fast path when there are none."""
