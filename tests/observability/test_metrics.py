"""GET /metrics through a real server: it parses with the Prometheus text parser and its counts match
the request records exactly; the bearer token guards it when configured."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url

ROUTES = {
    "deployments": {
        "broken": {"provider": "sim", "model": "echo?status=500", "price": {"input": 1.0, "output": 2.0}},
        "healthy": {"provider": "sim", "model": "echo", "price": {"input": 1.0, "output": 2.0}},
    },
    "routes": {"flaky": {"deployments": ["broken"], "fallbacks": ["healthy"]}},
}


def _scrape(url: str, token: str | None = None) -> dict[str, list[tuple[dict[str, str], float, str]]]:
    request = urllib.request.Request(url + "/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float, str]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(family.name, []).append((dict(s.labels), s.value, s.name))
    return out


def _families(url: str) -> list[str]:
    """Every family /metrics declares, with or without samples."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return [f.name for f in text_string_to_metric_families(resp.read().decode())]


def test_metrics_match_the_request_records(tmp_path: Path) -> None:
    """Request, token and cost counters on /metrics equal the request log, label by label."""
    gw = GatewayThread(make_config(ROUTES), sqlite_url(tmp_path)).start()
    try:
        client = gw.openai()  # closed by gw.stop() even if the test fails before close()
        for i in range(3):
            client.chat.completions.create(
                model="sim/echo", messages=[{"role": "user", "content": f"hi {i}"}]
            )
        for _c in client.chat.completions.create(
            model="flaky", messages=[{"role": "user", "content": "stream me"}], stream=True
        ):
            pass
        client.embeddings.create(model="sim/embed", input=["vector"])
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
        client.close()
        records = gw.wait_records(7)
        assert len(records) == 7
        metrics = _scrape(gw.url)
        counted = Counter(
            {
                (s["api"], s["route"], s["deployment"], s["status"]): v
                for s, v, n in metrics["podium_requests"]
                if n.endswith("_total")
            }
        )
        expected = Counter(
            (r.api, r.route or r.requested_model, r.deployment or "", str(r.status)) for r in records
        )
        assert counted == expected
        durations = {
            (s["api"], s["route"], s["deployment"], s["status"]): v
            for s, v, n in metrics["podium_request_duration_seconds"]
            if n.endswith("_count")
        }
        assert Counter(durations) == expected
        # Buckets are cumulative, +Inf holds every request, and the sum is the records' latency.
        buckets: dict[tuple[str, ...], list[tuple[float, float]]] = {}
        for s, v, n in metrics["podium_request_duration_seconds"]:
            if n.endswith("_bucket"):
                key = (s["api"], s["route"], s["deployment"], s["status"])
                buckets.setdefault(key, []).append((float(s["le"]), v))
        for key, series in buckets.items():
            counts = [v for _, v in sorted(series)]
            assert counts == sorted(counts) and counts[-1] == durations[key]
        latency = sum(v for _, v, n in metrics["podium_request_duration_seconds"] if n.endswith("_sum"))
        assert latency == pytest.approx(sum(r.latency_ms for r in records) / 1000)
        tokens = {(s["type"]): 0.0 for s, _, _ in metrics["podium_tokens"]}
        for s, v, n in metrics["podium_tokens"]:
            if n.endswith("_total"):
                tokens[s["type"]] += v
        assert tokens["input"] == sum(r.input_tokens for r in records)
        assert tokens["output"] == sum(r.output_tokens for r in records)
        cost = sum(v for _, v, n in metrics["podium_cost_usd"] if n.endswith("_total"))
        assert cost == pytest.approx(sum(r.cost_usd for r in records))
        genai = [(s, v) for s, v, n in metrics["gen_ai_client_token_usage"] if n.endswith("_sum")]
        assert sum(v for s, v in genai if s["gen_ai_token_type"] == "input") == sum(
            r.input_tokens for r in records
        )
        ops = {s["gen_ai_operation_name"] for s, v in genai if v}
        assert ops == {"chat", "embeddings"}
        assert {s["gen_ai_provider_name"] for s, v in genai if v} == {"podium.simulated"}
        server = [
            (s, v) for s, v, n in metrics["gen_ai_server_request_duration_seconds"] if n.endswith("_count")
        ]
        assert sum(v for _, v in server) == len(records)
        ttft = [v for _, v, n in metrics["podium_time_to_first_token_seconds"] if n.endswith("_count")]
        assert sum(ttft) == sum(1 for r in records if r.ttft_ms is not None) >= 1
        fallbacks = sum(v for _, v, n in metrics["podium_fallback_attempts"] if n.endswith("_total"))
        assert fallbacks == sum(r.attempts - 1 for r in records if r.attempts > 1) == 1
        assert metrics["podium_requests_in_flight"][0][1] >= 1  # the scrape itself
        circuits = {s["deployment"]: v for s, v, _ in metrics["podium_circuit_state"]}
        assert set(circuits) >= {"broken", "healthy"} and set(circuits.values()) <= {0.0, 1.0, 2.0}
        # The shipped Grafana dashboard only queries metrics that exist.
        dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana" / "podium.json").read_text())
        exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
        labels = {
            label.strip()
            for e in exprs
            for group in re.findall(r"by \(([^)]*)\)", e)
            for label in group.split(",")
        }
        queried = {
            re.sub(r"_(bucket|sum|count|total)$", "", name)
            for e in exprs
            for name in re.findall(r"\b(?:podium|gen_ai)_[a-z_]+", e)
            if name not in labels
        }
        assert "podium_requests_in_flight" in queried
        assert queried and queried <= set(metrics) | set(_families(gw.url))
    finally:
        gw.stop()


def test_metrics_bearer_token_and_switch(tmp_path: Path) -> None:
    """With a bearer token /metrics refuses others (401); switched off it is a 404."""
    gw = GatewayThread(
        make_config({"observability": {"metrics": {"bearer_token": "scrape-secret"}}}), sqlite_url(tmp_path)
    ).start()
    try:
        assert call(gw.url, "GET", "/metrics").status == 401
        assert call(gw.url, "GET", "/metrics", token="wrong").status == 401
        assert call(gw.url, "GET", "/metrics", token="scrape-secret").status == 200
        gw.reload(make_config({"observability": {"metrics": {"enabled": False}}}))
        answer = call(gw.url, "GET", "/metrics")
        assert answer.status == 404 and answer.code == "unknown_url"
        assert gw.gateway.telemetry.observing is False
    finally:
        gw.stop()
