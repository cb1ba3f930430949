"""Limits through the public surface: the official SDK against a real server, in-process state."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url

SLOW = "sim/echo?latency_ms=1000"
TEXT = "word " * 10  # about 12 tokens estimated; the echo reports ~10 in and ~10 out


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """Starts a gateway with the given extra config sections; stops it afterwards."""
    started: list[GatewayThread] = []

    def run(extra: dict[str, Any]) -> GatewayThread:
        gw = GatewayThread(make_config(extra), sqlite_url(tmp_path / str(len(started)))).start()
        started.append(gw)
        return gw

    yield run
    for gw in started:
        gw.stop()


def client(gw: GatewayThread, key: str | None = None) -> openai.OpenAI:
    return gw.openai(key)  # closed when the ``start`` fixture stops the gateway


def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def readyz(gw: GatewayThread) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(gw.url + "/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def chat(c: openai.OpenAI, model: str = "sim/echo", text: str = "hi", **kw: Any) -> Any:
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def test_rpm_admits_n_then_429_with_retry_after_and_the_limits_name(start: Any) -> None:
    """Over an RPM limit the caller gets 429, Retry-After, the limit's name, and the record says which limit."""
    gw = start({"limits": {"per-key": {"rpm": 3}}})
    c = client(gw)
    for _ in range(3):
        chat(c)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(c)
    response = caught.value.response
    assert response.headers["x-podium-limit"] == "per-key.rpm"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert "per-key.rpm" in caught.value.message and "3 requests per minute per key" in caught.value.message
    assert caught.value.code == "rate_limit_exceeded"
    other = client(gw, gw.new_key(name="other"))
    chat(other)  # per key: another key has its own counter
    records = gw.wait_records(5)
    refused = [r for r in records if r.status == 429]
    assert len(refused) == 1 and refused[0].limit_hit == "per-key.rpm"


def test_a_limit_matches_by_model_and_tenant_and_counts_per_tenant(start: Any) -> None:
    """A tenant rule counts every key of the tenant together, only for the models it matches."""
    gw = start(
        {
            "limits": {
                "acme": {"per": "tenant", "match": {"tenants": ["acme"], "models": ["sim/e*"]}, "rpm": 2}
            }
        }
    )
    a = client(gw, gw.new_key(name="a", tenant="acme"))
    b = client(gw, gw.new_key(name="b", tenant="acme"))
    chat(a)
    chat(b)
    with pytest.raises(openai.RateLimitError):
        chat(a)
    chat(a, model="sim/lorem")  # another model: the rule does not apply
    chat(client(gw))  # another tenant: nor here


def test_tpm_estimates_before_and_reconciles_after(start: Any) -> None:
    """TPM counts max_tokens up front and gives back what the answer did not use, once the record is written."""
    gw = start({"limits": {"tokens": {"tpm": 100}}})
    c = client(gw)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(c, max_tokens=500)
    assert "alone exceeds" in caught.value.message and "retry-after" not in caught.value.response.headers
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(chat, c, SLOW, max_tokens=80)  # estimated ~81 tokens
        until(lambda: len(gw.gateway.limiter._live) >= 1)
        with pytest.raises(openai.RateLimitError):
            chat(c, max_tokens=80)  # 162 > 100 while the first is still counted at its estimate
        first.result()
    gw.wait_records(3)
    gw.run(gw.gateway.state.flush)
    chat(c, max_tokens=80)  # the first really used a handful of tokens: room again


def test_concurrency_limit_refuses_or_queues(start: Any) -> None:
    """Past a concurrency limit a second call is refused, or with a queue waits for the first to finish."""
    gw = start(
        {
            "limits": {
                "one-at-a-time": {"concurrent": 1, "match": {"keys": ["plain"]}},
                "queued": {"concurrent": 1, "match": {"keys": ["queued"]}, "queue": {"max_wait_seconds": 5}},
            }
        }
    )
    plain = client(gw, gw.new_key(name="plain"))
    queued = client(gw, gw.new_key(name="queued"))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        first = pool.submit(chat, plain, SLOW)
        until(lambda: len(gw.gateway.limiter._live) >= 1)
        with pytest.raises(openai.RateLimitError) as caught:
            chat(plain)
        assert caught.value.response.headers["x-podium-limit"] == "one-at-a-time.concurrent"
        first.result()
        chat(plain)  # released when the first ended

        a = pool.submit(chat, queued, SLOW)
        until(lambda: len(gw.gateway.limiter._live) >= 1)
        t0 = time.monotonic()
        chat(queued)
        assert time.monotonic() - t0 > 0.2
        a.result()
    waited = [r for r in gw.wait_records(5) if r.queued_ms is not None]
    assert len(waited) == 1 and waited[0].limit_hit == "queued.concurrent" and waited[0].queued_ms > 200


