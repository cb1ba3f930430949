"""Personal data through Podium to a real upstream (the standalone simulator, which records what it got).

Pseudonymize: the upstream sees placeholders only and the caller's answer has the originals back,
streaming too. Redact: placeholders both ways, never restored. Block: an OpenAI-shaped 400 that names
the policy and the kinds found, and never the values.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway.test_upstream import UPSTREAM_KEY
from tests.harness import GatewayThread, make_config, sqlite_url

CARD, IBAN, EMAIL, PHONE = (
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "jane.doe@example.com",
    "+44 20 7946 0958",
)
ORIGINALS = (CARD, IBAN, EMAIL, PHONE)
PROMPT = f"Please charge card {CARD} and refund IBAN {IBAN}; write to {EMAIL} or call {PHONE} today."


def guarded_config(base_url: str) -> dict[str, Any]:
    pii = {"type": "pii", "entities": ["CREDIT_CARD", "IBAN", "EMAIL", "PHONE"]}
    return {
        "providers": {
            "upstream": {"type": "openai-compatible", "base_url": base_url, "api_key": UPSTREAM_KEY}
        },
        "deployments": {"up-echo": {"provider": "upstream", "model": "echo"}},
        "routes": {name: {"deployments": ["up-echo"]} for name in ("pseudo", "redact", "block", "open")},
        "guardrails": {
            "routes": {"pseudo": "pseudo", "redact": "redact", "block": "block"},
            "policies": {
                "pseudo": {"input": [{**pii, "action": "pseudonymize"}]},
                "redact": {"input": [{**pii, "action": "redact"}]},
                "block": {"input": [{**pii, "action": "block"}]},
            },
        },
    }


@pytest.fixture
def gw(tmp_path: Path, sim_upstream: str) -> Iterator[GatewayThread]:
    g = GatewayThread(make_config(guarded_config(sim_upstream)), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def upstream_saw(sim_upstream: str) -> str:
    """The user text of the last chat request the upstream received."""
    with urllib.request.urlopen(sim_upstream.removesuffix("/v1") + "/sim/requests", timeout=5) as resp:
        seen = json.loads(resp.read())
    chat = [r for r in seen if r["path"].endswith("/chat/completions")][-1]
    return str(chat["body"]["messages"][-1]["content"])


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, timeout=15)


def ask(c: openai.OpenAI, model: str, **kw: Any) -> Any:
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}], **kw)


def test_pseudonymize_round_trip(gw: GatewayThread, sim_upstream: str) -> None:
    """The upstream sees placeholders only; the caller's answer (an echo) has every original back."""
    with client(gw) as c:
        answer = ask(c, "pseudo").choices[0].message.content
    seen = upstream_saw(sim_upstream)
    for original in ORIGINALS:
        assert original not in seen
    for placeholder in ("<CREDIT_CARD_1>", "<IBAN_1>", "<EMAIL_1>", "<PHONE_1>"):
        assert placeholder in seen
    assert answer == PROMPT
    (record,) = gw.wait_records(1)
    assert record.guardrail_action == "pseudonymize" and record.status == 200
    (verdict,) = record.guardrails
    assert verdict.policy == "pseudo" and verdict.stage == "input" and verdict.count == 4
    assert verdict.kinds == ("CREDIT_CARD", "EMAIL", "IBAN", "PHONE")


def test_pseudonymize_round_trip_streaming(gw: GatewayThread, sim_upstream: str) -> None:
    """Streaming, the placeholders are restored chunk by chunk and the joined answer is the original."""
    with client(gw) as c:
        chunks = [ch.choices[0].delta.content or "" for ch in ask(c, "pseudo", stream=True) if ch.choices]
    seen = upstream_saw(sim_upstream)
    assert all(original not in seen for original in ORIGINALS)
    assert "".join(chunks) == PROMPT
    assert len([c for c in chunks if c]) > 10  # still a stream, not one buffered chunk


def test_redact_never_restores(gw: GatewayThread, sim_upstream: str) -> None:
    """Redacted values reach neither the upstream nor, in the answer, the caller."""
    with client(gw) as c:
        answer = ask(c, "redact").choices[0].message.content
        streamed = "".join(
            ch.choices[0].delta.content or "" for ch in ask(c, "redact", stream=True) if ch.choices
        )
    seen = upstream_saw(sim_upstream)
    for text in (seen, answer, streamed):
        assert all(original not in text for original in ORIGINALS)
        assert "<CREDIT_CARD>" in text and "<IBAN>" in text and "<EMAIL>" in text and "<PHONE>" in text
    assert answer == streamed == seen


def test_block_returns_openai_error(gw: GatewayThread, sim_upstream: str) -> None:
    """Block mode answers 400 guardrail_blocked naming the policy and the kinds, never the values."""
    with client(gw) as c:
        before = upstream_saw(sim_upstream) if _any_request(sim_upstream) else None
        with pytest.raises(openai.BadRequestError) as exc:
            ask(c, "block")
    error = exc.value.body
    assert isinstance(error, dict)
    assert error["code"] == "guardrail_blocked" and error["type"] == "invalid_request_error"
    message = str(error["message"])
    assert "'block'" in message and "CREDIT_CARD" in message and "IBAN" in message and "EMAIL" in message
    assert all(original not in message for original in ORIGINALS)
    assert (
        upstream_saw(sim_upstream) if _any_request(sim_upstream) else None
    ) == before  # nothing sent upstream
    (record,) = gw.wait_records(1)
    assert (
        record.status == 400
        and record.guardrail_action == "block"
        and record.error_class == "guardrail_blocked"
    )


def test_unguarded_route_passes_text_unchanged(gw: GatewayThread, sim_upstream: str) -> None:
    """A route without a policy sends the text as it is and records no verdict."""
    with client(gw) as c:
        assert ask(c, "open").choices[0].message.content == PROMPT
    assert upstream_saw(sim_upstream) == PROMPT
    (record,) = gw.wait_records(1)
    assert record.guardrails == () and record.guardrail_action is None


def _any_request(sim_upstream: str) -> bool:
    with urllib.request.urlopen(sim_upstream.removesuffix("/v1") + "/sim/requests", timeout=5) as resp:
        return any(r["path"].endswith("/chat/completions") for r in json.loads(resp.read()))
