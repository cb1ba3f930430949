"""A circuit breaker per deployment, end to end: it opens on failures, stops traffic, closes on recovery."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config
from tests.routing.conftest import ask, client

Serve = Callable[[dict[str, Any]], GatewayThread]


def sections(flaky_model: str) -> dict[str, Any]:
    return {
        "routing": {"breaker": {"consecutive_failures": 3, "open_seconds": 0.5}},
        "deployments": {
            "flaky": {"provider": "sim", "model": flaky_model},
            "backup": {"provider": "sim", "model": "echo"},
        },
        "routes": {"r": {"deployments": ["flaky"], "fallbacks": ["backup"]}},
    }


def test_circuit_opens_stops_traffic_and_closes_after_recovery(serve: Serve) -> None:
    """Three failures open flaky's circuit; while open it gets no calls; once it recovers, a probe closes it."""
    gw = serve(sections("echo?status=503"))
    with client(gw) as c:
        for _ in range(3):
            ask(c, "r")
        records = gw.wait_records(3)
        assert [r.attempts for r in records] == [2, 2, 2]  # flaky failed, backup answered
        raw = ask(c, "r")
        assert "skipped flaky (circuit open)" in raw.headers["x-podium-route"]
        assert gw.wait_records(4)[-1].attempts == 1  # no call reached flaky
        gw.reload(make_config(sections("echo")))  # the upstream recovers
        time.sleep(0.6)  # the circuit's open period passes
        raw = ask(c, "r")  # the half-open probe
        assert "deployment=flaky;" in raw.headers["x-podium-route"]
        raw = ask(c, "r")
        assert (
            "deployment=flaky;" in raw.headers["x-podium-route"]
            and "skipped" not in raw.headers["x-podium-route"]
        )


def test_every_circuit_open_is_a_503_with_retry_after(serve: Serve) -> None:
    """When every deployment of a model has an open circuit, the caller gets 503 circuit_open with Retry-After."""
    gw = serve(
        {
            "routing": {"breaker": {"consecutive_failures": 2, "open_seconds": 30}},
            "deployments": {"down": {"provider": "sim", "model": "echo?status=500"}},
        }
    )
    with client(gw) as c:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                ask(c, "down")
        with pytest.raises(openai.APIStatusError) as exc:
            ask(c, "down")
    assert exc.value.status_code == 503 and exc.value.code == "circuit_open"
    assert 1 <= int(exc.value.response.headers["retry-after"]) <= 30


def test_request_errors_do_not_open_circuits(serve: Serve) -> None:
    """Upstream 400s are the request's fault: they never open the deployment's circuit."""
    gw = serve(
        {
            "routing": {"breaker": {"consecutive_failures": 2}},
            "deployments": {"picky": {"provider": "sim", "model": "echo?status=400"}},
        }
    )
    with client(gw) as c:
        for _ in range(4):
            with pytest.raises(openai.BadRequestError):
                ask(c, "picky")
    assert gw.gateway.health.get("picky").state(time.time()) == "closed"
