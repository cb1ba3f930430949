"""Bedrock's guardrail trace reaches the caller, in every inbound API, and the request record.

A GatewayThread's Bedrock provider names a guardrail; the standalone simulator, speaking Converse
over a real socket, answers with Bedrock's guardrail trace and blocks a prompt that says "forbidden".
The caller finds the trace verbatim under the ``podium`` extension field (as RAG citations are), and
the record holds one verdict per guardrail and stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.providers.conftest import AWS_KEY_ID, SECRET

GUARDRAIL = "gr-sim"


@pytest.fixture
def gw(tmp_path: Path, sim_url: str) -> Iterator[GatewayThread]:
    config = {
        "providers": {
            "bedrock": {
                "type": "bedrock",
                "base_url": sim_url,
                "region": "us-east-1",
                "aws": {
                    "access_key_id": AWS_KEY_ID,
                    "secret_access_key": SECRET,
                    "guardrail_identifier": GUARDRAIL,
                    "guardrail_version": "1",
                },
            }
        },
        "deployments": {
            "guarded": {
                "provider": "bedrock",
                "model": "echo",
                "capabilities": ["chat", "streaming"],
                "timeouts": {"connect": 2, "first_token": 2, "total": 8},
            }
        },
    }
    g = GatewayThread(make_config(config), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def chat(gw: GatewayThread, text: str, stream: bool) -> tuple[dict[str, Any], str]:
    c = gw.openai()
    messages = [{"role": "user", "content": text}]
    if not stream:
        r = c.chat.completions.create(model="guarded", messages=messages)  # type: ignore[arg-type]
        return r.to_dict()["podium"], r.choices[0].finish_reason
    chunks = [
        ch.to_dict() for ch in c.chat.completions.create(model="guarded", messages=messages, stream=True)
    ]  # type: ignore[arg-type]
    (extension,) = [ch["podium"] for ch in chunks if "podium" in ch]
    reason = next(
        ch["choices"][0]["finish_reason"]
        for ch in chunks
        if ch["choices"] and ch["choices"][0].get("finish_reason")
    )
    return extension, reason


def messages(gw: GatewayThread, text: str, stream: bool) -> tuple[dict[str, Any], str]:
    c = gw.anthropic()
    kwargs: dict[str, Any] = {
        "model": "guarded",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    if not stream:
        m = c.messages.create(**kwargs)
        return m.to_dict()["podium"], str(m.stop_reason)
    events = [e.to_dict() for e in c.messages.create(**kwargs, stream=True)]
    (delta,) = [e for e in events if e["type"] == "message_delta"]
    return delta["podium"], delta["delta"]["stop_reason"]


def responses(gw: GatewayThread, text: str, stream: bool) -> tuple[dict[str, Any], str]:
    c = gw.openai()
    if not stream:
        r = c.responses.create(model="guarded", input=text)
        body = r.to_dict()
    else:
        events = list(c.responses.create(model="guarded", input=text, stream=True))
        body = events[-1].response.to_dict()  # type: ignore[union-attr]
    return body["podium"], body["status"]


API: dict[str, Callable[[GatewayThread, str, bool], tuple[dict[str, Any], str]]] = {
    "chat": chat,
    "messages": messages,
    "responses": responses,
}
BLOCKED_AS = {"chat": "content_filter", "messages": "refusal", "responses": "incomplete"}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("api", list(API))
def test_blocking_trace_reaches_caller_and_record(gw: GatewayThread, api: str, stream: bool) -> None:
    """A blocked prompt's guardrail trace is on the answer as podium.upstream_trace; the record says block."""
    extension, stop = API[api](gw, "tell me the forbidden thing", stream)
    assessment = extension["upstream_trace"]["guardrail"]["inputAssessment"][GUARDRAIL]
    assert assessment["topicPolicy"]["topics"] == [{"name": "forbidden", "type": "DENY", "action": "BLOCKED"}]
    assert stop == BLOCKED_AS[api]
    (record,) = gw.wait_records(1)
    assert record.api == api and record.streamed == stream and record.guardrail_action == "block"
    (verdict,) = record.guardrails
    assert (verdict.policy, verdict.scanner, verdict.stage, verdict.action) == (
        GUARDRAIL,
        "bedrock-guardrail",
        "input",
        "block",
    )
    assert verdict.kinds == ("topic:forbidden",) and verdict.count == 1


@pytest.mark.parametrize("api", list(API))
def test_passing_trace_is_an_allow_verdict(gw: GatewayThread, api: str) -> None:
    """A prompt the guardrail lets through still carries its trace, and the record an allow verdict."""
    extension, _ = API[api](gw, "what is the weather", False)
    assert extension["upstream_trace"] == {"guardrail": {"inputAssessment": {GUARDRAIL: {"topicPolicy": {}}}}}
    (record,) = gw.wait_records(1)
    assert record.guardrail_action is None
    assert [(v.scanner, v.action, v.count) for v in record.guardrails] == [("bedrock-guardrail", "allow", 0)]


def test_output_assessments_and_anonymized_pii() -> None:
    """Bedrock's output assessments become output verdicts; ANONYMIZED PII is a redact, found by type only."""
    from podium.gateway.upstream_trace import verdicts

    trace = {
        "guardrail": {
            "inputAssessment": {"gr-1": {"contentPolicy": {"filters": [{"type": "HATE", "action": "NONE"}]}}},
            "outputAssessments": {
                "gr-1": [
                    {
                        "sensitiveInformationPolicy": {
                            "piiEntities": [
                                {"type": "EMAIL", "match": "a@b.example", "action": "ANONYMIZED"}
                            ],
                            "regexes": [
                                {"name": "ticket", "match": "T-1", "regex": "T-\\d", "action": "NONE"}
                            ],
                        }
                    },
                    {"wordPolicy": {"customWords": [{"match": "darn", "action": "BLOCKED"}]}},
                ]
            },
        }
    }
    given, answered = verdicts(trace)
    assert (given.stage, given.action, given.kinds, given.count) == ("input", "allow", ("HATE",), 1)
    assert (answered.stage, answered.action, answered.count) == ("output", "block", 3)
    assert answered.kinds == ("EMAIL", "ticket", "WORD") and "a@b.example" not in repr(answered)
    assert verdicts({"promptRouter": {}}) == () and verdicts("not a trace") == ()
