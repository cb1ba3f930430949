"""The Anthropic Messages API, driven by the official ``anthropic`` SDK over a real socket.

Podium serves it from OpenAI-format deployments: the in-process simulator (``sim/...``) and a
standalone ``podium simulate`` server reached through the OpenAI-compatible adapter.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.gateway.test_upstream import simulator, upstream_config  # noqa: F401 - the fixture
from tests.harness import GatewayThread, make_config, sqlite_url

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def client(gw: GatewayThread, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key or gw.key, max_retries=0, timeout=10)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def raw_post(gw: GatewayThread, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        gw.url + path,
        data=json.dumps(body).encode(),
        headers={"x-api-key": gw.key, "anthropic-version": "2023-06-01", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# --- answers ------------------------------------------------------------------------------------


def test_create_with_system(gateway: GatewayThread) -> None:
    """messages.create answers with a text block, end_turn and usage, and leaves a priced record."""
    with client(gateway) as c:
        raw = c.messages.with_raw_response.create(
            model="sim/echo", max_tokens=100, system="Be brief.", messages=user("Hello, Claude!")
        )
    msg = raw.parse()
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "Hello, Claude!"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn" and msg.role == "assistant" and msg.model == "sim/echo"
    assert msg.id.startswith("msg_") and msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-request-id"].startswith("req_")
    (record,) = gateway.wait_records(1)
    assert record.api == "messages" and record.status == 200 and not record.streamed
    assert (record.input_tokens, record.output_tokens) == (msg.usage.input_tokens, msg.usage.output_tokens)
    assert record.cost_usd == pytest.approx((record.input_tokens * 1.0 + record.output_tokens * 2.0) / 1e6)


def test_system_as_blocks_and_multi_turn(gateway: GatewayThread) -> None:
    """System text blocks and earlier turns are accepted; the answer follows the last user turn."""
    with client(gateway) as c:
        msg = c.messages.create(
            model="sim/echo",
            max_tokens=50,
            system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [{"type": "text", "text": "second turn"}]},
            ],
        )
    assert msg.content[0].text == "second turn"  # type: ignore[union-attr]


def test_stream_text_and_final_message(gateway: GatewayThread) -> None:
    """messages.stream yields the text in pieces and a final message with stop reason and usage."""
    with (
        client(gateway) as c,
        c.messages.stream(model="sim/echo", max_tokens=100, messages=user("one two three four")) as stream,
    ):
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 3 and "".join(pieces) == "one two three four"
    assert final.stop_reason == "end_turn" and final.content[0].text == "one two three four"  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    (record,) = gateway.wait_records(1)
    assert record.streamed and record.api == "messages" and record.output_tokens == final.usage.output_tokens
    assert not record.tokens_estimated and record.cost_usd > 0


def test_stream_event_sequence(gateway: GatewayThread) -> None:
    """The raw stream is message_start, one text block's start/deltas/stop, message_delta, message_stop."""
    with client(gateway) as c:
        events = list(
            c.messages.create(model="sim/echo", max_tokens=100, messages=user("a b c"), stream=True)
        )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    start = events[0]
    assert start.type == "message_start" and start.message.usage.output_tokens == 0
    delta = events[-2]
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0 and delta.usage.input_tokens


def test_tools_round_trip(gateway: GatewayThread) -> None:
    """A tool_use answer, then its tool_result sent back, gives text that uses the result."""
    with client(gateway) as c:
        first = c.messages.create(
            model="sim/tools", max_tokens=100, tools=[WEATHER], messages=user("Weather in Paris?")
        )
        assert first.stop_reason == "tool_use"
        (call,) = [b for b in first.content if b.type == "tool_use"]
        assert call.name == "get_weather" and isinstance(call.input, dict) and "city" in call.input
        second = c.messages.create(
            model="sim/echo",
            max_tokens=100,
            tools=[WEATHER],
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}],
                },
            ],
        )
    assert second.stop_reason == "end_turn"
    assert "get_weather returned: sunny, 21C" in second.content[0].text  # type: ignore[union-attr]


def test_stream_tool_use(gateway: GatewayThread) -> None:
    """A streamed tool call arrives as input_json_delta pieces that add up to the input object."""
    with (
        client(gateway) as c,
        c.messages.stream(
            model="sim/tools",
            max_tokens=100,
            tools=[WEATHER],
            tool_choice={"type": "tool", "name": "get_weather"},
            messages=user("Oslo"),
        ) as stream,
    ):
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    (call,) = final.content
    assert call.type == "tool_use" and call.name == "get_weather" and isinstance(call.input, dict)
    assert final.stop_reason == "tool_use"


