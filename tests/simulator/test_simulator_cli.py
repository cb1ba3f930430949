"""`podium simulate` as a process, and the package's public surface."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

import podium.simulator

# Builds the parser from the command's own module, as `podium` does, so this test does not depend on
# the other sub-commands being importable.
SCRIPT = """
import argparse, sys
from podium.cli import simulate
parser = argparse.ArgumentParser(prog="podium")
simulate.add_parser(parser.add_subparsers(), "simulate", "Run the simulator.")
args = parser.parse_args(["simulate", *sys.argv[1:]])
sys.exit(args.func(args))
"""


@pytest.mark.slow
async def test_simulate_command_serves_and_stops_on_sigterm() -> None:
    """The command prints its URL when ready, serves requests, and exits 0 on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        "--port",
        "0",
        "--api-key",
        "k",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith("podium simulator listening on http://127.0.0.1:") and line.endswith("/v1")
        url = line.rsplit(" ", 1)[1]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/models") as resp:
                assert resp.status == 401
            async with session.get(f"{url}/models", headers={"Authorization": "Bearer k"}) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_public_names_are_importable() -> None:
    """Every name in `podium.simulator.__all__` exists; nothing else public is exported by accident."""
    for name in podium.simulator.__all__:
        assert getattr(podium.simulator, name) is not None
    public = {
        n for n, v in vars(podium.simulator).items() if not n.startswith("_") and not hasattr(v, "__path__")
    }
    assert public - {"annotations"} - set(podium.simulator.__all__) == {
        "behaviour",
        "embedding",
        "model",
        "recording",
        "schema_instance",
        "server",
        "spec",
        "testing",
        "tokens",
    }
