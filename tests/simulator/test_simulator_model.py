"""The in-process simulated models: answers by mode, streaming shape, usage and faults as exceptions."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from podium.canonical import (
    ChatRequest,
    Completion,
    EmbeddingRequest,
    Event,
    Finish,
    JsonSchemaFormat,
    Message,
    ResponseStart,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from podium.collect import collect
from podium.errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from podium.providers.base import ChatModel, EmbeddingModel
from podium.simulator import SimulatedChatModel, SimulatedEmbeddingModel

WEATHER = Tool(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
TIME = Tool(name="get_time", parameters={"type": "object", "properties": {}})


def ask(text: str = "hello there world", **fields: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message(role="user", content=text),), **fields)


async def answer(spec: str, request: ChatRequest) -> Completion:
    return await collect(SimulatedChatModel(spec).stream(request))


async def events(spec: str, request: ChatRequest, deadline: float | None = None) -> list[Event]:
    return [e async for e in SimulatedChatModel(spec).stream(request, deadline=deadline)]


def test_models_implement_the_provider_seam() -> None:
    """The simulated models satisfy the ChatModel and EmbeddingModel protocols."""
    assert isinstance(SimulatedChatModel("echo"), ChatModel)
    assert isinstance(SimulatedEmbeddingModel("embed"), EmbeddingModel)


def test_bad_spec_fails_at_construction() -> None:
    """A bad option is reported when the model is built, not on its first request."""
    with pytest.raises(ValueError, match="unknown simulator option 'ttft'"):
        SimulatedChatModel("sim/echo?ttft=3")


async def test_echo_answers_the_last_user_text() -> None:
    """Echo answers with the last user message's text parts joined."""
    request = ChatRequest(
        model="m",
        messages=(
            Message(role="system", content="be brief"),
            Message(role="user", content=(TextPart(text="one "), TextPart(text="two"))),
            Message(role="assistant", content="ok"),
        ),
    )
    c = await answer("sim/echo", request)
    assert (c.choices[0].text, c.choices[0].finish_reason, c.model) == ("one two", "stop", "sim/echo")


async def test_stream_shape_and_usage() -> None:
    """A stream starts with ResponseStart, carries one word per chunk, then Finish and Usage."""
    got = await events("echo", ask("hello there world", stream=True))
    assert isinstance(got[0], ResponseStart) and got[0].id.startswith("chatcmpl-")
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["hello ", "there ", "world"]
    assert got[-2] == Finish(reason="stop")
    assert got[-1] == Usage(input_tokens=5, output_tokens=5)


async def test_chunk_words_groups_words() -> None:
    """`chunk_words=N` puts N words in each text chunk."""
    got = await events("echo?chunk_words=2", ask("a b c d e"))
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["a b ", "c d ", "e"]


async def test_echo_calls_tools_when_offered() -> None:
    """With tools offered, echo calls every tool, arguments conforming to their schemas."""
    c = await answer("echo", ask("weather in Paris", tools=(WEATHER, TIME)))
    calls = c.choices[0].tool_calls
    assert c.choices[0].finish_reason == "tool_calls"
    assert [t.name for t in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].arguments) == {"city": "weather in Paris", "unit": "c"}
    assert all(t.id.startswith("call_") for t in calls) and calls[0].id != calls[1].id


async def test_tool_call_arguments_stream_in_pieces() -> None:
    """A streamed tool call opens with its id and name, then its arguments in several pieces."""
    got = [
        e for e in await events("tools", ask(tools=(WEATHER,), stream=True)) if isinstance(e, ToolCallDelta)
    ]
    assert got[0].name == "get_weather" and got[0].id is not None and got[0].arguments == ""
    assert len(got) > 2 and all(e.id is None for e in got[1:])


