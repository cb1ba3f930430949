"""The output stage: the model's answer through a policy's output scanners and the pseudonym restorer.

Two ways, chosen per call:

- **Whole** (a non-streaming call, whose edge collects the answer anyway; or a stream whose policy has
  a scanner that must see the whole text, such as a JSON schema): every event is read first, each
  choice's text is scanned once, a schema failure may be repaired by asking the model once more, and
  the events are replayed with the text redacted and restored.
- **Streaming**: events pass through as they arrive. With output scanners, each choice's text is held
  back by a window of characters (:data:`WINDOW`) and scanned in batches as it moves through, so that a
  finding up to a window long is redacted before any of it leaves, or the stream ends with an error
  before it does. Without output scanners, only the few characters that might begin a placeholder are
  held back, and only when the request was pseudonymized.

The model's own text is scanned (placeholders and all); originals are restored after the scanners.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from podium.canonical import (
    ChatRequest,
    Event,
    Finish,
    JsonSchemaFormat,
    Message,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
)
from podium.guardrails.pii.scanner import resolve_overlaps
from podium.guardrails.policy import Policy, Segment, StageResult, run_stage
from podium.guardrails.pseudonymize import Restorer, apply
from podium.storage.records import GuardrailVerdict

__all__ = ["WINDOW", "OutputGuard"]

WINDOW = 96  # characters held back: longer than any pattern finding (an IBAN with spaces is 42)
_BATCH = 48  # scan once this many new characters wait beyond the window

Repair = Callable[[ChatRequest], Awaitable[list[Event]]]


@dataclass(slots=True)
class _Tally:
    """One output scanner's results over a whole stream, folded into one verdict at the end."""

    kinds: set[str] = field(default_factory=set)
    count: int = 0
    score: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None
    acted: bool = False


