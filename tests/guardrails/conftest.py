"""The standalone simulator as the upstream of guardrail tests: it records what it received."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.gateway.test_upstream import UPSTREAM_KEY, free_port


@pytest.fixture(scope="module")
def sim_upstream() -> Iterator[str]:
    """``podium simulate`` in its own process, requiring a bearer key; yields its /v1 base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium", "simulate", "--port", str(port), "--api-key", UPSTREAM_KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
