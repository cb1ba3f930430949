"""``GET /v1/responses/{id}/input_items``, driven by the official ``openai`` SDK over a real socket."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread

# A 1x1 PNG as a data: URL.
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def chain(c: openai.OpenAI) -> tuple[Any, Any]:
    """Two stored responses: an image question, then a continuation of it."""
    first = c.responses.create(
        model="sim/echo",
        instructions="Be terse.",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {"type": "input_image", "image_url": PNG, "detail": "low"},
                ],
            }
        ],
    )
    second = c.responses.create(model="sim/echo", input="and then?", previous_response_id=first.id)
    return first, second


def test_lists_the_whole_context_latest_first(gateway: GatewayThread) -> None:
    """A continuation's input items are every earlier turn and its own input, latest first by default."""
    c = gateway.openai()
    first, second = chain(c)
    raw = c.responses.input_items.with_raw_response.list(second.id)
    page = json.loads(raw.text)
    assert page["object"] == "list" and page["has_more"] is False
    newest, answer, question = page["data"]
    assert (page["first_id"], page["last_id"]) == (newest["id"], question["id"])
    assert newest["type"] == "message" and newest["role"] == "user"
    assert newest["content"] == [{"type": "input_text", "text": "and then?"}]
    assert answer["role"] == "assistant" and answer["content"][0]["type"] == "output_text"
    assert answer["content"][0]["text"] == first.output_text == "what is this"
    assert question["content"][0] == {"type": "input_text", "text": "what is this"}
    assert question["content"][1]["type"] == "input_image" and question["content"][1]["image_url"] is None
    items = list(c.responses.input_items.list(second.id))  # parsed by the SDK's own item types
    assert [i.id for i in items] == [newest["id"], answer["id"], question["id"]]
    assert [i.type for i in items] == ["message"] * 3  # instructions are not an input item
    (only,) = c.responses.input_items.list(first.id).data  # the first response's input alone
    assert only.type == "message" and only.content[0].text == "what is this"  # type: ignore[union-attr]


def test_cursor_pagination_and_order(gateway: GatewayThread) -> None:
    """limit pages the list, after continues it, and the SDK's auto-pagination walks it in either order."""
    c = gateway.openai()
    _, second = chain(c)
    everything = [i.id for i in c.responses.input_items.list(second.id, order="asc")]
    assert len(everything) == 3 and len(set(everything)) == 3
    page = c.responses.input_items.list(second.id, order="asc", limit=2)
    assert [i.id for i in page.data] == everything[:2] and page.has_more is True
    rest = c.responses.input_items.list(second.id, order="asc", limit=2, after=everything[1])
    assert [i.id for i in rest.data] == everything[2:] and rest.has_more is False
    assert [i.id for i in c.responses.input_items.list(second.id, order="asc", limit=1)] == everything
    assert [i.id for i in c.responses.input_items.list(second.id, order="desc", limit=1)] == everything[::-1]


def test_include_image_urls(gateway: GatewayThread) -> None:
    """include=message.input_image.image_url adds the input images' URLs, which are left out otherwise."""
    c = gateway.openai()
    first, _ = chain(c)
    (item,) = c.responses.input_items.list(first.id, include=["message.input_image.image_url"])
    image = item.content[1]  # type: ignore[union-attr]
    assert image.type == "input_image" and image.image_url == PNG and image.detail == "low"


def test_function_call_items(gateway: GatewayThread) -> None:
    """Function calls and their outputs in the input are listed as function_call / function_call_output items."""
    c = gateway.openai()
    r = c.responses.create(
        model="sim/echo",
        input=[
            {"role": "user", "content": "weather?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "rain"},
        ],
    )
    user, call, output = c.responses.input_items.list(r.id, order="asc")
    assert user.type == "message"
    assert (call.type, call.call_id, call.name, call.arguments) == (  # type: ignore[union-attr]
        "function_call",
        "call_1",
        "get_weather",
        '{"city":"Oslo"}',
    )
    assert (output.type, output.call_id, output.output) == ("function_call_output", "call_1", "rain")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"include": ["message.everything"]}, "include"),
        ({"after": "msg_nowhere"}, "after"),
    ],
)
def test_bad_parameters(gateway: GatewayThread, params: dict[str, Any], param: str) -> None:
    """A bad list parameter is a 400 in OpenAI's shape that names it."""
    c = gateway.openai()
    r = c.responses.create(model="sim/echo", input="x")
    with pytest.raises(openai.BadRequestError) as err:
        c.responses.input_items.list(r.id, **params)
    assert err.value.param == param


def test_scoped_to_the_tenant_and_gone_after_delete(gateway: GatewayThread) -> None:
    """Another tenant's key gets 404, as for an unknown id; a deleted response has no items any more."""
    c = gateway.openai()
    r = c.responses.create(model="sim/echo", input="tenant secret")
    other = gateway.openai(key=gateway.new_key(tenant="other-tenant"))
    with pytest.raises(openai.NotFoundError) as err:
        other.responses.input_items.list(r.id)
    assert err.value.code == "response_not_found"
    assert c.responses.delete(r.id) is None
    with pytest.raises(openai.NotFoundError):
        c.responses.input_items.list(r.id)