class OutputGuard:
    """One call's output stage. ``on_verdicts`` receives the verdicts once the answer is judged."""

    def __init__(
        self,
        policy: Policy,
        request: ChatRequest,
        mapping: dict[str, str],
        on_verdicts: Callable[[tuple[GuardrailVerdict, ...]], None],
    ) -> None:
        self.policy = policy
        self.request = request
        self.mapping = mapping
        self.on_verdicts = on_verdicts
        self.specs = policy.output
        self._tallies = {s.name: _Tally() for s in self.specs}
        self._restorers: dict[tuple[str, int, int], Restorer] = {}

    # ------------------------------------------------------------------ shared

    async def _scan(
        self, text: str, request: ChatRequest, *, counted_until: int | None = None
    ) -> StageResult:
        """Scan ``text``; findings ending before ``counted_until`` (all, when None) count in the verdict.

        A streamed answer is scanned window by window and a held-back tail is scanned again with the
        next batch: counting only what is released counts each finding once.
        """
        result = await run_stage(self.policy.name, self.specs, [Segment(text, None, 0)], "output", request)
        for r in result.results:
            tally = self._tallies[r.spec.name]
            tally.kinds.update(r.kinds)
            findings = r.findings.get(0, [])
            if counted_until is not None:
                findings = [f for f in findings if f.end <= counted_until]
            tally.count += len(findings) + len(r.refused)
            tally.score = max(tally.score, r.score)
            tally.latency_ms += r.latency_ms
            tally.error = tally.error or r.error
            tally.acted = tally.acted or bool(r.findings or r.refused)
        return result

    def _verdicts(self) -> tuple[GuardrailVerdict, ...]:
        out = []
        for spec in self.specs:
            t = self._tallies[spec.name]
            action = (
                ("block" if "OVERSIZE" in t.kinds or "BINARY" in t.kinds else spec.action)
                if t.acted
                else "allow"
            )
            out.append(
                GuardrailVerdict(
                    policy=self.policy.name,
                    scanner=spec.name,
                    stage="output",
                    action=action,  # type: ignore[arg-type]  # the config check allows only known actions
                    kinds=tuple(sorted(t.kinds)),
                    count=t.count,
                    score=round(t.score, 4),
                    latency_ms=round(t.latency_ms, 3),
                    error=t.error,
                )
            )
        return tuple(out)

    def _finish(self) -> None:
        if self.specs:
            self.on_verdicts(self._verdicts())
            self.specs = ()  # report once

    def _redacted(self, text: str, result: StageResult) -> str:
        replacements = result.replacements().get(0)
        if not replacements:
            return text
        return apply(text, resolve_overlaps([f for f, _ in replacements]), None)

    def _restorer(self, kind: str, index: int, sub: int = 0) -> Restorer:
        key = (kind, index, sub)
        restorer = self._restorers.get(key)
        if restorer is None:
            restorer = self._restorers[key] = Restorer(self.mapping)
        return restorer

    # ------------------------------------------------------------------ whole answers

    async def whole(self, events: list[Event], repair: Repair | None) -> list[Event]:
        """The events of a whole answer, judged (maybe repaired once), redacted and restored."""
        request = self.request
        try:
            for attempt in range(2):
                texts = _texts(events)
                changed: dict[int, str] = {}
                failed: StageResult | None = None
                for index, text in texts.items():
                    result = await self._scan(text, request)
                    if attempt == 0 and repair is not None and _needs_repair(result):
                        failed = result
                        break
                    result.raise_if_refused("the model's answer")
                    redacted = self._redacted(text, result)
                    if redacted != text:
                        changed[index] = redacted
                if failed is None:
                    break
                request = _repair_request(request, texts, failed)
                assert repair is not None
                events = await repair(request)
        finally:
            self._finish()
        if self.mapping:
            changed = {i: Restorer(self.mapping).restore(t) for i, t in {**_texts(events), **changed}.items()}
        return _replace_texts(events, changed, self.mapping)

    # ------------------------------------------------------------------ streams

    async def stream(self, first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """The events as they come, scanned through a window and restored; see the module docstring."""
        held: dict[int, str] = {}  # per choice: text not yet released
        try:
            async for event in _chain(first, rest):
                async for out in self._event(event, held):
                    yield out
            for index in sorted(held):
                async for out in self._release(index, held, final=True):
                    yield out
            for out in self._flush_restorers():
                yield out
        finally:
            self._finish()
            aclose = getattr(rest, "aclose", None)
            if aclose is not None:
                # Closed early (the caller left, or a block): the upstream call must end now, not at GC.
                with contextlib.suppress(Exception):
                    await aclose()

    async def _event(self, event: Event, held: dict[int, str]) -> AsyncIterator[Event]:
        match event:
            case TextDelta(text=text, index=index):
                if not self.specs:
                    restored = self._restorer("text", index).feed(text) if self.mapping else text
                    if restored == text:
                        yield event
                    elif restored:
                        yield TextDelta(text=restored, index=index)
                    return
                held[index] = held.get(index, "") + text
                if len(held[index]) >= WINDOW + _BATCH:
                    async for out in self._release(index, held, final=False):
                        yield out
            case Finish(index=index):
                if index in held:
                    async for out in self._release(index, held, final=True):
                        yield out
                for out in self._flush_restorers(index):
                    yield out
                yield event
            case ToolCallDelta(arguments=arguments, index=index, call_index=call) if (
                self.mapping and arguments
            ):
                restored = self._restorer("tool", index, call).feed(arguments)
                yield msgspec.structs.replace(event, arguments=restored)
            case RefusalDelta(text=text, index=index) if self.mapping:
                yield RefusalDelta(text=self._restorer("refusal", index).feed(text), index=index)
            case ReasoningDelta(text=text, index=index) if self.mapping:
                yield msgspec.structs.replace(event, text=self._restorer("reasoning", index).feed(text))
            case _:
                yield event

    async def _release(self, index: int, held: dict[int, str], *, final: bool) -> AsyncIterator[Event]:
        text = held.pop(index, "")
        if not text:
            return
        cut = len(text) if final else len(text) - WINDOW
        result = await self._scan(text, self.request, counted_until=cut)
        result.raise_if_refused("the model's answer")
        replacements = result.replacements().get(0, [])
        crossing = [f.start for f, _ in replacements if f.start < cut < f.end]
        while crossing:  # never release part of a finding: hold it back whole
            cut = min(crossing)
            crossing = [f.start for f, _ in replacements if f.start < cut < f.end]
        released, kept = text[:cut], text[cut:]
        inside = [f for f, _ in replacements if f.end <= cut]
        if inside:
            released = apply(released, resolve_overlaps(inside), None)
        if kept:
            held[index] = kept
        if self.mapping:
            released = self._restorer("text", index).feed(released)
        if released:
            yield TextDelta(text=released, index=index)

    def _flush_restorers(self, index: int | None = None) -> list[Event]:
        out: list[Event] = []
        for (kind, i, sub), restorer in list(self._restorers.items()):
            if index is not None and i != index:
                continue
            tail = restorer.flush()
            if not tail:
                continue
            if kind == "text":
                out.append(TextDelta(text=tail, index=i))
            elif kind == "refusal":
                out.append(RefusalDelta(text=tail, index=i))
            elif kind == "reasoning":
                out.append(ReasoningDelta(text=tail, index=i))
            else:
                out.append(ToolCallDelta(call_index=sub, arguments=tail, index=i))
        return out


async def _chain(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    async for event in rest:
        yield event


def _texts(events: Sequence[Event]) -> dict[int, str]:
    parts: dict[int, list[str]] = {}
    for e in events:
        if isinstance(e, TextDelta):
            parts.setdefault(e.index, []).append(e.text)
    return {i: "".join(p) for i, p in parts.items()}


def _replace_texts(events: list[Event], texts: dict[int, str], mapping: dict[str, str]) -> list[Event]:
    """``events`` with each changed choice's text in one delta where its first was; tool arguments restored."""
    if not texts and not mapping:
        return events
    restorer = Restorer(mapping) if mapping else None
    out: list[Event] = []
    placed: set[int] = set()
    for e in events:
        if isinstance(e, TextDelta) and e.index in texts:
            if e.index not in placed:
                placed.add(e.index)
                out.append(TextDelta(text=texts[e.index], index=e.index))
            continue
        if restorer is not None and isinstance(e, ToolCallDelta) and e.arguments:
            e = msgspec.structs.replace(e, arguments=restorer.restore(e.arguments))
        elif restorer is not None and isinstance(e, RefusalDelta | ReasoningDelta):
            e = msgspec.structs.replace(e, text=restorer.restore(e.text))
        out.append(e)
    return out


def _needs_repair(result: StageResult) -> bool:
    return any(
        r.findings and r.spec.kind == "json_schema" and getattr(r.spec.scanner, "repair", False)
        for r in result.results
    )


def _repair_request(request: ChatRequest, texts: dict[int, str], failed: StageResult) -> ChatRequest:
    """The same request, with the invalid answer and what was wrong with it, asking for a valid one."""
    why = next((r.message for r in failed.results if r.message and r.spec.kind == "json_schema"), None)
    answer = texts.get(0, "")
    wanted = "JSON that matches the requested schema"
    if isinstance(request.response_format, JsonSchemaFormat):
        wanted = f"JSON that matches the '{request.response_format.name}' schema"
    follow_up = Message(
        role="user",
        content=f"Your previous answer was not valid: {why or 'it did not validate'}. "
        f"Answer again with only {wanted}, and nothing else.",
    )
    messages = (*request.messages, Message(role="assistant", content=answer), follow_up)
    return msgspec.structs.replace(request, messages=messages, n=1, stream=False)
