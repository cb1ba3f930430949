"""Non-streaming load: N keep-alive connections POSTing one chat body for a fixed time.

``wrk`` drives it when installed (C, event loop, HdrHistogram: a few µs per request of its own);
otherwise this module's aiohttp client does, run as ``python -m benchmarks.loadgen`` in its own
pinned process. Either prints one ``RESULT {json}`` line, parsed into :class:`LoadResult`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import Procs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SYSTEM = "You are a helpful assistant. Answer in one short sentence."
USER = "Write one sentence about the sea, in a calm and poetic tone."


def chat_body(model: str, *, stream: bool = False) -> bytes:
    """The request every point sends: a typical short chat call, the same to the upstream and to Podium."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        "max_tokens": 64,
        "temperature": 0.2,
        "user": "bench-user",
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @classmethod
    def parse(cls, output: str) -> LoadResult:
        for line in output.splitlines():
            if line.startswith("RESULT "):
                return cls(**json.loads(line[7:]))
        raise RuntimeError(f"the load generator printed no RESULT line:\n{output[-2000:]}")


def ensure_wrk() -> str | None:
    """wrk's path; installs the Debian package when missing and we are root, as the shared harness does."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    print(
        "wrk is not installed: installing the Debian package (falls back to the Python client if that fails)"
    )
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    _quiet(install)
    if shutil.which("wrk") is None:  # a stale package list: refresh it once and try again
        _quiet(["apt-get", "update", "-qq"])
        _quiet(install)
    return shutil.which("wrk")


def _quiet(cmd: list[str]) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


@dataclass(frozen=True, slots=True)
class LoadGenerator:
    """Runs one load point through ``procs``, pinned to ``cpu``; ``wrk`` None means the Python client."""

    procs: Procs
    cpu: str | None
    wrk: str | None

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "python-aiohttp"

    def run(self, url: str, key: str, model: str, concurrency: int, seconds: float) -> LoadResult:
        body = chat_body(model).decode()
        if self.wrk:
            env = {**os.environ, "BENCH_BODY": body, "BENCH_KEY": key}
            argv = [
                self.wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                str(HERE / "chat.lua"),
                url,
            ]
        else:
            env = None
            argv = [sys.executable, "-m", "benchmarks.loadgen", "--url", url, "--key", key, "--model", model]
            argv += ["-c", str(concurrency), "--seconds", f"{seconds:g}"]
        code, out = self.procs.run(argv, cpu=self.cpu, timeout=seconds + 60, env=env, cwd=REPO)
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code}:\n{out[-2000:]}")
        return LoadResult.parse(out)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def _drive(url: str, key: str, body: bytes, concurrency: int, seconds: float) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    counts = {"non_2xx": 0, "errors": 0}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    target = url.rstrip("/") + "/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            clock = time.perf_counter
            while (t0 := clock()) < deadline:
                try:
                    async with session.post(target, data=body, headers=headers) as resp:
                        await resp.read()
                        ok = 200 <= resp.status < 300
                except (aiohttp.ClientError, OSError):
                    counts["errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
                latencies.append((clock() - t0) * 1000)
                if not ok:
                    counts["non_2xx"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        duration_s=elapsed,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        mean_ms=sum(latencies) / len(latencies) if latencies else 0.0,
        max_ms=latencies[-1] if latencies else 0.0,
        **counts,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Python load generator (used when wrk is not installed).")
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:18000")
    ap.add_argument("--key", default="sk-bench")
    ap.add_argument("--model", default="fake-gpt")
    ap.add_argument("-c", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    import uvloop

    result = uvloop.run(_drive(args.url, args.key, chat_body(args.model), args.c, args.seconds))
    fields = {k: getattr(result, k) for k in LoadResult.__dataclass_fields__}
    print("RESULT " + json.dumps(fields), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
