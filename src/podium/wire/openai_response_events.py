"""OpenAI Responses API answers: canonical events → the ``response`` object and its SSE event sequence.

Non-streaming: one ``response`` with output items (``reasoning``, ``message`` with ``output_text`` or
``refusal`` parts, ``function_call``) and usage. Streaming: ``response.created``,
``response.in_progress``, then per output item ``response.output_item.added`` … ``.done`` (with
``response.content_part.added/done`` and ``response.output_text.delta/done`` for text,
``response.function_call_arguments.delta/done`` for calls, ``response.reasoning_text.*`` for
reasoning), and ``response.completed`` (or ``response.incomplete``) with usage once the upstream is
done; every event carries its ``sequence_number``. A failure after the first byte is an ``error``
event followed by ``response.failed``. Work per event is constant.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from podium.canonical import (
    Completion,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)
from podium.errors import PodiumError
from podium.wire.openai import with_extensions
from podium.wire.openai_responses import ParsedResponses

__all__ = ["ResponseEncoder", "ResponseHead", "encode_response"]

_encode = msgspec.json.Encoder().encode


class _Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens_details: dict[str, int]


def _usage(u: Usage | None) -> _Usage | None:
    if u is None:
        return None
    return _Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        total_tokens=u.input_tokens + u.output_tokens,
        input_tokens_details={"cached_tokens": u.cached_input_tokens},
        output_tokens_details={"reasoning_tokens": u.reasoning_tokens},
    )


class _Response(msgspec.Struct, omit_defaults=False):
    id: str
    created_at: int
    status: str
    model: str
    output: list[Any]
    usage: _Usage | None
    tools: list[Any]
    tool_choice: Any
    parallel_tool_calls: bool
    instructions: str | None
    max_output_tokens: int | None
    previous_response_id: str | None
    temperature: float | None
    top_p: float | None
    text: Any
    store: bool
    user: str | None
    metadata: dict[str, str]
    reasoning: Any
    service_tier: str | None
    error: Any = None
    incomplete_details: Any = None
    truncation: str = "disabled"
    object: str = "response"


def _echo_tool(t: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": t.name,
        "description": t.description,
        "parameters": t.parameters,
        "strict": t.strict if t.strict is not None else True,
    }


class ResponseHead:
    """The parts of the ``response`` object that echo the request: built once per call."""

    __slots__ = ("_echo", "created_at", "id", "model", "parsed")

    def __init__(self, parsed: ParsedResponses, *, response_id: str, model: str) -> None:
        self.parsed = parsed
        self.id = response_id
        self.model = model
        self.created_at = int(time.time())
        wire = parsed.wire
        fmt = msgspec.to_builtins(wire.text.format) if wire.text and wire.text.format else {"type": "text"}
        # Encoded once: a stream repeats the response object in three events.
        self._echo: dict[str, Any] = {
            "tools": msgspec.Raw(_encode([_echo_tool(t) for t in parsed.tools])),
            "tool_choice": wire.tool_choice if wire.tool_choice is not None else "auto",
            "parallel_tool_calls": wire.parallel_tool_calls is not False,
            "instructions": wire.instructions,
            "max_output_tokens": wire.max_output_tokens,
            "previous_response_id": wire.previous_response_id,
            "temperature": wire.temperature,
            "top_p": wire.top_p,
            "text": msgspec.Raw(_encode({"format": fmt})),
            "store": wire.store is not False,
            "user": wire.user,
            "metadata": wire.metadata or {},
            "reasoning": {"effort": wire.reasoning.effort, "summary": None} if wire.reasoning else None,
            "service_tier": wire.service_tier,
        }

    def response(
        self,
        status: str,
        output: list[Any],
        usage: Usage | None,
        *,
        reason: FinishReason | None = None,
        error: PodiumError | None = None,
    ) -> _Response:
        incomplete = None
        if status == "incomplete":
            incomplete = {"reason": "content_filter" if reason == "content_filter" else "max_output_tokens"}
        return _Response(
            id=self.id,
            created_at=self.created_at,
            status=status,
            model=self.model,
            output=output,
            usage=_usage(usage),
            error={"code": error.code or error.type, "message": error.message} if error else None,
            incomplete_details=incomplete,
            **self._echo,
        )


def _status(reason: FinishReason | None) -> str:
    return "incomplete" if reason in ("length", "content_filter") else "completed"


def encode_response(c: Completion, head: ResponseHead) -> bytes:
    """A whole answer as the ``response`` object."""
    choice = c.choices[0]
    out: list[Any] = []
    rid = head.id.removeprefix("resp_")
    if choice.reasoning:
        out.append(_reasoning_item(f"rs_{rid}_0", choice.reasoning, "completed"))
    content: list[Any] = []
    if choice.text:
        content.append(_out_text(choice.text))
    if choice.refusal:
        content.append({"type": "refusal", "refusal": choice.refusal})
    if content:
        out.append(_message_item(f"msg_{rid}_{len(out)}", content, "completed"))
    for call in choice.tool_calls:
        out.append(_call_item(f"fc_{rid}_{len(out)}", call.id, call.name, call.arguments, "completed"))
    return _encode(head.response(_status(choice.finish_reason), out, c.usage, reason=choice.finish_reason))


def _out_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, content: list[Any], status: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _reasoning_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}] if text else []
    return {"type": "reasoning", "id": item_id, "summary": [], "content": content, "status": status}


class _TextDeltaEvent(msgspec.Struct, kw_only=True):
    type: str = "response.output_text.delta"
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int = 0
    delta: str
    logprobs: tuple[()] = ()


class _Item:
    """One output item being streamed: its kind, position and the text gathered so far."""

    __slots__ = ("call_id", "id", "kind", "name", "output_index", "parts")

    def __init__(self, kind: str, item_id: str, output_index: int) -> None:
        self.kind = kind  # "message" | "refusal" | "function_call" | "reasoning"
        self.id = item_id
        self.output_index = output_index
        self.parts: list[str] = []
        self.call_id = ""
        self.name = ""


class ResponseEncoder:
    """Events → Responses SSE frames for one answer; ``final`` is the completed ``response`` JSON."""

    __slots__ = (
        "_calls",
        "_done",
        "_extensions",
        "_head",
        "_open",
        "_reason",
        "_rid",
        "_seq",
        "_usage",
        "final",
    )

    def __init__(self, head: ResponseHead, extensions: dict[str, Any] | None = None) -> None:
        self._head = head
        self._extensions = extensions  # Podium's fields (RAG citations): on the completed response
        self._rid = head.id.removeprefix("resp_")
        self._seq = 0
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._done: list[dict[str, Any]] = []  # finished output items, in order
        self._reason: FinishReason | None = None
        self._usage: Usage | None = None
        self.final = b""

    def _frame(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload["type"] = kind
        payload["sequence_number"] = self._seq
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + _encode(payload) + b"\n\n"

    def _begin(self, kind: str, prefix: str) -> tuple[_Item, bytes]:
        head = self._close()
        item = self._open = _Item(kind, f"{prefix}_{self._rid}_{len(self._done)}", len(self._done))
        return item, head

    def _close(self) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        base = {"item_id": item.id, "output_index": item.output_index}
        text = "".join(item.parts)
        if item.kind == "function_call":
            body = _call_item(item.id, item.call_id, item.name, text, "completed")
            out = self._frame("response.function_call_arguments.done", {**base, "arguments": text})
        else:
            if item.kind == "message":
                part: dict[str, Any] = _out_text(text)
                out = self._frame(
                    "response.output_text.done", {**base, "content_index": 0, "text": text, "logprobs": []}
                )
            elif item.kind == "refusal":
                part = {"type": "refusal", "refusal": text}
                out = self._frame("response.refusal.done", {**base, "content_index": 0, "refusal": text})
            else:
                part = {"type": "reasoning_text", "text": text}
                out = self._frame("response.reasoning_text.done", {**base, "content_index": 0, "text": text})
            out += self._frame("response.content_part.done", {**base, "content_index": 0, "part": part})
            if item.kind == "reasoning":
                body = _reasoning_item(item.id, text, "completed")
            else:
                body = _message_item(item.id, [part], "completed")
        self._done.append(body)
        return out + self._frame(
            "response.output_item.done", {"output_index": item.output_index, "item": body}
        )

    def _text(self, kind: str, text: str) -> bytes:
        head = b""
        item = self._open
        if item is None or item.kind != kind:
            prefix = "rs" if kind == "reasoning" else "msg"
            item, head = self._begin(kind, prefix)
            if kind == "reasoning":
                shell, part = (
                    _reasoning_item(item.id, "", "in_progress"),
                    {"type": "reasoning_text", "text": ""},
                )
            else:
                part = _out_text("") if kind == "message" else {"type": "refusal", "refusal": ""}
                shell = _message_item(item.id, [], "in_progress")
            base = {"item_id": item.id, "output_index": item.output_index}
            head += self._frame(
                "response.output_item.added", {"output_index": item.output_index, "item": shell}
            )
            head += self._frame("response.content_part.added", {**base, "content_index": 0, "part": part})
        item.parts.append(text)
        if kind == "message":  # the hot path: one Struct per chunk, no dict building
            delta = _TextDeltaEvent(
                sequence_number=self._seq, item_id=item.id, output_index=item.output_index, delta=text
            )
            self._seq += 1
            return head + b"event: response.output_text.delta\ndata: " + _encode(delta) + b"\n\n"
        base = {"item_id": item.id, "output_index": item.output_index, "content_index": 0, "delta": text}
        if kind == "refusal":
            return head + self._frame("response.refusal.delta", base)
        return head + self._frame("response.reasoning_text.delta", base)

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, TextDelta):
            return self._text("message", event.text) if event.text and not event.index else None
        if isinstance(event, ToolCallDelta):
            if event.index:
                return None
            item = self._calls.get(event.call_index)
            head = b""
            if item is None:
                item, head = self._begin("function_call", "fc")
                item.call_id = event.id or f"call_{event.call_index}"
                item.name = event.name or ""
                self._calls[event.call_index] = item
                shell = _call_item(item.id, item.call_id, item.name, "", "in_progress")
                head += self._frame(
                    "response.output_item.added", {"output_index": item.output_index, "item": shell}
                )
            if not event.arguments:
                return head or None
            item.parts.append(event.arguments)
            delta = {"item_id": item.id, "output_index": item.output_index, "delta": event.arguments}
            return head + self._frame("response.function_call_arguments.delta", delta)
        if isinstance(event, ReasoningDelta):
            return self._text("reasoning", event.text) if event.text and not event.index else None
        if isinstance(event, RefusalDelta):
            return self._text("refusal", event.text) if event.text and not event.index else None
        if isinstance(event, Finish):
            if not event.index:
                self._reason = event.reason
            return None
        if isinstance(event, Usage):
            self._usage = event
            return None
        # the last kind left: the ResponseStart that opens every stream
        started = self._head.response("in_progress", [], None)
        return self._frame("response.created", {"response": started}) + self._frame(
            "response.in_progress", {"response": started}
        )

    def finish(self) -> bytes:
        out = self._close()
        status = _status(self._reason)
        self.final = _encode(self._head.response(status, self._done, self._usage, reason=self._reason))
        if self._extensions:
            self.final = with_extensions(self.final, self._extensions)
        return out + self._frame(f"response.{status}", {"response": msgspec.Raw(self.final)})

    def failure(self, error: PodiumError) -> bytes:
        out = self._frame(
            "error", {"code": error.code or error.type, "message": error.message, "param": error.param}
        )
        failed = self._head.response("failed", self._done, self._usage, error=error)
        return out + self._frame("response.failed", {"response": failed})
