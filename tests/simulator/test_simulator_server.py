"""The standalone simulator over a real socket, driven by the official openai SDK."""

from __future__ import annotations

import base64
import enum
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import openai
import pydantic
import pytest

from podium.simulator import RequestLog, embed_text
from podium.simulator.testing import running_simulator

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
HELLO: Any = [{"role": "user", "content": "hello there world"}]


@pytest.fixture
async def log() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def base_url(log: RequestLog) -> AsyncIterator[str]:
    async with running_simulator(log=log) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=5)
    yield c
    await c.close()


async def raw(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as resp:
        body = await resp.read()
        return resp.status, json.loads(body) if body else None


async def test_chat(client: openai.AsyncOpenAI) -> None:
    """A non-streaming chat completion echoes the user text with usage."""
    c = await client.chat.completions.create(model="sim/echo", messages=HELLO)
    assert c.choices[0].message.content == "hello there world"
    assert c.choices[0].finish_reason == "stop"
    assert c.model == "sim/echo" and c.usage is not None and c.usage.total_tokens == 10


async def test_any_model_name_echoes(client: openai.AsyncOpenAI) -> None:
    """A model name that is not a simulator mode is answered like echo."""
    c = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert c.choices[0].message.content == "hello there world"


async def test_streaming_with_usage(client: openai.AsyncOpenAI) -> None:
    """A stream delivers the text word by word, the role first, and a usage chunk with no choices."""
    stream = await client.chat.completions.create(
        model="sim/echo", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello there world"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert (
        chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    )


async def test_streaming_without_usage(client: openai.AsyncOpenAI) -> None:
    """Without include_usage, no chunk carries usage."""
    stream = await client.chat.completions.create(model="sim/lorem?words=5", messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    # the role frame as soon as the answer starts, five one-word chunks, then the finish frame
    assert all(c.usage is None for c in chunks) and len(chunks) == 7


async def test_tools(client: openai.AsyncOpenAI) -> None:
    """Tool calls come back with ids, names and schema-conforming arguments, streamed or not."""
    c = await client.chat.completions.create(model="sim/tools", messages=HELLO, tools=[WEATHER_TOOL])
    call = c.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert c.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("call_") and call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "hello there world"}  # type: ignore[union-attr]
    async with client.chat.completions.stream(model="sim/tools", messages=HELLO, tools=[WEATHER_TOOL]) as s:
        final = await s.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == call.function.arguments  # type: ignore[index,union-attr]


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Step(pydantic.BaseModel):
    explanation: str
    output: int


class Reasoning(pydantic.BaseModel):
    steps: list[Step]
    answer: str
    mood: Mood
    kind: Literal["short", "long"]
    note: str | None


def _parse(client: openai.AsyncOpenAI) -> Any:
    # `beta.chat.completions.parse` moved to `chat.completions.parse` in later SDKs
    beta_chat = getattr(client.beta, "chat", None)
    return beta_chat.completions.parse if beta_chat is not None else client.chat.completions.parse


async def test_structured_output_parse(client: openai.AsyncOpenAI) -> None:
    """The SDK's `parse` with a Pydantic model gets an instance of that model back."""
    c = await _parse(client)(model="sim/json", messages=HELLO, response_format=Reasoning)
    parsed = c.choices[0].message.parsed
    assert isinstance(parsed, Reasoning) and parsed.answer == "hello there world"


async def test_strict_tool_parse(client: openai.AsyncOpenAI) -> None:
    """The SDK's `parse` with a Pydantic function tool gets parsed arguments back."""
    tool = openai.pydantic_function_tool(Step, name="record_step")
    c = await _parse(client)(model="sim/echo", messages=HELLO, tools=[tool])
    parsed = c.choices[0].message.tool_calls[0].function.parsed_arguments
    assert isinstance(parsed, Step) and parsed.explanation == "hello there world"


async def test_embeddings_float_and_base64(client: openai.AsyncOpenAI) -> None:
    """Embeddings arrive as floats or base64 (the SDK's default), equal to the in-process vectors."""
    expected = embed_text("a cat", 32)
    floats = await client.embeddings.create(
        model="sim/embed?dims=32", input=["a cat"], encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(expected, abs=1e-6)
    default = await client.embeddings.create(model="sim/embed", input="a cat", dimensions=32)
    assert default.data[0].embedding == pytest.approx(expected, abs=1e-6)
    assert default.usage.prompt_tokens == 2


async def test_base64_on_the_wire(base_url: str) -> None:
    """A base64 request gets little-endian float32 bytes, as OpenAI sends them."""
    status, body = await raw(
        "POST",
        f"{base_url}/embeddings",
        json={"model": "e", "input": "x", "encoding_format": "base64", "dimensions": 4},
    )
    assert status == 200
    vector = struct.unpack("<4f", base64.b64decode(body["data"][0]["embedding"]))
    assert vector == pytest.approx(embed_text("x", 4), abs=1e-6)


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    """The model list names every mode as a sim/ model; any single model can be retrieved."""
    ids = [m.id async for m in client.models.list()]
    assert ids == ["sim/echo", "sim/tools", "sim/json", "sim/lorem", "sim/embed"]
    assert (await client.models.retrieve("sim/echo")).id == "sim/echo"


async def test_rate_limit_with_retry_after(client: openai.AsyncOpenAI) -> None:
    """`status=429` reaches the SDK as RateLimitError with the Retry-After header and OpenAI's error body."""
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model="sim/echo?status=429&retry_after=2", messages=HELLO)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.code == "rate_limit_exceeded"


async def test_server_error_injected_by_header(client: openai.AsyncOpenAI) -> None:
    """An `x-sim-status` header fails just that request with the status."""
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="sim/echo", messages=HELLO, extra_headers={"x-sim-status": "500"}
        )
    assert (await client.chat.completions.create(model="sim/echo", messages=HELLO)).choices


