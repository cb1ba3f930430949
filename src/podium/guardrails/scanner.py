"""The one seam every guardrail implements: ``scan(text, context) -> Scan``.

A scanner looks at one piece of text (a message's content, a tool result, the model's answer) and
says what it found: typed :class:`Finding` spans (``EMAIL`` at 10..27) and a score in 0..1. It never
decides what happens next: the policy (:mod:`podium.guardrails.policy`) turns findings into an action
— allow, redact, pseudonymize, block or flag — applies the scanner's timeout and its fail-open or
fail-closed setting, and records a :class:`~podium.storage.records.GuardrailVerdict`.

Scanners are plain objects built once per configuration. Local scanners (:class:`LocalScanner`) are
CPU work on a string: the policy calls them inline for ordinary texts and in a worker thread for large
ones, where their timeout can be enforced. Scanners that wait (a provider's moderation endpoint) are
awaited concurrently under their timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from podium.canonical import ChatRequest, Role

__all__ = ["CLEAN", "Finding", "LocalScanner", "Scan", "ScanContext", "Scanner", "Stage", "sanitize"]

Stage = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a scanner found. ``kind`` is upper-case (``EMAIL``, ``PROMPT_INJECTION``).

    ``start``/``end`` delimit the span in the scanned text (the whole text for a text-level finding);
    ``detail`` refines the kind (``aws_access_key_id``) and never holds the matched value.
    """

    kind: str
    start: int
    end: int
    score: float = 1.0
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    """What one scanner made of one text: its findings and an overall score in 0..1."""

    findings: tuple[Finding, ...] = ()
    score: float = 0.0
    message: str | None = None  # why, for the error and the record (never the matched text)


CLEAN = Scan()


@dataclass(frozen=True, slots=True)
class ScanContext:
    """Where the text came from: the stage, the message's role, and the request it belongs to."""

    stage: Stage
    role: Role | None = None
    request: ChatRequest | None = None


class Scanner(Protocol):
    """A guardrail: one verb, ``scan``. ``kind`` names the scanner type (``pii``, ``injection``…)."""

    kind: str

    async def scan(self, text: str, ctx: ScanContext) -> Scan: ...


class LocalScanner:
    """A scanner that is CPU work on the string alone: :meth:`check` does it, synchronously.

    The policy calls :meth:`check` inline for texts up to :attr:`inline_chars` characters (cheaper
    than any hand-off) and in a worker thread beyond, where its timeout is enforced and the event loop
    keeps serving other requests.
    """

    kind: str = "local"
    inline_chars: int = 32_768

    def check(self, text: str, ctx: ScanContext) -> Scan:
        raise NotImplementedError

    async def scan(self, text: str, ctx: ScanContext) -> Scan:
        return self.check(text, ctx)


def sanitize(text: str) -> str:
    """``text`` safe for every scanner, of the same length so spans still line up.

    Lone surrogates (which ``str`` can hold but UTF-8 cannot encode) become U+FFFD; a scanner never
    has to think about encodings, and invalid input never makes one raise.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text
