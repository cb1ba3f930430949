"""The ``openai`` SDK, through Podium, served by Anthropic-, Gemini- and Bedrock-format deployments.

The upstream is ``podium simulate`` speaking each provider's own wire protocol over a real socket;
the caller cannot tell which provider answered. Every call leaves a request record with the usage
the provider reported (Anthropic's cache reads and writes added back into the input) and its cost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.providers.conftest import AWS_KEY_ID, SECRET

PRICE = {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75}
NATIVE = ["claude", "gemini", "nova"]
PROMPT = " ".join(f"word{i}" for i in range(300))  # long enough for cache reads and writes to fit


def native_config(sim_url: str) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 2, "total": 10}
    caps = ["chat", "streaming", "tools", "json_schema", "json_object", "vision"]
    return {
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": f"{sim_url}/v1", "api_key": SECRET},
            "google": {"type": "gemini", "base_url": f"{sim_url}/v1beta", "api_key": SECRET},
            "aws": {
                "type": "bedrock",
                "base_url": sim_url,
                "region": "eu-west-1",
                "aws": {"access_key_id": AWS_KEY_ID, "secret_access_key": SECRET},
            },
            "plain": {"type": "openai-compatible", "base_url": f"{sim_url}/v1", "api_key": SECRET},
        },
        "deployments": {
            "claude": {
                "provider": "anthropic",
                "model": "echo",
                "price": PRICE,
                "capabilities": caps,
                "timeouts": fast,
            },
            "claude-cached": {
                "provider": "anthropic",
                "model": "echo?cached_tokens=40&cache_write_tokens=20",
                "price": PRICE,
                "timeouts": fast,
            },
            "gemini": {
                "provider": "google",
                "model": "echo",
                "price": PRICE,
                "capabilities": caps,
                "timeouts": fast,
            },
            "gemini-cached": {
                "provider": "google",
                "model": "echo?cached_tokens=40",
                "price": PRICE,
                "timeouts": fast,
            },
            "nova": {
                "provider": "aws",
                "model": "amazon.nova-pro-v1:0",
                "price": PRICE,
                "capabilities": caps,
                "timeouts": fast,
            },
            "nova-cached": {
                "provider": "aws",
                "model": "amazon.nova-pro-v1:0?cached_tokens=40&cache_write_tokens=20",
                "price": PRICE,
                "timeouts": fast,
            },
            "control": {"provider": "plain", "model": "echo", "price": PRICE, "timeouts": fast},
        },
        "routes": {"mixed": {"deployments": ["claude"], "fallbacks": ["control"]}},
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[GatewayThread]:
    g = GatewayThread(make_config(native_config(sim_url)), sqlite_url(tmp_path_factory.mktemp("gw"))).start()
    try:
        yield g
    finally:
        g.stop()


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, timeout=15)


def records_of(gw: GatewayThread, deployment: str, count: int = 1) -> list[Any]:
    """The deployment's records, oldest first, once ``count`` of them have been written."""
    deadline = time.monotonic() + 5
    while True:
        found = [r for r in gw.records() if r.deployment == deployment]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def cost(price: dict[str, float], fresh: int, cached: int, written: int, output: int) -> float:
    return (
        fresh * price["input"]
        + cached * price["cached_input"]
        + written * price["cache_write"]
        + output * price["output"]
    ) / 1e6


@pytest.mark.parametrize("model", NATIVE)
def test_chat(gw: GatewayThread, model: str) -> None:
    """A plain chat completion comes back as OpenAI's object, with usage, and is recorded with its cost."""
    with client(gw) as c:
        reply = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello native"}])
    assert reply.choices[0].message.content == "hello native"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    record = records_of(gw, model)[-1]
    assert (record.status, record.input_tokens, record.output_tokens) == (
        200,
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )
    assert record.cost_usd == pytest.approx(cost(PRICE, record.input_tokens, 0, 0, record.output_tokens))


@pytest.mark.parametrize("model", NATIVE)
def test_streaming_with_usage_at_the_end(gw: GatewayThread, model: str) -> None:
    """A stream arrives word by word; its usage, sent by the provider only at the end, is recorded."""
    with client(gw) as c:
        stream = c.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "one two three four five"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "one two three four five"
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) >= 5
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    records = [r for r in records_of(gw, model, 2) if r.streamed]
    assert records[-1].output_tokens == usage.completion_tokens and not records[-1].tokens_estimated
    assert records[-1].cost_usd > 0


