"""OpenAI Chat Completions and Embeddings: wire JSON ↔ canonical records, both directions.

The inbound edge uses the ``parse_*`` and ``encode_*_response`` halves; the OpenAI-compatible adapter
uses ``encode_*_request`` and the decoders; the simulator's server uses both, so the three speak one
dialect by construction.
"""

from __future__ import annotations

import array
import base64
import sys
from typing import Any

import msgspec

from podium.canonical import (
    ChatRequest,
    Choice,
    Completion,
    Embedding,
    EmbeddingRequest,
    EmbeddingResult,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    JsonSchemaFormat,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    RefusalDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from podium.errors import PodiumError, RequestError, UpstreamProtocolError
from podium.prompts.reference import names_prompt
from podium.wire import openai_types as w

__all__ = [
    "ChunkDecoder",
    "ChunkEncoder",
    "completion_events",
    "decode_embedding_response",
    "encode_chat_request",
    "encode_completion",
    "encode_embedding_request",
    "encode_embedding_response",
    "error_body",
    "parse_chat_request",
    "parse_embedding_request",
    "upstream_error_message",
]

_json_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
_strict_chat_decoder = msgspec.json.Decoder(w.StrictWireChatRequest)
_completion_decoder = msgspec.json.Decoder(w.WireCompletion)
_chunk_decoder = msgspec.json.Decoder(w.WireChunk)
_embedding_decoder = msgspec.json.Decoder(w.WireEmbeddingResponse)
_error_decoder = msgspec.json.Decoder(w.WireError)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


# --------------------------------------------------------------------------- inbound requests


def _decode_object(body: bytes) -> dict[str, Any]:
    try:
        obj = _json_decode.decode(body)
    except msgspec.DecodeError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RequestError("The request body must be a JSON object.")
    return obj


def _validation_error(exc: msgspec.ValidationError) -> RequestError:
    text = str(exc)
    param = text.rsplit("at `", 1)[1].rstrip("`") if "at `" in text else None
    return RequestError(f"Invalid request: {text}", param=param.removeprefix("$.") if param else None)


def parse_chat_request(body: bytes) -> tuple[ChatRequest, bool]:
    """The canonical request and whether the caller asked for a usage chunk when streaming."""
    extra: dict[str, Any] | None = None
    try:
        # Fast path: one pass straight into the Struct, refusing unknown fields...
        wire: w.WireChatRequest = _strict_chat_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # ...and the slow path when there were some (kept as ``extra``) or the body is bad (named).
        obj = _decode_object(body)
        try:
            wire = msgspec.convert(obj, w.WireChatRequest)
        except msgspec.ValidationError as exc:
            raise _validation_error(exc) from None
        extra = {k: v for k, v in obj.items() if k not in w.KNOWN_CHAT_FIELDS} or None
    if not wire.messages and not names_prompt(wire.model, extra):  # a registry prompt brings its own
        raise RequestError("`messages` must hold at least one message.", param="messages")
    include_usage = bool(wire.stream_options and wire.stream_options.include_usage)
    return _chat_to_canonical(wire, extra), include_usage


def _chat_to_canonical(wire: w.WireChatRequest, extra: dict[str, Any] | None) -> ChatRequest:
    tool_choice: str | None
    if isinstance(wire.tool_choice, w.WireToolChoice):
        tool_choice = wire.tool_choice.function.name
    else:
        tool_choice = wire.tool_choice
    response_format: Any = None
    if wire.response_format is not None:
        rf = wire.response_format
        if rf.type == "json_object":
            response_format = "json_object"
        elif rf.type == "json_schema":
            if rf.json_schema is None:
                raise RequestError(
                    "`response_format.json_schema` is required when type is 'json_schema'.",
                    param="response_format.json_schema",
                )
            js = rf.json_schema
            response_format = JsonSchemaFormat(
                name=js.name, schema=js.schema, strict=js.strict, description=js.description
            )
    stop: tuple[str, ...] = ()
    if isinstance(wire.stop, str):
        stop = (wire.stop,)
    elif wire.stop:
        stop = tuple(wire.stop)
    n = wire.n if wire.n is not None else 1
    if n < 1:
        raise RequestError("`n` must be at least 1.", param="n")
    return ChatRequest(
        model=wire.model,
        messages=tuple(_message_to_canonical(m, i) for i, m in enumerate(wire.messages)),
        stream=bool(wire.stream),
        max_tokens=wire.max_completion_tokens if wire.max_completion_tokens is not None else wire.max_tokens,
        temperature=wire.temperature,
        top_p=wire.top_p,
        stop=stop,
        seed=wire.seed,
        user=wire.user,
        n=n,
        tools=tuple(
            Tool(
                name=t.function.name,
                description=t.function.description,
                parameters=t.function.parameters,
                strict=t.function.strict,
            )
            for t in wire.tools or ()
        ),
        tool_choice=tool_choice,
        parallel_tool_calls=wire.parallel_tool_calls,
        response_format=response_format,
        logprobs=wire.logprobs,
        top_logprobs=wire.top_logprobs,
        presence_penalty=wire.presence_penalty,
        frequency_penalty=wire.frequency_penalty,
        metadata=wire.metadata,
        extra=extra,
    )


def _message_to_canonical(m: w.WireMessage, i: int) -> Message:
    content: str | tuple[Part, ...] | None
    if isinstance(m.content, list):
        parts: list[Part] = []
        for j, p in enumerate(m.content):
            if isinstance(p, w.WireTextPart):
                parts.append(TextPart(text=p.text))
            elif isinstance(p, w.WireImagePart):
                parts.append(ImagePart(url=p.image_url.url, detail=p.image_url.detail))
            elif isinstance(p, w.WireRefusalPart):
                parts.append(TextPart(text=p.refusal))
            else:
                raise RequestError(
                    f"Content part type '{type(p).__struct_config__.tag}' is not supported by Podium yet.",
                    param=f"messages[{i}].content[{j}].type",
                )
        content = tuple(parts)
    else:
        content = m.content
    role = "tool" if m.role == "function" else m.role
    if role == "tool" and m.tool_call_id is None and m.role == "tool":
        raise RequestError(
            "A message with role 'tool' needs `tool_call_id`.", param=f"messages[{i}].tool_call_id"
        )
    if m.thinking_blocks and role != "assistant":
        raise RequestError(
            "Only an assistant message carries `thinking_blocks`.", param=f"messages[{i}].thinking_blocks"
        )
    return Message(
        role=role,
        content=content,
        name=m.name,
        tool_calls=tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in m.tool_calls or ()
        ),
        tool_call_id=m.tool_call_id,
        reasoning=tuple(
            Reasoning(redacted=b.data)
            if b.type == "redacted_thinking"
            else Reasoning(text=b.thinking, signature=b.signature)
            for b in m.thinking_blocks or ()
        ),
    )


