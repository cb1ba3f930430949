"""Upstream refusals for context length or content policy go to the route's designated deployments."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from tests.harness import GatewayThread, make_config, sqlite_url
from tests.routing.conftest import ask, client

REFUSALS = {
    "too-long": {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    },
    "policy": {
        "message": "Your request was rejected.",
        "type": "invalid_request_error",
        "code": "content_policy_violation",
    },
    "plain": {"message": "'temperature' is out of range.", "type": "invalid_request_error", "code": None},
}


async def _refuse(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"error": {**REFUSALS[body["model"]], "param": None}}, status=400)


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    """A gateway whose 'refusing' provider answers every call with an OpenAI 400 of a given kind."""
    runner: web.AppRunner
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _refuse)
    # The upstream runs on a loop of its own, in a thread, like the gateway.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start_upstream() -> int:
        nonlocal runner
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    port = asyncio.run_coroutine_threadsafe(start_upstream(), loop).result(10)
    sections = {
        "providers": {"refusing": {"type": "openai-compatible", "base_url": f"http://127.0.0.1:{port}/v1"}},
        "deployments": {
            "long-refuser": {"provider": "refusing", "model": "too-long"},
            "policy-refuser": {"provider": "refusing", "model": "policy"},
            "plain-refuser": {"provider": "refusing", "model": "plain"},
            "long-context": {"provider": "sim", "model": "echo"},
            "lenient": {"provider": "sim", "model": "echo"},
        },
        "routes": {
            "r": {
                "deployments": ["long-refuser"],
                "on_context_overflow": ["long-context"],
                "on_content_policy": ["lenient"],
            },
            "p": {"deployments": ["policy-refuser"], "on_content_policy": ["lenient"]},
            "q": {
                "deployments": ["plain-refuser"],
                "fallbacks": ["lenient"],
                "on_content_policy": ["lenient"],
            },
            "none": {"deployments": ["policy-refuser"]},
        },
    }
    gateway = GatewayThread(make_config(sections), sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_context_length_refusal_goes_to_the_long_context_deployment(gw: GatewayThread) -> None:
    """An upstream context_length_exceeded is answered by the route's on_context_overflow deployment."""
    with client(gw) as c:
        raw = ask(c, "r")
    assert "deployment=long-context;" in raw.headers["x-podium-route"]
    assert "long-refuser (context_length_exceeded)" in raw.headers["x-podium-route"]


def test_content_policy_refusal_goes_to_the_designated_deployment(gw: GatewayThread) -> None:
    """An upstream content-policy refusal is answered by the route's on_content_policy deployment."""
    with client(gw) as c:
        raw = ask(c, "p")
    assert "deployment=lenient;" in raw.headers["x-podium-route"]


def test_other_400s_and_undesignated_refusals_reach_the_caller(gw: GatewayThread) -> None:
    """A plain upstream 400 is the caller's even with fallbacks; a refusal without a designated deployment too."""
    with client(gw) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            ask(c, "q")
        assert exc.value.code == "upstream_rejected_request"
        with pytest.raises(openai.BadRequestError) as exc:
            ask(c, "none")
        assert exc.value.code == "content_policy_violation"
