"""A deployment on another OpenAI-compatible server, over a real socket: the standalone simulator.

Every upstream failure reaches the caller as the right OpenAI error, and fallbacks take over.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url

UPSTREAM_KEY = "sk-upstream-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    """``podium simulate`` in its own process, requiring a bearer key; yields its /v1 base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "simulate", "--port", str(port), "--api-key", UPSTREAM_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def upstream_config(base_url: str, *, api_key: str = UPSTREAM_KEY) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 1.0, "total": 3}
    return {
        "providers": {"upstream": {"type": "openai-compatible", "base_url": base_url, "api_key": api_key}},
        "deployments": {
            "up-echo": {
                "provider": "upstream",
                "model": "echo",
                "timeouts": fast,
                "capabilities": ["chat", "streaming", "tools", "json_schema", "json_object", "embeddings"],
            },
            "up-500": {"provider": "upstream", "model": "echo?status=500", "timeouts": fast},
            "up-429": {"provider": "upstream", "model": "echo?status=429&retry_after=7", "timeouts": fast},
            "up-404": {"provider": "upstream", "model": "echo?status=404", "timeouts": fast},
            "up-hang": {"provider": "upstream", "model": "echo?hang=true", "timeouts": fast},
            "up-garbage": {"provider": "upstream", "model": "echo?malformed=true", "timeouts": fast},
            "up-cut": {"provider": "upstream", "model": "echo?disconnect_after=2", "timeouts": fast},
            "up-slow": {"provider": "upstream", "model": "echo?chunk_delay_ms=20", "timeouts": fast},
        },
        "routes": {
            "resilient": {"deployments": ["up-500"], "fallbacks": ["up-hang", "up-echo"]},
        },
    }


@pytest.fixture
def gw(tmp_path: Path, simulator: str) -> Iterator[GatewayThread]:
    g = GatewayThread(make_config(upstream_config(simulator)), sqlite_url(tmp_path)).start()
    try:
        yield g
    finally:
        g.stop()


def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, timeout=15)


def ask(c: openai.OpenAI, model: str, text: str = "hello upstream", **kw: Any) -> Any:
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def test_chat_stream_and_embeddings_through_upstream(gw: GatewayThread, simulator: str) -> None:
    """Chat, streaming and embeddings reach the upstream with Podium's credential and come back intact."""
    with client(gw) as c:
        assert ask(c, "up-echo").choices[0].message.content == "hello upstream"
        text = "".join(
            ch.choices[0].delta.content or ""
            for ch in ask(c, "up-echo", "a b c d", stream=True)
            if ch.choices
        )
        assert text == "a b c d"
        emb = c.embeddings.create(model="up-echo", input=["vector me"])
        assert len(emb.data[0].embedding) > 0
    with urllib.request.urlopen(simulator.removesuffix("/v1") + "/sim/requests", timeout=5) as resp:
        seen = json.loads(resp.read())
    assert seen, "the simulator recorded nothing"
    last_chat = [r for r in seen if r["path"].endswith("/chat/completions")][-1]
    assert last_chat["body"]["model"] == "echo"
    assert last_chat["body"]["stream_options"] == {
        "include_usage": True
    }  # Podium always asks, for accounting
    records = gw.wait_records(3)
    streamed = next(r for r in records if r.streamed)
    assert streamed.output_tokens > 0 and streamed.deployment == "up-echo"


def test_upstream_rejects_podiums_credential(tmp_path: Path, simulator: str) -> None:
    """An upstream 401 (Podium's provider key is wrong) is a 502 that says so, not the caller's 401."""
    g = GatewayThread(
        make_config(upstream_config(simulator, api_key="sk-wrong")), sqlite_url(tmp_path)
    ).start()
    try:
        with client(g) as c, pytest.raises(openai.APIStatusError) as exc:
            ask(c, "up-echo")
        assert exc.value.status_code == 502
        assert exc.value.code == "upstream_authentication_error"
        assert "401" in exc.value.message
    finally:
        g.stop()


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("up-500", 502, "upstream_server_error"),
        ("up-404", 502, "upstream_not_found"),
        ("up-429", 429, "upstream_rate_limited"),
        ("up-hang", 504, "upstream_timeout"),
        ("up-garbage", 502, "upstream_protocol_error"),
    ],
)
def test_upstream_failures_map_to_errors(gw: GatewayThread, model: str, status: int, code: str) -> None:
    """Each upstream failure reaches the caller with the right status and error code, and one record."""
    with client(gw) as c, pytest.raises(openai.APIStatusError) as exc:
        ask(c, model)
    assert exc.value.status_code == status
    assert exc.value.code == code
    if status == 429:
        assert exc.value.response.headers["retry-after"] == "7"
    (record,) = gw.wait_records(1)
    assert record.status == status and record.error_class == code and record.deployment == model


def test_stream_cut_mid_way_reaches_client_as_error(gw: GatewayThread) -> None:
    """An upstream that drops the connection mid-stream ends the caller's stream with an error event."""
    with client(gw) as c:
        stream = ask(c, "up-cut", "w1 w2 w3 w4 w5 w6", stream=True)
        got: list[str] = []
        with pytest.raises(openai.APIError):
            for ch in stream:
                if ch.choices and ch.choices[0].delta.content:
                    got.append(ch.choices[0].delta.content)  # noqa: PERF401 - must keep what came before the error
    assert got, "the first chunks should have arrived before the cut"
    (record,) = gw.wait_records(1)
    assert record.status == 502 and record.error_class == "upstream_connection_error" and record.streamed


def test_malformed_stream_is_an_error(gw: GatewayThread) -> None:
    """A streamed answer that is not SSE JSON is an upstream protocol error for the caller."""
    with client(gw) as c, pytest.raises(openai.APIError):
        list(ask(c, "up-garbage", stream=True))


def test_route_falls_back_in_order(gw: GatewayThread) -> None:
    """A route whose first deployments fail (500, then a hang past its timeout) is answered by the next."""
    t0 = time.monotonic()
    with client(gw) as c:
        reply = ask(c, "resilient", "fallback works")
    assert reply.choices[0].message.content == "fallback works"
    assert time.monotonic() - t0 < 5
    (record,) = gw.wait_records(1)
    assert record.route == "resilient" and record.deployment == "up-echo" and record.attempts == 3


def test_client_disconnect_is_recorded(gw: GatewayThread) -> None:
    """A caller that goes away mid-stream leaves a 499 record, and the server keeps serving."""
    gw.leave_mid_stream("up-slow")
    (record,) = gw.wait_records(1)
    assert record.status == 499 and record.error_class == "client_closed"
    assert record.latency_ms < 2000  # the 200-word stream (4 s at 20 ms a word) was abandoned
    with client(gw) as c:
        assert ask(c, "up-echo", "still fine").choices[0].message.content == "still fine"