def _thinking_block(r: Reasoning) -> dict[str, Any] | None:
    """A signed or redacted reasoning block as the caller gets it to send back (unsigned: nothing to send)."""
    if r.redacted is not None:
        return {"type": "redacted_thinking", "data": r.redacted}
    if r.signature is not None:
        return {"type": "thinking", "thinking": r.text, "signature": r.signature}
    return None


def parse_embedding_request(body: bytes) -> tuple[EmbeddingRequest, str]:
    """The canonical request and the encoding format the caller wants back (``float``/``base64``)."""
    obj = _decode_object(body)
    try:
        wire = msgspec.convert(obj, w.WireEmbeddingRequest)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc) from None
    raw = wire.input
    inputs: Any
    if isinstance(raw, str):
        inputs = (raw,)
    elif not raw:
        raise RequestError("`input` must not be empty.", param="input")
    elif all(isinstance(x, str) for x in raw):
        inputs = tuple(raw)
    elif all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        inputs = (tuple(raw),)  # one input given as token ids
    elif all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw):
        inputs = tuple(tuple(x) for x in raw)
    else:
        raise RequestError(
            "`input` must be a string, a list of strings, a list of token ids, or a list of such lists.",
            param="input",
        )
    req = EmbeddingRequest(model=wire.model, inputs=inputs, dimensions=wire.dimensions, user=wire.user)
    return req, wire.encoding_format or "float"


