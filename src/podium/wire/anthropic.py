"""Anthropic Messages API, adapter side: canonical request → ``POST /v1/messages`` body, answer → events.

What translates: system and developer messages (→ ``system``), text and image parts (base64 or URL
sources), tool calls and results (``tool_use`` / ``tool_result`` blocks; consecutive results share
one user turn), tools and ``tool_choice`` (``parallel_tool_calls: false`` →
``disable_parallel_tool_use``), ``stop`` (→ ``stop_sequences``), ``user`` (→ ``metadata.user_id``),
and JSON output through a forced tool (:data:`~podium.wire.translation.JSON_TOOL`) whose arguments
come back as the answer's text. Thinking blocks come back as :class:`ReasoningDelta` with their
signature, redacted ones with their opaque data; the reasoning an assistant turn of the history
carries (:class:`~podium.canonical.Reasoning`) goes back before its text and tool calls, unchanged —
signed or redacted blocks only, since Anthropic refuses a thinking block it cannot verify. Usage: Anthropic reports cache reads and writes *apart* from ``input_tokens``; the
canonical ``input_tokens`` includes them (OpenAI's convention, which pricing assumes).

Refused by name (:class:`~podium.errors.UnsupportedFeature`): ``n`` > 1, ``logprobs``,
``top_logprobs``, ``seed``, ``presence_penalty``, ``frequency_penalty``, OpenAI ``metadata``, and
``extra`` fields unless the caller spoke the Anthropic Messages API (then ``thinking``, ``top_k``…
are sent as they came).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from podium.canonical import (
    ChatRequest,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from podium.errors import ProviderError, RequestError, UpstreamProtocolError, UpstreamStatusError
from podium.wire import anthropic_types as w
from podium.wire.translation import (
    JSON_TOOL,
    call_names,
    claude_signature,
    content_blocks,
    data_image,
    refuse,
    refuse_unsupported,
    tool_input,
)

__all__ = [
    "API_VERSION",
    "ERROR_STATUS",
    "PROVIDER",
    "StreamDecoder",
    "encode_request",
    "message_events",
    "request_body",
]

PROVIDER = "Anthropic Messages"
API_VERSION = "2023-06-01"
_REFUSED = ("n", "logprobs", "top_logprobs", "seed", "presence_penalty", "frequency_penalty", "metadata")

_encode = msgspec.json.Encoder().encode
_message_decoder = msgspec.json.Decoder(w.Message)
_event_decoder = msgspec.json.Decoder(w.StreamEvent)

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic's error types and the HTTP status each travels with (an error mid-stream has no status).
ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


# --------------------------------------------------------------------------- request


def _image(p: ImagePart, where: str) -> dict[str, Any]:
    inline = data_image(p.url, PROVIDER, where)
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": p.url}}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": inline.media_type, "data": inline.data},
    }


def _blocks(content: str | tuple[Part, ...] | None, where: str) -> list[dict[str, Any]]:
    return content_blocks(content, where, text=lambda t: {"type": "text", "text": t}, image=_image)


def _reasoning(blocks: tuple[Reasoning, ...]) -> list[dict[str, Any]]:
    """An assistant turn's earlier thinking, as Anthropic sent it; unsigned reasoning cannot go back."""
    out: list[dict[str, Any]] = []
    for r in blocks:
        if r.redacted is not None:
            out.append({"type": "redacted_thinking", "data": r.redacted})
        elif (signature := claude_signature(r)) is not None:
            out.append({"type": "thinking", "thinking": r.text, "signature": signature})
    return out


def _turns(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """The ``system`` text and the alternating user/assistant turns."""
    call_names(messages)  # every tool result must answer an earlier call
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role in ("system", "developer"):
            if isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content):
                raise refuse(PROVIDER, f"{where}.content", "A system message can hold text only.")
            system.append(m.text())
            continue
        role = "assistant" if m.role == "assistant" else "user"
        content: str | list[dict[str, Any]]
        if m.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id}
            if isinstance(m.content, tuple) and any(isinstance(p, ImagePart) for p in m.content):
                result["content"] = _blocks(m.content, where)
            else:
                result["content"] = m.text()
            content = [result]
        elif m.role == "assistant":
            content = _reasoning(m.reasoning) + _blocks(m.content, where)
            for k, c in enumerate(m.tool_calls):
                args = tool_input(c.arguments, f"{where}.tool_calls[{k}].function.arguments")
                content.append({"type": "tool_use", "id": c.id, "name": c.name, "input": args})
        elif isinstance(m.content, str):
            content = m.content
        else:
            content = _blocks(m.content, where)
        if turns and turns[-1]["role"] == role:
            previous = turns[-1]["content"]
            if isinstance(previous, str):
                previous = turns[-1]["content"] = [{"type": "text", "text": previous}] if previous else []
            previous.extend([{"type": "text", "text": content}] if isinstance(content, str) else content)
        else:
            turns.append({"role": role, "content": content})
    return ("\n\n".join(system) if system else None), turns


