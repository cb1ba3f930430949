"""Data residency: a request never leaves its allowed regions, fallbacks included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread
from tests.routing.conftest import ask, client

Serve = Callable[[dict[str, Any]], GatewayThread]

SECTIONS: dict[str, Any] = {
    "providers": {
        "sim-eu": {"type": "simulated", "region": "eu-west-1"},
        "sim-us": {"type": "simulated", "region": "us-east-1"},
    },
    "deployments": {
        "eu-a": {"provider": "sim-eu", "model": "echo"},
        "eu-b": {"provider": "sim-eu", "model": "echo"},
        "eu-broken": {"provider": "sim-eu", "model": "echo?status=500"},
        "eu-broken-2": {"provider": "sim-eu", "model": "echo?status=503"},
        "us-a": {"provider": "sim-us", "model": "echo"},
        "anywhere": {"provider": "sim", "model": "echo"},  # no region
    },
    "routes": {
        "global": {"deployments": ["us-a", "eu-a"], "fallbacks": ["eu-b"]},
        "eu-failing": {"deployments": ["eu-broken", "eu-broken-2"], "fallbacks": ["us-a"]},
        "us-only": {"deployments": ["us-a", "anywhere"]},
        "pinned": {"deployments": ["us-a", "eu-b"], "regions": ["eu"]},
    },
}


def test_eu_key_skips_us_deployments(serve: Serve) -> None:
    """An EU-only key is served by an EU deployment even when a US one comes first."""
    gw = serve(SECTIONS)
    key = gw.new_key(name="eu", allowed_regions=("eu",))
    with client(gw, key) as c:
        raw = ask(c, "global")
    assert "deployment=eu-a;" in raw.headers["x-podium-route"]
    assert "residency excluded 1" in raw.headers["x-podium-route"]
    with client(gw) as c:  # an unrestricted key takes the first
        assert "deployment=us-a;" in ask(c, "global").headers["x-podium-route"]


def test_eu_key_never_falls_back_to_us(serve: Serve) -> None:
    """When every EU deployment fails, an EU-only key gets the failure and a note, never the US fallback."""
    gw = serve(SECTIONS)
    key = gw.new_key(name="eu", allowed_regions=("eu",))
    with client(gw, key) as c, pytest.raises(openai.APIStatusError) as exc:
        ask(c, "eu-failing")
    assert exc.value.status_code in (502, 503)
    assert "outside the allowed regions (eu) were not tried: us-a" in exc.value.message
    records = gw.wait_records(1)
    assert records[0].attempts == 2 and records[0].deployment != "us-a"
    with client(gw) as c:  # without the policy the US fallback answers
        assert "deployment=us-a;" in ask(c, "eu-failing").headers["x-podium-route"]


def test_no_compliant_deployment_is_a_403_naming_the_policy(serve: Serve) -> None:
    """A request no deployment in its regions can serve gets 403 residency_violation naming the policy and regions."""
    gw = serve(SECTIONS)
    key = gw.new_key(name="eu", allowed_regions=("eu",))
    with client(gw, key) as c:
        with pytest.raises(openai.PermissionDeniedError) as exc:
            ask(c, "us-only")
        assert exc.value.code == "residency_violation"
        assert "allowed regions: eu" in exc.value.message and "us-a (us-east-1)" in exc.value.message
        assert "anywhere (no region)" in exc.value.message
        with pytest.raises(openai.PermissionDeniedError):
            ask(c, "us-a")  # a deployment asked for by name too


def test_route_regions_apply_to_every_key(serve: Serve) -> None:
    """A route's own regions keep any caller's requests inside them."""
    gw = serve(SECTIONS)
    with client(gw) as c:
        assert "deployment=eu-b;" in ask(c, "pinned").headers["x-podium-route"]
