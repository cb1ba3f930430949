"""``make bench``: Podium's overhead against a direct call to the same fast upstream, in one run.

    python -m benchmarks.overhead [--quick] [--duration S] [--conc "1 10 50"] [--delays "0 50"] [--skip-stream]

One fake upstream and one Podium (auth and accounting on) run for the whole sweep. Every point is
measured twice back to back — load generator straight to the upstream ("direct"), then through
Podium — so both columns see the same machine at the same moment. The gateway is pinned to one core,
the load generator, the upstream, the streaming probe and this script to another, so the gateway's
CPU time per request (utime + stime from /proc, before and after each point) is its own, and its
RPS at delay 0 is its maximum on one core. Results are printed and written to
benchmarks/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import report
from benchmarks.loadgen import REPO, LoadGenerator, ensure_wrk
from benchmarks.procs import (
    Pinning,
    Procs,
    core_ticks,
    free_port,
    group_cpu_seconds,
    group_cpu_seconds_fine,
    group_rss_mb,
    machine_busy_pct,
)
from benchmarks.profile import summarize
from benchmarks.shared_harness_config import models_for
from benchmarks.stream_probe import StreamResult
from benchmarks.target import NotReady, Podium, self_reported_overhead, start_podium

HERE = Path(__file__).resolve().parent
# After a point, Podium writes its batched request records (every 200 ms by default): wait for that
# write before reading the CPU counters, so each point pays for its own accounting.
SETTLE_S = 0.4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead", description=__doc__.splitlines()[0] if __doc__ else None
    )
    ap.add_argument(
        "--duration", type=float, default=None, help="seconds per point (default 10; 3 with --quick)"
    )
    ap.add_argument("--quick", action="store_true", help="3 s points: a smoke run in about a minute")
    ap.add_argument("--conc", default="1 10 50", help='concurrencies (connections), default "1 10 50"')
    ap.add_argument(
        "--delays", default="0 50", help='upstream delays in ms before the answer, default "0 50"'
    )
    ap.add_argument("--stream-conc", default="1 10", help='streaming concurrencies, default "1 10"')
    ap.add_argument(
        "--chunk-delay", type=int, default=5, help="ms between SSE events in the streaming runs (default 5)"
    )
    ap.add_argument("--skip-stream", action="store_true", help="skip the streaming measurements")
    ap.add_argument(
        "--python-loadgen", action="store_true", help="use the Python load generator even if wrk is installed"
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="after the sweep, record the gateway with py-spy during one more c=50 point (needs py-spy)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON results")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (config, SQLite, logs)")
    args = ap.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    args.conc = [int(c) for c in args.conc.split()]
    args.delays = [int(d) for d in args.delays.split()]
    args.stream_conc = [int(c) for c in args.stream_conc.split()]
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same way out as Ctrl-C, through every finally that stops our processes.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # Also when started in the background by a shell, which would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    pin = Pinning.detect()
    if pin.load is not None:
        # This script (readiness polls, /proc reads) must not run on the gateway's core either.
        os.sched_setaffinity(0, {int(pin.load)})
    else:
        print(
            "WARNING: fewer than 2 CPUs or no taskset: nothing is pinned, figures will be noisy",
            file=sys.stderr,
        )
    workdir = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    (workdir / "logs").mkdir()
    procs = Procs(workdir / "logs")
    failed = True
    try:
        run = Bench(args, pin, procs, workdir).run()
        stamp = run["meta"]["stamp"]
        path = args.out / f"{stamp}.json"
        report.write_json(run, path)
        print()
        print(report.render(run))
        if run["podium"].get("profile"):
            print()
            print(summarize(Path(run["podium"]["profile"])))
        print(f"\nresults: {path}")
        failed = False
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process this run started", file=sys.stderr)
        failed = False  # nothing to look into
        return 130
    except (NotReady, RuntimeError, OSError) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        log = workdir / "logs" / "podium.log"
        if isinstance(exc, NotReady) and log.exists():
            tail = log.read_text(errors="replace").splitlines()[-20:]
            print("last lines of the gateway's log:\n  " + "\n  ".join(tail), file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        if failed or args.keep:
            print(f"work folder kept: {workdir} (logs in {workdir / 'logs'})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


class Bench:
    """One run: the upstream, Podium, and the points measured against each."""

    def __init__(self, args: argparse.Namespace, pin: Pinning, procs: Procs, workdir: Path) -> None:
        self.args, self.pin, self.procs, self.workdir = args, pin, procs, workdir
        wrk = None if args.python_loadgen else ensure_wrk()
        self.load = LoadGenerator(procs, pin.load, wrk)
        self.up_pid = 0

    def run(self) -> dict[str, Any]:
        a = self.args
        print("measuring how busy the machine is (2 s)...")
        busy = machine_busy_pct()
        models = models_for(a.delays, a.chunk_delay)
        meta = {
            "stamp": time.strftime("%Y%m%d-%H%M%S"),
            "cpu": f"{_cpu_model()} x{os.cpu_count()}",
            "kernel": platform.release(),
            "python": platform.python_version(),
            "loadgen": self.load.name,
            "gw_cpu": self.pin.gateway,
            "load_cpu": self.pin.load,
            "duration_s": a.duration,
            "concurrency": a.conc,
            "delays_ms": a.delays,
            "stream_concurrency": [] if a.skip_stream else a.stream_conc,
            "stream_model": models[-1] if a.chunk_delay > 0 else "fake-gpt",
            "chunk_delay_ms": a.chunk_delay,
            "busy_before_pct": busy,
            "loadavg_start": os.getloadavg(),
        }
        print(
            f"load generator: {self.load.name}; gateway on CPU {self.pin.gateway}, the rest on CPU {self.pin.load}"
        )
        if busy > 10:
            print(
                f"WARNING: the machine is {busy:.0f}% busy before we start: expect noisy figures",
                file=sys.stderr,
            )

        up_port = free_port()
        gw_port = free_port(avoid=up_port)
        upstream = self.procs.spawn(
            "upstream",
            [sys.executable, "-m", "benchmarks.upstream", "--port", str(up_port)],
            cpu=self.pin.load,
            cwd=REPO,
        )
        self.up_pid = upstream.pid
        direct_url = f"http://127.0.0.1:{up_port}"
        _wait_http(direct_url + "/health", upstream.pid)

        print("starting Podium (fresh data dir, key created with `podium keys create`)...")
        podium = start_podium(
            self.procs,
            self.workdir,
            api_base=direct_url + "/v1",
            models=models,
            port=gw_port,
            cpu=self.pin.gateway,
        )
        idle_cpu = self._idle_cpu(podium.proc.pid, 2.0)
        pod: dict[str, Any] = {
            "ready_s": podium.ready_s,
            "rss_idle_mb": group_rss_mb(podium.proc.pid),
            "idle_cpu_ms_per_s": idle_cpu,
            "key_kind": podium.key_kind,
        }
        print(
            f"  ready in {podium.ready_s:.3f} s; idle RSS {pod['rss_idle_mb']:.1f} MB; idle CPU {idle_cpu:.1f} ms/s"
        )

        # Warm-up: connection pools, lazy imports, caches on both sides; not measured.
        warm = 1.0 if a.quick else 2.0
        self.load.run(direct_url, "sk-bench", "fake-gpt", 10, warm)
        self.load.run(podium.url, podium.key, "fake-gpt", 10, warm)

        chat = []
        for delay in a.delays:
            model = "fake-gpt" if delay == 0 else f"fake-gpt-d{delay}"
            for c in a.conc:
                for name in ("direct", "podium"):
                    rec = self._chat_point(name, direct_url, podium, model, delay, c)
                    chat.append(rec)
                    print(
                        f"  {name:>6} delay {delay:>3} ms c={c:<3} {rec['rps']:>8.0f} rps  p50 {rec['p50_ms']:7.2f}  "
                        f"p99 {rec['p99_ms']:7.2f} ms"
                        + (f"  gw CPU {rec['gw_cpu_us_per_req']:.0f} µs/req" if name == "podium" else "")
                        + (
                            f"  ERRORS {rec['errors']} non-2xx {rec['non_2xx']}"
                            if rec["errors"] or rec["non_2xx"]
                            else ""
                        )
                    )

        stream = []
        if not a.skip_stream:
            for c in a.stream_conc:
                for name in ("direct", "podium"):
                    rec = self._stream_point(name, direct_url, podium, meta["stream_model"], c)
                    stream.append(rec)
                    print(
                        f"  {name:>6} stream c={c:<3} first p50 {rec['first_p50_ms']:.2f} p99 {rec['first_p99_ms']:.2f} ms  "
                        f"[DONE] p50 {rec['done_p50_ms']:.2f} ms  {rec['requests']} streams, {rec['errors']} errors"
                        + (f"  first error: {rec['first_error']}" if rec["first_error"] else "")
                    )

        pod["rss_after_mb"] = group_rss_mb(podium.proc.pid)
        pod["self_overhead_p50_ms"] = self_reported_overhead(podium.url, podium.key, "fake-gpt")
        if a.profile:
            pod["profile"] = self._profile(podium, meta["stamp"])
        meta["loadavg_end"] = os.getloadavg()
        return {"meta": meta, "chat": chat, "stream": stream, "podium": pod}

    def _idle_cpu(self, pid: int, seconds: float) -> float:
        # A started process has run for some ms: schedstat reads 0 only where the kernel lacks it.
        read = group_cpu_seconds_fine if group_cpu_seconds_fine(pid) > 0 else group_cpu_seconds
        before = read(pid)
        time.sleep(seconds)
        return (read(pid) - before) * 1000 / seconds

    def _counters(self, gw_pid: int | None) -> tuple[float, float, tuple[int, int], tuple[int, int]]:
        gw = group_cpu_seconds(gw_pid) if gw_pid else 0.0
        return gw, group_cpu_seconds(self.up_pid), core_ticks(self.pin.gateway), core_ticks(self.pin.load)

    def _cpu_fields(
        self, before: tuple[float, float, tuple[int, int], tuple[int, int]], gw_pid: int | None, requests: int
    ) -> dict[str, Any]:
        time.sleep(SETTLE_S)
        after = self._counters(gw_pid)
        gw_s, up_s = after[0] - before[0], after[1] - before[1]
        gw_busy, gw_total = after[2][0] - before[2][0], max(1, after[2][1] - before[2][1])
        ld_busy, ld_total = after[3][0] - before[3][0], max(1, after[3][1] - before[3][1])
        tck = os.sysconf("SC_CLK_TCK")
        n = max(1, requests)
        return {
            "gw_cpu_s": gw_s,
            "gw_cpu_us_per_req": gw_s * 1e6 / n if gw_pid else None,
            # The gateway's core: how busy, and how much of that was someone else (noise on our figure).
            "gw_core_busy_pct": 100 * gw_busy / gw_total,
            "gw_core_foreign_pct": max(0.0, 100 * (gw_busy - gw_s * tck) / gw_total),
            "load_core_busy_pct": 100 * ld_busy / ld_total,
            "upstream_cpu_s": up_s,
            "upstream_cpu_us_per_req": up_s * 1e6 / n,
        }

    def _chat_point(
        self, name: str, direct_url: str, podium: Podium, model: str, delay: int, c: int
    ) -> dict[str, Any]:
        gw_pid = podium.proc.pid if name == "podium" else None
        url, key = (podium.url, podium.key) if name == "podium" else (direct_url, "sk-bench")
        before = self._counters(gw_pid)
        res = self.load.run(url, key, model, c, self.args.duration)
        fields = {k: getattr(res, k) for k in res.__dataclass_fields__}
        return {
            "target": name,
            "delay": delay,
            "c": c,
            "model": model,
            **fields,
            "rps": res.rps,
            **self._cpu_fields(before, gw_pid, res.requests),
        }

    def _stream_point(self, name: str, direct_url: str, podium: Podium, model: str, c: int) -> dict[str, Any]:
        gw_pid = podium.proc.pid if name == "podium" else None
        url, key = (podium.url, podium.key) if name == "podium" else (direct_url, "sk-bench")
        argv = [
            sys.executable,
            "-m",
            "benchmarks.stream_probe",
            "--url",
            url,
            "--key",
            key,
            "--model",
            model,
            "-c",
            str(c),
        ]
        self.procs.run([*argv, "--seconds", "0.5"], cpu=self.pin.load, timeout=60, cwd=REPO)  # warm-up
        before = self._counters(gw_pid)
        code, out = self.procs.run(
            [*argv, "--seconds", f"{self.args.duration:g}"],
            cpu=self.pin.load,
            timeout=self.args.duration + 60,
            cwd=REPO,
        )
        if code != 0:
            raise RuntimeError(f"stream probe exited with {code}:\n{out[-2000:]}")
        res = StreamResult.parse(out)
        fields = {k: getattr(res, k) for k in res.__dataclass_fields__}
        return {
            "target": name,
            "c": c,
            "model": model,
            **fields,
            **self._cpu_fields(before, gw_pid, res.requests),
        }

    def _profile(self, podium: Podium, stamp: str) -> str | None:
        """py-spy samples the gateway (from the load core) during one more c=50, delay-0 point."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            print("--profile: py-spy is not installed (pip install py-spy); skipped", file=sys.stderr)
            return None
        out = self.args.out / f"{stamp}-profile.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        seconds = max(5, int(self.args.duration))
        argv = [spy, "record", "--pid", str(podium.proc.pid), "--duration", str(seconds), "--rate", "250"]
        argv += ["--format", "raw", "--nonblocking", "--output", str(out)]
        print(f"profiling the gateway with py-spy for {seconds} s during a c=50 point -> {out}")
        spy_proc = self.procs.spawn("py-spy", argv, cpu=self.pin.load)
        time.sleep(0.5)
        self.load.run(podium.url, podium.key, "fake-gpt", 50, seconds)
        spy_proc.wait(timeout=seconds + 30)
        self.procs.stop(spy_proc)
        return str(out) if out.exists() else None


def _wait_http(url: str, pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s (pid {pid})")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