async def test_echo_answers_text_after_a_tool_result() -> None:
    """After a tool result, echo answers text quoting the result instead of calling again."""
    request = ChatRequest(
        model="m",
        tools=(WEATHER,),
        messages=(
            Message(role="user", content="weather?"),
            Message(
                role="assistant", tool_calls=(ToolCall(id="call_1", name="get_weather", arguments="{}"),)
            ),
            Message(role="tool", tool_call_id="call_1", content='{"temp": 21}'),
        ),
    )
    c = await answer("echo", request)
    assert c.choices[0].text == 'get_weather returned: {"temp": 21}'


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tool_choice": "none"}, []),
        ({"tool_choice": "get_time"}, ["get_time"]),
        ({"parallel_tool_calls": False}, ["get_weather"]),
        ({"tool_choice": "required"}, ["get_weather", "get_time"]),
    ],
)
async def test_tool_choice_is_respected(fields: dict[str, Any], expected: list[str]) -> None:
    """`tool_choice` none / named / required and `parallel_tool_calls=false` choose which tools are called."""
    c = await answer("tools", ask(tools=(WEATHER, TIME), **fields))
    assert [t.name for t in c.choices[0].tool_calls] == expected


async def test_unknown_forced_tool_is_a_400() -> None:
    """Forcing a tool that is not offered is rejected as a real API would, with a 400."""
    with pytest.raises(UpstreamStatusError) as info:
        await answer("tools", ask(tools=(WEATHER,), tool_choice="nope"))
    assert info.value.upstream_status == 400


async def test_json_answers_conform_to_the_schema() -> None:
    """A json_schema response format is answered with a conforming JSON document."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "q": {"type": "string"}},
        "required": ["n"],
    }
    fmt = JsonSchemaFormat(name="thing", schema=schema)
    c = await answer("json", ask("question", response_format=fmt))
    assert json.loads(c.choices[0].text or "") == {"n": 1, "q": "question"}
    c = await answer("echo", ask("question", response_format="json_object"))
    assert json.loads(c.choices[0].text or "") == {"echo": "question"}


async def test_lorem_is_deterministic_and_sized() -> None:
    """Lorem answers `words` words, the same every time."""
    first = await answer("lorem?words=30", ask())
    second = await answer("lorem?words=30", ask("something else"))
    assert first.choices[0].text == second.choices[0].text
    assert len((first.choices[0].text or "").split()) == 30


async def test_max_tokens_and_stop_cut_the_answer() -> None:
    """`max_tokens` truncates with finish_reason length; a stop sequence ends the text before it."""
    c = await answer("lorem?words=100", ask(max_tokens=5))
    assert c.choices[0].finish_reason == "length" and c.usage is not None and c.usage.output_tokens == 5
    c = await answer("echo", ask("alpha STOP beta", stop=("STOP",)))
    assert (c.choices[0].text, c.choices[0].finish_reason) == ("alpha ", "stop")


async def test_n_answers_several_choices() -> None:
    """`n` produces that many choices."""
    c = await answer("echo", ask("hi", n=3))
    assert [ch.text for ch in c.choices] == ["hi", "hi", "hi"]


async def test_status_raises_upstream_status_error_with_retry_after() -> None:
    """`status` fails every call with UpstreamStatusError carrying the status and Retry-After."""
    with pytest.raises(UpstreamStatusError) as info:
        await answer("echo?status=429&retry_after=3", ask())
    assert (info.value.upstream_status, info.value.status, info.value.retry_after) == (429, 429, 3.0)


async def test_error_rate_is_deterministic_with_a_seed() -> None:
    """With a seed, the same calls fail in the same places, and about error_rate of them fail."""

    async def pattern() -> list[bool]:
        model = SimulatedChatModel("echo?error_rate=0.3&seed=7")
        out = []
        for _ in range(200):
            try:
                await collect(model.stream(ask()))
                out.append(False)
            except UpstreamStatusError as exc:
                assert exc.upstream_status == 500
                out.append(True)
        return out

    first, second = await pattern(), await pattern()
    assert first == second
    assert 30 <= sum(first) <= 90


async def test_seed_makes_ids_repeat() -> None:
    """With a seed, response and tool-call ids repeat from one model instance to the next."""
    a = await answer("tools?seed=1", ask(tools=(WEATHER,)))
    b = await answer("tools?seed=1", ask(tools=(WEATHER,)))
    assert (a.id, a.choices[0].tool_calls) == (b.id, b.choices[0].tool_calls)


async def test_malformed_raises_protocol_error() -> None:
    """`malformed` raises UpstreamProtocolError before any event."""
    with pytest.raises(UpstreamProtocolError):
        await events("echo?malformed", ask(stream=True))


async def test_disconnect_after_raises_after_n_events() -> None:
    """`disconnect_after=N` yields ResponseStart and N events, then raises UpstreamConnectionError."""
    got: list[Event] = []
    with pytest.raises(UpstreamConnectionError):
        async for e in SimulatedChatModel("echo?disconnect_after=2").stream(ask("a b c d", stream=True)):
            got.append(e)  # noqa: PERF401 - a comprehension would lose the events before the error
    assert isinstance(got[0], ResponseStart)
    assert [e.text for e in got[1:] if isinstance(e, TextDelta)] == ["a ", "b "]


async def test_hang_honours_the_deadline() -> None:
    """`hang` never answers, but gives up with UpstreamTimeout at the deadline."""
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await events("echo?hang", ask(), deadline=start + 0.05)
    assert 0.04 <= time.monotonic() - start < 1


async def test_hang_without_deadline_waits_until_cancelled() -> None:
    """Without a deadline, `hang` waits until the caller gives up."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(events("echo?hang", ask()), 0.05)


