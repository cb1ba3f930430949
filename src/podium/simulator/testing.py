"""Starting the standalone simulator inside a test, on an ephemeral port.

::

    from podium.simulator.testing import running_simulator

    async def test_gateway_sends_its_key() -> None:
        log = RequestLog()
        async with running_simulator(api_key="sk-upstream", log=log) as base_url:
            client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-upstream", max_retries=0)
            ...
            await client.close()
        assert log.records[-1].authorization_scheme == "Bearer"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from podium.simulator.recording import RequestLog
from podium.simulator.server import base_url, create_app, make_runner

__all__ = ["running_simulator"]


@asynccontextmanager
async def running_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    record: int = 1000,
    log: RequestLog | None = None,
) -> AsyncIterator[str]:
    """Serve the simulator for the block; yields its base URL, ``http://127.0.0.1:<port>/v1``.

    ``port=0`` picks a free port. Pass ``log`` to read what the server received without HTTP.
    """
    runner = make_runner(create_app(api_key=api_key, record=record, log=log))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield base_url(runner, host)
    finally:
        await runner.cleanup()
