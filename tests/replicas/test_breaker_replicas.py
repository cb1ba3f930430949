"""Two `podium serve` processes sharing Redis and PostgreSQL: a circuit opened by one is honoured by the other."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.test_serve import ADMIN, Server
from tests.pg import fresh_schema
from tests.redis_server import fresh_prefix

pytestmark = pytest.mark.slow

CONFIG = """
storage: {{url: "{pg}"}}
state: {{redis_url: "{redis}", key_prefix: "{prefix}"}}
routing:
  breaker: {{consecutive_failures: 3, open_seconds: 60}}
  sync_interval_ms: 50
providers:
  sim: {{type: simulated}}
deployments:
  flaky: {{provider: sim, model: "echo?status=500"}}
  backup: {{provider: sim, model: echo}}
routes:
  r: {{deployments: [flaky], fallbacks: [backup]}}
"""


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[str]:
    """The configuration of a fresh PostgreSQL schema and a fresh Redis key prefix."""
    async with fresh_schema() as pg, fresh_prefix() as (redis, prefix):
        yield CONFIG.format(pg=pg, redis=redis, prefix=prefix)


def post(port: int, path: str, body: dict[str, object]) -> tuple[dict[str, str], dict[str, object]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return dict(resp.headers), json.loads(resp.read())


def get(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return dict(json.loads(resp.read()))


CHAT = {"model": "r", "messages": [{"role": "user", "content": "hello"}]}


def test_circuit_opened_on_one_replica_is_honoured_by_the_other(tmp_path: Path, shared: str) -> None:
    """Failures seen by replica A open flaky's circuit; replica B then skips flaky without calling it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Server(tmp_path / "a", shared, env={"PODIUM_ADMIN_KEY": ADMIN})
    b = Server(tmp_path / "b", shared, env={"PODIUM_ADMIN_KEY": ADMIN})
    try:
        for server in (a, b):
            ready = get(server.port, "/readyz")
            assert ready["checks"]["routing_state"] == {"backend": "redis", "ok": True}  # type: ignore[index]
        # B has routed to the route once, so it tracks flaky; the circuit is still closed there.
        headers, _ = post(b.port, "/v1/chat/completions", CHAT)
        assert "fallback after flaky" in headers["x-podium-route"]
        # A sees flaky fail until its circuit opens (failures seen by B count too: they add up).
        seen = []
        for _ in range(4):
            headers, _ = post(a.port, "/v1/chat/completions", CHAT)
            seen.append(headers["x-podium-route"])
        assert "fallback after flaky" in seen[0] and "skipped flaky (circuit open)" in seen[-1]
        deadline = time.monotonic() + 5
        while True:
            _, explained = post(b.port, "/v1/route/explain", CHAT)
            if "circuit open" in str(explained["reason"]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert explained["plan"] == ["backup"] and "skipped flaky (circuit open)" in str(explained["reason"])
        headers, body = post(b.port, "/v1/chat/completions", CHAT)
        assert headers["x-podium-route"].startswith("route=r; deployment=backup;")
        assert "skipped flaky (circuit open)" in headers["x-podium-route"]
        assert body["choices"][0]["message"]["content"] == "hello"  # type: ignore[index]
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
