"""Anthropic Messages API answers: canonical events → the ``message`` object and its SSE event sequence.

Non-streaming: one ``message`` with thinking (with its signature), redacted_thinking, text and
``tool_use`` blocks, ``stop_reason`` and usage
(Anthropic's ``input_tokens`` excludes cache reads and writes, which have fields of their own).
Streaming: ``message_start`` (zero usage: an upstream reports it at the end), ``ping``, then per block
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``,
``thinking_delta``, ``signature_delta``) / ``content_block_stop``, and once the upstream is done
``message_delta`` with the stop reason and the real usage, and ``message_stop``. Work per event is
constant: nothing is buffered but the stop reason and the usage.
"""

from __future__ import annotations

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
    ToolCallDelta,
    Usage,
)
from podium.errors import UpstreamProtocolError

__all__ = ["STOP_REASONS", "MessageEncoder", "encode_count", "encode_message"]

_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",
}


class _Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


def _usage(u: Usage | None) -> _Usage:
    if u is None:
        return _Usage(input_tokens=0, output_tokens=0)
    fresh = max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens)
    return _Usage(
        input_tokens=fresh,
        output_tokens=u.output_tokens,
        cache_creation_input_tokens=u.cache_write_tokens,
        cache_read_input_tokens=u.cached_input_tokens,
    )


class _Message(msgspec.Struct):
    id: str
    model: str
    content: list[Any]
    stop_reason: str | None
    usage: _Usage
    stop_sequence: str | None = None
    type: str = "message"
    role: str = "assistant"


def _tool_input(arguments: str, name: str) -> msgspec.Raw:
    """A call's JSON-text arguments as the object Anthropic's ``input`` must be."""
    if not arguments.strip():
        return msgspec.Raw(b"{}")
    try:
        value = _json_decode(arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(
            f"The model called tool '{name}' with arguments that are not a JSON object, which the "
            f"Anthropic Messages API cannot carry: {arguments[:120]!r}"
        )
    return msgspec.Raw(arguments.encode())


def encode_message(c: Completion, *, model: str, message_id: str) -> bytes:
    """A whole answer as Anthropic's ``message`` object."""
    choice = c.choices[0]
    content: list[Any] = []
    for r in choice.reasoning_blocks:  # each block as it came, its signature or redacted data kept
        if r.redacted is not None:
            content.append({"type": "redacted_thinking", "data": r.redacted})
        else:
            content.append({"type": "thinking", "thinking": r.text, "signature": r.signature or ""})
    text = (choice.text or "") + (choice.refusal or "")
    if text:
        content.append({"type": "text", "text": text})
    content.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments, c.name)}
        for c in choice.tool_calls
    )
    reason = STOP_REASONS[choice.finish_reason or "stop"]
    if choice.refusal and reason == "end_turn":
        reason = "refusal"
    return _encode(
        _Message(id=message_id, model=model, content=content, stop_reason=reason, usage=_usage(c.usage))
    )


def encode_count(tokens: int) -> bytes:
    return _encode({"input_tokens": tokens})


_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def _frame(name: bytes, payload: Any) -> bytes:
    return b"event: " + name + b"\ndata: " + _encode(payload) + b"\n\n"


class _BlockStop(msgspec.Struct):
    index: int
    type: str = "content_block_stop"


class _TextDelta(msgspec.Struct):
    text: str
    type: str = "text_delta"


class _JsonDelta(msgspec.Struct):
    partial_json: str
    type: str = "input_json_delta"


class _ThinkingDelta(msgspec.Struct):
    thinking: str
    type: str = "thinking_delta"


class _SignatureDelta(msgspec.Struct):
    signature: str
    type: str = "signature_delta"


class _BlockDelta(msgspec.Struct):
    index: int
    delta: _TextDelta | _JsonDelta | _ThinkingDelta | _SignatureDelta
    type: str = "content_block_delta"


_TEXT, _THINKING, _REDACTED = -1, -2, -3  # keys of the open block when not a tool call (call_index >= 0)


class MessageEncoder:
    """Events → Anthropic SSE frames for one answer. Constant work per event; usage waits for the end."""

    __slots__ = (
        "_calls",
        "_extensions",
        "_index",
        "_model",
        "_open",
        "_reason",
        "_refused",
        "_usage",
        "message_id",
    )

    def __init__(self, *, model: str, message_id: str, extensions: dict[str, Any] | None = None) -> None:
        self._model = model  # the caller's model name: what they asked for is what they see
        self.message_id = message_id
        self._extensions = extensions  # Podium's fields (RAG citations): on the closing message_delta
        self._index = -1  # the last block started
        self._open: int | None = None  # which block is open: _TEXT, _THINKING or a call index
        self._calls: dict[int, int] = {}  # call_index -> block index
        self._reason: FinishReason | None = None
        self._refused = False
        self._usage: Usage | None = None

    def _start(self, key: int, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = key
        return out + _frame(
            b"content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _frame(b"content_block_stop", _BlockStop(index=self._index))

    def encode(self, event: Event) -> bytes | None:
        if isinstance(event, TextDelta | RefusalDelta):
            if event.index or not event.text:
                return None
            if isinstance(event, RefusalDelta):
                self._refused = True
            head = b"" if self._open == _TEXT else self._start(_TEXT, {"type": "text", "text": ""})
            return head + _frame(
                b"content_block_delta", _BlockDelta(index=self._index, delta=_TextDelta(event.text))
            )
        if isinstance(event, ToolCallDelta):
            if event.index:
                return None
            block = self._calls.get(event.call_index)
            head = b""
            if block is None:
                head = self._start(
                    event.call_index,
                    {
                        "type": "tool_use",
                        "id": event.id or f"toolu_{event.call_index}",
                        "name": event.name or "",
                        "input": {},
                    },
                )
                block = self._calls[event.call_index] = self._index
            if not event.arguments:
                return head or None
            delta = _BlockDelta(index=block, delta=_JsonDelta(event.arguments))
            return head + _frame(b"content_block_delta", delta)
        if isinstance(event, ReasoningDelta):
            if event.index:
                return None
            if event.redacted is not None:  # whole at its start; closed by the next block or the end
                return self._start(_REDACTED, {"type": "redacted_thinking", "data": event.redacted})
            head = b""
            if self._open != _THINKING:
                head = self._start(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
            if event.text:
                head += _frame(
                    b"content_block_delta", _BlockDelta(index=self._index, delta=_ThinkingDelta(event.text))
                )
            if event.signature:
                head += _frame(
                    b"content_block_delta",
                    _BlockDelta(index=self._index, delta=_SignatureDelta(event.signature)),
                )
                head += self._close()  # a signature ends its block: more reasoning is a new block
            return head or None
        if isinstance(event, Finish):
            if not event.index:
                self._reason = event.reason
            return None
        if isinstance(event, Usage):
            self._usage = event
            return None
        # the last kind left: the ResponseStart that opens every stream
        message = _Message(
            id=self.message_id, model=self._model, content=[], stop_reason=None, usage=_usage(None)
        )
        return _frame(b"message_start", {"type": "message_start", "message": message}) + _PING

    def finish(self) -> bytes:
        """The closing frames, once the upstream stream has ended (its usage has arrived by then)."""
        reason = STOP_REASONS[self._reason or "stop"]
        if self._refused and reason == "end_turn":
            reason = "refusal"
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": _usage(self._usage),
        }
        if self._extensions:
            delta["podium"] = self._extensions
        return self._close() + _frame(b"message_delta", delta) + _STOP
