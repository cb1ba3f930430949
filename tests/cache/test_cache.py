"""The response cache through the public surface: the official SDK against a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
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


def ask(c: openai.OpenAI, messages: Any = None, *, model: str = "sim/echo", **kw: Any) -> tuple[str, Any]:
    """``(x-podium-cache, the completion)``."""
    raw = c.chat.completions.with_raw_response.create(model=model, messages=messages or QUESTION, **kw)
    return raw.headers.get("x-podium-cache"), raw.parse()


def settle(gw: GatewayThread) -> None:
    gw.run(gw.gateway.state.flush)


def test_identical_deterministic_request_is_served_from_the_cache(start: Any) -> None:
    """A repeated temperature-0 request is a hit: same answer, no upstream cost, and the record says so."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    status, first = ask(c, model="sim/lorem", temperature=0)
    assert status == "miss"
    settle(gw)
    status, second = ask(c, model="sim/lorem", temperature=0)
    assert status == "hit"
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage.total_tokens == first.usage.total_tokens
    records = gw.wait_records(2)
    assert [r.cache for r in records] == ["miss", "hit"]
    assert records[1].cost_usd == 0 and records[1].deployment is None and records[0].cost_usd > 0


def test_only_deterministic_requests_are_cached_unless_the_route_says_otherwise(start: Any) -> None:
    """Without temperature 0 or a seed a request skips the cache; a seed qualifies; a route may cache everything."""
    gw = start(
        {
            "routes": {"chatty": {"deployments": ["sim/lorem"]}},
            "cache": {"exact": True, "routes": {"chatty": {"deterministic_only": False}}},
        }
    )
    c = client(gw)
    assert ask(c, model="sim/lorem")[0] == "skip"
    settle(gw)
    assert ask(c, model="sim/lorem")[0] == "skip"
    assert ask(c, model="sim/lorem", seed=7)[0] == "miss"
    settle(gw)
    assert ask(c, model="sim/lorem", seed=7)[0] == "hit"
    assert ask(c, model="chatty")[0] == "miss"
    settle(gw)
    assert ask(c, model="chatty")[0] == "hit"


def test_tenants_never_see_each_others_answers(start: Any) -> None:
    """An answer cached for one tenant is a miss for another tenant and a hit for the same tenant's other keys."""
    gw = start({"cache": {"exact": True}})
    acme = client(gw, gw.new_key(name="acme", tenant="acme"))
    acme2 = client(gw, gw.new_key(name="acme2", tenant="acme"))
    globex = client(gw, gw.new_key(name="globex", tenant="globex"))
    assert ask(acme, temperature=0)[0] == "miss"
    settle(gw)
    assert ask(globex, temperature=0)[0] == "miss"
    assert ask(acme2, temperature=0)[0] == "hit"


def test_a_cached_answer_replays_as_a_stream_and_a_stream_is_cached(start: Any) -> None:
    """An answer stored from a plain call streams on a hit in pieces, and a streamed answer serves a plain hit."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    _, plain = ask(c, model="sim/lorem", temperature=0)
    settle(gw)
    with c.chat.completions.with_streaming_response.create(
        model="sim/lorem",
        messages=QUESTION,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ) as raw:
        assert raw.headers["x-podium-cache"] == "hit"
        chunks = list(raw.parse())
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == plain.choices[0].message.content
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) > 1
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == plain.usage.total_tokens

    other = [{"role": "user", "content": "Stream me something."}]
    streamed = "".join(
        ch.choices[0].delta.content or ""
        for ch in c.chat.completions.create(model="sim/lorem", messages=other, temperature=0, stream=True)
        if ch.choices
    )
    settle(gw)
    status, hit = ask(c, other, model="sim/lorem", temperature=0)
    assert status == "hit" and hit.choices[0].message.content == streamed


def test_tool_calls_are_cached_and_replayed(start: Any) -> None:
    """A tool-call answer comes back from the cache with the same calls and arguments."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    _, first = ask(c, model="sim/tools", tools=tools, temperature=0)
    settle(gw)
    status, second = ask(c, model="sim/tools", tools=tools, temperature=0)
    assert status == "hit"
    assert [t.function.arguments for t in second.choices[0].message.tool_calls] == [
        t.function.arguments for t in first.choices[0].message.tool_calls
    ]
    assert second.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("headers", "first", "stored"),
    [
        ({"cache-control": "no-cache"}, "skip", True),
        ({"x-podium-cache": "refresh"}, "skip", True),
        ({"cache-control": "no-store"}, "skip", False),
        ({"x-podium-cache": "off"}, "skip", False),
    ],
)
def test_callers_opt_out_per_request(start: Any, headers: dict[str, str], first: str, stored: bool) -> None:
    """no-cache/refresh skip the lookup but store the answer; no-store/off neither look up nor store."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    ask(c, temperature=0)  # an entry exists: an opted-out call must not be served from it
    settle(gw)
    status, _ = ask(c, QUESTION, temperature=0, extra_headers=headers)
    assert status == first
    other = [{"role": "user", "content": "Something not asked before."}]
    ask(c, other, temperature=0, extra_headers=headers)
    settle(gw)
    assert ask(c, other, temperature=0)[0] == ("hit" if stored else "miss")


def test_entries_expire_after_their_ttl(start: Any) -> None:
    """An entry is served until its TTL passes, then the request goes upstream again."""
    gw = start({"cache": {"exact": True, "ttl_seconds": 0.4}})
    c = client(gw)
    ask(c, temperature=0)
    settle(gw)
    assert ask(c, temperature=0)[0] == "hit"
    time.sleep(0.5)
    assert ask(c, temperature=0)[0] == "miss"


def test_normalisation_ignores_what_does_not_change_the_answer(start: Any) -> None:
    """Text parts equal the same string, user and metadata do not matter; another model or setting does."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    ask(c, temperature=0, user="alice")
    settle(gw)
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    assert ask(c, parts, temperature=0, user="bob", metadata={"run": "2"})[0] == "hit"
    assert ask(c, temperature=0, max_tokens=5)[0] == "miss"
    assert ask(c, model="sim/lorem", temperature=0)[0] == "miss"


