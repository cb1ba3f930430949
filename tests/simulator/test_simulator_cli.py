"""`podium simulate` as a process, and the package's public surface."""

from __future__ import annotations

import asyncio
import signal
import sys
import types

import aiohttp
import pytest

import podium.simulator


@pytest.mark.slow
async def test_simulate_command_serves_and_stops_on_sigterm() -> None:
    """The command prints its URL when ready, serves requests, and exits 0 on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "podium",
        "simulate",
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
        name
        for name, value in vars(podium.simulator).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(podium.simulator.__all__)
