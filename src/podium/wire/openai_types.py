"""OpenAI Chat Completions and Embeddings wire shapes, as msgspec Structs.

Decoding into these validates the caller's JSON in one pass and names the bad field
(``Expected `str`, got `int` - at `$.messages[0].role```). Field names follow the API reference.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "KNOWN_CHAT_FIELDS",
    "StrictWireChatRequest",
    "WireChatRequest",
    "WireChunk",
    "WireCompletion",
    "WireEmbeddingRequest",
    "WireEmbeddingResponse",
    "WireMessage",
]


class _In(msgspec.Struct, kw_only=True):
    pass


class WireTextPart(_In, tag="text"):
    text: str


class WireImageUrl(_In):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class WireImagePart(_In, tag="image_url"):
    image_url: WireImageUrl


class WireRefusalPart(_In, tag="refusal"):
    refusal: str


class WireAudioPart(_In, tag="input_audio"):
    input_audio: dict[str, Any]


class WireFilePart(_In, tag="file"):
    file: dict[str, Any]


WirePart = WireTextPart | WireImagePart | WireRefusalPart | WireAudioPart | WireFilePart


class WireFunction(_In):
    name: str
    arguments: str = ""


class WireToolCall(_In):
    id: str
    function: WireFunction
    type: Literal["function"] = "function"


class WireThinkingBlock(_In):
    """A block of the model's earlier reasoning, as Podium (and LiteLLM) return it in ``thinking_blocks``."""

    type: Literal["thinking", "redacted_thinking"]
    thinking: str = ""
    signature: str | None = None
    data: str | None = None


class WireMessage(_In):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[WirePart] | None = None
    name: str | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    thinking_blocks: list[WireThinkingBlock] | None = None  # an assistant turn's signed reasoning, sent back


class WireFunctionDef(_In):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class WireTool(_In):
    type: Literal["function"]
    function: WireFunctionDef


class WireNamedFunction(_In):
    name: str


class WireToolChoice(_In):
    type: Literal["function"]
    function: WireNamedFunction


class WireJsonSchema(_In):
    name: str
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class WireResponseFormat(_In):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: WireJsonSchema | None = None


class WireStreamOptions(_In):
    include_usage: bool | None = None


class WireChatRequest(_In):
    model: str
    messages: list[WireMessage]
    stream: bool | None = None
    stream_options: WireStreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    tools: list[WireTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | WireToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: WireResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    metadata: dict[str, str] | None = None


KNOWN_CHAT_FIELDS = frozenset(WireChatRequest.__struct_fields__)


class StrictWireChatRequest(WireChatRequest, forbid_unknown_fields=True):
    """The same request, refusing unknown top-level fields: the fast path when there are none."""


class WireEmbeddingRequest(_In):
    model: str
    input: str | list[Any]  # strings, token ids, or lists of token ids: checked by the parser
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = None
    user: str | None = None


# --------------------------------------------------------------------------- responses (decoded from upstreams)


class WireUsagePromptDetails(_In):
    cached_tokens: int | None = None


class WireUsageCompletionDetails(_In):
    reasoning_tokens: int | None = None


class WireUsage(_In):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int | None = None
    prompt_tokens_details: WireUsagePromptDetails | None = None
    completion_tokens_details: WireUsageCompletionDetails | None = None


class WireOutFunction(_In):
    name: str | None = None
    arguments: str | None = None


class WireOutToolCall(_In):
    id: str | None = None
    function: WireOutFunction | None = None
    type: str | None = None
    index: int | None = None


class WireOutMessage(_In):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[WireOutToolCall] | None = None
    reasoning_content: str | None = None  # DeepSeek, vLLM and others stream reasoning here
    reasoning: str | None = None  # OpenRouter, Ollama


class WireChoice(_In):
    index: int = 0
    message: WireOutMessage | None = None
    finish_reason: str | None = None
    logprobs: msgspec.Raw | None = None


class WireCompletion(_In):
    id: str = ""
    created: int = 0
    model: str = ""
    choices: list[WireChoice] = []
    usage: WireUsage | None = None
    system_fingerprint: str | None = None


class WireChunkChoice(_In):
    index: int = 0
    delta: WireOutMessage | None = None
    finish_reason: str | None = None
    logprobs: msgspec.Raw | None = None


class WireChunk(_In):
    id: str = ""
    created: int = 0
    model: str = ""
    choices: list[WireChunkChoice] = []
    usage: WireUsage | None = None
    system_fingerprint: str | None = None


class WireErrorBody(_In):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class WireError(_In):
    error: WireErrorBody | str | None = None
    message: str | None = None  # some OpenAI-compatible servers put it at the top level
    detail: str | None = None  # FastAPI-based servers (vLLM, TGI)


class WireEmbeddingItem(_In):
    embedding: list[float] | str
    index: int = 0


class WireEmbeddingResponse(_In):
    data: list[WireEmbeddingItem]
    model: str = ""
    usage: WireUsage | None = None
