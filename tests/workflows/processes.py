"""Real processes for the workflow proofs: a standalone simulator that counts what reached the
"provider", and ``podium serve`` replicas (the :class:`tests.cli.test_serve.Server` harness).

Every process started here is stopped by the test that started it, by its own handle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.admin_client import Answer, call
from tests.cli.test_serve import ADMIN, Server

__all__ = ["ADMIN", "Server", "Simulator", "api", "poll"]

T = TypeVar("T")


class Simulator:
    """``podium simulate --port 0`` as a subprocess; :meth:`requests` is what it received."""

    def __init__(self, tmp: Path) -> None:
        self.log = open(tmp / "simulator.log", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podium", "simulate", "--port", "0", "--record", "10000"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise AssertionError(f"the simulator did not start: {line!r}")
        self.base_url = line.rsplit(" ", 1)[1].strip()  # http://127.0.0.1:<port>/v1
        self.root = self.base_url.removesuffix("/v1")

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.root}/sim/requests", timeout=10) as response:
            data: list[dict[str, Any]] = json.loads(response.read())
        return data

    def counts(self) -> Counter[str]:
        """Chat requests received per upstream model name."""
        return Counter(r["model"] for r in self.requests() if r["path"].endswith("/chat/completions"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def api(server: Server, method: str, path: str, body: Any = None, token: str = ADMIN) -> Answer:
    return call(f"http://127.0.0.1:{server.port}", method, path, token, body)


def poll(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """``probe()``'s first truthy answer, asked every 20 ms until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
