"""Two `podium serve` processes sharing one database: a label move reaches both within a second."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.cli.test_serve import ADMIN, Server, cli
from tests.pg import fresh_schema
from tests.prompts.helpers import call, summary_prompt

pytestmark = pytest.mark.slow

CONFIG = """
providers:
  sim:
    type: simulated
deployments:
  sim/*:
    provider: sim
    model: "*"
"""


_clients: dict[int, openai.OpenAI] = {}


def ask(server: Server) -> str:
    c = _clients.get(server.port)
    if c is None:
        c = _clients[server.port] = server.client()
    reply = c.chat.completions.create(
        model="prompt:summary@production",
        messages=[],
        extra_body={"podium": {"prompt": {"variables": {"text": "t"}}}},
    )
    return (reply.choices[0].message.content or "").split(":")[0]


def until(server: Server, marker: str, timeout: float = 5.0) -> float:
    """Seconds until ``server`` answers with ``marker``'s version."""
    started = time.monotonic()
    while True:
        try:
            if ask(server) == marker:
                return time.monotonic() - started
        except openai.NotFoundError:
            pass  # the replica has not seen the prompt yet
        assert time.monotonic() - started < timeout, f"{server.port} never served {marker}"


def admin(server: Server, method: str, path: str, body: object = None) -> tuple[int, object]:
    return call(f"http://127.0.0.1:{server.port}", ADMIN, method, path, body)


def exercise(tmp: Path, config: str) -> None:
    a = Server(tmp, config, env={"PODIUM_ADMIN_KEY": ADMIN})
    b = Server(tmp, config, env={"PODIUM_ADMIN_KEY": ADMIN})
    try:
        for marker in ("one", "two"):
            assert admin(a, "POST", "/admin/prompts/summary/versions", summary_prompt(marker))[0] == 201
        assert admin(a, "PUT", "/admin/prompts/summary/labels/production", {"version": 1})[0] == 200
        until(b, "one")

        # The move through replica A: A's very next request switches; B's within a second, for good.
        assert admin(a, "PUT", "/admin/prompts/summary/labels/production", {"version": 2})[0] == 200
        assert ask(a) == "two"
        assert until(b, "two") < 1.0
        assert [ask(s) for s in (a, b) for _ in range(5)] == ["two"] * 10

        # The move from the CLI, straight to storage: both replicas follow within a second.
        done = cli(tmp, "prompts", "label", "summary", "production", "--rollback")
        assert done.returncode == 0, done.stderr
        moved_at = time.monotonic()
        for server in (a, b):
            until(server, "one")
        assert time.monotonic() - moved_at < 1.0
        assert [ask(s) for s in (a, b) for _ in range(5)] == ["one"] * 10
    finally:
        for server in (a, b):
            client = _clients.pop(server.port, None)
            if client is not None:
                client.close()
        codes = [a.stop(), b.stop()]
    assert codes == [0, 0]


def test_label_move_reaches_both_replicas_on_sqlite(tmp_path: Path) -> None:
    """Two servers on one SQLite file: after moving production, both serve the new version within a second."""
    exercise(tmp_path, CONFIG)


async def test_label_move_reaches_both_replicas_on_postgres(tmp_path: Path) -> None:
    """Two servers on one PostgreSQL schema: after moving production, both serve the new version within a second."""
    async with fresh_schema() as url:
        exercise(tmp_path, CONFIG + f"storage:\n  url: {url}\n")
