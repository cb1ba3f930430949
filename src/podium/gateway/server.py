"""Starting and stopping the HTTP server around a :class:`Gateway` (used by ``podium serve`` and tests)."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from aiohttp import web

from podium.config.model import Config
from podium.gateway.app import Gateway
from podium.storage.base import Storage

__all__ = ["RunningServer", "start_server"]

log = logging.getLogger("podium.server")


@dataclass
class RunningServer:
    gateway: Gateway
    host: str
    port: int
    _server: web.Server
    _listener: asyncio.Server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self, *, drain_seconds: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (up to the drain time), then close everything."""
        self.gateway.draining = True
        self._listener.close()
        timeout = self.gateway.config.server.drain_seconds if drain_seconds is None else drain_seconds
        await self._server.shutdown(timeout=timeout)
        await self._listener.wait_closed()
        await self.gateway.close()


async def start_server(
    config: Config, storage: Storage, *, host: str | None = None, port: int | None = None
) -> RunningServer:
    """Serve ``config`` on ``host:port`` (the config's when not given; port 0 picks a free one)."""
    gateway = Gateway(config, storage)
    await gateway.start()
    # The caller going away cancels the handler, and with it the upstream call (no wasted tokens).
    server = web.Server(gateway.handle, handler_cancellation=True, access_log=None)
    host = host or config.server.host
    port = config.server.port if port is None else port
    loop = asyncio.get_running_loop()
    try:
        listener = await loop.create_server(server, host, port, backlog=4096, reuse_address=True)
    except OSError:
        await gateway.close()
        raise
    sock: socket.socket = listener.sockets[0]
    bound_port = sock.getsockname()[1]
    return RunningServer(gateway=gateway, host=host, port=bound_port, _server=server, _listener=listener)
