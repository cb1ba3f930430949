"""Sampled live answers are evaluated in the background; their scores appear in usage analytics and
the evaluation summary, with a judge's unusable answers counted as unmeasured, never as failures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai

from tests.admin_client import call
from tests.harness import GatewayThread, make_config, sqlite_url

CONFIG = {
    "deployments": {"judge-model": {"provider": "sim", "model": "echo"}},
    "routes": {"judge": {"deployments": ["judge-model"]}},
    "evaluation": {
        "sample_rate": 1.0,
        "judge_route": "judge",
        "evaluators": {
            "json": {"type": "json_valid", "routes": ["sim/echo"]},
            "graded": {"type": "judge", "rubric": "Rate how helpful it is.", "samples": 2},
            "never": {"type": "length", "max_chars": 1, "sample_rate": 0.0},
        },
    },
}


def _wait(gw: GatewayThread, path: str, ready: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = call(gw.url, "GET", path, token=gw.admin_key)
        assert answer.status == 200, answer.body
        body = answer.json()
        if ready(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_sampled_scores_reach_usage_analytics(tmp_path: Path) -> None:
    """Every sampled answer gets each evaluator's score; /admin/usage shows the quality per model."""
    gw = GatewayThread(make_config(CONFIG), sqlite_url(tmp_path)).start()
    try:
        with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0) as client:
            # The echoed answer carries a score the echo judge will read back: 4 of 5 -> 0.75.
            client.chat.completions.create(
                model="sim/echo", messages=[{"role": "user", "content": '{"score": 4, "reason": "ok"}'}]
            )
            client.chat.completions.create(
                model="sim/echo", messages=[{"role": "user", "content": "plain words"}]
            )
        usage = _wait(
            gw, "/admin/usage?group_by=model&window=1h", lambda b: any(r["evaluated"] == 2 for r in b["data"])
        )
        rows = {r["group"]["model"]: r for r in usage["data"]}
        echo = rows["sim/echo"]
        assert echo["requests"] == 2 and echo["evaluated"] == 2
        # Request 1: json 1.0, judge 0.75 -> 0.875; request 2: json 0.0, judge unmeasured -> 0.0.
        assert abs(echo["quality"] - (0.875 + 0.0) / 2) < 1e-6
        assert rows["judge"]["requests"] == 4  # two samples per evaluated answer, governed like any call
        assert rows["judge"]["evaluated"] == 0  # the judge's own answers are never sampled
        summary = call(
            gw.url, "GET", "/admin/evaluations?group_by=model&window=1h", token=gw.admin_key
        ).json()
        found = {(s["group"]["model"], s["evaluator"]): s for s in summary["data"]}
        graded = found[("sim/echo", "graded")]
        assert graded["count"] == 2 and graded["measured"] == 1 and abs(graded["mean"] - 0.75) < 1e-6
        assert found[("sim/echo", "json")]["mean"] == 0.5 and found[("sim/echo", "json")]["pass_rate"] == 0.5
        assert ("sim/echo", "never") not in found  # a zero rate samples nothing
        csv = call(gw.url, "GET", "/admin/usage?group_by=model&window=1h&format=csv", token=gw.admin_key)
        assert csv.headers["Content-Type"].startswith("text/csv")
        lines = csv.body.decode().splitlines()
        assert lines[0].startswith("model,requests,errors,error_rate")
        assert any(line.startswith("sim/echo,2,0,") for line in lines[1:])
    finally:
        gw.stop()


def test_usage_rejects_bad_queries(tmp_path: Path) -> None:
    """An unknown dimension, format or out-of-range limit is a 400 that names the parameter; scopes stay in the tenant."""
    gw = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        bad = call(gw.url, "GET", "/admin/usage?group_by=colour", token=gw.admin_key)
        assert bad.status == 400 and bad.json()["error"]["param"] == "group_by"
        bad = call(gw.url, "GET", "/admin/usage?format=xml", token=gw.admin_key)
        assert bad.status == 400 and bad.json()["error"]["param"] == "format"
        for path in ("/admin/usage?limit=0", "/admin/requests?limit=0", "/admin/requests?limit=1001"):
            bad = call(gw.url, "GET", path, token=gw.admin_key)  # 0 is refused, not read as "the default"
            assert bad.status == 400 and bad.json()["error"]["param"] == "limit", path
        assert call(gw.url, "GET", "/admin/usage", token=gw.key).status == 403  # an inference-only key
    finally:
        gw.stop()
