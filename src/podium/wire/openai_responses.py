"""OpenAI Responses API, edge side: ``POST /v1/responses`` JSON → canonical request; events → Responses.

What translates: ``instructions`` (→ a system message, not carried into a continuation, as OpenAI
does), ``input`` as a string or items (messages with ``input_text`` / ``input_image`` / ``output_text``
parts, ``function_call``, ``function_call_output``), function tools, ``tool_choice``,
``parallel_tool_calls``, ``text.format`` (``json_schema`` / ``json_object``), ``max_output_tokens``,
``temperature``, ``top_p``, ``user``; ``reasoning.effort``, ``text.verbosity``, ``service_tier``,
``safety_identifier`` and ``prompt_cache_key`` travel as their Chat Completions fields (OpenAI dialect).
Reasoning items in the input are the model's earlier reasoning and are dropped (Chat Completions
providers take none back); one with ``encrypted_content`` is refused.

Refused by name (400): built-in tools (``web_search``, ``file_search``, ``computer_use``, ``mcp``…),
``background``, ``include``, ``truncation: auto``, ``conversation``, ``prompt``, ``top_logprobs``,
``max_tool_calls``, ``reasoning.summary``, file inputs, ``item_reference`` and other item types.

Answers are encoded by :mod:`podium.wire.openai_response_events`; errors use OpenAI's JSON shape
(:func:`podium.wire.openai.error_body`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from podium.canonical import (
    ChatRequest,
    Completion,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    TextPart,
    Tool,
    ToolCall,
)
from podium.errors import RequestError, UnsupportedFeature
from podium.wire import openai_responses_types as w

__all__ = ["ParsedResponses", "assistant_message", "parse_responses_request"]

_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(w.ResponsesRequest)
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_ITEMS: dict[str, type[msgspec.Struct]] = {
    "message": w.MessageItem,
    "function_call": w.FunctionCallItem,
    "function_call_output": w.FunctionCallOutputItem,
    "reasoning": w.ReasoningItem,
}


def _refuse(feature: str, why: str = "") -> UnsupportedFeature:
    return UnsupportedFeature(
        f"`{feature}` is not supported by Podium's Responses API{': ' + why if why else ''}.",
        param=feature.split(" ", 1)[0],
    )


@dataclass(slots=True)
class ParsedResponses:
    """A Responses request, parsed: the wire fields to echo back and the canonical pieces."""

    wire: w.ResponsesRequest
    input: tuple[Message, ...]
    tools: tuple[Tool, ...]
    tool_choice: str | None
    response_format: Any
    extra: dict[str, Any] | None
    answered_calls: list[tuple[str, str]] = field(default_factory=list)  # (call_id, param) to check

    def chat_request(self, history: tuple[Message, ...]) -> ChatRequest:
        """The canonical request: instructions, then the continued conversation, then this input."""
        known = {c.id for m in history for c in m.tool_calls} | {
            c.id for m in self.input for c in m.tool_calls
        }
        for call_id, param in self.answered_calls:
            if call_id not in known:
                raise RequestError(
                    f"No tool call found for function call output with call_id '{call_id}'.", param=param
                )
        wire = self.wire
        head = (Message(role="system", content=wire.instructions),) if wire.instructions else ()
        return ChatRequest(
            model=wire.model,
            messages=(*head, *history, *self.input),
            stream=bool(wire.stream),
            max_tokens=wire.max_output_tokens,
            temperature=wire.temperature,
            top_p=wire.top_p,
            user=wire.user,
            tools=self.tools,
            tool_choice=self.tool_choice,
            parallel_tool_calls=wire.parallel_tool_calls,
            response_format=self.response_format,
            extra=self.extra,
        )


def parse_responses_request(body: bytes) -> ParsedResponses:
    try:
        wire = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc}") from None
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit("at `", 1)[1].rstrip("`").removeprefix("$.") if "at `" in text else None
        if text.startswith("Object contains unknown field"):
            name = text.split("`", 2)[1]
            raise _refuse(name, "Podium does not translate this field") from None
        raise RequestError(f"Invalid request: {text}", param=path) from None
    _refuse_unsupported(wire)
    if wire.max_output_tokens is not None and wire.max_output_tokens < 1:
        raise RequestError("`max_output_tokens` must be at least 1.", param="max_output_tokens")
    parsed = ParsedResponses(
        wire=wire,
        input=(),
        tools=_tools(wire.tools),
        tool_choice=_tool_choice(wire.tool_choice),
        response_format=_format(wire.text),
        extra=_extra(wire),
    )
    if wire.input is None or wire.input == "" or wire.input == []:
        if wire.previous_response_id is None:
            raise RequestError("`input` is required.", param="input")
    elif isinstance(wire.input, str):
        parsed.input = (Message(role="user", content=wire.input),)
    else:
        parsed.input = _items(wire.input, parsed.answered_calls)
    return parsed


def _refuse_unsupported(wire: w.ResponsesRequest) -> None:
    if wire.background:
        raise _refuse("background", "answers are given on the request that asks for them")
    if wire.include:
        raise _refuse(f"include ({', '.join(wire.include)})")
    if wire.truncation not in (None, "disabled"):
        raise _refuse("truncation", "Podium never drops input to fit; use 'disabled'")
    for name in ("conversation", "prompt", "top_logprobs", "max_tool_calls"):
        if getattr(wire, name) is not None:
            raise _refuse(name)
    if wire.reasoning is not None and (wire.reasoning.summary or wire.reasoning.generate_summary):
        raise _refuse("reasoning.summary", "Chat Completions providers return no reasoning summaries")


def _extra(wire: w.ResponsesRequest) -> dict[str, Any] | None:
    extra: dict[str, Any] = {}
    if wire.reasoning is not None and wire.reasoning.effort is not None:
        extra["reasoning_effort"] = wire.reasoning.effort
    if wire.text is not None and wire.text.verbosity is not None:
        extra["verbosity"] = wire.text.verbosity
    for name in ("service_tier", "safety_identifier", "prompt_cache_key"):
        value = getattr(wire, name)
        if value is not None:
            extra[name] = value
    if wire.podium is not None:  # read (and removed) by the steps that own its fields, e.g. podium.rag
        extra["podium"] = wire.podium
    return extra or None


def _tools(tools: list[dict[str, Any]] | None) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for i, raw in enumerate(tools or ()):
        kind = raw.get("type")
        if kind != "function":
            raise _refuse(
                f"tools[{i}] (type '{kind}')", "built-in tools run inside OpenAI; offer a function tool"
            )
        try:
            t = msgspec.convert(raw, w.FunctionTool)
        except msgspec.ValidationError as exc:
            raise RequestError(f"Invalid tool at tools[{i}]: {exc}", param=f"tools[{i}]") from None
        out.append(Tool(name=t.name, description=t.description, parameters=t.parameters, strict=t.strict))
    return tuple(out)


def _tool_choice(choice: str | dict[str, Any] | None) -> str | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise RequestError(f"Unknown tool_choice '{choice}'.", param="tool_choice")
        return choice
    if choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    raise _refuse(f"tool_choice (type '{choice.get('type')}')")


def _format(text: w.TextConfig | None) -> Any:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json_object"
    if not fmt.name:
        raise RequestError("`text.format.name` is required for json_schema.", param="text.format.name")
    return JsonSchemaFormat(name=fmt.name, schema=fmt.schema, strict=fmt.strict, description=fmt.description)


def _image(p: w.InputImage, where: str) -> ImagePart:
    if p.image_url is None:
        raise _refuse(f"{where}.file_id", "send the image as image_url (a URL or a data: URL)")
    url = p.image_url
    if url.startswith("data:"):
        media = url[5:].split(";", 1)[0].split(",", 1)[0].lower()
        if media not in _IMAGE_TYPES or ";base64," not in url[:64]:
            raise RequestError(
                f"The image at {where} must be a base64 data: URL of {', '.join(_IMAGE_TYPES)}, not '{media}'.",
                param=f"{where}.image_url",
            )
    return ImagePart(url=url, detail=p.detail)


def _parts(content: list[Any], where: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    for j, p in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(p, w.InputText | w.OutputText):
            parts.append(TextPart(text=p.text))
        elif isinstance(p, w.Refusal):
            parts.append(TextPart(text=p.refusal))
        elif isinstance(p, w.InputImage):
            parts.append(_image(p, at))
        else:
            raise _refuse(f"{at} (type '{type(p).__struct_config__.tag}')")
    return tuple(parts)


def _text_or_parts(parts: tuple[Part, ...]) -> str | tuple[Part, ...]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return parts


def _items(items: list[dict[str, Any]], answered: list[tuple[str, str]]) -> tuple[Message, ...]:
    out: list[Message] = []
    for i, raw in enumerate(items):
        where = f"input[{i}]"
        kind = raw.get("type", "message")
        struct = _ITEMS.get(kind) if isinstance(kind, str) else None
        if struct is None:
            raise _refuse(
                f"{where} (type '{kind}')",
                "Podium translates message, function_call, function_call_output and reasoning items",
            )
        try:
            item: Any = msgspec.convert(raw, struct)
        except msgspec.ValidationError as exc:
            text = str(exc)
            sub = text.rsplit("at `", 1)[1].rstrip("`").removeprefix("$") if "at `" in text else ""
            raise RequestError(f"Invalid item at {where}: {text}", param=where + sub) from None
        if isinstance(item, w.MessageItem):
            if isinstance(item.content, str):
                out.append(Message(role=item.role, content=item.content))
            else:
                content = _text_or_parts(_parts(item.content, where))
                if item.role == "assistant" and not isinstance(content, str):
                    raise RequestError(f"An assistant message ({where}) holds text only.", param=where)
                out.append(Message(role=item.role, content=content))
        elif isinstance(item, w.FunctionCallItem):
            call = ToolCall(id=item.call_id, name=item.name, arguments=item.arguments)
            last = out[-1] if out else None
            if last is not None and last.role == "assistant":
                out[-1] = msgspec.structs.replace(last, tool_calls=(*last.tool_calls, call))
            else:
                out.append(Message(role="assistant", tool_calls=(call,)))
        elif isinstance(item, w.FunctionCallOutputItem):
            answered.append((item.call_id, f"{where}.call_id"))
            output = (
                item.output if isinstance(item.output, str) else _text_or_parts(_parts(item.output, where))
            )
            out.append(Message(role="tool", content=output, tool_call_id=item.call_id))
        elif item.encrypted_content is not None:
            raise _refuse(f"{where}.encrypted_content", "only OpenAI's own Responses API can read it")
    return tuple(out)


def assistant_message(c: Completion) -> Message:
    """The answer as the assistant message a continuation carries forward."""
    choice = c.choices[0]
    # The reasoning goes along, so an Anthropic or Bedrock deployment gets its thinking back next turn.
    return Message(
        role="assistant",
        content=choice.text or None,
        tool_calls=choice.tool_calls,
        reasoning=choice.reasoning_blocks,
    )
