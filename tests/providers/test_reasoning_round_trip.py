"""Extended thinking with tools, through Podium: the model's thinking goes back to it unchanged.

The official SDKs talk to a GatewayThread whose upstreams are the standalone simulator speaking
Anthropic Messages and Bedrock Converse over a real socket. With thinking on, the simulator signs its
thinking and, like Claude, refuses a continuation whose thinking blocks are missing or altered — so a
gateway that drops or edits them fails here; GET /sim/requests shows exactly what reached it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from podium.simulator.thinking import signature
from tests.harness import GatewayThread, make_config, sqlite_url
from tests.providers.conftest import AWS_KEY_ID, SECRET

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
THINK = {"type": "enabled", "budget_tokens": 1024}


def upstreams(sim_url: str) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 2, "total": 8}
    caps = ["chat", "streaming", "tools"]
    return {
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": f"{sim_url}/v1", "api_key": SECRET},
            "bedrock": {
                "type": "bedrock",
                "base_url": sim_url,
                "region": "us-east-1",
                "aws": {"access_key_id": AWS_KEY_ID, "secret_access_key": SECRET},
            },
            "openai": {"type": "openai-compatible", "base_url": f"{sim_url}/v1", "api_key": SECRET},
            "gemini": {"type": "gemini", "base_url": f"{sim_url}/v1beta", "api_key": SECRET},
        },
        "deployments": {
            # thinks when the caller enables thinking, and adds a redacted block
            "claude": {
                "provider": "anthropic",
                "model": "echo?redacted_thinking=true",
                "capabilities": caps,
                "timeouts": fast,
            },
            "claude-on-bedrock": {
                "provider": "bedrock",
                "model": "echo?thinking=true&redacted_thinking=true",
                "capabilities": caps,
                "timeouts": fast,
            },
            "gpt": {"provider": "openai", "model": "echo", "capabilities": caps, "timeouts": fast},
            "claude-plain": {
                "provider": "anthropic",
                "model": "echo",
                "capabilities": caps,
                "timeouts": fast,
            },
            # a thinking Gemini: its thoughtSignature must come back on the turn's first function call
            "gemini": {
                "provider": "gemini",
                "model": "echo?thinking=true",
                "capabilities": caps,
                "timeouts": fast,
            },
        },
    }


@pytest.fixture
def gw(tmp_path: Path, sim_url: str) -> Iterator[GatewayThread]:
    g = GatewayThread(make_config(upstreams(sim_url)), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def sim_requests(sim_url: str, path_part: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(sim_url + "/sim/requests", timeout=5) as resp:
        return [r for r in json.loads(resp.read()) if path_part in r["path"]]


def continuation(first: Any, result: str = "sunny, 21C") -> list[dict[str, Any]]:
    """The history Claude's docs prescribe: the assistant turn exactly as received, then the result."""
    call = next(b for b in first.content if b.type == "tool_use")
    return [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": result}],
        },
    ]