async def test_malformed(client: openai.AsyncOpenAI) -> None:
    """A malformed answer makes the SDK raise, streaming or not."""
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError)):
        await client.chat.completions.create(model="sim/echo?malformed", messages=HELLO)
    stream = await client.chat.completions.create(model="sim/echo?malformed", messages=HELLO, stream=True)
    with pytest.raises(json.JSONDecodeError):
        async for _ in stream:
            pass


async def test_disconnect_mid_stream(client: openai.AsyncOpenAI) -> None:
    """`disconnect_after=N` delivers N chunks, then the SDK raises because the stream was cut."""
    stream = await client.chat.completions.create(
        model="sim/lorem?disconnect_after=3", messages=HELLO, stream=True
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)  # noqa: PERF401 - a comprehension would lose the chunks before the error
    assert len(received) == 3


async def test_disconnect_without_answer(client: openai.AsyncOpenAI) -> None:
    """Not streaming, `disconnect_after` drops the connection without an answer: a connection error."""
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="sim/echo?disconnect_after=0", messages=HELLO)


async def test_hang_times_out(client: openai.AsyncOpenAI) -> None:
    """`hang` never answers, so the client's own timeout fires."""
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=0.2).chat.completions.create(model="sim/echo?hang", messages=HELLO)
    assert time.monotonic() - start < 2


async def test_error_rate_fails_some(client: openai.AsyncOpenAI) -> None:
    """`error_rate` with a seed fails a repeatable share of requests with 500."""
    failures = 0
    for _ in range(20):
        try:
            await client.chat.completions.create(model="sim/echo?error_rate=0.5&seed=1", messages=HELLO)
        except openai.InternalServerError:
            failures += 1
    assert 3 <= failures <= 17


async def test_ttft_delays_the_first_chunk(client: openai.AsyncOpenAI) -> None:
    """`ttft_ms` delays the first content chunk of a stream."""
    start = time.monotonic()
    stream = await client.chat.completions.create(model="sim/echo?ttft_ms=50", messages=HELLO, stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert time.monotonic() - start >= 0.045
    await stream.close()


async def test_bad_json_is_a_400(base_url: str) -> None:
    """A body that is not JSON is answered 400 with OpenAI's error JSON."""
    status, body = await raw("POST", f"{base_url}/chat/completions", data=b"{nope")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_bad_option_is_a_400(client: openai.AsyncOpenAI) -> None:
    """An unknown option in the model name is answered 400, naming it."""
    with pytest.raises(openai.BadRequestError, match="unknown simulator option 'speed'"):
        await client.chat.completions.create(model="sim/echo?speed=9", messages=HELLO)


async def test_health_and_unknown_path(base_url: str) -> None:
    """/health answers ok; an unknown path is a 404 in OpenAI's error shape."""
    root = base_url.removesuffix("/v1")
    assert await raw("GET", f"{root}/health") == (200, {"status": "ok"})
    status, body = await raw("GET", f"{base_url}/nothing")
    assert status == 404 and body["error"]["code"] == "unknown_url"


async def test_recording(client: openai.AsyncOpenAI, base_url: str, log: RequestLog) -> None:
    """Requests are recorded with body and headers, the key's value left out, and can be cleared."""
    await client.chat.completions.create(model="sim/echo", messages=HELLO, extra_headers={"x-trace": "t1"})
    root = base_url.removesuffix("/v1")
    status, records = await raw("GET", f"{root}/sim/requests")
    assert status == 200 and len(records) == 1
    record = records[0]
    assert record["body"]["messages"] == HELLO and record["model"] == "sim/echo" and record["status"] == 200
    assert record["headers"]["x-trace"] == "t1" and "authorization" not in record["headers"]
    assert record["authorization_present"] is True and record["authorization_scheme"] == "Bearer"
    assert "sk-test" not in json.dumps(records)
    assert log.records[0].seq == 1
    assert (await raw("GET", f"{root}/sim/stats"))[1] == {"total": 1, "models": {"sim/echo": 1}}
    assert (await raw("DELETE", f"{root}/sim/requests"))[0] == 204
    assert (await raw("GET", f"{root}/sim/requests"))[1] == []


async def test_record_limit() -> None:
    """Only the last N requests are kept, while counts cover them all."""
    log = RequestLog(limit=2)
    async with (
        running_simulator(log=log) as url,
        openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as client,
    ):
        for text in ("a", "b", "c"):
            await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": text}])
    assert [r.body["messages"][0]["content"] for r in log.records] == ["b", "c"]
    assert log.counts == {"echo": 3}


async def test_api_key_is_checked_when_configured() -> None:
    """With an api key configured, a wrong key is a 401 AuthenticationError and the right one works."""
    async with running_simulator(api_key="sk-right") as url:
        async with openai.AsyncOpenAI(base_url=url, api_key="sk-wrong", max_retries=0) as wrong:
            with pytest.raises(openai.AuthenticationError):
                await wrong.chat.completions.create(model="sim/echo", messages=HELLO)
        async with openai.AsyncOpenAI(base_url=url, api_key="sk-right", max_retries=0) as right:
            assert (await right.chat.completions.create(model="sim/echo", messages=HELLO)).choices
        status, _ = await raw("POST", f"{url}/chat/completions", json={"model": "e", "messages": HELLO})
        assert status == 401
