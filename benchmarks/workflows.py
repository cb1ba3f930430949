"""The workflow engine's own cost: overhead per step with model time excluded, and the memory of
1,000 runs paused for review — on SQLite and on PostgreSQL.

    python -m benchmarks.workflows [--runs 20] [--steps 20] [--paused 1000] [--backends sqlite,postgres] [--postgres URL]
    make bench-workflows

An in-process server (the gateway, its worker, real storage) executes flows started over HTTP:

* **tool chain** — ``--steps`` tool steps calling a no-op async Python function: every millisecond of a run
  is the engine's (load the run, evaluate arguments, call, checkpoint the step, store its events,
  pick the next step);
* **llm chain** — ``--steps`` model calls to the in-process simulated provider; the overhead is the
  run's execution time less the time its steps spent in their calls (``duration_ms`` of each step),
  divided by the steps.

Both are measured from the stored run (``started_at`` → ``finished_at``), so the worker's poll
interval and the HTTP round trip do not count. The target is ≤ 2 ms per step.

**Paused runs**: ``--paused`` runs of a flow whose first step is a review are started and left
waiting; the server process's resident memory (``/proc/self/status`` VmRSS, after a GC) and its
asyncio task count are read before and after. A paused run should hold no task and no memory beyond
its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from podium.config.model import Config
from podium.gateway.server import RunningServer, start_server
from podium.keys import create_key
from podium.storage import open_storage
from podium.storage.records import RequestQuery
from podium.storage.workflow_records import ReviewTask, RunEvent, RunRecord, StepRecord

TARGET_MS = 2.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

# async: a sync tool runs on a thread of its own (so a hung one can be abandoned), which would be the
# tool's cost, not the engine's.
NOOP = "async def noop(i):\n    return {'i': i}\n"


def _flows(steps: int) -> dict[str, str]:
    tools = "\n".join(
        f"  - {{id: t{i}, kind: tool, function: 'bench_tools.py:noop', args: {{i: '{i}'}}}}"
        for i in range(steps)
    )
    llms = "\n".join(
        f"  - {{id: m{i}, kind: llm, model: sim/echo, messages: [{{role: user, content: 'step {i}'}}]}}"
        for i in range(steps)
    )
    paused = (
        "  - {id: review, kind: human_review, content: inputs, role: reviewer}\n"
        "  - {id: after, kind: tool, function: 'bench_tools.py:noop', args: {i: '0'}}"
    )
    return {
        "tool-chain.yaml": f"name: tool-chain\nsteps:\n{tools}\n",
        "llm-chain.yaml": f"name: llm-chain\nsteps:\n{llms}\n",
        "paused.yaml": f"name: paused\nsteps:\n{paused}\n",
        "bench_tools.py": NOOP,
    }


def _config(flows: Path) -> Config:
    return msgspec.convert(
        {
            "providers": {"sim": {"type": "simulated"}},
            "deployments": {"sim/*": {"provider": "sim", "model": "*"}},
            "workflows": {"flows": [str(flows)], "poll_interval_ms": 10, "max_concurrent_runs": 64},
            "server": {"log_level": "warning"},
        },
        Config,
    )


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, server: RunningServer, key: str) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {key}"}

    async def start(
        self, session: aiohttp.ClientSession, flow: str, inputs: dict[str, Any], wait: float
    ) -> dict[str, Any]:
        async with session.post(
            f"{self.server.url}/v1/flows/{flow}/runs",
            json={"inputs": inputs, "wait": wait},
            headers=self.headers,
        ) as response:
            body: dict[str, Any] = await response.json()
            if response.status >= 400:
                raise RuntimeError(f"start {flow}: {response.status} {body}")
            return body

    async def overhead(self, flow: str, runs: int, steps: int) -> dict[str, float]:
        """Per-step engine time (ms) of ``runs`` runs, the first one (warm-up) left out: the run's
        execution time less the time its model calls took in the gateway (their request records)."""
        per_step: list[float] = []
        model_share: list[float] = []
        async with aiohttp.ClientSession() as session:
            for i in range(runs + 1):
                run = await self.start(session, flow, {}, wait=60)
                if run["status"] != "succeeded":
                    raise RuntimeError(f"{flow} ended {run['status']}: {run.get('error')}")
                wall_ms = (run["finished_at"] - run["started_at"]) * 1000
                model_ms = await self._model_ms([rid for s in run["steps"] for rid in s["request_ids"]])
                if i:
                    per_step.append((wall_ms - model_ms) / steps)
                    model_share.append(model_ms / steps)
        return {
            "median_ms": statistics.median(per_step),
            "p90_ms": sorted(per_step)[int(0.9 * (len(per_step) - 1))],
            "model_ms_per_step": statistics.median(model_share),
            "runs": float(runs),
        }

    async def _model_ms(self, request_ids: list[str]) -> float:
        """The gateway time of these model calls, from their request records (latency_ms)."""
        if not request_ids:
            return 0.0
        gateway = self.server.gateway
        await gateway.recorder.flush()
        page = await gateway.storage.requests.query(RequestQuery(limit=1000))
        latency = {r.id: r.latency_ms for r in page.items}
        missing = [rid for rid in request_ids if rid not in latency]
        if missing:
            raise RuntimeError(f"no request record for {missing[:3]}")
        return sum(latency[rid] for rid in request_ids)

    async def paused(self, count: int) -> dict[str, float]:
        async with aiohttp.ClientSession() as session:  # warm-up: the path of a pausing run is loaded
            await self.start(session, "paused", {"n": -1}, wait=10)
        first = await self._pause_batch(count, 0)
        second = await self._pause_batch(count, count)
        return {
            "runs": float(count),
            "rss_before_mib": first["rss_before"] / 1024,
            "rss_after_mib": first["rss_after"] / 1024,
            "rss_after_2x_mib": second["rss_after"] / 1024,
            "rss_per_run_kib": (first["rss_after"] - first["rss_before"]) / count,
            "rss_per_run_2nd_kib": (second["rss_after"] - second["rss_before"]) / count,
            "tasks_before": first["tasks_before"],
            "tasks_after": second["tasks_after"],
            "records_in_memory": second["records_after"],
            # Python objects gained over the second thousand (caches filled by the first are warm by then)
            "objects_per_run_2nd": (second["objects_after"] - second["objects_before"]) / count,
            "executing": float(len(self.server.gateway.workflows.worker.running)),
        }

    async def _pause_batch(self, count: int, offset: int) -> dict[str, float]:
        before = await self._settled_state()
        connector = aiohttp.TCPConnector(limit=50)
        async with aiohttp.ClientSession(connector=connector) as session:
            batch = 50
            for first in range(0, count, batch):
                await asyncio.gather(
                    *(
                        self.start(session, "paused", {"n": offset + n}, wait=0)
                        for n in range(first, min(count, first + batch))
                    )
                )
            await self._until_all_waiting(offset + count + 1)
        after = await self._settled_state()  # the client's connections are closed: their server tasks end
        return {
            "rss_before": before[0],
            "rss_after": after[0],
            "tasks_before": before[1],
            "tasks_after": after[1],
            "records_after": after[2],
            "objects_before": before[3],
            "objects_after": after[3],
        }

    async def _settled_state(self) -> tuple[float, float, float, float]:
        """RSS (KiB), asyncio tasks, workflow records alive and all objects the GC tracks, once closed
        connections have wound down."""
        for _ in range(50):  # the server ends a closed connection's handler task on its next loop turn
            await asyncio.sleep(0.02)
        gc.collect()
        kinds = (RunRecord, StepRecord, ReviewTask, RunEvent)
        objects = gc.get_objects()
        records = sum(1 for o in objects if isinstance(o, kinds))
        return float(_rss_kib()), float(len(asyncio.all_tasks())), float(records), float(len(objects))

    async def _until_all_waiting(self, count: int) -> None:
        """Until ``count`` review tasks are open: one COUNT in the store (listing the runs over HTTP
        would itself allocate megabytes and blur the RSS figure)."""
        store = self.server.gateway.storage.workflows
        deadline = time.monotonic() + 120
        waiting = 0
        while time.monotonic() < deadline:
            waiting = await store.review_backlog()
            if waiting >= count:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"only {waiting} of {count} runs paused within 120 s")


async def measure(url: str, flows: Path, args: argparse.Namespace) -> dict[str, Any]:
    storage = await open_storage(url)
    await storage.migrate()
    server = await start_server(_config(flows), storage, host="127.0.0.1", port=0)
    try:
        key, record = await create_key(storage, name="bench", scopes=("admin", "inference"))
        server.gateway.keys.add(record)
        bench = Bench(server, key)
        return {
            "tool_chain": await bench.overhead("tool-chain", args.runs, args.steps),
            "llm_chain": await bench.overhead("llm-chain", args.runs, args.steps),
            "paused": await bench.paused(args.paused),
        }
    finally:
        await server.stop(drain_seconds=1)
        await storage.close()


async def _postgres(url: str) -> str | None:
    """A fresh schema on ``url`` (dropped afterwards by :func:`_drop`), or None when nothing answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return None
    await conn.close()
    return url


