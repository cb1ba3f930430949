"""Two ``podium serve`` replicas on one PostgreSQL: a person signed in on one is known to the other,
disabling them on either ends the session on both, and both append to one verifiable audit chain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.admin_client import Answer, call
from tests.cli.test_serve import ADMIN, Server
from tests.pg import fresh_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONFIG = """
storage:
  url: {url}
  flush_interval_ms: 50
audit:
  flush_interval_ms: 50
identity:
  # Replica B is polled until the new account reaches it; each early try is a failed sign-in.
  login_throttle: {{failures_per_account: 1000}}
providers:
  sim:
    type: simulated
deployments:
  sim/*:
    provider: sim
    model: "*"
"""


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_schema() as url:
        yield url


def until(fn: object, ok: object, timeout: float = 3.0) -> Answer:
    deadline = time.monotonic() + timeout
    while True:
        answer = fn()  # type: ignore[operator]
        if ok(answer) or time.monotonic() > deadline:  # type: ignore[operator]
            return answer  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_two_replicas_share_people_sessions_and_one_chain(tmp_path: Path, pg_url: str) -> None:
    """Sessions work across replicas, a disable on one reaches the other within a second, and the chain verifies."""
    config = CONFIG.format(url=pg_url)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Server(tmp_path / "a", config, env={"PODIUM_ADMIN_KEY": ADMIN})
    b = Server(tmp_path / "b", config, env={"PODIUM_ADMIN_KEY": ADMIN})
    try:
        url_a, url_b = f"http://127.0.0.1:{a.port}", f"http://127.0.0.1:{b.port}"
        made = call(
            url_a,
            "POST",
            "/admin/users",
            ADMIN,
            {"username": "ana", "password": "correct horse battery", "roles": ["auditor"]},
        )
        assert made.status == 201, made.body
        login = until(
            lambda: call(
                url_b, "POST", "/admin/login", None, {"username": "ana", "password": "correct horse battery"}
            ),
            lambda r: r.status == 200,
        )
        assert login.status == 200, login.body
        token = login.json()["token"]
        assert call(url_a, "GET", "/admin/me", token).json()["name"] == "ana"  # one session secret for both

        for url in (url_a, url_b):
            chat = {"model": "sim/echo", "messages": [{"role": "user", "content": f"via {url}"}]}
            assert call(url, "POST", "/v1/chat/completions", ADMIN, chat).status == 200

        t0 = time.monotonic()
        assert call(url_b, "DELETE", f"/admin/users/{made.json()['id']}", ADMIN).status == 200
        refused = until(lambda: call(url_a, "GET", "/admin/me", token), lambda r: r.status == 401)
        assert refused.code == "account_disabled" and time.monotonic() - t0 < 1.5

        time.sleep(0.5)  # both replicas flush their audit buffers every 50 ms
        verified = subprocess.run(
            [sys.executable, "-m", "podium", "audit", "verify", "--json", "--config", str(a.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["ok"] is True
        exported = subprocess.run(
            [sys.executable, "-m", "podium", "audit", "export", "--config", str(a.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        entries = [json.loads(line) for line in exported.stdout.splitlines()]
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
        prompts = {e["details"]["request_id"][:20] for e in entries if e["action"] == "model.call"}
        assert (
            len(prompts) == 2
        )  # one model call audited by each replica (request ids carry a per-process prefix)
        actions = {e["action"] for e in entries}
        assert {"admin.create_user", "admin.login", "admin.disable_user", "model.call"} <= actions
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
