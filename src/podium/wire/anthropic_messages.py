"""Anthropic Messages API, edge side: ``POST /v1/messages`` JSON → canonical request; events → Anthropic.

What translates: ``system`` (string or text blocks → one system message), text and image blocks
(base64 ``image/jpeg|png|gif|webp`` → ``data:`` URL; URL sources as they are), ``tool_use`` /
``tool_result`` blocks (results become tool messages placed before the turn's other content, as
Chat Completions requires), client tools and ``tool_choice`` (``any`` → ``required``,
``disable_parallel_tool_use`` → ``parallel_tool_calls: false``), ``stop_sequences``,
``metadata.user_id`` (→ ``user``), ``temperature``, ``top_p``, ``max_tokens``, and
``output_config.format`` (→ a JSON-schema response format).

Fields with no canonical meaning (``thinking``, ``top_k``, ``service_tier``, ``output_config.effort``
and any field this release does not know) travel in ``extra`` in the ``anthropic`` dialect: an
Anthropic deployment receives them, any other provider refuses them by name (400). ``thinking`` and
``redacted_thinking`` blocks of an assistant turn are kept on its message (:class:`Reasoning`, with
the signature or the opaque data) so that an Anthropic or Bedrock deployment gets them back
unchanged, as extended thinking with tools requires; other providers take no earlier reasoning back
and leave them out. ``cache_control`` hints are accepted and not forwarded (other providers cache on
their own).

Answers are encoded by :mod:`podium.wire.anthropic_message_events`; errors here, in Anthropic's
shape, for every :class:`~podium.errors.PodiumError`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from podium.canonical import (
    ChatRequest,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    Reasoning,
    TextPart,
    Tool,
    ToolCall,
)
from podium.errors import PodiumError, RequestError, UnsupportedFeature
from podium.prompts.reference import names_prompt
from podium.wire import anthropic_messages_types as w

__all__ = [
    "error_body",
    "error_event",
    "error_status",
    "parse_messages_request",
]

_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode
_strict_decoder = msgspec.json.Decoder(w.StrictMessagesRequest)
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_KNOWN_BLOCKS = "text, image, tool_use, tool_result, thinking and redacted_thinking"


# --------------------------------------------------------------------------- requests


def _decode_object(body: bytes) -> dict[str, Any]:
    try:
        obj = _json_decode(body)
    except msgspec.DecodeError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RequestError("The request body must be a JSON object.")
    return obj


def _validation_error(exc: msgspec.ValidationError) -> RequestError:
    text = str(exc)
    path = text.rsplit("at `", 1)[1].rstrip("`").removeprefix("$.") if "at `" in text else None
    if path and path.endswith(".type") and text.startswith("Invalid value"):
        value = text.split("'", 2)[1] if text.count("'") >= 2 else "?"
        if ".content[" in path and not path.endswith("source.type"):
            return RequestError(
                f"Unknown or unsupported content block type '{value}' at {path}: Podium translates "
                f"{_KNOWN_BLOCKS} blocks.",
                param=path,
            )
        return RequestError(f"Invalid value '{value}' at {path}.", param=path)
    return RequestError(f"Invalid request: {text}", param=path)


def parse_messages_request(body: bytes, *, count_only: bool = False) -> ChatRequest:
    """The canonical request for a ``/v1/messages`` body (``count_only``: for ``count_tokens``)."""
    extra: dict[str, Any] = {}
    try:
        wire: w.MessagesRequest = _strict_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        obj = _decode_object(body)
        try:
            wire = msgspec.convert(obj, w.MessagesRequest)
        except msgspec.ValidationError as exc:
            raise _validation_error(exc) from None
        extra = {k: v for k, v in obj.items() if k not in w.KNOWN_FIELDS}
    if wire.max_tokens is None and not count_only:
        raise RequestError("`max_tokens` is required.", param="max_tokens")
    if wire.max_tokens is not None and wire.max_tokens < 1:
        raise RequestError("`max_tokens` must be at least 1.", param="max_tokens")
    if not wire.messages and not names_prompt(wire.model, extra):  # a registry prompt brings its own
        raise RequestError("`messages` must hold at least one message.", param="messages")
    if wire.thinking is not None and wire.thinking.get("type") != "disabled":
        extra["thinking"] = wire.thinking
    if wire.top_k is not None:
        extra["top_k"] = wire.top_k
    if wire.service_tier is not None:
        extra["service_tier"] = wire.service_tier
    response_format = None
    if wire.output_config is not None:
        if wire.output_config.format is not None:
            response_format = JsonSchemaFormat(name="output", schema=wire.output_config.format.schema)
        if wire.output_config.effort is not None:
            extra["output_config"] = {"effort": wire.output_config.effort}
    messages = _messages(wire)
    tool_choice: str | None = None
    parallel: bool | None = None
    if wire.tool_choice is not None:
        tc = wire.tool_choice
        if tc.type == "tool":
            if not tc.name:
                raise RequestError(
                    "`tool_choice.name` is required when type is 'tool'.", param="tool_choice.name"
                )
            tool_choice = tc.name
        else:
            tool_choice = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
        if tc.disable_parallel_tool_use:
            parallel = False
    return ChatRequest(
        model=wire.model,
        messages=messages,
        stream=bool(wire.stream),
        max_tokens=wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=tuple(wire.stop_sequences or ()),
        user=wire.metadata.user_id if wire.metadata else None,
        tools=_tools(wire.tools),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=response_format,
        extra=extra or None,
        dialect="anthropic",
    )


def _tools(tools: list[w.ToolDef] | None) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for i, t in enumerate(tools or ()):
        if t.type not in (None, "custom"):
            raise UnsupportedFeature(
                f"The server tool `{t.type}` (tools[{i}]) runs inside Anthropic's API; Podium cannot "
                "run it for another provider. Offer it as a client tool with an input_schema instead.",
                param=f"tools[{i}].type",
            )
        if t.input_schema is None:
            raise RequestError(f"`tools[{i}].input_schema` is required.", param=f"tools[{i}].input_schema")
        out.append(Tool(name=t.name, description=t.description, parameters=t.input_schema, strict=t.strict))
    return tuple(out)


def _system(system: str | list[w.TextBlock] | None) -> Message | None:
    if system is None:
        return None
    text = system if isinstance(system, str) else "\n\n".join(b.text for b in system)
    return Message(role="system", content=text) if text else None


def _image(block: w.ImageBlock, where: str) -> ImagePart:
    src = block.source
    if isinstance(src, w.UrlSource):
        return ImagePart(url=src.url)
    if isinstance(src, w.FileSource):
        raise UnsupportedFeature(
            f"The image at {where} references an Anthropic Files API upload, which other providers "
            "cannot read; send it as base64 or a URL.",
            param=f"{where}.source",
        )
    media = src.media_type.lower()
    if media not in _IMAGE_TYPES:
        raise RequestError(
            f"The image at {where} has media type '{src.media_type}'; supported are "
            f"{', '.join(sorted(_IMAGE_TYPES))}.",
            param=f"{where}.source.media_type",
        )
    head = src.data[:64]
    try:
        base64.b64decode(head + "=" * (-len(head) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            f"The image at {where} is not valid base64.", param=f"{where}.source.data"
        ) from None
    return ImagePart(url=f"data:{media};base64,{src.data}")


def _tool_result(block: w.ToolResultBlock, where: str) -> Message:
    content: str | tuple[Part, ...]
    if block.content is None or isinstance(block.content, str):
        content = block.content or ""
        if block.is_error:
            content = f"Error: {content}"
    else:
        parts: list[Part] = []
        for k, b in enumerate(block.content):
            if isinstance(b, w.TextBlock):
                parts.append(TextPart(text=b.text))
            else:
                parts.append(_image(b, f"{where}.content[{k}]"))
        if block.is_error:
            parts.insert(0, TextPart(text="Error: "))
        if all(isinstance(p, TextPart) for p in parts):
            content = "".join(p.text for p in parts if isinstance(p, TextPart))
        else:
            content = tuple(parts)
    return Message(role="tool", content=content, tool_call_id=block.tool_use_id)


def _messages(wire: w.MessagesRequest) -> tuple[Message, ...]:
    out: list[Message] = []
    system = _system(wire.system)
    if system is not None:
        out.append(system)
    calls: set[str] = set()
    for i, m in enumerate(wire.messages):
        where = f"messages[{i}]"
        if isinstance(m.content, str):
            out.append(Message(role=m.role, content=m.content))
            continue
        if m.role == "assistant":
            text: list[str] = []
            tool_calls: list[ToolCall] = []
            reasoning: list[Reasoning] = []
            for j, b in enumerate(m.content):
                if isinstance(b, w.TextBlock):
                    text.append(b.text)
                elif isinstance(b, w.ToolUseBlock):
                    raw = bytes(b.input).decode()
                    if not raw.lstrip().startswith("{"):
                        raise RequestError(
                            f"`{where}.content[{j}].input` must be a JSON object.",
                            param=f"{where}.content[{j}].input",
                        )
                    tool_calls.append(ToolCall(id=b.id, name=b.name, arguments=raw))
                    calls.add(b.id)
                elif isinstance(b, w.ThinkingBlock):
                    reasoning.append(Reasoning(text=b.thinking, signature=b.signature))
                elif isinstance(b, w.RedactedThinkingBlock):
                    reasoning.append(Reasoning(redacted=b.data))
                else:
                    kind = type(b).__struct_config__.tag
                    raise RequestError(
                        f"A '{kind}' block cannot appear in an assistant message ({where}.content[{j}]).",
                        param=f"{where}.content[{j}].type",
                    )
            out.append(
                Message(
                    role="assistant",
                    content="".join(text) or None,
                    tool_calls=tuple(tool_calls),
                    reasoning=tuple(reasoning),
                )
            )
            continue
        results: list[Message] = []
        parts: list[Part] = []
        for j, b in enumerate(m.content):
            if isinstance(b, w.TextBlock):
                parts.append(TextPart(text=b.text))
            elif isinstance(b, w.ImageBlock):
                parts.append(_image(b, f"{where}.content[{j}]"))
            elif isinstance(b, w.ToolResultBlock):
                if b.tool_use_id not in calls:
                    raise RequestError(
                        f"The tool_result at {where}.content[{j}] answers tool_use id '{b.tool_use_id}', "
                        "which no earlier assistant message made.",
                        param=f"{where}.content[{j}].tool_use_id",
                    )
                results.append(_tool_result(b, f"{where}.content[{j}]"))
            else:
                kind = type(b).__struct_config__.tag
                raise RequestError(
                    f"A '{kind}' block cannot appear in a user message ({where}.content[{j}]).",
                    param=f"{where}.content[{j}].type",
                )
        out.extend(results)
        if parts or not results:
            if all(isinstance(p, TextPart) for p in parts):
                out.append(
                    Message(role="user", content="".join(p.text for p in parts if isinstance(p, TextPart)))
                )
            else:
                out.append(Message(role="user", content=tuple(parts)))
    return tuple(out)


# --------------------------------------------------------------------------- errors


def error_status(err: PodiumError) -> tuple[int, str]:
    """The HTTP status and Anthropic error ``type`` for any Podium error."""
    status = err.status
    if err.code == "upstream_overloaded":
        return 529, "overloaded_error"
    if status == 401:
        return 401, "authentication_error"
    if status == 403:
        return 403, "permission_error"
    if status == 404:
        return 404, "not_found_error"
    if status == 413:
        return 413, "request_too_large"
    if status == 429:
        return 429, "rate_limit_error"
    if status == 504:
        return 504, "timeout_error"
    if status >= 500:
        return status, "api_error"
    return status, "invalid_request_error"


def error_body(err: PodiumError, *, request_id: str | None = None) -> bytes:
    """Anthropic's error JSON: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    _, kind = error_status(err)
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": err.message}}
    if request_id is not None:
        body["request_id"] = request_id
    return _encode(body)


def error_event(err: PodiumError) -> bytes:
    """A failure after the stream began: Anthropic's ``event: error`` frame."""
    return b"event: error\ndata: " + error_body(err) + b"\n\n"