@pytest.mark.parametrize("model", NATIVE)
@pytest.mark.parametrize("stream", [False, True])
def test_tools_round_trip(gw: GatewayThread, model: str, stream: bool) -> None:
    """Tool calls come back in OpenAI's shape and their results, sent back, are answered."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "Paris"}]
    with client(gw) as c:
        if stream:
            calls: dict[int, dict[str, str]] = {}
            for ch in c.chat.completions.create(model=model, messages=messages, tools=tools, stream=True):
                for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                    call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] = tc.id or call["id"]
                    call["name"] = (tc.function.name if tc.function else None) or call["name"]
                    call["arguments"] += (tc.function.arguments if tc.function else None) or ""
            (call,) = calls.values()
            call_id, name, arguments = call["id"], call["name"], call["arguments"]
        else:
            reply = c.chat.completions.create(model=model, messages=messages, tools=tools)
            assert reply.choices[0].finish_reason == "tool_calls"
            (tc,) = reply.choices[0].message.tool_calls or []
            call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments  # type: ignore[union-attr]
        assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"}
        messages += [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"celsius": 21}'},
        ]
        answer = c.chat.completions.create(model=model, messages=messages, tools=tools)
    assert "get_weather returned" in (answer.choices[0].message.content or "")


@pytest.mark.parametrize("model", NATIVE)
def test_cache_usage_recorded_and_priced(gw: GatewayThread, model: str) -> None:
    """Cache reads and writes the provider reports are recorded and priced at their own rates."""
    with client(gw) as c:
        control = c.chat.completions.create(model="control", messages=[{"role": "user", "content": PROMPT}])
        for stream in (False, True):
            kwargs: dict[str, Any] = (
                {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
            )
            answer = c.chat.completions.create(
                model=f"{model}-cached", messages=[{"role": "user", "content": PROMPT}], **kwargs
            )
            if stream:
                list(answer)  # type: ignore[call-overload]
    assert control.usage is not None
    records = records_of(gw, f"{model}-cached", 2)[-2:]
    written = 0 if model == "gemini" else 20  # Gemini reports cache reads only
    for record in records:
        # The input the caller sees and the record keeps includes cache reads and writes, as OpenAI's does.
        assert record.input_tokens == control.usage.prompt_tokens
        assert record.cached_tokens == 40
        fresh = record.input_tokens - 40 - written
        assert record.cost_usd == pytest.approx(cost(PRICE, fresh, 40, written, record.output_tokens))
    assert records[-1].streamed and not records[0].streamed


def test_untranslatable_feature_is_refused_by_name(gw: GatewayThread, tmp_path: Path) -> None:
    """A feature the provider cannot express is a 400 naming it and the provider, never dropped."""
    with client(gw) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            c.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "x"}], logprobs=True
            )
        assert "`logprobs`" in exc.value.message and "Anthropic" in exc.value.message
        assert exc.value.code == "unsupported_feature"
        with pytest.raises(openai.BadRequestError) as exc:
            c.chat.completions.create(
                model="gemini",
                messages=[{"role": "user", "content": "x"}],
                extra_body={"logit_bias": {"1": 2}},
            )
        assert "`logit_bias`" in exc.value.message
        with pytest.raises(openai.BadRequestError) as exc:
            c.chat.completions.create(model="nova", messages=[{"role": "user", "content": "x"}], n=2)
        assert "`n`" in exc.value.message and "Bedrock" in exc.value.message


def test_refusal_does_not_fall_back(gw: GatewayThread) -> None:
    """A request refused for a feature the first deployment cannot express is not sent to the fallback."""
    with client(gw) as c, pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model="mixed", messages=[{"role": "user", "content": "x"}], logprobs=True)
    assert "Anthropic" in exc.value.message
    record = next(r for r in reversed(gw.records()) if r.requested_model == "mixed")
    assert record.status == 400 and record.deployment == "claude" and record.attempts == 1