def test_image_block(gateway: GatewayThread) -> None:
    """A base64 PNG image block is accepted next to text."""
    with client(gateway) as c:
        msg = c.messages.create(
            model="sim/echo",
            max_tokens=50,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "text", "text": "what is this?"},
                    ],
                }
            ],
        )
    assert msg.content[0].text == "what is this?"  # type: ignore[union-attr]


def test_count_tokens(gateway: GatewayThread) -> None:
    """count_tokens answers a positive estimate that grows with the prompt."""
    with client(gateway) as c:
        short = c.messages.count_tokens(model="sim/echo", messages=user("hi"))
        long = c.messages.count_tokens(
            model="sim/echo", system="sys", messages=user("hi " * 50), tools=[WEATHER]
        )
    assert 0 < short.input_tokens < long.input_tokens


# --- errors, in Anthropic's shape ---------------------------------------------------------------


def test_bad_key_is_authentication_error(gateway: GatewayThread) -> None:
    """An unknown key is a 401 authentication_error."""
    with client(gateway, key="pk-nope") as c, pytest.raises(anthropic.AuthenticationError) as err:
        c.messages.create(model="sim/echo", max_tokens=10, messages=user("x"))
    assert err.value.status_code == 401
    assert err.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_unknown_model_is_not_found(gateway: GatewayThread) -> None:
    """An unknown model is a 404 not_found_error."""
    with client(gateway) as c, pytest.raises(anthropic.NotFoundError) as err:
        c.messages.create(model="no-such-model", max_tokens=10, messages=user("x"))
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_overloaded_upstream_is_529(gateway: GatewayThread) -> None:
    """An overloaded upstream (503/529) reaches an Anthropic client as 529 overloaded_error."""
    with client(gateway) as c, pytest.raises(anthropic.OverloadedError) as err:
        c.messages.create(model="sim/echo?status=529", max_tokens=10, messages=user("x"))
    assert err.value.status_code == 529
    assert err.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    (record,) = gateway.wait_records(1)
    assert record.status == 529 and record.error_class == "upstream_overloaded"


def test_rate_limited_upstream(gateway: GatewayThread) -> None:
    """An upstream 429 is a rate_limit_error with the upstream's Retry-After."""
    with client(gateway) as c, pytest.raises(anthropic.RateLimitError) as err:
        c.messages.create(model="sim/echo?status=429&retry_after=3", max_tokens=10, messages=user("x"))
    assert err.value.response.headers["retry-after"] == "3"


def test_mid_stream_failure_is_error_event(gateway: GatewayThread) -> None:
    """A failure after the stream began arrives as an Anthropic error event, which the SDK raises."""
    with (
        client(gateway) as c,
        pytest.raises(anthropic.APIStatusError) as err,
        c.messages.stream(
            model="sim/echo?disconnect_after=2", max_tokens=50, messages=user("a b c d e f")
        ) as stream,
    ):
        list(stream.text_stream)
    assert "api_error" in str(err.value.body)
    (record,) = gateway.wait_records(1)
    assert record.streamed and record.status == 502 and record.error_class == "upstream_connection_error"


@pytest.mark.parametrize(
    ("body", "needle", "param"),
    [
        ({"model": "sim/echo", "messages": [{"role": "user", "content": "x"}]}, "max_tokens", None),
        (
            {
                "model": "sim/echo",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "video"}]}],
            },
            "'video'",
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "sim/echo",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}],
                    }
                ],
            },
            "toolu_x",
            None,
        ),
        (
            {
                "model": "sim/echo",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/bmp", "data": "AAAA"},
                            }
                        ],
                    }
                ],
            },
            "image/bmp",
            None,
        ),
        (
            {
                "model": "sim/echo",
                "max_tokens": 5,
                "top_k": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            "`top_k`",
            None,
        ),
        (
            {
                "model": "sim/echo",
                "max_tokens": 5,
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                "messages": [{"role": "user", "content": "x"}],
            },
            "web_search_20250305",
            None,
        ),
    ],
    ids=[
        "no-max-tokens",
        "unknown-block",
        "orphan-tool-result",
        "bad-media-type",
        "anthropic-only-field",
        "server-tool",
    ],
)
def test_bad_input_is_invalid_request(
    gateway: GatewayThread, body: dict[str, Any], needle: str, param: str | None
) -> None:
    """Bad or untranslatable input is a 400 invalid_request_error in Anthropic's shape that names it."""
    status, resp = raw_post(gateway, "/v1/messages", body)
    assert status == 400, resp
    assert resp["type"] == "error" and resp["error"]["type"] == "invalid_request_error"
    assert needle in resp["error"]["message"]
    assert resp["request_id"].startswith("req_")