def _json_tool(fmt: Any) -> dict[str, Any]:
    if isinstance(fmt, JsonSchemaFormat):
        schema = fmt.schema or {"type": "object"}
        if schema.get("type") != "object":
            raise refuse(
                PROVIDER, "response_format.json_schema.schema", "The schema's root must be an object."
            )
        description = fmt.description or f"Answer with JSON that matches the schema '{fmt.name}'."
    else:
        schema = {"type": "object"}
        description = "Answer with a JSON object."
    return {"name": JSON_TOOL, "description": description, "input_schema": schema}


def request_body(req: ChatRequest, *, model: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    """The request as an Anthropic Messages JSON object; raises ``UnsupportedFeature`` for what cannot go."""
    refuse_unsupported(req, PROVIDER, fields=_REFUSED, dialect="anthropic")
    system, turns = _turns(req.messages)
    body: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens or max_tokens}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    if stream:
        body["stream"] = True
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.user is not None:
        body["metadata"] = {"user_id": req.user}
    if req.response_format is not None:
        if req.tools:
            raise refuse(PROVIDER, "response_format", "It cannot be combined with `tools` for this provider.")
        body["tools"] = [_json_tool(req.response_format)]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    elif req.tools:
        tools = []
        for t in req.tools:
            tool: dict[str, Any] = {"name": t.name}
            if t.description is not None:
                tool["description"] = t.description
            tool["input_schema"] = t.parameters or {"type": "object", "properties": {}}
            tools.append(tool)
        body["tools"] = tools
        choice: dict[str, Any] | None = None
        if req.tool_choice == "auto":
            choice = {"type": "auto"}
        elif req.tool_choice == "required":
            choice = {"type": "any"}
        elif req.tool_choice == "none":
            choice = {"type": "none"}
        elif req.tool_choice is not None:
            choice = {"type": "tool", "name": req.tool_choice}
        if req.parallel_tool_calls is False:
            choice = choice or {"type": "auto"}
            if choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
        if choice is not None:
            body["tool_choice"] = choice
    elif req.tool_choice not in (None, "auto", "none"):
        raise RequestError("`tool_choice` asks for a tool call, but `tools` is empty.", param="tool_choice")
    if req.extra:
        body.update(req.extra)
    return body


def encode_request(req: ChatRequest, *, model: str, max_tokens: int, stream: bool) -> bytes:
    return _encode(request_body(req, model=model, max_tokens=max_tokens, stream=stream))


# --------------------------------------------------------------------------- answer → events


def _usage(u: w.WireUsage | None, base: Usage | None = None) -> Usage:
    """Canonical usage; fields absent from ``u`` keep ``base``'s (a stream reports usage in two parts)."""
    b = base or Usage(input_tokens=0, output_tokens=0)
    if u is None:
        return b
    fresh = u.input_tokens
    read = u.cache_read_input_tokens
    written = u.cache_creation_input_tokens
    cached = b.cached_input_tokens if read is None else read
    writes = b.cache_write_tokens if written is None else written
    if fresh is None:
        fresh = b.input_tokens - b.cached_input_tokens - b.cache_write_tokens
    return Usage(
        input_tokens=fresh + cached + writes,
        output_tokens=b.output_tokens if u.output_tokens is None else u.output_tokens,
        cached_input_tokens=cached,
        cache_write_tokens=writes,
    )


def _unknown_block(kind: str, deployment: str | None) -> UpstreamProtocolError:
    return UpstreamProtocolError(
        f"The upstream answered with a content block of type '{kind}', which Podium cannot translate.",
        deployment=deployment,
    )


def _finish(reason: str | None, json_answer: bool) -> FinishReason:
    finish = STOP_REASONS.get(reason or "end_turn", "stop")
    return "stop" if json_answer and finish == "tool_calls" else finish