# --------------------------------------------------------------------------- outbound requests (adapter side)


def _part_to_wire(p: Part) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    image: dict[str, Any] = {"url": p.url}
    if p.detail is not None:
        image["detail"] = p.detail
    return {"type": "image_url", "image_url": image}


def _message_to_wire(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role}
    if isinstance(m.content, tuple):
        out["content"] = [_part_to_wire(p) for p in m.content]
    else:
        out["content"] = m.content
    if m.name is not None:
        out["name"] = m.name
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def chat_request_body(
    req: ChatRequest, *, model: str, stream: bool, include_usage: bool = True
) -> dict[str, Any]:
    """The request as an OpenAI JSON object for ``model``; ``extra`` fields are passed through."""
    body: dict[str, Any] = {"model": model, "messages": [_message_to_wire(m) for m in req.messages]}
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    if req.max_tokens is not None:
        body["max_completion_tokens" if model.startswith(("o1", "o3", "o4", "gpt-5")) else "max_tokens"] = (
            req.max_tokens
        )
    for name in ("temperature", "top_p", "seed", "user", "parallel_tool_calls", "logprobs", "top_logprobs"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    for name in ("presence_penalty", "frequency_penalty", "metadata"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.n != 1:
        body["n"] = req.n
    if req.stop:
        body["stop"] = list(req.stop)
    if req.tools:
        tools = []
        for t in req.tools:
            fn: dict[str, Any] = {"name": t.name}
            if t.description is not None:
                fn["description"] = t.description
            if t.parameters is not None:
                fn["parameters"] = t.parameters
            if t.strict is not None:
                fn["strict"] = t.strict
            tools.append({"type": "function", "function": fn})
        body["tools"] = tools
    if req.tool_choice is not None:
        if req.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = req.tool_choice
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": req.tool_choice}}
    if req.response_format == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(req.response_format, JsonSchemaFormat):
        js: dict[str, Any] = {"name": req.response_format.name}
        if req.response_format.schema is not None:
            js["schema"] = req.response_format.schema
        if req.response_format.strict is not None:
            js["strict"] = req.response_format.strict
        if req.response_format.description is not None:
            js["description"] = req.response_format.description
        body["response_format"] = {"type": "json_schema", "json_schema": js}
    if req.extra:
        for k, v in req.extra.items():
            body.setdefault(k, v)
    return body


def encode_chat_request(req: ChatRequest, *, model: str, stream: bool, include_usage: bool = True) -> bytes:
    return _encode(chat_request_body(req, model=model, stream=stream, include_usage=include_usage))


def encode_embedding_request(req: EmbeddingRequest, *, model: str) -> bytes:
    body: dict[str, Any] = {"model": model, "input": list(req.inputs), "encoding_format": "base64"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user is not None:
        body["user"] = req.user
    return _encode(body)


# --------------------------------------------------------------------------- upstream responses → events


def _usage(u: w.WireUsage) -> Usage:
    cached = (u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0
    reasoning = (u.completion_tokens_details.reasoning_tokens or 0) if u.completion_tokens_details else 0
    return Usage(
        input_tokens=u.prompt_tokens,
        output_tokens=u.completion_tokens,
        cached_input_tokens=cached,
        reasoning_tokens=reasoning,
    )


def completion_events(body: bytes, *, deployment: str | None = None) -> list[Event]:
    """A whole (non-streaming) upstream answer as the events a stream of it would carry."""
    try:
        c = _completion_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not a chat completion: {exc}", deployment=deployment
        ) from None
    events: list[Event] = [
        ResponseStart(id=c.id, model=c.model, created=c.created, system_fingerprint=c.system_fingerprint)
    ]
    for ch in c.choices:
        m = ch.message
        if m is not None:
            reasoning = m.reasoning_content or m.reasoning
            if reasoning:
                events.append(ReasoningDelta(text=reasoning, index=ch.index))
            if m.content is not None or ch.logprobs is not None:
                events.append(TextDelta(text=m.content or "", index=ch.index, logprobs=ch.logprobs))
            if m.refusal:
                events.append(RefusalDelta(text=m.refusal, index=ch.index))
            for k, tc in enumerate(m.tool_calls or ()):
                fn = tc.function or w.WireOutFunction()
                events.append(
                    ToolCallDelta(
                        call_index=k,
                        id=tc.id or f"call_{k}",
                        name=fn.name or "",
                        arguments=fn.arguments or "",
                        index=ch.index,
                    )
                )
        events.append(Finish(reason=_FINISH.get(ch.finish_reason or "stop", "stop"), index=ch.index))
    if c.usage is not None:
        events.append(_usage(c.usage))
    return events


class ChunkDecoder:
    """Turns the ``data:`` payloads of an upstream SSE stream into events."""

    __slots__ = ("_deployment", "_started")

    def __init__(self, deployment: str | None = None) -> None:
        self._started = False
        self._deployment = deployment

    def feed(self, data: bytes) -> list[Event]:
        try:
            chunk = _chunk_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if data.startswith(b'{"error"'):
                raise UpstreamProtocolError(
                    f"The upstream sent an error mid-stream: {upstream_error_message(data)}",
                    deployment=self._deployment,
                ) from None
            raise UpstreamProtocolError(
                f"The upstream sent a stream event that is not a chat completion chunk: {exc}",
                deployment=self._deployment,
            ) from None
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.append(
                ResponseStart(
                    id=chunk.id,
                    model=chunk.model,
                    created=chunk.created,
                    system_fingerprint=chunk.system_fingerprint,
                )
            )
        for ch in chunk.choices:
            d = ch.delta
            if d is not None:
                reasoning = d.reasoning_content or d.reasoning
                if reasoning:
                    events.append(ReasoningDelta(text=reasoning, index=ch.index))
                if d.content or ch.logprobs is not None:
                    events.append(TextDelta(text=d.content or "", index=ch.index, logprobs=ch.logprobs))
                if d.refusal:
                    events.append(RefusalDelta(text=d.refusal, index=ch.index))
                if d.tool_calls:
                    for k, tc in enumerate(d.tool_calls):
                        fn = tc.function
                        events.append(
                            ToolCallDelta(
                                call_index=tc.index if tc.index is not None else k,
                                id=tc.id,
                                name=fn.name if fn else None,
                                arguments=(fn.arguments or "") if fn else "",
                                index=ch.index,
                            )
                        )
            if ch.finish_reason:
                events.append(Finish(reason=_FINISH.get(ch.finish_reason, "stop"), index=ch.index))
        if chunk.usage is not None:
            events.append(_usage(chunk.usage))
        return events


def decode_embedding_response(body: bytes, *, deployment: str | None = None) -> tuple[list[Embedding], Usage]:
    try:
        r = _embedding_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamProtocolError(
            f"The upstream answered with a body that is not an embedding list: {exc}", deployment=deployment
        ) from None
    data = []
    for item in r.data:
        vec: tuple[float, ...] | bytes
        if isinstance(item.embedding, str):
            try:
                vec = base64.b64decode(item.embedding, validate=True)
            except ValueError:
                raise UpstreamProtocolError(
                    "The upstream sent an embedding that is not valid base64.", deployment=deployment
                ) from None
        else:
            vec = tuple(item.embedding)
        data.append(Embedding(index=item.index, vector=vec))
    data.sort(key=lambda e: e.index)
    usage = Usage(input_tokens=r.usage.prompt_tokens if r.usage else 0, output_tokens=0)
    return data, usage


def upstream_error_message(body: bytes) -> str:
    """The human message inside an upstream error body, or a short excerpt of whatever it sent."""
    try:
        e = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:200].decode("utf-8", "replace").strip()
        return f"non-JSON error body: {text!r}" if text else "empty error body"
    if isinstance(e.error, w.WireErrorBody) and e.error.message:
        return e.error.message
    if isinstance(e.error, str):
        return e.error
    return e.message or e.detail or body[:200].decode("utf-8", "replace")


# --------------------------------------------------------------------------- outbound responses (edge side)


class _OutFunction(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class _OutToolCall(msgspec.Struct, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: _OutFunction | None = None


class _OutDelta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None  # each block whole, once its signature came
    tool_calls: list[_OutToolCall] | None = None


class _OutChunkChoice(msgspec.Struct):
    index: int
    delta: _OutDelta
    finish_reason: str | None = None
    logprobs: msgspec.Raw | None = None


class _OutUsageDetails(msgspec.Struct):
    cached_tokens: int = 0


class _OutCompletionDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class _OutUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _OutUsageDetails
    completion_tokens_details: _OutCompletionDetails


class _OutChunk(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[_OutChunkChoice]
    object: str = "chat.completion.chunk"
    system_fingerprint: str | None = None
    usage: _OutUsage | None = None


def _out_usage(u: Usage) -> _OutUsage:
    return _OutUsage(
        prompt_tokens=u.input_tokens,
        completion_tokens=u.output_tokens,
        total_tokens=u.input_tokens + u.output_tokens,
        prompt_tokens_details=_OutUsageDetails(cached_tokens=u.cached_input_tokens),
        completion_tokens_details=_OutCompletionDetails(reasoning_tokens=u.reasoning_tokens),
    )


class ChunkEncoder:
    """Turns events into OpenAI ``chat.completion.chunk`` SSE frames for one response."""

    __slots__ = ("_created", "_fingerprint", "_id", "_include_usage", "_model", "_roles_sent", "_thinking")

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self._id = ""
        self._model = model  # the caller's model name: what they asked for is what they see
        self._created = 0
        self._fingerprint: str | None = None
        self._include_usage = include_usage
        self._roles_sent: set[int] = set()
        self._thinking: dict[int, list[str]] = {}  # per choice: the reasoning block's text so far

    def _frame(self, choices: list[_OutChunkChoice], usage: _OutUsage | None = None) -> bytes:
        chunk = _OutChunk(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=choices,
            system_fingerprint=self._fingerprint,
            usage=usage,
        )
        return b"data: " + _encode(chunk) + b"\n\n"

    def extension(self, fields: dict[str, Any]) -> bytes:
        """A chunk without choices carrying Podium's extension fields (``podium``), sent before [DONE]."""
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "podium": fields,
        }
        return b"data: " + _encode(chunk) + b"\n\n"

    def _delta(self, index: int, delta: _OutDelta) -> bytes:
        if index not in self._roles_sent:
            self._roles_sent.add(index)
            delta.role = "assistant"
        return self._frame([_OutChunkChoice(index=index, delta=delta)])

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, TextDelta):
            if event.logprobs is not None:
                if event.index not in self._roles_sent:
                    self._roles_sent.add(event.index)
                    delta = _OutDelta(role="assistant", content=event.text)
                else:
                    delta = _OutDelta(content=event.text)
                return self._frame([_OutChunkChoice(index=event.index, delta=delta, logprobs=event.logprobs)])
            return self._delta(event.index, _OutDelta(content=event.text))
        if isinstance(event, ToolCallDelta):
            tc = _OutToolCall(
                index=event.call_index,
                id=event.id,
                type="function" if event.id is not None else None,
                function=_OutFunction(name=event.name, arguments=event.arguments),
            )
            return self._delta(event.index, _OutDelta(tool_calls=[tc]))
        if isinstance(event, Finish):
            if event.index not in self._roles_sent:
                self._roles_sent.add(event.index)
                delta = _OutDelta(role="assistant", content="")
            else:
                delta = _OutDelta()
            return self._frame([_OutChunkChoice(index=event.index, delta=delta, finish_reason=event.reason)])
        if isinstance(event, ResponseStart):
            self._id = event.id
            self._created = event.created
            self._fingerprint = event.system_fingerprint
            # The first frame goes out as soon as the upstream has begun, as OpenAI's own streams do,
            # rather than waiting for the first piece of text.
            self._roles_sent.add(0)
            return self._frame([_OutChunkChoice(index=0, delta=_OutDelta(role="assistant", content=""))])
        if isinstance(event, Usage):
            return self._frame([], _out_usage(event)) if self._include_usage else None
        if isinstance(event, RefusalDelta):
            return self._delta(event.index, _OutDelta(refusal=event.text))
        # the last kind left: a ReasoningDelta. Its text streams as reasoning_content; a signature ends
        # its block, which then goes out whole in thinking_blocks (with redacted data: one of its own).
        pieces = self._thinking.setdefault(event.index, [])
        if event.text:
            pieces.append(event.text)
        block = None
        if event.redacted is not None:
            block = _thinking_block(Reasoning(redacted=event.redacted))
        elif event.signature is not None:
            block = _thinking_block(Reasoning(text="".join(pieces), signature=event.signature))
            pieces.clear()
        if block is None:
            return self._delta(event.index, _OutDelta(reasoning_content=event.text)) if event.text else None
        return self._delta(
            event.index, _OutDelta(reasoning_content=event.text or None, thinking_blocks=[block])
        )


class _OutMessage(msgspec.Struct, omit_defaults=True):
    role: str
    content: str | None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class _OutChoice(msgspec.Struct):
    index: int
    message: _OutMessage
    finish_reason: str | None
    logprobs: Any = None


class _OutCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[_OutChoice]
    usage: _OutUsage | None
    object: str = "chat.completion"
    system_fingerprint: str | None = None


def _logprobs(parts: tuple[msgspec.Raw, ...]) -> Any:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    merged: list[Any] = []
    for p in parts:
        obj = _json_decode.decode(p)
        if isinstance(obj, dict) and isinstance(obj.get("content"), list):
            merged.extend(obj["content"])
    return {"content": merged}


def _out_choice(c: Choice) -> _OutChoice:
    tool_calls = (
        [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in c.tool_calls
        ]
        if c.tool_calls
        else None
    )
    return _OutChoice(
        index=c.index,
        message=_OutMessage(
            role="assistant",
            content=c.text,
            refusal=c.refusal,
            tool_calls=tool_calls,
            reasoning_content=c.reasoning,
            thinking_blocks=[b for r in c.reasoning_blocks if (b := _thinking_block(r)) is not None] or None,
        ),
        finish_reason=c.finish_reason,
        logprobs=_logprobs(c.logprobs),
    )


def encode_completion(c: Completion, *, model: str) -> bytes:
    out = _OutCompletion(
        id=c.id,
        created=c.created,
        model=model,
        choices=[_out_choice(ch) for ch in c.choices],
        usage=_out_usage(c.usage) if c.usage else None,
        system_fingerprint=c.system_fingerprint,
    )
    return _encode(out)


def with_extensions(body: bytes, fields: dict[str, Any]) -> bytes:
    """A response object (``encode_completion``'s JSON) with Podium's extension fields as ``podium``."""
    return body[: body.rindex(b"}")] + b',"podium":' + _encode(fields) + b"}"


def _floats(vec: tuple[float, ...] | bytes) -> list[float]:
    if isinstance(vec, bytes):
        a = array.array("f")
        a.frombytes(vec)
        if sys.byteorder != "little":
            a.byteswap()
        return a.tolist()
    return list(vec)


def _base64(vec: tuple[float, ...] | bytes) -> str:
    if isinstance(vec, bytes):
        return base64.b64encode(vec).decode()
    a = array.array("f", vec)
    if sys.byteorder != "little":
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode()


def encode_embedding_response(result: EmbeddingResult, *, model: str, encoding_format: str) -> bytes:
    convert = _base64 if encoding_format == "base64" else _floats
    return _encode(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": e.index, "embedding": convert(e.vector)} for e in result.data
            ],
            "model": model,
            "usage": {"prompt_tokens": result.usage.input_tokens, "total_tokens": result.usage.input_tokens},
        }
    )


def error_body(err: PodiumError) -> bytes:
    """OpenAI's error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
    return _encode(
        {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}
    )
