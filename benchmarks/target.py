"""The Podium under test: a generated config, an API key, and a pinned ``podium serve`` process.

Auth and accounting are on, as in production: requests carry a key created with ``podium keys create``
(inference scope, like an application's), and every request is recorded to SQLite in the data dir.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen import REPO, chat_body
from benchmarks.procs import Procs
from benchmarks.shared_harness_config import podium_yaml


@dataclass(frozen=True, slots=True, kw_only=True)
class Podium:
    proc: subprocess.Popen[bytes]
    url: str
    key: str
    key_kind: str  # "created" (podium keys create) or "admin" (PODIUM_ADMIN_KEY, if creating failed)
    ready_s: float


class NotReady(RuntimeError):
    pass


def start_podium(
    procs: Procs,
    workdir: Path,
    *,
    api_base: str,
    models: list[str],
    port: int,
    cpu: str | None,
    timeout: float = 60,
) -> Podium:
    """Writes the config, creates a key, spawns ``podium serve`` and waits for its first 200 on a chat POST."""
    config = workdir / "podium.yaml"
    config.write_text(podium_yaml(api_base, models))
    data_dir = workdir / "data"
    env = dict(os.environ)
    key, kind = _create_key(config, data_dir), "created"
    if key is None:
        key, kind = "pk-bench-" + secrets.token_urlsafe(32), "admin"
        env["PODIUM_ADMIN_KEY"] = key
    argv = [sys.executable, "-m", "podium", "serve", "--config", str(config), "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    t0 = time.perf_counter()
    proc = procs.spawn("podium", argv, cpu=cpu, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    ready_s = wait_ready(url, key, models[0], proc, t0, timeout)
    return Podium(proc=proc, url=url, key=key, key_kind=kind, ready_s=ready_s)


def _create_key(config: Path, data_dir: Path) -> str | None:
    argv = [sys.executable, "-m", "podium", "keys", "create", "--name", "bench", "--json"]
    argv += ["--config", str(config), "--data-dir", str(data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    try:
        key = json.loads(done.stdout.strip().splitlines()[-1])["key"]
    except (IndexError, ValueError, KeyError, TypeError):
        print(
            f"  `podium keys create` failed (exit {done.returncode}); using PODIUM_ADMIN_KEY instead:\n"
            f"  {(done.stderr or done.stdout).strip()[-600:]}"
        )
        return None
    return str(key)


def post_chat(
    conn: http.client.HTTPConnection, key: str, model: str
) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=chat_body(model),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    resp = conn.getresponse()
    return resp.status, resp.read(), resp


def wait_ready(
    url: str, key: str, model: str, proc: subprocess.Popen[bytes], t0: float, timeout: float
) -> float:
    """Seconds from ``t0`` (the spawn) to the first 200 on a chat POST, polling every 5 ms."""
    host, port = url.removeprefix("http://").split(":")
    last = "no answer"
    while (elapsed := time.perf_counter() - t0) < timeout:
        if proc.poll() is not None:
            raise NotReady(f"the process exited with {proc.returncode} before it was ready ({last})")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            status, body, _ = post_chat(conn, key, model)
        except OSError as exc:
            last = repr(exc)
        else:
            if status == 200:
                return time.perf_counter() - t0
            last = f"HTTP {status}: {body[:300]!r}"
        finally:
            conn.close()
        time.sleep(0.005)
    raise NotReady(f"not ready after {elapsed:.0f}s; last answer: {last}")


def self_reported_overhead(url: str, key: str, model: str, n: int = 200) -> float | None:
    """Median of Podium's own ``x-podium-overhead-ms`` header over ``n`` sequential calls (None: no header)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    values = []
    try:
        for _ in range(n):
            _, _, resp = post_chat(conn, key, model)
            header = resp.getheader("x-podium-overhead-ms")
            if header is None:
                return None
            values.append(float(header))
    except (OSError, ValueError):
        return None
    finally:
        conn.close()
    return statistics.median(values) if values else None