async def test_latency_past_the_deadline_times_out() -> None:
    """A latency longer than the time left raises UpstreamTimeout at the deadline, not after it."""
    start = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await events("echo?latency_ms=5000", ask(), deadline=start + 0.05)
    assert time.monotonic() - start < 1


async def test_delays_are_applied() -> None:
    """`latency_ms`, `ttft_ms` and `chunk_delay_ms` slow the stream down by about that much."""
    model = SimulatedChatModel("echo?latency_ms=20&ttft_ms=20&chunk_delay_ms=10")
    start = time.monotonic()
    stamps = [
        (type(e).__name__, time.monotonic() - start) async for e in model.stream(ask("a b c", stream=True))
    ]
    assert stamps[0][1] >= 0.019  # ResponseStart after latency
    assert stamps[1][1] - stamps[0][1] >= 0.019  # first text after ttft
    assert stamps[2][1] - stamps[1][1] >= 0.009  # then chunk delays


async def test_embeddings_in_process() -> None:
    """The embedding model answers one unit vector per input, `dimensions` overriding `dims`."""
    model = SimulatedEmbeddingModel("sim/embed?dims=16")
    result = await model.embed(EmbeddingRequest(model="m", inputs=("a cat", "a dog")))
    assert [len(e.vector) for e in result.data] == [16, 16]
    assert result.usage.input_tokens == 4
    result = await model.embed(EmbeddingRequest(model="m", inputs=((1, 2, 3),), dimensions=8))
    assert len(result.data[0].vector) == 8 and result.usage.input_tokens == 3


async def test_embedding_faults() -> None:
    """Embedding models fail the same ways chat models do."""
    with pytest.raises(UpstreamStatusError):
        await SimulatedEmbeddingModel("embed?status=503").embed(EmbeddingRequest(model="m", inputs=("x",)))
    with pytest.raises(UpstreamConnectionError):
        await SimulatedEmbeddingModel("embed?disconnect_after=0").embed(
            EmbeddingRequest(model="m", inputs=("x",))
        )


async def test_embed_mode_chats_like_echo() -> None:
    """As a chat model, `embed` answers like echo, tool calls included."""
    assert (await answer("embed", ask("hi"))).choices[0].text == "hi"
    assert (await answer("embed", ask(tools=(TIME,)))).choices[0].tool_calls[0].name == "get_time"
