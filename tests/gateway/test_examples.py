"""The shipped examples run against a live gateway as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness import GatewayThread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_example_runs(gateway: GatewayThread) -> None:
    """examples/quickstart.py completes every step (chat, stream, tool, parse, embeddings) against Podium."""
    env = {**os.environ, "PODIUM_URL": gateway.url, "PODIUM_API_KEY": gateway.key}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "chat: Hello, Podium!" in out
    assert "tool call: get_weather" in out
    assert "embeddings: 2 vectors of 256 dimensions" in out
