"""Each codec against wire fixtures written from its provider's API reference (tests/providers/fixtures/).

Request bodies are asserted byte-for-byte where the provider is strict about them; answers, whole
and streamed, must decode to exactly the listed canonical events.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from podium.canonical import ChatRequest, Event
from podium.errors import RequestError, UnsupportedFeature, UpstreamProtocolError, UpstreamStatusError
from podium.providers.sse import SSEParser
from podium.wire import anthropic, bedrock, gemini
from podium.wire.eventstream import EventStreamDecoder, encode_message

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def canonical(data: dict[str, Any]) -> ChatRequest:
    return msgspec.convert(data, ChatRequest)


def plain(events: list[Event]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        d = json.loads(msgspec.json.encode(e))
        d.pop("created", None)
        out.append(d)
    return out


def sse_frames(name: str) -> list[bytes]:
    parser = SSEParser()
    return [data for _, data in parser.feed((FIXTURES / name).read_bytes())]


def test_anthropic_request_bytes() -> None:
    """A canonical tool round trip encodes to exactly the Messages body of the reference."""
    f = load("anthropic_request.json")
    body = anthropic.encode_request(
        canonical(f["canonical"]), model=f["model"], max_tokens=f["max_tokens"], stream=True
    )
    assert body == msgspec.json.encode(f["wire"])


def test_anthropic_message_events() -> None:
    """A whole message decodes to thinking (with signature), text, the tool call, and usage with cache tokens added in."""
    f = load("anthropic_response.json")
    assert plain(anthropic.message_events(json.dumps(f["body"]).encode())) == f["events"]


def test_anthropic_stream_events() -> None:
    """The SSE sequence message_start … message_stop decodes to deltas, one finish and usage at the end."""
    decoder = anthropic.StreamDecoder("d")
    events = [e for data in sse_frames("anthropic_stream.sse") for e in decoder.feed(data)]
    assert decoder.done
    texts = [e["text"] for e in plain(events) if e["type"] == "text"]
    assert texts == ["Hello", "!"]
    calls = [e for e in plain(events) if e["type"] == "tool_call"]
    assert calls[0] == {
        "type": "tool_call",
        "call_index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "name": "get_weather",
    }
    assert "".join(c.get("arguments", "") for c in calls) == '{"city": "Paris"}'
    assert plain(events)[-2:] == [
        {"type": "finish", "reason": "tool_calls"},
        {"type": "usage", "input_tokens": 30, "output_tokens": 15, "cached_input_tokens": 5},
    ]


def test_anthropic_overloaded_mid_stream_is_retryable() -> None:
    """An overloaded_error event mid-stream is Anthropic's 529: overloaded, retryable."""
    decoder = anthropic.StreamDecoder("d")
    with pytest.raises(UpstreamStatusError) as exc:
        decoder.feed(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    assert (
        exc.value.code == "upstream_overloaded" and exc.value.retryable and "Overloaded" in exc.value.message
    )


def test_anthropic_unknown_block_type_is_a_clear_error() -> None:
    """A content block type Podium cannot translate is a protocol error that names it, not a crash."""
    body = b'{"id":"m","model":"c","content":[{"type":"server_tool_use","id":"x","name":"web_search","input":{}}],"stop_reason":"end_turn"}'
    with pytest.raises(UpstreamProtocolError, match="server_tool_use"):
        anthropic.message_events(body)
    decoder = anthropic.StreamDecoder("d")
    with pytest.raises(UpstreamProtocolError, match="web_search_tool_result"):
        decoder.feed(
            b'{"type":"content_block_start","index":0,"content_block":{"type":"web_search_tool_result"}}'
        )


def test_gemini_request_bytes() -> None:
    """A canonical tool round trip encodes to exactly the generateContent body of the reference."""
    f = load("gemini_request.json")
    assert gemini.encode_request(canonical(f["canonical"])) == msgspec.json.encode(f["wire"])


def test_gemini_safety_block_is_a_content_filter_finish() -> None:
    """A prompt blocked for safety is a content_filter finish with the prompt's usage, not an error."""
    f = load("gemini_safety_block.json")
    assert plain(gemini.response_events(json.dumps(f["body"]).encode())) == f["events"]


def test_gemini_stream_events() -> None:
    """Thought parts become reasoning, text parts deltas; usage (thoughts counted as output) comes last."""
    decoder = gemini.StreamDecoder("d")
    events = [e for data in sse_frames("gemini_stream.sse") for e in decoder.feed(data)]
    assert decoder.finished
    events += decoder.finish()
    assert plain(events) == [
        {"type": "start", "id": "abc", "model": "gemini-2.5-flash"},
        {"type": "reasoning", "text": "Thinking about it"},
        {"type": "text", "text": "The answer"},
        {"type": "text", "text": " is 42."},
        {"type": "finish", "reason": "length"},
        {
            "type": "usage",
            "input_tokens": 9,
            "output_tokens": 10,
            "cached_input_tokens": 3,
            "reasoning_tokens": 4,
        },
    ]


def test_gemini_safety_finish_reason() -> None:
    """A candidate stopped with finishReason SAFETY finishes as content_filter."""
    body = b'{"candidates":[{"content":{"parts":[{"text":"I"}],"role":"model"},"finishReason":"SAFETY"}]}'
    assert plain(gemini.response_events(body))[-1] == {"type": "finish", "reason": "content_filter"}


def test_bedrock_request_bytes() -> None:
    """A canonical tool round trip encodes to exactly the Converse body of the reference, guardrail included."""
    f = load("bedrock_request.json")
    assert bedrock.encode_request(canonical(f["canonical"]), guardrail=f["guardrail"]) == msgspec.json.encode(
        f["wire"]
    )


def test_bedrock_guardrail_trace_passed_through() -> None:
    """A guardrail intervention is a content_filter finish carrying Bedrock's trace, with cache usage added in."""
    f = load("bedrock_response.json")
    events = bedrock.converse_events(
        json.dumps(f["body"]).encode(), model="anthropic.claude-3-haiku-20240307-v1:0", request_id="req-1"
    )
    assert plain(events) == f["events"]


def _frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


STREAM = [
    _frame("messageStart", {"role": "assistant"}),
    _frame("contentBlockDelta", {"delta": {"text": "Hi"}, "contentBlockIndex": 0}),
    _frame("contentBlockStop", {"contentBlockIndex": 0}),
    _frame(
        "contentBlockStart", {"start": {"toolUse": {"toolUseId": "t1", "name": "f"}}, "contentBlockIndex": 1}
    ),
    _frame("contentBlockDelta", {"delta": {"toolUse": {"input": '{"a":'}}, "contentBlockIndex": 1}),
    _frame("contentBlockDelta", {"delta": {"toolUse": {"input": "1}"}}, "contentBlockIndex": 1}),
    _frame("messageStop", {"stopReason": "tool_use"}),
    _frame(
        "metadata",
        {"usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}, "metrics": {"latencyMs": 9}},
    ),
]


@pytest.mark.parametrize("piece", [1, 7, 64, 10_000])
def test_bedrock_event_stream_decoded_incrementally(piece: int) -> None:
    """ConverseStream frames decode the same however the bytes are split on arrival."""
    data = b"".join(STREAM)
    frames = EventStreamDecoder()
    decoder = bedrock.StreamDecoder(model="m", request_id="r")
    events = [
        e
        for i in range(0, len(data), piece)
        for m in frames.feed(data[i : i + piece])
        for e in decoder.feed(m)
    ]
    assert frames.pending() == b"" and decoder.done
    assert plain(events)[1:] == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_call", "call_index": 0, "id": "t1", "name": "f"},
        {"type": "tool_call", "call_index": 0, "arguments": '{"a":'},
        {"type": "tool_call", "call_index": 0, "arguments": "1}"},
        {"type": "finish", "reason": "tool_calls"},
        {"type": "usage", "input_tokens": 5, "output_tokens": 3},
    ]


def test_bedrock_stream_cut_mid_frame_leaves_pending_bytes() -> None:
    """A stream cut in the middle of a frame is seen as bytes left over, which the adapter reports as a cut."""
    data = b"".join(STREAM[:3]) + STREAM[3][:20]
    frames = EventStreamDecoder()
    assert len(frames.feed(data)) == 3
    assert frames.pending() == STREAM[3][:20]


@pytest.mark.parametrize("where", ["prelude", "message"])
def test_bedrock_crc_mismatch_is_a_protocol_error(where: str) -> None:
    """A frame whose prelude or message CRC does not match is an upstream protocol error."""
    frame = bytearray(STREAM[0])
    frame[9 if where == "prelude" else -1] ^= 0xFF
    with pytest.raises(UpstreamProtocolError, match="CRC"):
        EventStreamDecoder().feed(bytes(frame))


def test_bedrock_exception_event_is_classified() -> None:
    """A throttlingException event mid-stream is a retryable rate-limit error with Bedrock's message."""
    message = EventStreamDecoder().feed(
        encode_message(
            {":message-type": "exception", ":exception-type": "throttlingException"},
            b'{"message":"Too many requests"}',
        )
    )[0]
    with pytest.raises(UpstreamStatusError) as exc:
        bedrock.StreamDecoder(model="m", request_id="r").feed(message)
    assert exc.value.code == "upstream_rate_limited" and "Too many requests" in exc.value.message


def test_event_stream_frame_layout() -> None:
    """An encoded frame has the documented prelude: total length, header length, prelude CRC."""
    frame = STREAM[0]
    total = int.from_bytes(frame[:4], "big")
    assert total == len(frame) and zlib.crc32(frame[:8]) == int.from_bytes(frame[8:12], "big")


# --------------------------------------------------------------------------- bad input, per codec

BAD_TOOL_RESULT = {
    "model": "m",
    "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}],
}
TIFF_IMAGE = {
    "model": "m",
    "messages": [{"role": "user", "content": [{"type": "image", "url": "data:image/tiff;base64,SUkqAA=="}]}],
}
ENCODERS = {
    "anthropic": lambda r: anthropic.encode_request(r, model="c", max_tokens=10, stream=False),
    "gemini": gemini.encode_request,
    "bedrock": bedrock.encode_request,
}


@pytest.mark.parametrize("provider", list(ENCODERS))
def test_tool_result_without_a_call_is_refused(provider: str) -> None:
    """A tool result that answers no earlier call is the caller's 400, naming the message."""
    with pytest.raises(RequestError, match="no earlier assistant message") as exc:
        ENCODERS[provider](canonical(BAD_TOOL_RESULT))
    assert exc.value.status == 400 and exc.value.param == "messages[1].tool_call_id"


@pytest.mark.parametrize("provider", list(ENCODERS))
def test_unsupported_image_format_is_refused(provider: str) -> None:
    """An image in a format the provider cannot read is refused with its media type named."""
    with pytest.raises(UnsupportedFeature, match="image/tiff") as exc:
        ENCODERS[provider](canonical(TIFF_IMAGE))
    assert exc.value.status == 400


@pytest.mark.parametrize(
    ("provider", "field", "value"),
    [
        ("anthropic", "logprobs", True),
        ("anthropic", "n", 2),
        ("anthropic", "seed", 1),
        ("anthropic", "frequency_penalty", 0.5),
        ("gemini", "logprobs", True),
        ("gemini", "parallel_tool_calls", False),
        ("bedrock", "n", 3),
        ("bedrock", "presence_penalty", 0.1),
        ("bedrock", "seed", 4),
    ],
)
def test_untranslatable_fields_are_refused_by_name(provider: str, field: str, value: Any) -> None:
    """A request field the provider's API cannot express is a 400 naming the field and the provider."""
    request = canonical({"model": "m", "messages": [{"role": "user", "content": "x"}], field: value})
    with pytest.raises(UnsupportedFeature) as exc:
        ENCODERS[provider](request)
    assert f"`{field}`" in exc.value.message and exc.value.param == field
    assert {"anthropic": "Anthropic", "gemini": "Gemini", "bedrock": "Bedrock"}[provider] in exc.value.message


@pytest.mark.parametrize("provider", list(ENCODERS))
def test_foreign_extra_fields_are_refused(provider: str) -> None:
    """An OpenAI-only field kept in ``extra`` is refused by every other dialect, by name."""
    request = canonical(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "extra": {"logit_bias": {"1": 1}}}
    )
    with pytest.raises(UnsupportedFeature, match="logit_bias"):
        ENCODERS[provider](request)


def test_anthropic_passes_its_own_extra_fields() -> None:
    """Anthropic's own fields (thinking, top_k) reach an Anthropic deployment when the caller spoke Anthropic."""
    request = canonical(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "extra": {"thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5},
            "dialect": "anthropic",
        }
    )
    body = json.loads(anthropic.encode_request(request, model="c", max_tokens=2048, stream=False))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024} and body["top_k"] == 5


def test_bedrock_refuses_image_urls() -> None:
    """Bedrock takes image bytes only: an http image URL is refused, naming where it is."""
    request = canonical(
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "image", "url": "https://x/cat.png"}]}],
        }
    )
    with pytest.raises(UnsupportedFeature, match=r"messages\[0\]\.content\[0\]"):
        bedrock.encode_request(request)