async def _drop(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def _print(backend: str, result: dict[str, Any], steps: int) -> None:
    for name in ("tool_chain", "llm_chain"):
        r = result[name]
        verdict = "ok" if r["median_ms"] <= TARGET_MS else "OVER TARGET"
        model = f", model calls {r['model_ms_per_step']:.3f} ms excluded" if name == "llm_chain" else ""
        print(
            f"{backend:<9} {name:<10} {steps} steps x {int(r['runs'])} runs: engine overhead per step "
            f"median {r['median_ms']:.3f} ms, p90 {r['p90_ms']:.3f} ms{model}  (target <= {TARGET_MS} ms: {verdict})"
        )
    p = result["paused"]
    n = int(p["runs"])
    print(
        f"{backend:<9} paused     RSS {p['rss_before_mib']:.1f} -> {p['rss_after_mib']:.1f} MiB after {n} paused runs "
        f"({p['rss_per_run_kib']:.2f} KiB/run), -> {p['rss_after_2x_mib']:.1f} MiB after {2 * n} "
        f"({p['rss_per_run_2nd_kib']:.2f} KiB/run for the second {n}); asyncio tasks {int(p['tasks_before'])} -> "
        f"{int(p['tasks_after'])}; workflow records alive {int(p['records_in_memory'])}; Python objects "
        f"{p['objects_per_run_2nd']:+.2f} per run over the second {n}; runs executing {int(p['executing'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per chain (default 20)")
    parser.add_argument("--steps", type=int, default=20, help="steps per chain (default 20)")
    parser.add_argument(
        "--paused", type=int, default=1000, help="runs left waiting for review (default 1000)"
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL server ('' to skip)")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="which to measure, comma-separated (default: both)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    async def run() -> dict[str, Any]:
        results: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as tmp:
            flows = Path(tmp) / "flows"
            flows.mkdir()
            for name, text in _flows(args.steps).items():
                (flows / name).write_text(text)
            backends = {b.strip() for b in args.backends.split(",")}
            if "sqlite" in backends:
                results["sqlite"] = await measure(f"sqlite:///{Path(tmp) / 'bench.db'}", flows, args)
                _print("sqlite", results["sqlite"], args.steps)
            if "postgres" in backends and args.postgres and await _postgres(args.postgres) is not None:
                schema = f"bench_workflows_{int(time.time())}"
                sep = "&" if "?" in args.postgres else "?"
                try:
                    results["postgres"] = await measure(f"{args.postgres}{sep}schema={schema}", flows, args)
                finally:
                    await _drop(args.postgres, schema)
                _print("postgres", results["postgres"], args.steps)
            elif "postgres" in backends:
                print(f"postgres   skipped: nothing answers at {args.postgres!r}", file=sys.stderr)
        return results

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if len(backends) > 1:
        # Each backend in a fresh process of its own: one's heap, threads and page cache do not
        # weigh on the other's figures (they did, by a factor of 2-3 for PostgreSQL after SQLite).
        results = {}
        for backend in backends:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                argv = [*sys.argv[1:], "--backends", backend, "--json", out.name]
                subprocess.run([sys.executable, "-m", "benchmarks.workflows", *argv], check=True)
                results.update(json.loads(Path(out.name).read_text() or "{}"))
    else:
        results = asyncio.run(run())
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
