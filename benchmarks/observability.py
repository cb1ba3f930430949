"""Gateway CPU per request with observability off, with metrics, and with metrics and tracing.

    python -m benchmarks.observability [--requests 5000] [--rounds 3]            # in process (precise)
    python -m benchmarks.observability --instructions [--requests 2000]          # in process, callgrind
    python -m benchmarks.observability --server [--seconds 8] [--conc 10] [--rounds 2]
    python -m benchmarks.observability --server --instructions [--seconds 20] [--rounds 1]

**In process** (the default): a real :class:`~podium.gateway.app.Gateway` with the in-process
simulated model runs the whole chat path of each request — the root span and in-flight gauge, every
pipeline step, the provider attempt, collecting the answer, ``record()`` — then builds the request
records (where metrics are updated) and exports the spans (OTLP protobuf POSTed to a local sink).
``time.process_time`` over all of it, every thread included, divided by the requests: the whole CPU
cost, on and off the request path. Modes alternate in each round so they see the same machine.

**Instructions** (``--instructions``, needs valgrind): the same in-process path, each mode in its own
process under callgrind, counting the instructions of ``--requests`` requests (every thread; the
OTLP sink runs in a process of its own, not counted). On a shared machine whose CPU time per request moves
by half between runs, the instruction count does not: it is what to compare before and after a change.

**Server**: a real ``podium serve`` (pinned to its own core) in front of the benchmarks' fast upstream, measured
three ways in turn, each ``--rounds`` times, alternating:

* ``off``: ``observability.metrics.enabled: false``, tracing off — no telemetry at all;
* ``metrics``: Prometheus metrics on (the default), updated where each request record is built;
* ``tracing, no export``: also spans recorded for every request, with no exporter configured;
* ``metrics+tracing``: also OpenTelemetry spans for every request (root, each pipeline step, each
  provider attempt), sampled at 100 % and exported with OTLP/HTTP to a local sink in batches.

With ``--instructions`` each ``podium serve`` runs under callgrind, counting only while the load point
runs (after start-up and warm-up): instructions per request of the real server, HTTP parsing, the
upstream call and the batched writes included, steady whatever else the machine is doing.

CPU per request is the gateway process group's utime + stime over a load point divided by the
requests it served (so it includes the off-path record building and span export, which run in the
same process). The issue's bound: the increase with tracing and metrics on stays within 0.1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from benchmarks.loadgen import REPO, LoadGenerator, ensure_wrk
from benchmarks.procs import Pinning, Procs, free_port, group_cpu_seconds
from benchmarks.shared_harness_config import podium_yaml
from benchmarks.target import wait_ready
from podium.canonical import ChatRequest, Message
from podium.collect import Collector
from podium.gateway.call import Call

MODEL = "fake-gpt"
SETTLE_S = 0.5  # let the batched record writes (and span exports) of a point land before reading CPU

MODES = {
    "off": "observability:\n  metrics: {enabled: false}\n",
    "metrics": "observability:\n  metrics: {enabled: true}\n",
    "tracing, no export": (
        "observability:\n  metrics: {enabled: true}\n  tracing: {enabled: true, sample_ratio: 1.0}\n"
    ),
    "metrics+tracing": (
        "observability:\n  metrics: {enabled: true}\n"
        "  tracing: {enabled: true, sample_ratio: 1.0, otlp_endpoint: SINK}\n"
    ),
}


class OtlpSink:
    """Accepts OTLP/HTTP trace exports and counts them, in a process of its own: the collector's CPU
    is not counted as Podium's (the in-process measurement times this whole process)."""

    def __init__(self) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "benchmarks.observability", "--serve-sink", str(port)]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        self.url = self.base + "/v1/traces"
        _wait_http(self.base + "/count")

    @property
    def exports(self) -> int:
        with urllib.request.urlopen(self.base + "/count", timeout=10) as resp:
            return int(resp.read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _serve_sink(port: int) -> None:
    exports = 0

    async def export(request: web.Request) -> web.Response:
        nonlocal exports
        await request.read()
        exports += 1
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")

    async def count(_: web.Request) -> web.Response:
        return web.Response(text=str(exports))

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/count", count)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _key(config: Path, data_dir: Path) -> str:
    argv = [sys.executable, "-m", "podium", "keys", "create", "--name", "bench", "--json"]
    argv += ["--config", str(config), "--data-dir", str(data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True, cwd=REPO)
    return str(json.loads(done.stdout.strip().splitlines()[-1])["key"])


def _wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


class _Request:
    """What the root span reads of an HTTP request."""

    method = "POST"
    path = "/v1/chat/completions"
    headers: dict[str, str] = {}


class _Response:
    status = 200


def _sections(sink_url: str) -> dict[str, dict[str, object]]:
    """The in-process modes: each one's ``observability`` section."""
    return {
        "off": {"metrics": {"enabled": False}},
        "metrics": {"metrics": {"enabled": True}},
        "tracing, no export": {
            "metrics": {"enabled": True},
            "tracing": {"enabled": True, "sample_ratio": 1.0},
        },
        "metrics+tracing": {
            "metrics": {"enabled": True},
            "tracing": {"enabled": True, "sample_ratio": 1.0, "otlp_endpoint": sink_url},
        },
        "metrics+tracing 10%": {
            "metrics": {"enabled": True},
            "tracing": {"enabled": True, "sample_ratio": 0.1, "otlp_endpoint": sink_url},
        },
    }


class _InProcess:
    """Gateways (one per mode) running the whole chat path of requests in this process."""

    def __init__(self, modes: dict[str, dict[str, object]], directory: Path) -> None:
        self.modes = modes
        self.directory = directory
        self.gateways: dict[str, tuple[Any, Any]] = {}
        self.key: Any = None
        self.headers: Any = None

    async def open(self) -> None:
        import msgspec
        from multidict import CIMultiDict, CIMultiDictProxy

        from podium.config import validate_config
        from podium.config.model import Config
        from podium.gateway.app import Gateway
        from podium.storage import open_storage
        from podium.storage.records import KeyRecord

        self.key = KeyRecord(id="key_bench", name="bench", hash="h", prefix="pk-", created_at=0)
        self.headers = CIMultiDictProxy(CIMultiDict({"content-type": "application/json"}))
        sim = {
            "providers": {"sim": {"type": "simulated"}},
            "deployments": {
                "sim/*": {"provider": "sim", "model": "*", "price": {"input": 1.0, "output": 2.0}}
            },
        }
        for mode, section in self.modes.items():
            storage = await open_storage(f"sqlite:///{self.directory / (mode + '.db')}")
            await storage.migrate()
            config = validate_config(msgspec.convert({**sim, "observability": section}, Config))
            self.gateways[mode] = (Gateway(config, storage), storage)
        gc.collect()
        gc.freeze()  # as ``podium serve`` does once it has started

    async def one(self, gw: Any, i: int) -> None:
        key, headers = self.key, self.headers

        async def handler(_: object) -> _Response:
            chat = ChatRequest(model="sim/echo", messages=(Message(role="user", content=f"Hello there {i}"),))
            call = Call(id=f"req_{i}", api="chat", headers=headers, principal=key, chat=chat)
            primed = await gw.chat(call)
            collector = Collector()
            collector.add(primed.first)
            async for event in primed.rest:
                collector.add(event)
            gw.record(call, status=200, collector=collector)
            return _Response()

        if gw.telemetry.on:
            await gw.telemetry.around(_Request(), handler)
        else:
            await handler(None)

    async def run(self, gw: Any, count: int) -> None:
        """``count`` requests, then their records built (metrics) and their spans exported."""
        for i in range(count):
            await self.one(gw, i)
            if i % 500 == 499:
                await gw.recorder.flush()
                await gw.audit.flush()  # as the running gateway's writers would: the heap stays level
        await gw.recorder.flush()
        await gw.audit.flush()
        await asyncio.sleep(0)  # spans are handed to the exporter after the response
        tracing = gw.telemetry.tracing
        if tracing is not None and tracing.exporter is not None:
            await asyncio.to_thread(tracing.exporter.flush)

    async def close(self) -> None:
        for gw, storage in self.gateways.values():
            await gw.recorder.close()
            await gw.telemetry.close()
            await storage.close()


async def _in_process(n: int, rounds: int, sink: OtlpSink) -> dict[str, list[float]]:
    modes = _sections(sink.url)
    results: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as d:
        bench = _InProcess(modes, Path(d))
        await bench.open()

        async def measure(gw: Any, count: int) -> float:
            t = time.process_time()
            await bench.run(gw, count)
            return (time.process_time() - t) / count

        for gw, _ in bench.gateways.values():
            await measure(gw, 1000)  # warm-up: imports, first-use set-up, memo tables
        # Short points, the modes interleaved, many times: the machine's drift (other processes, CPU
        # frequency) hits every mode alike, and the median of the points drops the outliers.
        chunk = 500
        for r in range(rounds):
            for _ in range(max(1, n // chunk)):
                for mode, (gw, _) in bench.gateways.items():
                    results[mode].append(await measure(gw, chunk) * 1e6)
            print(
                f"  round {r + 1}: "
                + ", ".join(f"{m} {statistics.median(v):.1f} µs" for m, v in results.items())
            )
        await bench.close()
    return results


def _child(mode: str, n: int, sink_url: str) -> None:
    """Under callgrind: one mode's gateway, warmed up, then ``n`` requests with instruction counting on."""

    def instrument(on: bool) -> None:
        argv = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
        subprocess.run(argv, capture_output=True, check=True, timeout=60)

    async def run() -> None:
        with tempfile.TemporaryDirectory() as d:
            bench = _InProcess({mode: _sections(sink_url)[mode]}, Path(d))
            await bench.open()
            gw = bench.gateways[mode][0]
            await bench.run(gw, 500)
            instrument(True)
            await bench.run(gw, n)
            instrument(False)
            await bench.close()

    asyncio.run(run())


def _instructions(n: int, sink: OtlpSink) -> int:
    """Instructions per request of each mode, counted by callgrind (every thread, the collector aside):
    unlike CPU time, the same on a busy machine as on an idle one."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("--instructions needs valgrind (callgrind)")
        return 2
    counts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        for mode in _sections(sink.url):
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={d}/out.%p"]
            argv += [sys.executable, "-m", "benchmarks.observability", "--child", mode, "--requests", str(n)]
            argv += ["--sink", sink.url]
            done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=3600)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode or found is None:
                print(done.stderr[-2000:])
                return 1
            counts[mode] = int(found.group(1)) / n
            print(f"  {mode:20s} {counts[mode] / 1000:8.1f} k instructions per request")
    base = counts["off"]
    print("\nadded instructions per request vs off:")
    for mode, count in counts.items():
        print(f"  {mode:20s} {(count - base) / 1000:+8.1f} k  ({count / base:.2f}x)")
    return 0


_CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]


def _callgrind_control(pid: int, *, on: bool) -> None:
    """Instrumentation on or off in the callgrind-run process ``pid`` (valgrind's own process: the pid)."""
    argv = ["callgrind_control", "-i", "on" if on else "off", str(pid)]
    subprocess.run(argv, capture_output=True, check=True, timeout=60)


def _collected(out: Path) -> int:
    """The instructions counted in a callgrind output file (its ``totals:`` line)."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def _report(results: dict[str, list[float]], sink: OtlpSink, unit: str = "µs") -> int:
    base = statistics.median(results["off"])
    what = "instructions (k)" if unit == "k" else "CPU"
    print(f"\nmedian {what} per request:")
    for mode, values in results.items():
        med = statistics.median(values)
        print(f"  {mode:18s} {med:7.1f} {unit}   (+{med - base:5.1f} {unit} vs off)")
    print(f"  OTLP exports received by the sink: {sink.exports}")
    if unit == "k":
        return 0
    worst = statistics.median(results["metrics+tracing"]) - base
    print(f"\nbound: +100 µs with tracing and metrics on -> {'within' if worst <= 100 else 'EXCEEDED'}")
    return 0 if worst <= 100 else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.observability", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--server", action="store_true", help="measure a real podium serve under load instead")
    ap.add_argument(
        "--requests", type=int, default=5000, help="in process: requests per point (default 5000)"
    )
    ap.add_argument("--seconds", type=float, default=8.0, help="seconds per load point (default 8)")
    ap.add_argument("--conc", type=int, default=10, help="connections (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="measurements per mode, alternating (default 2)")
    ap.add_argument(
        "--python-loadgen", action="store_true", help="the Python load generator even if wrk exists"
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind's callgrind (stable on a busy machine);"
        " with --server, of podium serve itself",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)  # one mode, run under callgrind by --instructions
    ap.add_argument("--sink", default="", help=argparse.SUPPRESS)
    ap.add_argument("--serve-sink", type=int, default=0, help=argparse.SUPPRESS)  # the sink's own process
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.requests, args.sink)
        return 0
    if args.serve_sink:
        _serve_sink(args.serve_sink)
        return 0
    sink = OtlpSink()
    try:
        return _measure(args, sink)
    finally:
        sink.close()


def _measure(args: argparse.Namespace, sink: OtlpSink) -> int:
    if args.instructions and not args.server:
        print(f"in process under callgrind, {args.requests} requests per mode")
        return _instructions(args.requests, sink)
    if not args.server:
        print(f"in process, {args.requests} requests per point, {args.rounds} rounds")
        return _report(asyncio.run(_in_process(args.requests, max(args.rounds, 1), sink)), sink)
    if args.instructions and shutil.which("callgrind_control") is None:
        print("--instructions needs valgrind (callgrind)")
        return 2
    pin = Pinning.detect()
    with tempfile.TemporaryDirectory(prefix="podium-bench-obs-") as d:
        work = Path(d)
        (work / "logs").mkdir()
        procs = Procs(work / "logs")
        try:
            load = LoadGenerator(procs, pin.load, None if args.python_loadgen else ensure_wrk())
            up_port = free_port()
            procs.spawn(
                "upstream",
                [sys.executable, "-m", "benchmarks.upstream", "--port", str(up_port)],
                cpu=pin.load,
            )
            _wait_http(f"http://127.0.0.1:{up_port}/health")
            api_base = f"http://127.0.0.1:{up_port}/v1"
            results: dict[str, list[float]] = {m: [] for m in MODES}
            print(
                f"gateway core {pin.gateway}, load core {pin.load}, {load.name}, c={args.conc}, {args.seconds:g} s points"
            )
            for r in range(args.rounds):
                for mode, section in MODES.items():
                    run_dir = work / f"{mode}-{r}"
                    run_dir.mkdir()
                    config = run_dir / "podium.yaml"
                    config.write_text(
                        podium_yaml(api_base, [MODEL]) + section.replace("SINK", json.dumps(sink.url))
                    )
                    key = _key(config, run_dir / "data")
                    port = free_port()
                    cmd = [
                        sys.executable,
                        "-m",
                        "podium",
                        "serve",
                        "--config",
                        str(config),
                        "--port",
                        str(port),
                    ]
                    cmd += ["--data-dir", str(run_dir / "data")]
                    out = run_dir / "callgrind.out"
                    if args.instructions:  # counting starts after the warm-up (callgrind_control -i on)
                        cmd = [*_CALLGRIND, f"--callgrind-out-file={out}", *cmd]
                    proc = procs.spawn(
                        f"podium-{mode}-{r}", cmd, cpu=pin.gateway, env=dict(os.environ), cwd=run_dir
                    )
                    url = f"http://127.0.0.1:{port}"
                    wait_ready(url, key, MODEL, proc, time.perf_counter(), 300 if args.instructions else 60)
                    load.run(url + "/v1/chat/completions", key, MODEL, args.conc, 2.0)  # warm-up
                    time.sleep(SETTLE_S)
                    before = group_cpu_seconds(proc.pid)
                    if args.instructions:
                        _callgrind_control(proc.pid, on=True)
                    res = load.run(url + "/v1/chat/completions", key, MODEL, args.conc, args.seconds)
                    time.sleep(
                        SETTLE_S * (10 if args.instructions else 1)
                    )  # the records' batched writes land
                    cpu = group_cpu_seconds(proc.pid) - before
                    if args.instructions:
                        _callgrind_control(proc.pid, on=False)
                    procs.stop(proc, grace=120 if args.instructions else 10)  # callgrind writes at exit
                    errors = res.errors + res.non_2xx
                    if args.instructions:
                        per = _collected(out) / 1000 / max(1, res.requests)
                        line = f"{res.requests:6d} requests  {per:7.1f} k instructions/request"
                    else:
                        per = cpu * 1e6 / max(1, res.requests)
                        line = f"{res.rps:8.0f} req/s  {per:7.1f} µs CPU/request"
                    results[mode].append(per)
                    print(f"  round {r + 1} {mode:16s} {line}  (errors {errors})")
            return _report(results, sink, "k" if args.instructions else "µs")
        finally:
            procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
