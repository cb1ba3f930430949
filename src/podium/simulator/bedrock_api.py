"""The simulator's AWS Bedrock front end: Converse, ConverseStream and InvokeModel embeddings.

Every request must be SigV4-signed with ``--api-key`` as the secret key (any access key id), so the
adapter's signing is checked on every call. ConverseStream answers in the binary event-stream
framing: ``messageStart``, ``contentBlockStart`` (tool use), ``contentBlockDelta``,
``contentBlockStop``, ``messageStop``, then ``metadata`` with the usage — only at the end.
``disconnect_after=N`` cuts the stream in the middle of frame N+1; ``malformed`` sends a frame whose
CRC does not match. A request with a ``guardrailConfig`` gets a guardrail trace back, and a last user
message containing "forbidden" is stopped by it (``guardrail_intervened``). ``/invoke`` embeds in
Titan's (``amazon.titan-embed-*``) or Cohere's (``cohere.embed-*``) format.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from aiohttp import web

from podium.canonical import (
    ChatRequest,
    EmbeddingRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from podium.simulator import server as core
from podium.simulator import thinking
from podium.simulator.behaviour import SimulatedError
from podium.simulator.dialects import error_response
from podium.wire.eventstream import encode_message

__all__ = ["add_routes"]

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "content_filtered",
    "error": "end_turn",
}
_BLOCKED = "Sorry, the model cannot answer this question."


class _Bad(Exception):
    pass


def _blocks(
    blocks: list[dict[str, Any]], where: str
) -> tuple[list[Part], list[ToolCall], list[Message], list[Reasoning]]:
    parts: list[Part] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    reasoning: list[Reasoning] = []
    for j, b in enumerate(blocks):
        if "reasoningContent" in b:
            rc = b["reasoningContent"]
            if "redactedContent" in rc:
                reasoning.append(Reasoning(redacted=rc["redactedContent"]))
            else:
                rt = rc["reasoningText"]
                reasoning.append(Reasoning(text=rt["text"], signature=rt.get("signature")))
        elif "text" in b:
            parts.append(TextPart(text=b["text"]))
        elif "image" in b:
            img = b["image"]
            parts.append(ImagePart(url=f"data:image/{img['format']};base64,{img['source']['bytes']}"))
        elif "toolUse" in b:
            t = b["toolUse"]
            calls.append(
                ToolCall(id=t["toolUseId"], name=t["name"], arguments=json.dumps(t.get("input", {})))
            )
        elif "toolResult" in b:
            r = b["toolResult"]
            text = "".join(c.get("text", json.dumps(c.get("json"))) for c in r.get("content", []))
            results.append(Message(role="tool", tool_call_id=r["toolUseId"], content=text))
        else:
            raise _Bad(f"{where}.content[{j}]: unknown content block {sorted(b)}")
    return parts, calls, results, reasoning


def _chat_request(model: str, body: dict[str, Any], stream: bool) -> ChatRequest:
    messages: list[Message] = [Message(role="system", content=s["text"]) for s in body.get("system", [])]
    for i, m in enumerate(body["messages"]):
        parts, calls, results, reasoning = _blocks(m["content"], f"messages[{i}]")
        if m["role"] == "assistant":
            messages.append(
                Message(
                    role="assistant",
                    content=tuple(parts) or None,
                    tool_calls=tuple(calls),
                    reasoning=tuple(reasoning),
                )
            )
            continue
        messages.extend(results)
        if parts:
            messages.append(Message(role="user", content=tuple(parts)))
    config = body.get("inferenceConfig", {})
    tool_config = body.get("toolConfig", {})
    tools = tuple(
        Tool(
            name=t["toolSpec"]["name"],
            description=t["toolSpec"].get("description"),
            parameters=t["toolSpec"]["inputSchema"]["json"],
        )
        for t in tool_config.get("tools", [])
    )
    choice = tool_config.get("toolChoice", {})
    tool_choice = (
        "auto" if "auto" in choice else "required" if "any" in choice else choice.get("tool", {}).get("name")
    )
    return ChatRequest(
        model=model,
        messages=tuple(messages),
        stream=stream,
        max_tokens=config.get("maxTokens"),
        temperature=config.get("temperature"),
        stop=tuple(config.get("stopSequences", ())),
        tools=tools,
        tool_choice=tool_choice,
    )


def _usage(u: Usage | None) -> dict[str, int]:
    if u is None:
        return {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    fresh = u.input_tokens - u.cached_input_tokens - u.cache_write_tokens
    out = {
        "inputTokens": fresh,
        "outputTokens": u.output_tokens,
        "totalTokens": u.input_tokens + u.output_tokens,
    }
    if u.cached_input_tokens:
        out["cacheReadInputTokens"] = u.cached_input_tokens
    if u.cache_write_tokens:
        out["cacheWriteInputTokens"] = u.cache_write_tokens
    return out


def _frame(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, msgspec.json.encode(payload))


class _Encoder:
    """Events → ConverseStream frames (first choice only: Converse has one)."""

    def __init__(self, trace: dict[str, Any] | None, *, blocked: bool = False) -> None:
        self.blocked = blocked  # the guardrail stopped the answer: its own stop reason
        self.block = -1
        self.open: str | None = None  # "text", "reasoning" or "tool:<k>"
        self.stop = "end_turn"
        self.usage: Usage | None = None
        self.trace = trace

    def _start(self, kind: str, start: dict[str, Any] | None) -> bytes:
        out = self._close()
        self.block += 1
        self.open = kind
        if start is None:
            return out
        return out + _frame("contentBlockStart", {"start": start, "contentBlockIndex": self.block})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return _frame("contentBlockStop", {"contentBlockIndex": self.block})

    def encode(self, event: Event) -> bytes | None:
        if getattr(event, "index", 0):
            return None
        if isinstance(event, TextDelta):
            head = b"" if self.open == "text" else self._start("text", None)
            return head + _frame(
                "contentBlockDelta", {"delta": {"text": event.text}, "contentBlockIndex": self.block}
            )
        if isinstance(event, ReasoningDelta):
            head = b"" if self.open == "reasoning" else self._start("reasoning", None)
            if event.redacted is not None:
                piece: dict[str, Any] = {"redactedContent": event.redacted}
            elif event.signature is not None:
                piece = {"signature": event.signature}
            else:
                piece = {"text": event.text}
            out = head + _frame(
                "contentBlockDelta", {"delta": {"reasoningContent": piece}, "contentBlockIndex": self.block}
            )
            if event.signature is not None or event.redacted is not None:
                out += self._close()  # the block is complete
            return out
        if isinstance(event, ToolCallDelta):
            kind = f"tool:{event.call_index}"
            head = b""
            if self.open != kind:
                head = self._start(kind, {"toolUse": {"toolUseId": event.id, "name": event.name}})
            if not event.arguments:
                return head or None
            delta = {"delta": {"toolUse": {"input": event.arguments}}, "contentBlockIndex": self.block}
            return head + _frame("contentBlockDelta", delta)
        if isinstance(event, ResponseStart):
            return _frame("messageStart", {"role": "assistant"})
        if isinstance(event, Finish):
            self.stop = "guardrail_intervened" if self.blocked else _STOP[event.reason]
            return self._close() + _frame("messageStop", {"stopReason": self.stop})
        if isinstance(event, Usage):
            self.usage = event
        return None

    def tail(self) -> bytes:
        metadata: dict[str, Any] = {"usage": _usage(self.usage), "metrics": {"latencyMs": 1}}
        if self.trace is not None:
            metadata["trace"] = self.trace
        return _frame("metadata", metadata)


def _reasoning(events: list[Event]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    text: list[str] = []
    for e in events:
        if not isinstance(e, ReasoningDelta) or e.index:
            continue
        if e.redacted is not None:
            out.append({"reasoningContent": {"redactedContent": e.redacted}})
            continue
        text.append(e.text)
        if e.signature is not None:
            rt = {"text": "".join(text), "signature": e.signature}
            out.append({"reasoningContent": {"reasoningText": rt}})
            text = []
    return out


def _whole(events: list[Event], trace: dict[str, Any] | None) -> dict[str, Any]:
    content: list[dict[str, Any]] = _reasoning(events)
    text = "".join(e.text for e in events if isinstance(e, TextDelta) and not e.index)
    if text:
        content.append({"text": text})
    calls: dict[int, dict[str, Any]] = {}
    stop = "end_turn"
    usage: Usage | None = None
    for e in events:
        if isinstance(e, ToolCallDelta) and not e.index:
            c = calls.setdefault(e.call_index, {"toolUseId": e.id, "name": e.name, "input": ""})
            c["input"] += e.arguments
        elif isinstance(e, Finish) and not e.index:
            stop = _STOP[e.reason]
        elif isinstance(e, Usage):
            usage = e
    for _, c in sorted(calls.items()):
        content.append({"toolUse": {**c, "input": json.loads(c["input"] or "{}")}})
    out: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": _usage(usage),
        "metrics": {"latencyMs": 1},
    }
    if trace is not None:
        out["trace"] = trace
    return out


def _guardrail(chat: ChatRequest, body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    config = body.get("guardrailConfig")
    if not config:
        return None, False
    last = next((m.text() for m in reversed(chat.messages) if m.role == "user"), "")
    blocked = "forbidden" in last
    assessment = {
        "topicPolicy": {"topics": [{"name": "forbidden", "type": "DENY", "action": "BLOCKED"}]}
        if blocked
        else {}
    }
    trace = {"guardrail": {"inputAssessment": {config["guardrailIdentifier"]: assessment}}}
    return trace, blocked


def _fail(f: SimulatedError) -> web.Response:
    return error_response("bedrock", f.status, f.message, retry_after=f.retry_after)


async def _model_call(request: web.Request) -> web.StreamResponse:
    model = request.match_info["model"]
    operation = request.match_info["operation"]
    if operation == "invoke":
        return await _invoke(request, model)
    if operation not in ("converse", "converse-stream"):
        return error_response(
            "bedrock", 404, f"Unknown operation {operation}", type_="UnknownOperationException"
        )
    stream = operation == "converse-stream"
    try:
        body = json.loads(await request.read())
        chat = _chat_request(model, body, stream)
    except (ValueError, KeyError, TypeError, AttributeError, _Bad) as exc:
        return error_response("bedrock", 400, f"Malformed input request: {exc}")
    sim = core._simulation(request, model)
    if isinstance(sim, web.Response):
        return error_response("bedrock", 400, f"The provided model identifier is invalid: {model}")
    spec = sim.spec
    if spec.thinking or spec.redacted_thinking:
        try:
            thinking.check_history(chat)
        except thinking.SimulatedReasoningError as exc:
            return error_response("bedrock", 400, f"The model returned the following errors: {exc}")
    try:
        events = sim.chat(chat)
    except SimulatedError as failure:
        return _fail(failure)
    trace, blocked = _guardrail(chat, body)
    if blocked:
        start = events[0]
        usage = events[-1] if isinstance(events[-1], Usage) else None
        events = [start, TextDelta(text=_BLOCKED), Finish(reason="content_filter")] + (
            [usage] if usage else []
        )
    instead = await core._prelude(request, sim, 0.0 if stream else spec.ttft_ms, _fail)
    if instead is not None:
        return instead
    headers = {"x-amzn-RequestId": sim.new_id("")[:8] + "-sim"}
    if not stream:
        if spec.malformed:
            return web.Response(body=core._MALFORMED_BODY, content_type="application/json")
        if spec.disconnect_after is not None:
            core._drop(request)
            return web.Response()
        out = _whole(events, trace)
        if blocked:
            out["stopReason"] = "guardrail_intervened"
        return web.json_response(out, headers=headers)
    response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream", **headers})
    await response.prepare(request)
    encoder = _Encoder(trace, blocked=blocked)
    if spec.malformed:
        frame = bytearray(_frame("messageStart", {"role": "assistant"}))
        frame[-1] ^= 0xFF  # the message CRC no longer matches
        await response.write(bytes(frame))
        return response
    frames = [encoder.encode(e) for e in events]
    iterator = iter(frames)
    await core._stream(
        request, response, events, lambda _e: next(iterator), spec, tail=encoder.tail(), cut_mid_frame=True
    )
    return response


async def _invoke(request: web.Request, model: str) -> web.StreamResponse:
    try:
        body = json.loads(await request.read())
        texts = [body["inputText"]] if "inputText" in body else list(body["texts"])
    except (ValueError, KeyError, TypeError) as exc:
        return error_response("bedrock", 400, f"Malformed input request: {exc}")
    sim = core._simulation(request, model)
    if isinstance(sim, web.Response):
        return error_response("bedrock", 400, f"The provided model identifier is invalid: {model}")
    instead = await core._prelude(request, sim, sim.spec.ttft_ms, _fail)
    if instead is not None:
        return instead
    if sim.spec.malformed:
        return web.Response(body=core._MALFORMED_BODY, content_type="application/json")
    result = sim.embed(EmbeddingRequest(model=model, inputs=tuple(texts), dimensions=body.get("dimensions")))
    vectors = [list(e.vector) if isinstance(e.vector, tuple) else [] for e in result.data]
    if "inputText" in body:
        return web.json_response({"embedding": vectors[0], "inputTextTokenCount": result.usage.input_tokens})
    return web.json_response(
        {
            "embeddings": vectors,
            "id": sim.new_id("emb-"),
            "response_type": "embeddings_floats",
            "texts": texts,
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/model/{model}/{operation}", _model_call)