def ask(c: anthropic.Anthropic, model: str, stream: bool, **kwargs: Any) -> Any:
    kwargs = {"model": model, "max_tokens": 300, "tools": [WEATHER], **kwargs}
    if stream:
        with c.messages.stream(**kwargs) as s:
            return s.get_final_message()
    return c.messages.create(**kwargs)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_anthropic_thinking_goes_back_verbatim(gw: GatewayThread, sim_url: str, stream: bool) -> None:
    """Thinking (with its real signature) and redacted thinking reach the caller and go back upstream unchanged."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = ask(c, "claude", stream, messages=question, thinking=THINK)
    assert [b.type for b in first.content] == ["thinking", "redacted_thinking", "tool_use"]
    thinking, redacted, _ = first.content
    assert thinking.signature == signature(thinking.thinking)  # the simulator's own, not ""
    assert redacted.data
    second = ask(c, "claude", stream, messages=continuation(first), thinking=THINK)
    assert second.content[-1].type == "text" and "sunny, 21C" in second.content[-1].text
    sent = sim_requests(sim_url, "/v1/messages")[-1]["body"]["messages"][1]["content"]
    assert sent[:2] == [
        {"type": "thinking", "thinking": thinking.thinking, "signature": thinking.signature},
        {"type": "redacted_thinking", "data": redacted.data},
    ]
    assert sent[2]["type"] == "tool_use"


def test_anthropic_refuses_what_podium_must_not_do(gw: GatewayThread) -> None:
    """The upstream's check is live: an edited signature or a dropped thinking block is a 400."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.messages.create(
        model="claude", max_tokens=300, tools=[WEATHER], messages=question, thinking=THINK
    )
    edited = continuation(first)
    edited[1]["content"][0]["signature"] = signature("something else")
    with pytest.raises(anthropic.BadRequestError) as err:
        c.messages.create(model="claude", max_tokens=300, tools=[WEATHER], messages=edited, thinking=THINK)
    assert "Invalid `signature`" in err.value.message
    dropped = continuation(first)
    dropped[1]["content"] = [b for b in dropped[1]["content"] if b["type"] == "tool_use"]
    with pytest.raises(anthropic.BadRequestError) as err:
        c.messages.create(model="claude", max_tokens=300, tools=[WEATHER], messages=dropped, thinking=THINK)
    assert "must start with a thinking block" in err.value.message


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_bedrock_reasoning_content_goes_back_verbatim(gw: GatewayThread, sim_url: str, stream: bool) -> None:
    """Claude on Bedrock: its reasoningContent comes back as thinking blocks and returns as reasoningContent."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = ask(c, "claude-on-bedrock", stream, messages=question)
    assert [b.type for b in first.content] == ["thinking", "redacted_thinking", "tool_use"]
    thinking, redacted, _ = first.content
    assert thinking.signature == signature(thinking.thinking)
    second = ask(c, "claude-on-bedrock", stream, messages=continuation(first))
    assert "sunny, 21C" in second.content[-1].text
    sent = sim_requests(sim_url, "/model/")[-1]["body"]["messages"][1]["content"]
    assert sent[:2] == [
        {"reasoningContent": {"reasoningText": {"text": thinking.thinking, "signature": thinking.signature}}},
        {"reasoningContent": {"redactedContent": redacted.data}},
    ]


def test_responses_continuation_keeps_the_thinking(gw: GatewayThread) -> None:
    """previous_response_id continues a Bedrock Claude tool call: the stored turn still carries its thinking."""
    c = gw.openai()
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["input_schema"]}
    first = c.responses.create(model="claude-on-bedrock", input="What is the weather in Paris?", tools=[tool])
    call = next(item for item in first.output if item.type == "function_call")
    second = c.responses.create(
        model="claude-on-bedrock",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}],
        tools=[tool],
    )
    assert "sunny, 21C" in second.output_text


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_thought_signature_goes_back_on_the_function_call(
    gw: GatewayThread, sim_url: str, stream: bool
) -> None:
    """Gemini's thoughtSignature reaches the caller as a signed thinking block and goes back on the
    turn's first function call; without it, Gemini refuses the call."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = ask(c, "gemini", stream, messages=question)
    thinking = next(b for b in first.content if b.type == "thinking")
    assert thinking.signature.startswith("gemini:")
    signed = sim_requests(sim_url, ":")  # the Gemini paths: models/echo?…:generateContent
    second = ask(c, "gemini", stream, messages=continuation(first))
    assert "sunny, 21C" in next(b.text for b in second.content if b.type == "text")
    sent = sim_requests(sim_url, ":")[len(signed)]["body"]["contents"]
    model_turn = next(t for t in sent if t["role"] == "model")
    call = next(p for p in model_turn["parts"] if "functionCall" in p)
    assert call["thoughtSignature"] == thinking.signature.removeprefix("gemini:")
    dropped = continuation(first)
    dropped[1]["content"] = [b for b in dropped[1]["content"] if b["type"] == "tool_use"]
    with pytest.raises(anthropic.BadRequestError) as err:
        ask(c, "gemini", False, messages=dropped)
    assert "missing a `thought_signature`" in err.value.message


