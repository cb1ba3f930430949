"""The OpenAI Responses API, driven by the official ``openai`` SDK over a real socket.

Podium serves it from OpenAI Chat Completions deployments: the in-process simulator (``sim/...``)
and a standalone ``podium simulate`` server reached through the OpenAI-compatible adapter.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway.test_upstream import simulator, upstream_config  # noqa: F401 - the fixture
from tests.harness import GatewayThread, make_config, sqlite_url

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def client(gw: GatewayThread, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key or gw.key, max_retries=0, timeout=10)


def test_create_plain(gateway: GatewayThread) -> None:
    """responses.create answers a message item with output_text and usage, and leaves a priced record."""
    with client(gateway) as c:
        raw = c.responses.with_raw_response.create(model="sim/echo", input="Hello, Responses!")
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text == "Hello, Responses!" and r.model == "sim/echo"
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant" and item.status == "completed"
    assert r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    (record,) = gateway.wait_records(1)
    assert record.api == "responses" and record.status == 200 and record.id == raw.headers["x-request-id"]
    assert (record.input_tokens, record.output_tokens) == (r.usage.input_tokens, r.usage.output_tokens)
    assert record.cost_usd == pytest.approx((record.input_tokens * 1.0 + record.output_tokens * 2.0) / 1e6)


def test_instructions_and_items(gateway: GatewayThread) -> None:
    """instructions and message items with input_text parts are accepted; the last user turn is answered."""
    with client(gateway) as c:
        r = c.responses.create(
            model="sim/echo",
            instructions="Be terse.",
            input=[
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
            ],
            temperature=0.2,
            max_output_tokens=50,
        )
    assert r.output_text == "second" and r.instructions == "Be terse." and r.temperature == 0.2


def test_streaming_events(gateway: GatewayThread) -> None:
    """A streamed response is created, in_progress, one text item's events, then completed with usage."""
    with client(gateway) as c:
        events = list(c.responses.create(model="sim/echo", input="one two three", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3 and "".join(deltas) == "one two three"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1]
    assert done.type == "response.completed" and done.response.output_text == "one two three"
    assert done.response.usage is not None and done.response.usage.output_tokens > 0
    (record,) = gateway.wait_records(1)
    assert (
        record.streamed
        and record.api == "responses"
        and record.output_tokens == done.response.usage.output_tokens
    )


def test_stream_helper_final_response(gateway: GatewayThread) -> None:
    """The SDK's responses.stream helper assembles the same final response."""
    with client(gateway) as c, c.responses.stream(model="sim/echo", input="helper text") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "helper text" and final.output_text == "helper text"


def test_function_tools_round_trip(gateway: GatewayThread) -> None:
    """A function_call, answered with function_call_output on previous_response_id, gives text using it."""
    with client(gateway) as c:
        first = c.responses.create(model="sim/tools", input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
        (call,) = first.output
        assert call.type == "function_call" and call.name == "get_weather"
        assert json.loads(call.arguments)["city"]
        second = c.responses.create(
            model="sim/echo",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}],
            tools=[WEATHER],  # type: ignore[list-item]
        )
    assert "get_weather returned: sunny, 21C" in second.output_text
    assert second.previous_response_id == first.id


def test_function_call_streaming(gateway: GatewayThread) -> None:
    """A streamed function call arrives as argument deltas that add up to the done event's arguments."""
    with client(gateway) as c:
        events = list(c.responses.create(model="sim/tools", input="Oslo", tools=[WEATHER], stream=True))  # type: ignore[list-item]
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert deltas == done.arguments and json.loads(done.arguments)
    final = events[-1]
    assert final.type == "response.completed" and final.response.output[0].type == "function_call"


