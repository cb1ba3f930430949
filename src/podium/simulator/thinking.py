"""Simulated extended thinking: signed reasoning out, and the checks Anthropic makes when it comes back.

With ``thinking=true`` in the model name (or, on the Anthropic front end, a request whose ``thinking``
is enabled) the model reasons before it answers: a thinking block whose signature is an HMAC of its
text, and with ``redacted_thinking=true`` a redacted block of opaque data. When the conversation
continues, the Anthropic and Bedrock front ends check the history as Claude does: every thinking block
must come back with its text and signature unchanged, every redacted block with its data unchanged,
and the last assistant turn, when it called tools, must still start with its thinking — otherwise
the answer is a 400, so a gateway that drops or edits reasoning on the way fails a test. The Gemini
front end seals the thinking into a ``thoughtSignature`` on the turn's first function call (or its
last part) and, like Gemini 3, refuses a thinking turn's function call that comes back without a
valid one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from podium.canonical import ChatRequest, Event, ReasoningDelta

__all__ = [
    "SimulatedReasoningError",
    "check_history",
    "gemini_signature",
    "gemini_signature_ok",
    "requested",
    "signature",
    "thoughts",
]

_KEY = b"podium-simulator-thinking"  # a fixed key: signatures are checkable by any simulator process
_REDACTED_PREFIX = b"sim-redacted:"


class SimulatedReasoningError(ValueError):
    """The history's reasoning is not what the model sent: Anthropic's 400 message."""


def signature(text: str) -> str:
    return base64.b64encode(hmac.digest(_KEY, text.encode(), hashlib.sha256)).decode()


def _sealed(prefix: bytes, source: str) -> str:
    """Opaque data (base64) that this simulator can later tell it made: ``prefix``, a bit of the
    source, and their HMAC."""
    body = prefix + source.encode()[:64]
    return base64.b64encode(body + b"\x00" + hmac.digest(_KEY, body, hashlib.sha256)).decode()


def _sealed_ok(prefix: bytes, data: str) -> bool:
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return False
    body, sep, mac = raw.rpartition(b"\x00")
    if not sep or not body.startswith(prefix):
        return False
    return hmac.compare_digest(mac, hmac.digest(_KEY, body, hashlib.sha256))


def _redacted_data(source: str) -> str:
    return _sealed(_REDACTED_PREFIX, source)


def _redacted_ok(data: str) -> bool:
    return _sealed_ok(_REDACTED_PREFIX, data)


def requested(request: ChatRequest, *, knob: bool) -> bool:
    """Whether the model thinks: the ``thinking`` knob, or an Anthropic request that enables it."""
    if knob:
        return True
    config = (request.extra or {}).get("thinking") if request.dialect == "anthropic" else None
    return isinstance(config, dict) and config.get("type") in ("enabled", "adaptive")


def thoughts(source: str, *, index: int, redacted: bool) -> list[Event]:
    """The reasoning before an answer to ``source``: a signed block, then a redacted one if asked."""
    text = f"The user wrote {len(source)} characters; I will answer them directly."
    events: list[Event] = [
        ReasoningDelta(text=text[: len(text) // 2], index=index),
        ReasoningDelta(text=text[len(text) // 2 :], index=index),
        ReasoningDelta(text="", signature=signature(text), index=index),
    ]
    if redacted:
        events.append(ReasoningDelta(text="", redacted=_redacted_data(source), index=index))
    return events


_GEMINI_PREFIX = b"sim-thought:"


def gemini_signature(source: str) -> str:
    """A Gemini ``thoughtSignature``: opaque, and checkable without the thoughts it seals."""
    return _sealed(_GEMINI_PREFIX, source)


def gemini_signature_ok(value: str) -> bool:
    return _sealed_ok(_GEMINI_PREFIX, value)


def check_history(request: ChatRequest) -> None:
    """Raise :class:`SimulatedReasoningError` where Claude would refuse the history's reasoning."""
    last_assistant = None
    for i, m in enumerate(request.messages):
        if m.role != "assistant":
            continue
        last_assistant = m
        for j, r in enumerate(m.reasoning):
            where = f"messages.{i}.content.{j}"
            if r.redacted is not None:
                if not _redacted_ok(r.redacted):
                    raise SimulatedReasoningError(f"{where}: Invalid `data` in `redacted_thinking` block")
            elif r.signature is None or not hmac.compare_digest(r.signature, signature(r.text)):
                raise SimulatedReasoningError(f"{where}: Invalid `signature` in `thinking` block")
    if last_assistant is not None and last_assistant.tool_calls and not last_assistant.reasoning:
        raise SimulatedReasoningError(
            "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is "
            "enabled, a final `assistant` message must start with a thinking block."
        )
