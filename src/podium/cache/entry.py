"""What a cache entry holds, and how a cached answer is replayed as a stream.

A chat answer is stored as the :class:`~podium.canonical.Completion` it amounted to, and replayed
as the same events an upstream would send (text in small deltas, tool calls, finish, usage), so
every inbound API — streaming or not — serves a hit through its ordinary code path.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import msgspec

from podium.canonical import (
    Choice,
    Completion,
    EmbeddingResult,
    Event,
    Finish,
    ReasoningDelta,
    RefusalDelta,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
)

__all__ = ["ChatEntry", "EmbeddingEntry", "decode", "encode", "replay"]

FORMAT = 1
_CHUNK_CHARS = 32  # a replayed stream arrives in small pieces, like a live one


class ChatEntry(msgspec.Struct, frozen=True, tag="chat"):
    completion: Completion
    stored_at: float
    version: int = FORMAT


class EmbeddingEntry(msgspec.Struct, frozen=True, tag="embeddings"):
    result: EmbeddingResult
    stored_at: float
    version: int = FORMAT


Entry = ChatEntry | EmbeddingEntry
_decoder = msgspec.json.Decoder(Entry)
_encoder = msgspec.json.Encoder()


def encode(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode(data: bytes) -> Entry | None:
    """The entry, or ``None`` for bytes this version cannot read (they are then a miss)."""
    try:
        entry = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return entry if entry.version == FORMAT else None


def _pieces(text: str) -> Iterator[str]:
    for i in range(0, len(text), _CHUNK_CHARS):
        yield text[i : i + _CHUNK_CHARS]


def _reasoning(choice: Choice, index: int) -> list[Event]:
    """The choice's reasoning block by block, signatures and redacted data included, so a cached
    answer continues with Anthropic or Bedrock as well as a fresh one."""
    if not choice.reasoning_blocks:  # no blocks: reasoning from an OpenAI-compatible server
        return [ReasoningDelta(text=p, index=index) for p in _pieces(choice.reasoning or "")]
    events: list[Event] = []
    for block in choice.reasoning_blocks:
        if block.redacted is not None:
            events.append(ReasoningDelta(text="", redacted=block.redacted, index=index))
            continue
        events += [ReasoningDelta(text=p, index=index) for p in _pieces(block.text)]
        if block.signature is not None:
            events.append(ReasoningDelta(text="", signature=block.signature, index=index))
    return events


def replay_events(completion: Completion, *, response_id: str) -> list[Event]:
    """The events of ``completion``, starting with a fresh ``ResponseStart``."""
    events: list[Event] = [
        ResponseStart(
            id=response_id,
            model=completion.model,
            created=int(time.time()),
            system_fingerprint=completion.system_fingerprint,
        )
    ]
    for choice in completion.choices:
        i = choice.index
        events += _reasoning(choice, i)
        events += [TextDelta(text=p, index=i) for p in _pieces(choice.text or "")]
        events += [RefusalDelta(text=p, index=i) for p in _pieces(choice.refusal or "")]
        events += [
            ToolCallDelta(call_index=k, id=call.id, name=call.name, arguments=call.arguments, index=i)
            for k, call in enumerate(choice.tool_calls)
        ]
        events.append(Finish(reason=choice.finish_reason or "stop", index=i))
    if completion.usage is not None:
        events.append(completion.usage)
    return events


async def replay(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event