def test_gemini_signature_never_reaches_claude(gw: GatewayThread, sim_url: str) -> None:
    """A conversation that moves from Gemini to Claude leaves Gemini's signature out: Claude would refuse it."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.messages.create(model="gemini", max_tokens=300, tools=[WEATHER], messages=question)
    second = c.messages.create(
        model="claude-plain", max_tokens=300, tools=[WEATHER], messages=continuation(first)
    )
    assert "sunny, 21C" in second.content[-1].text
    sent = sim_requests(sim_url, "/v1/messages")[-1]["body"]["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["tool_use"]


def _chat_first_turn(c: Any, stream: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask through Chat Completions; the assistant turn to send back, and its thinking_blocks."""
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}
    kwargs: Any = {
        "model": "claude",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [tool],
    }
    if not stream:
        message = c.chat.completions.create(**kwargs).choices[0].message
        blocks = (message.model_extra or {}).get("thinking_blocks") or []
        return {"role": "assistant", "tool_calls": [t.model_dump() for t in message.tool_calls]}, blocks
    blocks, calls = [], {}
    for chunk in c.chat.completions.create(**kwargs, stream=True):
        for choice in chunk.choices:
            blocks += (choice.delta.model_extra or {}).get("thinking_blocks") or []
            for t in choice.delta.tool_calls or ():
                call = calls.setdefault(
                    t.index, {"id": t.id, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["function"]["name"] += t.function.name or ""
                call["function"]["arguments"] += t.function.arguments or ""
    return {"role": "assistant", "tool_calls": list(calls.values())}, blocks


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_chat_completions_callers_send_thinking_blocks_back(
    gw: GatewayThread, sim_url: str, stream: bool
) -> None:
    """Chat Completions callers get Claude's signed thinking as `thinking_blocks` and, sending them back on the
    assistant turn, continue a tool call that Claude would otherwise refuse."""
    c = gw.openai()
    turn, blocks = _chat_first_turn(c, stream)
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking"]
    assert blocks[0]["signature"] == signature(blocks[0]["thinking"])
    result = {"role": "tool", "tool_call_id": turn["tool_calls"][0]["id"], "content": "sunny, 21C"}
    question: Any = {"role": "user", "content": "What is the weather in Paris?"}
    second = c.chat.completions.create(
        model="claude", messages=[question, {**turn, "thinking_blocks": blocks}, result]
    )
    assert "sunny, 21C" in (second.choices[0].message.content or "")
    sent = sim_requests(sim_url, "/v1/messages")[-1]["body"]["messages"][1]["content"]
    assert sent[:2] == [
        {"type": "thinking", "thinking": blocks[0]["thinking"], "signature": blocks[0]["signature"]},
        {"type": "redacted_thinking", "data": blocks[1]["data"]},
    ]
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(model="claude", messages=[question, turn, result])
    assert "must start with a thinking block" in err.value.message


def test_openai_upstream_gets_no_reasoning(gw: GatewayThread, sim_url: str) -> None:
    """Chat Completions takes no earlier reasoning back: the thinking blocks are left out, the turn kept."""
    c = gw.anthropic()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.messages.create(
        model="claude", max_tokens=300, tools=[WEATHER], messages=question, thinking=THINK
    )
    second = c.messages.create(model="gpt", max_tokens=300, tools=[WEATHER], messages=continuation(first))
    assert "sunny, 21C" in second.content[-1].text
    sent = sim_requests(sim_url, "/chat/completions")[-1]["body"]["messages"]
    assistant = next(m for m in sent if m["role"] == "assistant")
    assert set(assistant) <= {"role", "content", "tool_calls"}
    assert thinking_free(sent)


def thinking_free(value: Any) -> bool:
    text = json.dumps(value)
    return "signature" not in text and "thinking" not in text and "redacted" not in text


def test_cached_answer_keeps_signatures(tmp_path: Path, sim_url: str) -> None:
    """An answer replayed from the exact cache carries the same signed and redacted thinking, and continues."""
    g = GatewayThread(make_config({**upstreams(sim_url), "cache": {"exact": True}}), sqlite_url(tmp_path))
    g.start()
    try:
        c = g.anthropic()
        question = [{"role": "user", "content": "What is the weather in Paris?"}]
        kwargs: dict[str, Any] = {
            "model": "claude-on-bedrock",
            "tools": [WEATHER],
            "extra_body": {"temperature": 0},
        }
        fresh = ask(c, stream=False, messages=question, **kwargs)
        g.run(g.gateway.state.flush)
        raw = c.messages.with_raw_response.create(max_tokens=300, messages=question, **kwargs)
        assert raw.headers["x-podium-cache"] == "hit"
        cached = raw.parse()
        assert [b.model_dump() for b in cached.content[:2]] == [b.model_dump() for b in fresh.content[:2]]
        second = ask(c, "claude-on-bedrock", False, messages=continuation(cached))
        assert "sunny, 21C" in second.content[-1].text
    finally:
        g.stop()
