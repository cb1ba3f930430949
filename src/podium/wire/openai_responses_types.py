"""OpenAI Responses API request shapes (``POST /v1/responses``), as msgspec Structs.

The request refuses unknown top-level fields, so a Responses feature Podium does not translate is
named in a 400 rather than ignored. ``input`` items and ``tools`` are decoded generically first and
then converted by their ``type``, so an item or tool type Podium cannot carry (``web_search``,
``computer_call``…) is refused by that name and path.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionTool",
    "MessageItem",
    "ReasoningItem",
    "ResponsesRequest",
]


class _In(msgspec.Struct, kw_only=True):
    pass


class InputText(_In, tag="input_text"):
    text: str


class OutputText(_In, tag="output_text"):
    text: str
    annotations: Any = None
    logprobs: Any = None


class Refusal(_In, tag="refusal"):
    refusal: str


class InputImage(_In, tag="input_image"):
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class InputFile(_In, tag="input_file"):
    file_id: str | None = None
    file_data: str | None = None
    file_url: str | None = None
    filename: str | None = None


class InputAudio(_In, tag="input_audio"):
    input_audio: Any = None


ContentPart = InputText | OutputText | Refusal | InputImage | InputFile | InputAudio


class MessageItem(_In):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    type: Literal["message"] | None = None
    id: str | None = None
    status: str | None = None
    phase: str | None = None


class FunctionCallItem(_In):
    call_id: str
    name: str
    arguments: str
    type: Literal["function_call"] = "function_call"
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(_In):
    call_id: str
    output: str | list[ContentPart]
    type: Literal["function_call_output"] = "function_call_output"
    id: str | None = None
    status: str | None = None


class ReasoningItem(_In):
    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    summary: list[Any] = []
    content: Any = None
    encrypted_content: str | None = None
    status: str | None = None


class FunctionTool(_In):
    type: Literal["function"]
    name: str
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextFormat(_In):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextConfig(_In):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class Reasoning(_In):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesRequest(_In, forbid_unknown_fields=True):
    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool | None = None
    store: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    reasoning: Reasoning | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    stream_options: dict[str, Any] | None = None
    podium: dict[str, Any] | None = None  # Podium's extension object (e.g. `rag`), as on chat completions
    # Accepted so that their use is refused by name with a reason, not as an unknown field.
    background: bool | None = None
    include: list[str] | None = None
    truncation: str | None = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None
    conversation: Any = None
    prompt: Any = None