def test_stateless_history_with_function_call_items(gateway: GatewayThread) -> None:
    """Without storage, the caller can send the whole history: function_call then its output."""
    with client(gateway) as c:
        r = c.responses.create(
            model="sim/echo",
            store=False,
            input=[
                {"role": "user", "content": "Weather?"},
                {
                    "type": "function_call",
                    "call_id": "call_1",
                    "name": "get_weather",
                    "arguments": '{"city":"Rome"}',
                },
                {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
            ],
        )
    assert r.output_text == "get_weather returned: rain"


def test_json_schema_format(gateway: GatewayThread) -> None:
    """text.format json_schema gives output_text that is JSON of that schema."""
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    with client(gateway) as c:
        r = c.responses.create(
            model="sim/echo",
            input="structured please",
            text={"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}},
        )
    assert isinstance(json.loads(r.output_text)["answer"], str)


def test_retrieve_and_delete(gateway: GatewayThread) -> None:
    """A stored response can be fetched by id and deleted; afterwards it is 404."""
    with client(gateway) as c:
        r = c.responses.create(model="sim/echo", input="keep me")
        got = c.responses.retrieve(r.id)
        assert got.id == r.id and got.output_text == "keep me"
        c.responses.delete(r.id)
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(r.id)


def test_store_false_cannot_be_continued(gateway: GatewayThread) -> None:
    """A response made with store=false is not kept: continuing it is a 404."""
    with client(gateway) as c:
        r = c.responses.create(model="sim/echo", input="forget me", store=False)
        with pytest.raises(openai.NotFoundError) as err:
            c.responses.create(model="sim/echo", input="again", previous_response_id=r.id)
    assert err.value.code == "previous_response_not_found"


def test_other_tenant_cannot_continue(gateway: GatewayThread) -> None:
    """A key of another tenant gets 404 for a response it did not make, by continuation or by id."""
    other = gateway.new_key(tenant="other-tenant")
    with client(gateway) as c:
        r = c.responses.create(model="sim/echo", input="tenant secret")
    with client(gateway, key=other) as c:
        with pytest.raises(openai.NotFoundError):
            c.responses.create(model="sim/echo", input="x", previous_response_id=r.id)
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(r.id)


def test_continuation_survives_restart(tmp_path: Path) -> None:
    """A stored response is written to storage: a restarted server continues it."""
    url = sqlite_url(tmp_path)
    first = GatewayThread(make_config(), url).start()
    try:
        with client(first) as c:
            r = c.responses.create(model="sim/echo", input="remember across restarts")
        key = first.key
    finally:
        first.stop()
    second = GatewayThread(make_config(), url).start()
    try:
        with client(second, key=key) as c:
            assert c.responses.retrieve(r.id).output_text == "remember across restarts"
            follow = c.responses.create(model="sim/echo", input="next", previous_response_id=r.id)
        assert follow.output_text == "next"
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"tools": [{"type": "web_search"}]}, "web_search"),
        ({"background": True}, "background"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"truncation": "auto"}, "truncation"),
        ({"extra_body": {"made_up_field": 1}}, "made_up_field"),
        ({"input": [{"type": "function_call_output", "call_id": "call_zz", "output": "x"}]}, "call_zz"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "item_reference"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_image",
                                "image_url": "data:image/bmp;base64,AAAA",
                                "detail": "auto",
                            }
                        ],
                    }
                ]
            },
            "image/bmp",
        ),
    ],
    ids=[
        "builtin-tool",
        "background",
        "include",
        "truncation",
        "unknown-field",
        "orphan-output",
        "item-ref",
        "bad-image",
    ],
)
def test_unsupported_or_bad_input(gateway: GatewayThread, kwargs: dict[str, Any], needle: str) -> None:
    """Features Podium cannot translate, and bad input, are 400s in OpenAI's shape that name them."""
    args: dict[str, Any] = {"model": "sim/echo", "input": "x", **kwargs}
    with client(gateway) as c, pytest.raises(openai.BadRequestError) as err:
        c.responses.create(**args)
    assert needle in err.value.message
    assert err.value.type == "invalid_request_error"


def test_mid_stream_failure(gateway: GatewayThread) -> None:
    """A failure after the stream began is an error event then response.failed, and is recorded."""
    with client(gateway) as c:
        events = list(
            c.responses.create(model="sim/echo?disconnect_after=2", input="a b c d e f", stream=True)
        )
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.status == "failed"  # type: ignore[union-attr]
    (record,) = gateway.wait_records(1)
    assert record.status == 502 and record.error_class == "upstream_connection_error"


def test_upstream_error_before_stream(gateway: GatewayThread) -> None:
    """An upstream failure before any output is an OpenAI-shaped error with the right status."""
    with client(gateway) as c, pytest.raises(openai.RateLimitError):
        c.responses.create(model="sim/echo?status=429", input="x")


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


def test_previous_response_through_openai_upstream(upstream_gw: GatewayThread, simulator: str) -> None:  # noqa: F811
    """A continuation sends the stored turns upstream; the old instructions are not carried over."""
    with client(upstream_gw) as c:
        first = c.responses.create(model="up-echo", instructions="Old rules.", input="first question")
        second = c.responses.create(
            model="up-echo", instructions="New rules.", input="second question", previous_response_id=first.id
        )
        streamed = list(
            c.responses.create(model="up-echo", input="stream me", stream=True, reasoning={"effort": "low"})
        )
    assert second.output_text == "second question"
    sent = _sim_requests(simulator)[-3:]
    assert sent[1]["body"]["messages"] == [
        {"role": "system", "content": "New rules."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first question"},
        {"role": "user", "content": "second question"},
    ]
    assert sent[2]["body"]["reasoning_effort"] == "low"
    completed = streamed[-1]
    assert completed.type == "response.completed" and completed.response.usage is not None
    records = upstream_gw.wait_records(3)
    stream_record = next(r for r in records if r.streamed)
    # Usage arrives only in the upstream's last chunk: the record still has it, not an estimate.
    assert stream_record.output_tokens == completed.response.usage.output_tokens > 0
    assert not stream_record.tokens_estimated and stream_record.cost_usd >= 0
