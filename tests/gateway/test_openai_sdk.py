"""The OpenAI-compatible data plane, driven by the official ``openai`` SDK over a real socket."""

from __future__ import annotations

import json
from typing import Literal

import openai
import pytest
from pydantic import BaseModel

from tests.harness import GatewayThread


def client(gw: GatewayThread, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key or gw.key, max_retries=0, timeout=10)


def aclient(gw: GatewayThread, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key or gw.key, max_retries=0, timeout=10)


def test_chat_echo_sync(gateway: GatewayThread) -> None:
    """A chat completion through sim/echo answers with the user's text and reports usage."""
    with client(gateway) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="sim/echo", messages=[{"role": "user", "content": "Hello, Podium!"}]
        )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello, Podium!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "sim/echo"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert raw.headers["x-request-id"].startswith("req_")
    assert float(raw.headers["x-podium-overhead-ms"]) >= 0


async def test_chat_echo_async(gateway: GatewayThread) -> None:
    """The async client gets the same answer as the sync one."""
    async with aclient(gateway) as c:
        reply = await c.chat.completions.create(
            model="sim/echo",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "async hi"}],
        )
    assert reply.choices[0].message.content == "async hi"


def test_streaming_with_usage(gateway: GatewayThread) -> None:
    """A streamed chat arrives in several chunks that add up to the answer, then one usage chunk."""
    with client(gateway) as c:
        stream = c.chat.completions.create(
            model="sim/echo",
            messages=[{"role": "user", "content": "one two three four five"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "one two three four five"
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) >= 3
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == [
        "stop"
    ]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_streaming_without_usage_still_accounted(gateway: GatewayThread) -> None:
    """A stream that did not ask for usage shows no usage chunk, yet its record has tokens and cost."""
    with client(gateway) as c:
        chunks = list(
            c.chat.completions.create(
                model="sim/echo", messages=[{"role": "user", "content": "count me please"}], stream=True
            )
        )
    assert all(ch.usage is None for ch in chunks)
    (record,) = gateway.wait_records(1)
    assert record.streamed and record.status == 200
    assert record.input_tokens > 0 and record.output_tokens > 0 and not record.tokens_estimated
    expected = (record.input_tokens * 1.0 + record.output_tokens * 2.0) / 1e6
    assert record.cost_usd == pytest.approx(expected)


def test_tool_call_round_trip(gateway: GatewayThread) -> None:
    """The model calls the given tool with schema-valid arguments, and answers from the tool's result."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string"},
                        "unit": {"type": "string", "enum": ["c", "f"]},
                    },
                    "required": ["city", "unit"],
                },
            },
        }
    ]
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    with client(gateway) as c:
        first = c.chat.completions.create(model="sim/echo", messages=messages, tools=tools)  # type: ignore[arg-type]
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls or []
        assert call.function.name == "get_weather"
        args = json.loads(call.function.arguments)
        assert isinstance(args["city"], str) and args["unit"] in ("c", "f")
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"})
        second = c.chat.completions.create(model="sim/echo", messages=messages, tools=tools)  # type: ignore[arg-type]
    assert "18 degrees and sunny" in (second.choices[0].message.content or "")


def test_parallel_tool_calls_streamed(gateway: GatewayThread) -> None:
    """sim/tools streams one call per tool, and the pieces reassemble into valid JSON arguments."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": n,
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
        for n in ("search", "lookup")
    ]
    with client(gateway) as c:
        chunks = list(
            c.chat.completions.create(
                model="sim/tools",
                messages=[{"role": "user", "content": "find it"}],
                tools=tools,
                stream=True,  # type: ignore[arg-type]
            )
        )
    calls: dict[int, dict[str, str]] = {}
    for ch in chunks:
        for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
            entry = calls.setdefault(tc.index, {"name": "", "args": ""})
            if tc.function and tc.function.name:
                entry["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                entry["args"] += tc.function.arguments
    assert sorted(c["name"] for c in calls.values()) == ["lookup", "search"]
    assert all(isinstance(json.loads(c["args"])["q"], str) for c in calls.values())


class Clause(BaseModel):
    title: str
    risk: Literal["low", "medium", "high"]
    amount: float | None


class Contract(BaseModel):
    parties: list[str]
    clauses: list[Clause]
    signed: bool


def test_structured_output_parse(gateway: GatewayThread) -> None:
    """``parse`` with a Pydantic model gets JSON that validates against it."""
    with client(gateway) as c:
        parse = getattr(c.beta.chat.completions, "parse", None) or c.chat.completions.parse
        completion = parse(
            model="sim/echo",
            messages=[{"role": "user", "content": "Extract the contract"}],
            response_format=Contract,
        )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Contract)


def test_embeddings_float_and_base64(gateway: GatewayThread) -> None:
    """Embeddings come back in input order, as floats or base64, identical either way."""
    with client(gateway) as c:
        as_b64 = c.embeddings.create(model="sim/embed", input=["alpha beta", "gamma"])  # SDK asks base64
        as_float = c.embeddings.create(
            model="sim/embed", input=["alpha beta", "gamma"], encoding_format="float"
        )
    assert [d.index for d in as_b64.data] == [0, 1]
    assert len(as_b64.data[0].embedding) == 256
    for a, b in zip(as_b64.data, as_float.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    assert as_float.usage.prompt_tokens > 0


def test_models_list_respects_key(gateway: GatewayThread) -> None:
    """models.list shows what the key may use, and nothing else."""
    with client(gateway) as c:
        all_ids = {m.id for m in c.models.list()}
    assert "sim/echo" in all_ids and "sim/tools" in all_ids
    narrow = gateway.new_key(models=["sim/echo"])
    with client(gateway, narrow) as c:
        assert {m.id for m in c.models.list()} == {"sim/echo"}
        assert c.models.retrieve("sim/echo").id == "sim/echo"


def test_one_record_per_request_with_cost(gateway: GatewayThread) -> None:
    """Each call leaves exactly one record, with the deployment, tokens and cost of the call."""
    with client(gateway) as c:
        for i in range(3):
            c.chat.completions.create(model="sim/echo", messages=[{"role": "user", "content": f"n{i}"}])
    records = gateway.wait_records(3)
    assert len(records) == 3
    assert len({r.id for r in records}) == 3
    for r in records:
        assert r.deployment == "sim/*" and r.upstream_model == "echo" and r.status == 200 and not r.streamed
        assert r.cost_usd > 0 and r.latency_ms > 0 and r.attempts == 1


def test_missing_upstream_usage_is_counted_locally(gateway: GatewayThread) -> None:
    """When the upstream reports no usage, the record carries locally counted tokens, marked estimated."""
    with client(gateway) as c:
        reply = c.chat.completions.create(
            model="sim/echo?usage=false", messages=[{"role": "user", "content": "count these few words"}]
        )
        list(
            c.chat.completions.create(
                model="sim/echo?usage=false", messages=[{"role": "user", "content": "and these"}], stream=True
            )
        )
    assert reply.usage is None
    records = gateway.wait_records(2)
    assert len(records) == 2
    for r in records:
        assert r.tokens_estimated and r.input_tokens > 0 and r.output_tokens > 0
    plain = next(r for r in records if not r.streamed)
    # "count these few words" is 4 tokens in o200k; the prompt adds OpenAI's per-message overhead
    assert plain.output_tokens == 4 and plain.input_tokens >= 4


def test_first_stream_event_is_not_held_back(gateway: GatewayThread) -> None:
    """A stream's first event (the assistant role) reaches the caller as soon as the upstream begins, before any text."""
    import time

    with client(gateway) as c:
        t0 = time.monotonic()
        stream = c.chat.completions.create(
            model="sim/echo?ttft_ms=1500", messages=[{"role": "user", "content": "late text"}], stream=True
        )
        first = next(iter(stream))
        first_at = time.monotonic() - t0
        rest = list(stream)
        done_at = time.monotonic() - t0
    assert first.choices[0].delta.role == "assistant" and not first.choices[0].delta.content
    assert first_at < 1.0 < done_at
    assert "".join(ch.choices[0].delta.content or "" for ch in rest if ch.choices) == "late text"
