"""A local webhook receiver (JSON and Slack-compatible) and SMTP sink for alert tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web


class Receiver:
    """An aiohttp server on its own thread and loop, keeping every POSTed body by path."""

    def __init__(self) -> None:
        self.received: dict[str, list[Any]] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.setdefault(request.path, []).append(json.loads(await request.read()))
        return web.Response(text="ok")

    def start(self) -> Receiver:
        self._thread.start()

        async def boot() -> None:
            app = web.Application()
            app.router.add_post("/{name}", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"

        asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def wait(self, path: str, ready: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = list(self.received.get(path, []))
            if ready(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
