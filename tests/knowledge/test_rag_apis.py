"""Grounded answers on every inbound API: Anthropic Messages and OpenAI Responses return the citations
extension like Chat Completions (whole answers and streams, through the official SDKs), and retrieved
passages go through the key's input guardrails before the model sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.knowledge.client import KbClient

pytestmark = pytest.mark.slow

EMAIL = "jane.roe@example.com"
POLICIES = {
    "redacting": {"input": [{"type": "pii", "entities": ["EMAIL"], "action": "redact"}]},
    "blocking": {"input": [{"type": "pii", "entities": ["EMAIL"], "action": "block"}]},
}
TRAVEL = "How much does the company reimburse for a hotel night?"
PAYROLL = "Whom do I ask about my payslip?"


def rag(**fields: Any) -> dict[str, Any]:
    return {"podium": {"rag": {"knowledge_bases": ["handbook"], "k": 2, **fields}}}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = make_config(
        {"guardrails": {"policies": POLICIES, "keys": {"redacted": "redacting", "blocked": "blocking"}}}
    )
    server = GatewayThread(config, sqlite_url(tmp_path_factory.mktemp("rag-apis"))).start()
    try:
        api = KbClient(server.url, server.admin_key)
        assert api.create("handbook").status == 201
        added = api.add(
            "handbook",
            {
                "source": "travel.md",
                "text": "# Travel\n\nHotel nights are reimbursed up to 180 euros per night in every city.",
            },
            {
                "source": "payroll.md",
                "text": f"# Payroll\n\nQuestions about payslips and salaries go to Jane Roe, {EMAIL}.",
            },
        )
        assert added.status == 201, added.body
        yield server
    finally:
        server.stop()


def chunk_of(gw: GatewayThread, question: str) -> dict[str, Any]:
    found = KbClient(gw.url, gw.admin_key).query("handbook", question, k=1).json()["data"][0]
    assert isinstance(found, dict)
    return found


def test_messages_answer_carries_citations(gw: GatewayThread) -> None:
    """POST /v1/messages with podium.rag: the passage reaches the model, the answer cites its chunk."""
    with anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0) as client:
        raw = client.messages.with_raw_response.create(
            model="sim/echo",
            max_tokens=512,
            messages=[{"role": "user", "content": TRAVEL}],
            extra_body=rag(),
        )
        message = raw.parse()
    assert "180 euros per night" in message.content[0].text  # type: ignore[union-attr]
    body = raw.http_response.json()
    assert body["type"] == "message" and body["id"] == message.id
    first = body["podium"]["citations"][0]
    assert first["source"] == "travel.md" and first["chunk_id"] == chunk_of(gw, TRAVEL)["id"]
    assert body["podium"]["rag"] == {"knowledge_bases": ["handbook"], "relevant": True}


def test_streamed_messages_carry_citations_on_the_closing_delta(gw: GatewayThread) -> None:
    """Streaming Messages, the citations ride on the last message_delta, after the answer's text."""
    with anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0) as client:
        stream = client.messages.create(
            model="sim/echo",
            max_tokens=512,
            stream=True,
            messages=[{"role": "user", "content": TRAVEL}],
            extra_body=rag(),
        )
        with stream:
            events = list(stream)
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert "180 euros per night" in text
    [delta] = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "end_turn"
    citations = (delta.model_extra or {})["podium"]["citations"]
    assert citations[0]["chunk_id"] == chunk_of(gw, TRAVEL)["id"]
    assert events[-1].type == "message_stop"


def test_responses_answer_carries_citations_and_keeps_them(gw: GatewayThread) -> None:
    """POST /v1/responses with podium.rag cites its chunk; the stored response keeps the citations."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
        raw = client.responses.with_raw_response.create(model="sim/echo", input=TRAVEL, extra_body=rag())
        response = raw.parse()
        assert "180 euros per night" in response.output_text
        body = raw.http_response.json()
        first = body["podium"]["citations"][0]
        assert first["source"] == "travel.md" and first["chunk_id"] == chunk_of(gw, TRAVEL)["id"]
        again = client.responses.with_raw_response.retrieve(response.id).http_response.json()
    assert again["podium"]["citations"] == body["podium"]["citations"]


def test_streamed_responses_carry_citations_on_the_completed_response(gw: GatewayThread) -> None:
    """Streaming Responses, response.completed's response object carries the citations."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
        stream = client.responses.create(model="sim/echo", input=TRAVEL, stream=True, extra_body=rag())
        with stream:
            events = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "180 euros per night" in text
    [completed] = [e for e in events if e.type == "response.completed"]
    citations = (completed.response.model_extra or {})["podium"]["citations"]
    assert citations[0]["source"] == "travel.md" and citations[0]["chunk_id"] == chunk_of(gw, TRAVEL)["id"]


def ask(gw: GatewayThread, key: str, question: str) -> Any:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as client:
        return client.chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": question}], extra_body=rag(k=1)
        )


def test_input_guardrails_redact_personal_data_in_retrieved_passages(gw: GatewayThread) -> None:
    """A key whose policy redacts emails: the retrieved passage reaches the model with <EMAIL>, still cited."""
    plain = ask(gw, gw.key, PAYROLL)  # no policy: the passage goes in as stored
    assert EMAIL in plain.choices[0].message.content
    reply = ask(gw, gw.new_key(name="redacted"), PAYROLL)
    text = reply.choices[0].message.content  # sim/echo: what the model received
    assert EMAIL not in text and "Jane Roe, <EMAIL>" in text
    assert reply.model_extra["podium"]["citations"][0]["source"] == "payroll.md"


def test_input_guardrails_block_a_call_whose_passages_hold_personal_data(gw: GatewayThread) -> None:
    """A key whose policy blocks emails is refused when a retrieved passage holds one, and not otherwise."""
    key = gw.new_key(name="blocked")
    with pytest.raises(openai.BadRequestError) as refused:
        ask(gw, key, PAYROLL)
    assert EMAIL not in str(refused.value)
    assert "180 euros" in ask(gw, key, TRAVEL).choices[0].message.content
