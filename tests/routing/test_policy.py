"""Routing policies: the default classifier, rules, constraints, balancing, and route/explain."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread
from tests.routing.conftest import ask, client

Serve = Callable[[dict[str, Any]], GatewayThread]

AUTO: dict[str, Any] = {
    "deployments": {
        "cheap": {"provider": "sim", "model": "echo", "price": {"input": 0.1, "output": 0.4}, "quality": 2},
        "coder": {
            "provider": "sim",
            "model": "echo",
            "price": {"input": 2.0, "output": 8.0},
            "quality": 4,
            "tasks": ["code"],
        },
        "smart": {"provider": "sim", "model": "echo", "price": {"input": 5.0, "output": 20.0}, "quality": 5},
    },
    "routes": {
        "auto": {
            "deployments": ["cheap", "coder", "smart"],
            "strategy": "cost",
            "rules": [
                {"name": "code", "when": {"task": ["code"]}, "use": ["coder"]},
                {"name": "hard", "when": {"complexity": {"min": 0.6}}, "use": ["smart"]},
                {
                    "name": "gold",
                    "when": {"headers": {"x-tier": "gold"}},
                    "use": ["smart", "coder"],
                    "strategy": "ordered",
                },
            ],
        }
    },
}


def explain(
    gw: GatewayThread, body: dict[str, Any], key: str | None = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        gw.url + "/v1/route/explain",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key or gw.key}", "Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_code_goes_to_the_coder_and_chit_chat_to_the_cheap_one(serve: Serve) -> None:
    """With the default classifier, code questions reach the code-capable deployment and short chit-chat the cheapest."""
    gw = serve(AUTO)
    with client(gw) as c:
        code = ask(c, "auto", "Write a Python function that merges two sorted lists")
        chat = ask(c, "auto", "hey, how are you today?")
    assert code.headers["x-podium-route"] == "route=auto; deployment=coder; reason=rule code, task code"
    assert chat.headers["x-podium-route"] == "route=auto; deployment=cheap; reason=strategy cost"
    records = gw.wait_records(2)
    assert [r.deployment for r in records] == ["coder", "cheap"]
    assert records[0].route_reason == "rule code, task code"


def test_explain_says_why_without_calling_a_model(serve: Serve) -> None:
    """POST /v1/route/explain returns the task, the rule, every candidate's verdict and the plan, and calls nothing."""
    gw = serve(AUTO)
    status, body = explain(
        gw,
        {
            "model": "auto",
            "messages": [{"role": "user", "content": "Fix this bug: for i in range(10) print(i)"}],
        },
    )
    assert status == 200
    assert body["deployment"] == "coder" and body["rule"] == "code"
    assert body["classification"]["task"] == "code"
    assert body["plan"] == ["coder"]
    assert body["candidates"] == [
        {"deployment": "coder", "region": None, "verdict": "chosen", "reason": "attempt 1"}
    ]
    status, body = explain(gw, {"model": "auto", "messages": [{"role": "user", "content": "good morning!"}]})
    assert body["classification"]["task"] == "chit_chat" and body["strategy"] == "cost"
    assert body["plan"] == ["cheap", "coder", "smart"]
    assert [x["verdict"] for x in body["candidates"]] == ["chosen", "planned", "planned"]
    assert gw.records() == []  # nothing was called, nothing recorded


def test_explain_needs_a_key_and_reports_refusals(serve: Serve) -> None:
    """route/explain authenticates like the data plane and answers an unservable request with the real error."""
    gw = serve(AUTO)
    status, body = explain(gw, {"model": "auto", "messages": []}, key="pk-wrong")
    assert status == 401
    status, body = explain(
        gw,
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        **{"x-podium-max-cost-usd": "0.0000001"},
    )
    assert status == 400 and body["error"]["code"] == "cost_limit_exceeded"


def test_header_rule_and_complexity_rule(serve: Serve) -> None:
    """A rule on a request header wins when it comes first to match; a hard question goes to the strong model."""
    gw = serve(AUTO)
    with client(gw) as c:
        gold = ask(c, "auto", "hi there", extra_headers={"x-tier": "gold"})
        hard = ask(
            c,
            "auto",
            "Should we migrate our monolith to microservices? Compare the trade-offs, analyze the risks, "
            "justify a plan step by step, and consider the constraints: we must keep uptime and should "
            "not exceed budget. 1. cost 2. risk 3. team 4. timeline. What are the implications?",
        )
    assert "deployment=smart; reason=rule gold" in gold.headers["x-podium-route"]
    assert "deployment=smart; reason=rule hard" in hard.headers["x-podium-route"]


def test_cost_limit_below_every_price_is_a_clear_400(serve: Serve) -> None:
    """A cost limit below any candidate's estimated price is refused with 400 cost_limit_exceeded naming the cheapest."""
    gw = serve({**AUTO, "routes": {"auto": {**AUTO["routes"]["auto"], "max_cost_usd": 0.0000001}}})
    with client(gw) as c, pytest.raises(openai.BadRequestError) as exc:
        ask(c, "auto", "hello")
    assert exc.value.code == "cost_limit_exceeded" and "cheap" in exc.value.message


