"""CPU per request of the limit check and the exact-cache lookup, and Redis round trips per request.

    python -m benchmarks.limits_cache [--requests N] [--redis redis://127.0.0.1:6379/0]

In process: a real :class:`~podium.gateway.app.Gateway` (no server socket) runs its chat pipeline
for a request under a per-key limit (RPM, TPM, concurrency) with the exact cache on, against a
terminal that answers at once. Measured with ``time.process_time`` over many requests:

* ``pipeline, no limits or cache``: authorize, resolve, routing — the baseline;
* ``+ limits + exact cache, miss``: the same plus the limit check, the cache lookup (a miss) and
  storing the answer, then the call's release and settlement;
* ``+ limits + exact cache, hit``: the same request answered from the cache.

With Redis (``--redis``): the same requests against Redis, counting the calls that waited on Redis
(on the request path) and the pipelined writes (off it) per request, sequentially and 100 at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from podium.canonical import ChatRequest, Finish, Message, ResponseStart, TextDelta, Usage
from podium.config import validate_config
from podium.config.model import Config
from podium.gateway.app import Gateway
from podium.gateway.call import Call, Primed
from podium.gateway.pipeline import compose
from podium.storage import open_storage
from podium.storage.records import KeyRecord, RequestRecord

SIM = {
    "providers": {"sim": {"type": "simulated"}},
    "deployments": {"sim/*": {"provider": "sim", "model": "*", "price": {"input": 1.0, "output": 2.0}}},
}
LIMITS = {"per-key": {"rpm": 10_000_000, "tpm": 10_000_000_000, "concurrent": 100_000}}
KEY = KeyRecord(id="key_bench", name="bench", hash="h", prefix="pk-", created_at=0)
HEADERS = CIMultiDictProxy(CIMultiDict({"content-type": "application/json"}))


def config(extra: dict[str, Any]) -> Config:
    return validate_config(msgspec.convert({**SIM, **extra}, Config))


async def answer(call: Call) -> Primed:
    async def rest() -> Any:
        yield TextDelta(text="Paris.")
        yield Finish(reason="stop")
        yield Usage(input_tokens=12, output_tokens=2)

    return Primed(first=ResponseStart(id="x", model="echo", created=0), rest=rest())


def request(i: int, distinct: bool) -> ChatRequest:
    text = f"What is the capital of France? ({i})" if distinct else "What is the capital of France?"
    return ChatRequest(model="sim/echo", messages=(Message(role="user", content=text),), temperature=0)


PATH_CPU = [0.0]  # CPU spent until the answer began (the request path), sequential runs only


async def run_pipeline(gw: Gateway, n: int, *, distinct: bool, concurrency: int = 1) -> float:
    """CPU seconds per request for ``n`` requests through the chat pipeline and their aftermath."""
    handler = compose(gw._steps(gw.catalog, "chat"), answer)
    PATH_CPU[0] = 0.0

    async def one(i: int) -> None:
        call = Call(id=f"req_{i}", api="chat", headers=HEADERS, principal=KEY, chat=request(i, distinct))
        t = time.process_time()
        primed = await handler(call)
        PATH_CPU[0] += time.process_time() - t
        async for _ in primed.rest:  # type: ignore[attr-defined]
            pass
        if call.limits is not None:
            gw.limiter.finish(call.limits)
            gw.limiter.settle(
                call.limits,
                RequestRecord(
                    id=call.id,
                    created_at=0,
                    key_id=KEY.id,
                    requested_model="sim/echo",
                    status=200,
                    latency_ms=1,
                    input_tokens=12,
                    output_tokens=2,
                    cost_usd=0.000016,
                    cache=call.cache,
                ),
            )

    t0 = time.process_time()
    for start in range(0, n, concurrency):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + concurrency))))
    await gw.state.flush()
    return (time.process_time() - t0) / n


async def gateway(tmp: Path, extra: dict[str, Any]) -> tuple[Gateway, Any]:
    storage = await open_storage(f"sqlite:///{tmp / 'bench.db'}")
    await storage.migrate()
    gw = Gateway(config(extra), storage)
    await gw.state.start()
    return gw, storage


async def in_process(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base, s1 = await gateway(tmp / "a", {})
        full, s2 = await gateway(tmp / "b", {"limits": LIMITS, "cache": {"exact": True}})
        try:
            for gw in (base, full):  # warm-up: lazy imports, first-use set-up
                await run_pipeline(gw, 2000, distinct=True)
            baseline = await run_pipeline(base, n, distinct=True)
            base_path = PATH_CPU[0] / n
            miss = await run_pipeline(full, n, distinct=True)
            miss_path = PATH_CPU[0] / n
            await run_pipeline(full, 1, distinct=False)
            hit = await run_pipeline(full, n, distinct=False)
            hit_path = PATH_CPU[0] / n
        finally:
            for gw, s in ((base, s1), (full, s2)):
                await gw.state.close()
                await s.close()
    print(f"in process, {n} requests each (CPU per request: until the answer begins / in all)")
    print(f"  pipeline, no limits or cache           {base_path * 1e6:7.1f} µs / {baseline * 1e6:7.1f} µs")
    print(
        f"  + limits + exact cache, miss + store   {miss_path * 1e6:7.1f} µs / {miss * 1e6:7.1f} µs"
        f"   (limit check + lookup: +{(miss_path - base_path) * 1e6:.1f} µs on the path)"
    )
    print(f"  + limits + exact cache, hit            {hit_path * 1e6:7.1f} µs / {hit * 1e6:7.1f} µs")


async def with_redis(n: int, url: str) -> None:
    prefix = f"podium-bench-{secrets.token_hex(4)}:"
    with tempfile.TemporaryDirectory() as d:
        extra = {
            "limits": LIMITS,
            "cache": {"exact": True},
            "state": {"redis_url": url, "key_prefix": prefix},
        }
        gw, storage = await gateway(Path(d), extra)
        state: Any = gw.state
        try:
            await run_pipeline(gw, 200, distinct=True)
            print(f"Redis ({url}), {n} requests each:")
            for label, distinct, conc in (
                ("sequential, misses", True, 1),
                ("sequential, hits", False, 1),
                ("100 at a time, misses", True, 100),
            ):
                await run_pipeline(gw, 1, distinct=False)
                await state.flush()
                before, writes_before = state.round_trips, state.writes
                t0 = time.perf_counter()
                cpu = await run_pipeline(gw, n, distinct=distinct, concurrency=conc)
                wall = (time.perf_counter() - t0) / n
                on_path = (state.round_trips - before) / n
                off_path = (state.writes - writes_before) / n
                print(
                    f"  {label:24s} round trips/request on the path {on_path:.2f}, "
                    f"batched writes/request {off_path:.2f}, CPU {cpu * 1e6:.0f} µs, wall {wall * 1e3:.2f} ms"
                )
        finally:
            await gw.state.close()
            await storage.close()
            from redis.asyncio import Redis

            client = Redis.from_url(url)
            keys = [k async for k in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="empty: skip the Redis part")
    args = parser.parse_args()
    asyncio.run(in_process(args.requests))
    if args.redis:
        asyncio.run(with_redis(min(args.requests, 5000), args.redis))


if __name__ == "__main__":
    main()