def test_embeddings_are_cached_exactly(start: Any) -> None:
    """An identical embeddings request is a hit with the same vectors and no cost."""
    gw = start({"cache": {"exact": True}})
    c = client(gw)
    first = c.embeddings.with_raw_response.create(model="sim/embed", input=["alpha", "beta"])
    assert first.headers["x-podium-cache"] == "miss"
    settle(gw)
    second = c.embeddings.with_raw_response.create(model="sim/embed", input=["alpha", "beta"])
    assert second.headers["x-podium-cache"] == "hit"
    assert [d.embedding for d in second.parse().data] == [d.embedding for d in first.parse().data]
    records = gw.wait_records(2)
    assert records[1].cache == "hit" and records[1].cost_usd == 0


def test_semantic_cache_answers_a_paraphrase_but_not_another_question(start: Any) -> None:
    """With the semantic cache on a route, a reworded question is a semantic hit; a different one is not."""
    gw = start(
        {
            "routes": {"support": {"deployments": ["sim/echo"]}},
            "cache": {"routes": {"support": {"semantic": True, "threshold": 0.85}}},
        }
    )
    c = client(gw)
    _, first = ask(c, model="support", temperature=0)
    settle(gw)
    status, again = ask(
        c, [{"role": "user", "content": "what's the capital city of france"}], model="support", temperature=0
    )
    assert status == "semantic-hit"
    assert again.choices[0].message.content == first.choices[0].message.content
    status, _ = ask(c, [{"role": "user", "content": "How do I bake bread?"}], model="support", temperature=0)
    assert status == "miss"
    system = [{"role": "system", "content": "Answer in German."}, *QUESTION]
    assert ask(c, system, model="support", temperature=0)[0] == "miss"  # another scope: another system prompt
    assert gw.wait_records(4)[1].cache == "semantic-hit"


def test_semantic_model_loads_offline_from_the_package() -> None:
    """The embedding model is read from the installed wheel, with every network connection refused."""
    import socket

    from podium.cache.semantic import load_embedder

    original = socket.socket.connect

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the embedding model tried to use the network")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        embedder = load_embedder()
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
    a, b, c = (
        embedder.embed(t) for t in ("the capital of France", "France's capital city", "bake some bread")
    )
    assert float(a @ b) > 0.8 > float(a @ c)


def test_unknown_cache_route_and_bad_threshold_are_config_problems() -> None:
    """podium check reports cache settings for unknown models and thresholds outside (0, 1] by path."""
    from podium.config import parse_config
    from podium.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(
            "providers: {sim: {type: simulated}}\ncache: {threshold: 0, routes: {nope: {exact: true}}}\n",
            environ={},
        )
    text = str(caught.value)
    assert (
        "cache.threshold: must be in (0, 1]" in text
        and "cache.routes.nope: unknown route or deployment" in text
    )