def test_cost_limit_skips_the_expensive(serve: Serve) -> None:
    """With a per-request cost limit, a quality strategy still only picks candidates within it."""
    gw = serve(
        {
            **AUTO,
            "routes": {
                "q": {
                    "deployments": ["cheap", "coder", "smart"],
                    "strategy": "quality",
                    "max_cost_usd": 0.0015,
                }
            },
        }
    )
    with client(gw) as c:
        raw = ask(c, "q", "hello", max_tokens=100)
    assert "deployment=coder;" in raw.headers["x-podium-route"]  # smart's estimate ($0.002) is over the limit


def test_context_window_goes_to_the_designated_deployment(serve: Serve) -> None:
    """A request longer than every candidate's context window goes to the route's on_context_overflow deployment."""
    gw = serve(
        {
            "deployments": {
                "small": {"provider": "sim", "model": "echo", "context_window": 100},
                "large": {"provider": "sim", "model": "echo", "context_window": 100000},
            },
            "routes": {
                "r": {"deployments": ["small"], "on_context_overflow": ["large"]},
                "no-overflow": {"deployments": ["small"]},
            },
        }
    )
    long_text = "word " * 400
    with client(gw) as c:
        assert "deployment=small;" in ask(c, "r", "short").headers["x-podium-route"]
        assert "deployment=large;" in ask(c, "r", long_text).headers["x-podium-route"]
        with pytest.raises(openai.BadRequestError) as exc:
            ask(c, "no-overflow", long_text)
    assert exc.value.code == "context_length_exceeded"


def test_weighted_balancing_follows_the_weights(serve: Serve) -> None:
    """Weighted balancing sends traffic in proportion to the weights."""
    gw = serve(
        {
            "deployments": {
                "a": {"provider": "sim", "model": "echo"},
                "b": {"provider": "sim", "model": "echo"},
            },
            "routes": {"w": {"deployments": ["a", "b"], "strategy": "weighted", "weights": {"a": 4, "b": 1}}},
        }
    )
    seen: Counter[str] = Counter()
    with client(gw) as c:
        for _ in range(100):
            header = ask(c, "w").headers["x-podium-route"]
            seen[header.split("deployment=")[1].split(";")[0]] += 1
    assert 65 <= seen["a"] <= 95 and seen["b"] >= 5


def test_rpm_capacity_moves_traffic(serve: Serve) -> None:
    """A deployment at its RPM capacity is skipped for the next one; when all are full the caller gets 429."""
    gw = serve(
        {
            "deployments": {
                "small": {"provider": "sim", "model": "echo", "rpm": 2},
                "other": {"provider": "sim", "model": "echo", "rpm": 1},
            },
            "routes": {"r": {"deployments": ["small", "other"]}},
        }
    )
    with client(gw) as c:
        got = [ask(c, "r").headers["x-podium-route"].split("deployment=")[1].split(";")[0] for _ in range(3)]
        with pytest.raises(openai.RateLimitError) as exc:
            ask(c, "r")
    assert got == ["small", "small", "other"]
    assert exc.value.code == "deployment_capacity"


def test_latency_strategy_prefers_the_fast_deployment(serve: Serve) -> None:
    """The latency strategy learns from live statistics and sends traffic to the faster deployment."""
    gw = serve(
        {
            "deployments": {
                "slow": {"provider": "sim", "model": "echo?latency_ms=150"},
                "fast": {"provider": "sim", "model": "echo"},
            },
            "routes": {"r": {"deployments": ["slow", "fast"], "strategy": "latency"}},
        }
    )
    with client(gw) as c:
        first = [ask(c, "r").headers["x-podium-route"] for _ in range(2)]  # each gets sampled once
        later = [ask(c, "r").headers["x-podium-route"] for _ in range(3)]
    assert any("deployment=slow;" in h for h in first)
    assert all("deployment=fast;" in h for h in later)


def test_in_flight_counts_return_to_zero(serve: Serve) -> None:
    """Calls in flight (least-busy balancing) come back to zero after answers, streams and failures."""
    gw = serve(
        {
            "deployments": {
                "a": {"provider": "sim", "model": "echo"},
                "cut": {"provider": "sim", "model": "echo?disconnect_after=1"},
            }
        }
    )
    with client(gw) as c:
        ask(c, "a")
        list(c.chat.completions.create(model="a", messages=[{"role": "user", "content": "x y"}], stream=True))
        with pytest.raises(openai.APIError):
            list(
                c.chat.completions.create(
                    model="cut", messages=[{"role": "user", "content": "x y z"}], stream=True
                )
            )
    gw.wait_records(3)
    health = gw.gateway.health
    assert health.get("a").in_flight == 0 and health.get("cut").in_flight == 0
    assert health.get("a").latency is not None and health.get("a").ttft is not None
