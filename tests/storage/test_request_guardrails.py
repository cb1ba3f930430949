"""Guardrail verdicts on the request record, on every backend (see conftest.py)."""

from __future__ import annotations

import msgspec

from podium.storage import RequestQuery, RequestRecord, Storage
from podium.storage.records import GuardrailVerdict


def make_request(n: int, **changes: object) -> RequestRecord:
    record = RequestRecord(
        id=f"req_{n:06d}",
        created_at=1_700_000_000.0 + n,
        key_id="key_a",
        requested_model="gpt-4o-mini",
        status=200,
        latency_ms=12.5,
    )
    return msgspec.structs.replace(record, **changes)


VERDICTS = (
    GuardrailVerdict(
        policy="strict",
        scanner="pii",
        stage="input",
        action="pseudonymize",
        kinds=("CREDIT_CARD", "EMAIL"),
        count=3,
        score=1.0,
        latency_ms=0.125,
    ),
    GuardrailVerdict(
        policy="strict",
        scanner="remote",
        stage="output",
        action="allow",
        latency_ms=50.0,
        error="timeout",
    ),
)


async def test_verdicts_round_trip_exactly(storage: Storage) -> None:
    """A record's guardrail action and verdicts are read back equal, and a record without them stays empty."""
    with_verdicts = make_request(1, guardrail_action="pseudonymize", guardrails=VERDICTS)
    without = make_request(2)
    await storage.requests.append_many([with_verdicts, without])
    page = await storage.requests.query(RequestQuery())
    assert page.items == (without, with_verdicts)
    assert page.items[0].guardrails == () and page.items[0].guardrail_action is None


async def test_query_by_guardrail_action(storage: Storage) -> None:
    """The request log filters on the guardrail action, newest first."""
    await storage.requests.append_many(
        [
            make_request(1, guardrail_action="block", status=400, guardrails=VERDICTS[:1]),
            make_request(2, guardrail_action="flag"),
            make_request(3),
            make_request(4, guardrail_action="block", status=400),
        ]
    )
    page = await storage.requests.query(RequestQuery(guardrail_action="block"))
    assert [r.id for r in page.items] == ["req_000004", "req_000001"]
    assert page.items[1].guardrails == VERDICTS[:1]
