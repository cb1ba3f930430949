"""Redacting message content before it goes on a span or into an evaluation detail.

The guardrails' PII detector (checksummed cards and national ids, emails, phones, IBANs, secrets) finds
what to hide; each finding becomes ``[KIND]``. Content is captured only when
``observability.tracing.capture_content`` is on, and then always through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import msgspec

from podium.canonical import Message

if TYPE_CHECKING:
    from podium.guardrails.pii import PiiScanner

__all__ = ["MAX_CHARS", "messages_json", "pii_scanner", "redact"]

MAX_CHARS = 8192  # per captured attribute: a span is not a transcript store


@lru_cache(maxsize=1)
def pii_scanner() -> PiiScanner:
    """The guardrails' PII detector with its pattern entities, built once (its patterns compile)."""
    from podium.guardrails.pii import PiiScanner

    return PiiScanner()


def redact(text: str) -> str:
    """``text`` with personal data and secrets replaced by ``[KIND]``, cut to :data:`MAX_CHARS`."""
    text = text[:MAX_CHARS]
    findings = pii_scanner().find(text)
    if not findings:
        return text
    out: list[str] = []
    at = 0
    for f in findings:
        out.append(text[at : f.start])
        out.append(f"[{f.kind}]")
        at = f.end
    out.append(text[at:])
    return "".join(out)


def messages_json(messages: Sequence[Message]) -> str:
    """The GenAI convention's ``gen_ai.input.messages`` shape (role + text parts), redacted, as JSON."""
    items = [
        {"role": m.role, "parts": [{"type": "text", "content": redact(m.text())}]} for m in messages[-20:]
    ]
    return msgspec.json.encode(items).decode()[:MAX_CHARS]
