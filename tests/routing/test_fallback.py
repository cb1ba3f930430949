"""Fallback, retry and latency budgets, through the OpenAI SDK against simulated deployments."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread
from tests.routing.conftest import ask, client

Serve = Callable[[dict[str, Any]], GatewayThread]

DEPLOYMENTS = {
    "broken": {"provider": "sim", "model": "echo?status=500"},
    "limited": {"provider": "sim", "model": "echo?status=429&retry_after=30"},
    "limited-briefly": {"provider": "sim", "model": "echo?status=429&retry_after=0.3"},
    "hanging": {"provider": "sim", "model": "echo?hang=true"},
    "late": {"provider": "sim", "model": "echo?ttft_ms=3000"},
    "healthy": {"provider": "sim", "model": "echo"},
    "healthy-2": {"provider": "sim", "model": "echo"},
}


def config(**routes: dict[str, Any]) -> dict[str, Any]:
    return {"deployments": DEPLOYMENTS, "routes": routes}


@pytest.mark.parametrize("first", ["broken", "limited", "hanging"])
def test_fallback_answers_within_the_budget(serve: Serve, first: str) -> None:
    """A first deployment that returns 500, 429 with a long Retry-After, or hangs is answered by the fallback within the budget."""
    gw = serve(
        config(
            r={
                "deployments": [first],
                "fallbacks": ["healthy"],
                "timeout_ms": 3000,
                "first_token_timeout_ms": 800,
            }
        )
    )
    t0 = time.monotonic()
    with client(gw) as c:
        raw = ask(c, "r", "fallback works")
    elapsed = time.monotonic() - t0
    assert raw.parse().choices[0].message.content == "fallback works"
    assert elapsed < 3.0
    header = raw.headers["x-podium-route"]
    assert header.startswith("route=r; deployment=healthy; reason=") and f"fallback after {first}" in header
    (record,) = gw.wait_records(1)
    assert record.deployment == "healthy" and record.attempts == 2
    assert record.route_reason is not None and first in record.route_reason


def test_short_retry_after_is_honoured_on_the_same_deployment(serve: Serve) -> None:
    """With retries on, a 429 whose Retry-After fits the policy is retried on the same deployment after that wait."""
    gw = serve(
        config(r={"deployments": ["limited-briefly"], "fallbacks": ["healthy"], "retry": {"attempts": 2}})
    )
    t0 = time.monotonic()
    with client(gw) as c:
        raw = ask(c, "r")
    assert time.monotonic() - t0 >= 0.3  # waited the Retry-After once
    (record,) = gw.wait_records(1)
    assert record.deployment == "healthy" and record.attempts == 3  # 429, retry (429 again), fallback
    assert "limited-briefly (upstream_rate_limited), limited-briefly" in raw.headers["x-podium-route"]


def test_backoff_retries_server_errors(serve: Serve) -> None:
    """A 500 is retried with backoff as many times as the policy says before the next deployment."""
    gw = serve(
        config(
            r={
                "deployments": ["broken"],
                "fallbacks": ["healthy"],
                "retry": {"attempts": 3, "backoff_ms": 50, "jitter": False},
            }
        )
    )
    t0 = time.monotonic()
    with client(gw) as c:
        ask(c, "r")
    assert time.monotonic() - t0 >= 0.15  # 50 ms then 100 ms
    (record,) = gw.wait_records(1)
    assert record.attempts == 4 and record.deployment == "healthy"


def test_retry_only_for_its_classes(serve: Serve) -> None:
    """A failure outside the retry classes moves to the fallback without a second attempt."""
    gw = serve(
        config(
            r={
                "deployments": ["broken"],
                "fallbacks": ["healthy"],
                "retry": {"attempts": 3, "classes": ["timeout"]},
            }
        )
    )
    with client(gw) as c:
        ask(c, "r")
    (record,) = gw.wait_records(1)
    assert record.attempts == 2


def test_budget_exhausted_is_a_timeout_within_the_budget(serve: Serve) -> None:
    """When every deployment hangs, the caller gets 504 deadline_exceeded once the budget is spent, not later."""
    gw = serve(config(r={"deployments": ["hanging", "late"], "timeout_ms": 1000}))
    t0 = time.monotonic()
    with client(gw) as c, pytest.raises(openai.APIStatusError) as exc:
        ask(c, "r", stream=True)
    elapsed = time.monotonic() - t0
    assert exc.value.status_code == 504
    assert 0.9 < elapsed < 2.5
    assert "x-podium-route" in exc.value.response.headers


def test_caller_header_lowers_the_budget(serve: Serve) -> None:
    """x-podium-timeout-ms sets a budget the route does not have; a malformed one is a 400."""
    gw = serve(config(r={"deployments": ["hanging"], "fallbacks": ["healthy"]}))
    t0 = time.monotonic()
    with client(gw) as c:
        with pytest.raises(openai.APIStatusError) as exc:
            ask(c, "r", extra_headers={"x-podium-timeout-ms": "400"})
        assert exc.value.status_code == 504
        with pytest.raises(openai.BadRequestError):
            ask(c, "r", extra_headers={"x-podium-timeout-ms": "soon"})
    assert time.monotonic() - t0 < 2.0


def test_first_token_timeout_falls_back_for_streams(serve: Serve) -> None:
    """A stream that starts but sends no token within the first-token timeout is replaced by the fallback before any byte reaches the caller."""
    gw = serve(config(r={"deployments": ["late"], "fallbacks": ["healthy"], "first_token_timeout_ms": 300}))
    t0 = time.monotonic()
    with client(gw) as c:
        stream = c.chat.completions.create(
            model="r", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == "a b c"
    assert time.monotonic() - t0 < 2.0
    (record,) = gw.wait_records(1)
    assert record.deployment == "healthy" and record.streamed


def test_stream_falls_back_before_the_first_byte_only(serve: Serve) -> None:
    """A stream whose deployment fails before answering falls back; one cut after its first bytes ends in an error."""
    gw = serve(
        {
            "deployments": {
                **DEPLOYMENTS,
                "cut": {"provider": "sim", "model": "echo?disconnect_after=2"},
            },
            "routes": {
                "before": {"deployments": ["broken"], "fallbacks": ["healthy"]},
                "after": {"deployments": ["cut"], "fallbacks": ["healthy"]},
            },
        }
    )
    with client(gw) as c:
        stream = c.chat.completions.create(
            model="before", messages=[{"role": "user", "content": "x y"}], stream=True
        )
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == "x y"
        got: list[str] = []
        with pytest.raises(openai.APIError):
            for ch in c.chat.completions.create(
                model="after", messages=[{"role": "user", "content": "w1 w2 w3 w4"}], stream=True
            ):
                if ch.choices and ch.choices[0].delta.content:
                    got.append(ch.choices[0].delta.content)  # noqa: PERF401 - must keep what came before the error
    assert got  # bytes had reached the caller, so no fallback was allowed


def test_per_deployment_fallbacks_come_before_the_routes(serve: Serve) -> None:
    """A deployment's own fallbacks are tried right after it, before the route's fallbacks."""
    gw = serve(
        {
            "deployments": {**DEPLOYMENTS, "broken": {**DEPLOYMENTS["broken"], "fallbacks": ["healthy-2"]}},
            "routes": {"r": {"deployments": ["broken"], "fallbacks": ["healthy"]}},
        }
    )
    with client(gw) as c:
        raw = ask(c, "r")
    assert "deployment=healthy-2;" in raw.headers["x-podium-route"]
