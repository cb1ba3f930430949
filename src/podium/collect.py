"""A stream of events, collected into the whole answer it amounts to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import msgspec

from podium.canonical import (
    Choice,
    Completion,
    Event,
    Finish,
    FinishReason,
    Reasoning,
    ReasoningDelta,
    RefusalDelta,
    ResponseStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["Collector", "collect"]


class _ChoiceState:
    __slots__ = ("blocks", "calls", "finish", "logprobs", "open_block", "reasoning", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.blocks: list[Reasoning] = []  # finished reasoning blocks
        self.open_block: list[str] | None = None  # the text of the block still open (no signature yet)
        self.calls: dict[int, list[str | None]] = {}  # call_index -> [id, name, arguments]
        self.finish: FinishReason | None = None
        self.logprobs: list[msgspec.Raw] = []

    def add_reasoning(self, event: ReasoningDelta) -> None:
        if event.redacted is not None:
            self._close_block()
            self.blocks.append(Reasoning(redacted=event.redacted))
            return
        self.reasoning.append(event.text)
        if self.open_block is None:
            self.open_block = []
        self.open_block.append(event.text)
        if event.signature is not None:  # a signature ends its block
            self.blocks.append(Reasoning(text="".join(self.open_block), signature=event.signature))
            self.open_block = None

    def _close_block(self) -> None:
        if self.open_block is not None:
            self.blocks.append(Reasoning(text="".join(self.open_block)))
            self.open_block = None

    def reasoning_blocks(self) -> tuple[Reasoning, ...]:
        """The blocks so far; reasoning without a signature (OpenAI-compatible servers) is one unsigned block."""
        if self.open_block is None:
            return tuple(self.blocks)
        return (*self.blocks, Reasoning(text="".join(self.open_block)))


class Collector:
    """Feeds on events one by one; :meth:`result` is the completion they amount to.

    ``trace`` is the upstream's own account of the answer (Bedrock's guardrail trace), when it sent one.
    """

    __slots__ = ("_choices", "_start", "trace", "usage")

    def __init__(self) -> None:
        self._start: ResponseStart | None = None
        self._choices: dict[int, _ChoiceState] = {}
        self.usage: Usage | None = None
        self.trace: msgspec.Raw | None = None

    def _choice(self, index: int) -> _ChoiceState:
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _ChoiceState()
        return state

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            c = self._choice(event.index)
            c.text.append(event.text)
            if event.logprobs is not None:
                c.logprobs.append(event.logprobs)
        elif isinstance(event, ToolCallDelta):
            call = self._choice(event.index).calls.setdefault(event.call_index, [None, None, ""])
            if event.id is not None:
                call[0] = event.id
            if event.name and call[1] is None:
                call[1] = event.name
            call[2] = (call[2] or "") + event.arguments
        elif isinstance(event, Finish):
            self._choice(event.index).finish = event.reason
            if event.trace is not None:
                self.trace = event.trace
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, ResponseStart):
            self._start = event
        elif isinstance(event, RefusalDelta):
            self._choice(event.index).refusal.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._choice(event.index).add_reasoning(event)

    def add_all(self, events: Iterable[Event]) -> None:
        for e in events:
            self.add(e)

    def finish_reasons(self) -> list[str]:
        """Each choice's finish reason, in choice order (those that finished)."""
        return [c.finish for _, c in sorted(self._choices.items()) if c.finish is not None]

    def output_text(self) -> str:
        """Everything the model wrote (text, refusals, tool arguments): what local token counting sees."""
        parts: list[str] = []
        for c in self._choices.values():
            parts.extend(c.text)
            parts.extend(c.refusal)
            parts.extend(c.reasoning)
            for call in c.calls.values():
                parts.append(call[1] or "")
                parts.append(call[2] or "")
        return "".join(parts)

    def result(self) -> Completion:
        start = self._start or ResponseStart(id="", model="", created=0)
        choices = []
        for index in sorted(self._choices) or [0]:
            c = self._choices.get(index) or _ChoiceState()
            calls = tuple(
                ToolCall(id=call[0] or f"call_{k}", name=call[1] or "", arguments=call[2] or "")
                for k, call in sorted(c.calls.items())
            )
            text = "".join(c.text)
            choices.append(
                Choice(
                    index=index,
                    text=text if (text or not calls) else None,
                    tool_calls=calls,
                    finish_reason=c.finish or ("tool_calls" if calls else "stop"),
                    refusal="".join(c.refusal) or None,
                    reasoning="".join(c.reasoning) or None,
                    reasoning_blocks=c.reasoning_blocks(),
                    logprobs=tuple(c.logprobs),
                )
            )
        return Completion(
            id=start.id,
            model=start.model,
            created=start.created,
            choices=tuple(choices),
            usage=self.usage,
            system_fingerprint=start.system_fingerprint,
        )


async def collect(events: AsyncIterator[Event]) -> Completion:
    collector = Collector()
    async for event in events:
        collector.add(event)
    return collector.result()
