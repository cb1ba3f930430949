"""What a registry prompt adds to a request, in process: the prompt step with a cached, compiled version.

    python -m benchmarks.prompts [--seconds 2]

The prompts come from ``examples/prompts`` (pushed into a throw-away SQLite store and mirrored by a
``PromptCache``, as in a server). Each scenario runs the prompt step — find the reference, resolve the
label (a weighted split hashes the sticky key), check the variables, render, build the new request —
with a no-op next step, timed with ``time.process_time`` so only this process's CPU counts. The
target is at most 0.1 ms per request.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from podium.canonical import ChatRequest, Message
from podium.config.prompts import PromptSettings
from podium.gateway.call import Call
from podium.prompts import registry
from podium.prompts.cache import PromptCache
from podium.prompts.files import push
from podium.prompts.step import prompt_step
from podium.storage import open_storage
from podium.storage.prompt_records import LabelTarget
from podium.storage.records import KeyRecord

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "prompts"
TARGET_US = 100.0
KEY = KeyRecord(id="key_bench", name="bench", hash="0" * 64, prefix="pk-bench", created_at=0.0)
HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

CONTRACT = "The tenant pays rent monthly. Either party may end the lease with 30 days' notice. " * 20
SCENARIOS: dict[str, ChatRequest] = {
    "no prompt (step present, unused)": ChatRequest(
        model="sim/echo", messages=(Message(role="user", content="hello"),)
    ),
    "chat prompt by model name": ChatRequest(
        model="prompt:contract-summary@production",
        messages=(),
        extra={"podium": {"prompt": {"variables": {"contract": CONTRACT, "max_points": 3}}}},
    ),
    "text prompt, loop over a list": ChatRequest(
        model="prompt",
        messages=(),
        extra={
            "podium": {
                "prompt": {
                    "name": "support-reply",
                    "variables": {
                        "customer": {"name": "Ada", "plan": "pro"},
                        "message": "My invoice is wrong.",
                        "articles": [
                            {"title": f"Article {i}", "summary": "How invoices work."} for i in range(5)
                        ],
                        "formal": True,
                    },
                }
            }
        },
    ),
    "70/30 split, sticky by user": ChatRequest(
        model="prompt:extract-invoice@production",
        messages=(),
        user="user-42",
        extra={"podium": {"prompt": {"variables": {"invoice": "Invoice 7, total 120 EUR, due 2025-01-31"}}}},
    ),
}


async def _next(call: Call) -> Any:
    return None


async def build(tmp: Path) -> PromptCache:
    storage = await open_storage(f"sqlite:///{tmp / 'bench.db'}")
    await storage.migrate()
    settings = PromptSettings()
    actor = registry.Actor(id="cli:bench", tenant="default", may_promote=True)
    await push(storage, settings, actor, EXAMPLES, message="bench", label="production")
    first = (await storage.prompts.versions("default", "extract-invoice"))[0]
    second, _ = await registry.create_version(
        storage, settings, actor, "extract-invoice", first.spec, message="same content, a second version"
    )
    await registry.move_label(
        storage,
        settings,
        actor,
        "extract-invoice",
        "production",
        (LabelTarget(1, 70.0), LabelTarget(second.number, 30.0)),
    )
    cache = PromptCache(storage.prompts, settings)
    await cache.sync()
    await storage.close()
    return cache


async def measure(cache: PromptCache, seconds: float) -> dict[str, float]:
    step = prompt_step(cache)
    results: dict[str, float] = {}
    for name, chat in SCENARIOS.items():
        for _ in range(200):  # warm: compile, caches
            await step(Call(id="r", api="chat", headers=HEADERS, principal=KEY, chat=chat), _next)
        n = 0
        started = time.process_time()
        deadline = started + seconds
        while time.process_time() < deadline:
            for _ in range(500):
                await step(Call(id="r", api="chat", headers=HEADERS, principal=KEY, chat=chat), _next)
            n += 500
        elapsed = time.process_time() - started
        # The Call itself is built for every request anyway: subtract its cost to isolate the step's.
        started = time.process_time()
        for _ in range(n):
            Call(id="r", api="chat", headers=HEADERS, principal=KEY, chat=chat)
        results[name] = (elapsed - (time.process_time() - started)) / n * 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per scenario (default 2)")
    args = parser.parse_args()

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            return await measure(await build(Path(tmp)), args.seconds)

    results = asyncio.run(run())
    print(f"{'scenario':<36} {'µs per request':>15}")
    for name, micros in results.items():
        print(f"{name:<36} {micros:>15.1f}")
    worst = max(results.values())
    verdict = "meets" if worst <= TARGET_US else "MISSES"
    print(f"\nworst {worst:.1f} µs: {verdict} the target of {TARGET_US:.0f} µs (0.1 ms) per request")


if __name__ == "__main__":
    main()