def test_foreign_feature_names_provider(gateway: GatewayThread) -> None:
    """Anthropic's thinking sent to an OpenAI-format provider is refused, naming feature and provider."""
    status, resp = raw_post(
        gateway,
        "/v1/messages",
        {
            "model": "sim/echo",
            "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert status == 400
    assert "`thinking`" in resp["error"]["message"] and "'simulated'" in resp["error"]["message"]


def test_disabled_thinking_is_accepted(gateway: GatewayThread) -> None:
    """thinking {type: disabled} asks for nothing, so any provider serves it."""
    status, resp = raw_post(
        gateway,
        "/v1/messages",
        {
            "model": "sim/echo",
            "max_tokens": 20,
            "thinking": {"type": "disabled"},
            "messages": [{"role": "user", "content": "ok"}],
        },
    )
    assert status == 200 and resp["content"][0]["text"] == "ok"


# --- through an OpenAI-compatible upstream ------------------------------------------------------


@pytest.fixture
def upstream_gw(tmp_path: Path, simulator: str) -> Iterator[GatewayThread]:  # noqa: F811 - the fixture
    g = GatewayThread(make_config(upstream_config(simulator)), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def _sim_requests(base_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/sim/requests", timeout=5) as resp:
        return [r for r in json.loads(resp.read()) if r["path"].endswith("/chat/completions")]


def test_through_openai_upstream(upstream_gw: GatewayThread, simulator: str) -> None:  # noqa: F811
    """Anthropic in, OpenAI Chat Completions out: system, tools and streaming usage all translate."""
    with client(upstream_gw) as c:
        msg = c.messages.create(
            model="up-echo", max_tokens=64, system="Be brief.", messages=user("hello upstream")
        )
        with c.messages.stream(
            model="up-echo", max_tokens=64, messages=user("streamed words here")
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        tool = c.messages.create(
            model="up-echo",
            max_tokens=64,
            tools=[WEATHER],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
            messages=user("Rome"),
        )
    assert msg.content[0].text == "hello upstream" and text == "streamed words here"  # type: ignore[union-attr]
    assert tool.stop_reason == "tool_use" and tool.content[0].type == "tool_use"
    sent = _sim_requests(simulator)[-3:]
    assert sent[0]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent[0]["body"]["max_tokens"] == 64
    assert sent[2]["body"]["tool_choice"] == "required" and sent[2]["body"]["parallel_tool_calls"] is False
    assert sent[2]["body"]["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    records = upstream_gw.wait_records(3)
    streamed = next(r for r in records if r.streamed)
    # The upstream reports usage only in its last chunk; the record has it, not an estimate.
    assert streamed.output_tokens == final.usage.output_tokens > 0 and not streamed.tokens_estimated
    assert all(r.api == "messages" and r.deployment == "up-echo" for r in records)


def test_foreign_feature_refused_by_openai_upstream(upstream_gw: GatewayThread, simulator: str) -> None:  # noqa: F811
    """top_k for an OpenAI-compatible provider is a 400 naming it and the provider; nothing is sent."""
    before = len(_sim_requests(simulator))
    with client(upstream_gw) as c, pytest.raises(anthropic.BadRequestError) as err:
        c.messages.create(model="up-echo", max_tokens=10, messages=user("x"), extra_body={"top_k": 3})
    assert "`top_k`" in err.value.message and "'upstream'" in err.value.message
    assert len(_sim_requests(simulator)) == before


def test_thinking_and_cache_usage_reach_the_sdk() -> None:
    """A provider's reasoning streams as a thinking block with its signature; cache reads are apart."""
    from anthropic.lib.streaming._messages import accumulate_event

    from podium.canonical import Finish, ReasoningDelta, ResponseStart, TextDelta, ToolCallDelta, Usage
    from podium.wire.anthropic_message_events import MessageEncoder

    encoder = MessageEncoder(model="m", message_id="msg_1")
    events = [
        ResponseStart(id="x", model="m", created=1),
        ReasoningDelta(text="let me think"),
        ReasoningDelta(text="", signature="sig"),
        TextDelta(text="calling"),
        ToolCallDelta(call_index=0, id="call_1", name="f"),
        ToolCallDelta(call_index=0, arguments='{"a":'),
        ToolCallDelta(call_index=0, arguments="1}"),
        Finish(reason="tool_calls"),
        Usage(input_tokens=10, output_tokens=5, cached_input_tokens=4),
    ]
    frames = b"".join(f for f in map(encoder.encode, events) if f) + encoder.finish()
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for frame in frames.decode().strip().split("\n\n"):
        data = json.loads(frame.split("\ndata: ", 1)[1])
        if data["type"] != "ping":
            snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=buffers)
    thinking, text, call = snapshot.content
    assert (thinking.type, thinking.thinking, thinking.signature) == ("thinking", "let me think", "sig")
    assert text.text == "calling" and call.input == {"a": 1} and snapshot.stop_reason == "tool_use"
    assert (snapshot.usage.input_tokens, snapshot.usage.cache_read_input_tokens) == (6, 4)