def test_queue_serves_higher_priority_first_and_bounds_the_wait(start: Any) -> None:
    """Waiting calls are admitted highest priority first; one that cannot be admitted in time gets a 429."""
    gw = start({"limits": {"q": {"concurrent": 1, "queue": {"max_wait_seconds": 8, "max_size": 2}}}})
    c = client(gw)
    order: list[str] = []
    lock = threading.Lock()

    def call(name: str, priority: int | None) -> None:
        headers = {"x-podium-priority": str(priority)} if priority is not None else {}
        chat(c, SLOW, extra_headers=headers)
        with lock:
            order.append(name)

    limiter = gw.gateway.limiter

    def waiting() -> int:
        return sum(len(q) for q in list(limiter._queues.values()))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        holder = pool.submit(call, "holder", None)
        until(lambda: len(limiter._live) == 1)
        low = pool.submit(call, "low", 1)
        until(lambda: waiting() == 1)
        high = pool.submit(call, "high", 5)
        until(lambda: waiting() == 2)
        with pytest.raises(openai.RateLimitError) as caught:
            chat(c)  # the queue holds two: a third is refused at once
        assert caught.value.response.headers["x-podium-limit"] == "q.concurrent"
        for f in (holder, low, high):
            f.result()
    assert order == ["holder", "high", "low"]


def test_priority_header_cannot_raise_above_the_keys(start: Any) -> None:
    """x-podium-priority lowers a key's priority but never raises it above the key's own."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from podium.limits.limiter import _priority
    from podium.storage.records import KeyRecord

    key = KeyRecord(id="k", name="k", hash="h", prefix="p", created_at=0, metadata={"priority": "6"})
    assert _priority(key, CIMultiDictProxy(CIMultiDict({"x-podium-priority": "9"}))) == 6
    assert _priority(key, CIMultiDictProxy(CIMultiDict({"x-podium-priority": "2"}))) == 2
    assert _priority(key, CIMultiDictProxy(CIMultiDict())) == 6


def test_budget_counts_streams_and_embeddings_then_refuses_until_the_period_ends(start: Any) -> None:
    """Spend from streamed chat and from embeddings counts against one daily budget; over it, 429 until midnight UTC."""
    gw = start({"limits": {"daily": {"per": "key", "usd_per_day": 0.0004}}})
    c = client(gw)
    stream = chat(c, text="word " * 400, stream=True)  # ~400 input tokens at $1/M: $0.0004
    assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    gw.wait_records(1)
    gw.run(gw.gateway.state.flush)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(c)
    assert caught.value.code == "budget_exceeded"
    assert caught.value.response.headers["x-podium-limit"] == "daily.usd_per_day"
    midnight = 86400 - time.time() % 86400
    assert abs(int(caught.value.response.headers["retry-after"]) - midnight) < 5

    other = client(gw, gw.new_key(name="embedder"))
    other.embeddings.create(model="sim/embed", input=["x " * 800])  # ~800 tokens at $1/M
    gw.wait_records(3)
    gw.run(gw.gateway.state.flush)
    with pytest.raises(openai.RateLimitError):
        other.embeddings.create(model="sim/embed", input=["x"])
    with pytest.raises(openai.RateLimitError):
        chat(other)


def test_a_cache_hit_counts_as_a_request_but_spends_no_tokens(start: Any) -> None:
    """A request answered from the cache counts against RPM, and the tokens it would have used are not charged to TPM."""
    gw = start({"limits": {"k": {"rpm": 5, "tpm": 40}}, "cache": {"exact": True}})
    c = client(gw)
    chat(c, text=TEXT, temperature=0)
    (miss,) = gw.wait_records(1)
    gw.run(gw.gateway.state.flush)
    assert (
        miss.cache == "miss" and miss.input_tokens + miss.output_tokens >= 15
    )  # two real charges and an estimate would not fit
    for _ in range(4):
        r = c.chat.completions.with_raw_response.create(
            model="sim/echo", messages=[{"role": "user", "content": TEXT}], temperature=0
        )
        assert r.headers["x-podium-cache"] == "hit"
        gw.wait_records(len(gw.records()) + 1)
        gw.run(gw.gateway.state.flush)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(c, text=TEXT, temperature=0)  # the sixth request in the minute, hit or not
    assert caught.value.response.headers["x-podium-limit"] == "k.rpm"


def test_no_limits_configured_means_no_limits_step(start: Any) -> None:
    """Without limits the pipeline has no limits step at all (a switched-off step costs nothing)."""
    gw = start({})
    steps = [getattr(s, "__name__", "") for s in gw.gateway._steps(gw.gateway.catalog, "chat")]
    assert "limit" not in steps
    gw2 = start({"limits": {"x": {"rpm": 5}}})
    assert "limit" in [getattr(s, "__name__", "") for s in gw2.gateway._steps(gw2.gateway.catalog, "chat")]


def test_redis_down_fail_open_serves_and_fail_closed_refuses(
    start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis unreachable, 'open' serves unlimited, 'closed' answers 503; /readyz reports it, logged once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    limits = {"per-key": {"rpm": 1}}
    opened = start({"limits": limits, "state": {"redis_url": dead, "on_unavailable": "open"}})
    c = client(opened)
    for _ in range(3):
        chat(c)  # limits unenforced while the state is down
    status, body = readyz(opened)
    assert status == 200 and body["checks"]["shared_state"].startswith("unreachable")

    closed = start({"limits": limits, "state": {"redis_url": dead, "on_unavailable": "closed"}})
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client(closed))
    assert caught.value.status_code == 503 and caught.value.code == "state_unavailable"
    assert readyz(closed)[0] == 503
    outages = [r for r in caplog.records if "shared state unreachable" in r.getMessage()]
    assert len(outages) == 2  # once per server, not once per request
