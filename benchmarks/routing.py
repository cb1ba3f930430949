"""CPU cost of a routing decision, in process, and Redis round trips per request with Redis.

    python -m benchmarks.routing [--seconds 2]

Each scenario times ``Router.budget`` + ``Router.decide`` + the health bookkeeping of one attempt
(``begin`` and ``report``: breaker, moving averages, capacity counters) with ``time.process_time``,
so only this process's CPU counts. The Redis part drives a shared board at a steady request rate and
counts the round trips it made: the request path itself never waits on Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from podium.canonical import ChatRequest, Message
from podium.config import validate_config
from podium.config.model import Config
from podium.gateway.call import Call
from podium.gateway.catalog import Catalog
from podium.providers.http import ClientPool
from podium.routing.health import LocalHealth
from podium.routing.policy import Router
from podium.storage.records import KeyRecord

CONFIG: dict[str, Any] = {
    "providers": {"sim": {"type": "simulated", "region": "eu-west-1"}},
    "deployments": {
        "cheap": {"provider": "sim", "model": "echo", "price": {"input": 0.15, "output": 0.6}, "quality": 2},
        "coder": {
            "provider": "sim",
            "model": "echo",
            "price": {"input": 2, "output": 8},
            "quality": 4,
            "tasks": ["code"],
        },
        "smart": {
            "provider": "sim",
            "model": "echo",
            "price": {"input": 5, "output": 20},
            "quality": 5,
            "rpm": 100000,
        },
        "mid": {"provider": "sim", "model": "echo", "price": {"input": 1, "output": 4}, "quality": 3},
    },
    "routes": {
        "ordered": {"deployments": ["cheap", "mid"], "fallbacks": ["smart"]},
        "rules": {
            "deployments": ["cheap", "mid", "smart"],
            "strategy": "cost",
            "max_cost_usd": 1.0,
            "timeout_ms": 30000,
            "rules": [
                {"when": {"headers": {"x-tier": "gold"}}, "use": ["smart"]},
                {"when": {"metadata": {"team": "search"}}, "use": ["mid"]},
            ],
        },
        "auto": {
            "deployments": ["cheap", "coder", "smart"],
            "strategy": "cost",
            "rules": [
                {"when": {"task": ["code"]}, "use": ["coder"]},
                {"when": {"complexity": {"min": 0.6}}, "use": ["smart"]},
            ],
        },
    },
}

SHORT = "Hello! Could you tell me what the weather is usually like in Lisbon in May?"
LONG = ("Please review the following design and explain the trade-offs of each option in detail. " * 40)[
    :4000
]


def _call(router: Router, catalog: Catalog, model: str, text: str, key: KeyRecord) -> Call:
    chat = ChatRequest(model=model, messages=(Message(role="user", content=text),))
    call = Call(id="bench", api="chat", headers=CIMultiDictProxy(CIMultiDict()), principal=key, chat=chat)
    call.target = catalog.resolve(model)
    return call


def _measure(router: Router, call: Call, health: LocalHealth, seconds: float) -> float:
    """Microseconds of CPU per decision + one attempt's bookkeeping."""
    n = 0
    end = time.perf_counter() + seconds
    t0 = time.process_time()
    while time.perf_counter() < end:
        for _ in range(200):
            router.budget(call)
            d = router.decide(call)
            dep = d.plan[0].deployment
            health.get(dep).admit(time.time())
            health.begin(dep)
            health.report(dep, ok=True, probe=False, latency_ms=120.0, ttft_ms=40.0, tokens=300)
        n += 200
    return (time.process_time() - t0) / n * 1e6


async def _redis_round_trips(url: str, rps: int, seconds: float) -> tuple[int, int, float]:
    from podium.config.routing import Breaker
    from podium.routing.redis_health import RedisHealth

    board = RedisHealth(Breaker(), url=url, prefix=f"bench:{time.time_ns()}:", interval=0.1)
    await board.start()
    start_trips = board.round_trips
    requests = 0
    t0 = time.perf_counter()
    step = 1 / rps * 50
    try:
        while time.perf_counter() - t0 < seconds:
            for _ in range(50):
                dep = ("cheap", "coder", "smart")[requests % 3]
                board.get(dep).admit(time.time())
                board.begin(dep)
                board.report(dep, ok=True, probe=False, latency_ms=100.0, ttft_ms=30.0, tokens=200)
                requests += 1
            await asyncio.sleep(step)
    finally:
        trips = board.round_trips - start_trips
        await board.close()
    return requests, trips, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per scenario")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL ('' to skip)")
    parser.add_argument("--rps", type=int, default=2000, help="request rate for the Redis part")
    args = parser.parse_args()

    config = validate_config(msgspec.convert(CONFIG, Config))
    catalog = Catalog(config, ClientPool())
    health = LocalHealth(config.routing.breaker)
    router = Router(config, catalog, health)
    router.warm_up()
    key = KeyRecord(id="key_bench", name="bench", hash="x", prefix="pk", created_at=0.0)
    eu_key = msgspec.structs.replace(key, allowed_regions=("eu",))
    rows = [
        ("a deployment by name", _call(router, catalog, "cheap", SHORT, key)),
        ("route, ordered, 3 deployments", _call(router, catalog, "ordered", SHORT, key)),
        ("route, rules on headers/metadata, cost, budget", _call(router, catalog, "rules", SHORT, key)),
        ("same, EU-only key (residency filter)", _call(router, catalog, "rules", SHORT, eu_key)),
        ("route with classifier rules, 76-char message", _call(router, catalog, "auto", SHORT, key)),
        ("route with classifier rules, 4000-char message", _call(router, catalog, "auto", LONG, key)),
    ]
    print(f"routing decision + breaker/statistics bookkeeping, CPU per request ({args.seconds:g} s each):")
    for label, call in rows:
        print(f"  {label:<48} {_measure(router, call, health, args.seconds):8.1f} µs")
    c = router.classifier
    n = 2000
    for label, text in (("short", SHORT), ("4000 chars", LONG)):
        t0 = time.process_time()
        for _ in range(n):
            c.classify(text)
        print(f"  classifier alone, {label:<30} {(time.process_time() - t0) / n * 1e6:8.1f} µs")
    if args.redis:
        try:
            requests, trips, elapsed = asyncio.run(_redis_round_trips(args.redis, args.rps, args.seconds))
        except Exception as exc:
            print(f"Redis part skipped: {exc}")
            return
        print(
            f"with Redis: {requests} requests in {elapsed:.1f} s, {trips} round trips in the background "
            f"= {trips / max(1, requests):.4f} per request (0 on the request path)"
        )


if __name__ == "__main__":
    main()