def message_events(body: bytes, *, deployment: str | None = None) -> list[Event]:
    """A whole (non-streaming) answer as the events a stream of it would carry."""
    try:
        m = _message_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not an Anthropic message: {exc}",
            deployment=deployment,
        ) from None
    events: list[Event] = [ResponseStart(id=m.id, model=m.model, created=int(time.time()))]
    calls = 0
    json_answer = False
    for block in m.content:
        kind = block.type
        if kind == "text":
            events.append(TextDelta(text=block.text or ""))
        elif kind == "tool_use":
            arguments = bytes(block.input).decode() or "{}"
            if block.name == JSON_TOOL:
                json_answer = True
                events.append(TextDelta(text=arguments))
                continue
            events.append(ToolCallDelta(call_index=calls, id=block.id, name=block.name, arguments=arguments))
            calls += 1
        elif kind == "thinking":
            events.append(ReasoningDelta(text=block.thinking or "", signature=block.signature))
        elif kind == "redacted_thinking":
            events.append(ReasoningDelta(text="", redacted=block.data or ""))
        else:
            raise _unknown_block(kind, deployment)
    events.append(Finish(reason=_finish(m.stop_reason, json_answer)))
    events.append(_usage(m.usage))
    return events


def _stream_error(e: w.ErrorBody | None, deployment: str | None) -> ProviderError:
    body = e or w.ErrorBody()
    return UpstreamStatusError(
        f"Deployment '{deployment}' sent an error mid-stream: {body.type}: {body.message}",
        upstream_status=ERROR_STATUS.get(body.type, 500),
        deployment=deployment,
    )


class StreamDecoder:
    """Turns the SSE events of a streamed answer (``message_start`` … ``message_stop``) into events.

    Each event costs one decode and a dict lookup; ``done`` is set by ``message_stop``, so a stream
    that ends without it is known to be cut.
    """

    __slots__ = ("_blocks", "_calls", "_deployment", "_json_answer", "_usage", "done")

    def __init__(self, deployment: str | None = None) -> None:
        self._deployment = deployment
        self._blocks: dict[int, tuple[str, int]] = {}  # block index -> (kind, call index)
        self._calls = 0
        self._usage: Usage | None = None
        self._json_answer = False
        self.done = False

    def feed(self, data: bytes) -> list[Event]:
        try:
            e = _event_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamProtocolError(
                f"The upstream sent a stream event that is not an Anthropic event: {exc}",
                deployment=self._deployment,
            ) from None
        kind = e.type
        if kind == "content_block_delta":
            return self._delta(e)
        if kind == "content_block_start":
            return self._start_block(e)
        if kind == "message_start":
            m = e.message or w.Message()
            self._usage = _usage(m.usage)
            return [ResponseStart(id=m.id, model=m.model, created=int(time.time()))]
        if kind == "message_delta":
            d = e.delta or w.Delta()
            self._usage = _usage(e.usage, self._usage)
            return [Finish(reason=_finish(d.stop_reason, self._json_answer)), self._usage]
        if kind == "message_stop":
            self.done = True
            return []
        if kind == "error":
            raise _stream_error(e.error, self._deployment)
        return []  # ping, content_block_stop, and event types added later carry nothing to translate

    def _start_block(self, e: w.StreamEvent) -> list[Event]:
        block = e.content_block
        index = e.index if e.index is not None else len(self._blocks)
        if block is None:
            raise UpstreamProtocolError(
                "The upstream started a content block without describing it.", deployment=self._deployment
            )
        kind = block.type
        if kind == "tool_use":
            if block.name == JSON_TOOL:
                self._json_answer = True
                self._blocks[index] = ("json", 0)
                return []
            call = self._calls
            self._calls += 1
            self._blocks[index] = ("tool_use", call)
            return [ToolCallDelta(call_index=call, id=block.id, name=block.name)]
        if kind in ("text", "thinking", "redacted_thinking"):
            self._blocks[index] = (kind, 0)
            if kind == "text" and block.text:
                return [TextDelta(text=block.text)]
            if kind == "redacted_thinking":  # whole at its start: no deltas follow
                return [ReasoningDelta(text="", redacted=block.data or "")]
            return []
        raise _unknown_block(kind, self._deployment)

    def _delta(self, e: w.StreamEvent) -> list[Event]:
        d = e.delta
        if d is None:
            return []
        kind = d.type
        if kind == "text_delta":
            return [TextDelta(text=d.text or "")]
        if kind == "input_json_delta":
            block_kind, call = self._blocks.get(e.index or 0, ("tool_use", 0))
            if block_kind == "json":
                return [TextDelta(text=d.partial_json or "")] if d.partial_json else []
            return [ToolCallDelta(call_index=call, arguments=d.partial_json or "")]
        if kind == "thinking_delta":
            return [ReasoningDelta(text=d.thinking or "")]
        if kind == "signature_delta":
            return [ReasoningDelta(text="", signature=d.signature)]
        return []
