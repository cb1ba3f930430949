"""One pooled keep-alive HTTP client per upstream account, shared across config reloads."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from podium import __version__

__all__ = ["ClientPool"]

log = logging.getLogger("podium.http")

USER_AGENT = f"podium/{__version__}"


class ClientPool:
    """Hands out one ``aiohttp.ClientSession`` per (base URL, connection limit).

    A reload that keeps a provider keeps its warm connections; sessions no longer used by the current
    configuration are closed by :meth:`retain` after in-flight requests had time to finish.
    """

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int], aiohttp.ClientSession] = {}

    def session(self, base_url: str, *, max_connections: int) -> aiohttp.ClientSession:
        key = (base_url, max_connections)
        session = self._sessions.get(key)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=max_connections,
                limit_per_host=max_connections,
                keepalive_timeout=60,
                ttl_dns_cache=300,
                enable_cleanup_closed=False,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": USER_AGENT},
                skip_auto_headers=("Accept-Encoding",),
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._sessions[key] = session
        return session

    async def retain(self, keep: set[tuple[str, int]], *, grace_seconds: float) -> None:
        """Close every session not in ``keep``, after ``grace_seconds`` for requests still using it."""
        stale = [(k, s) for k, s in self._sessions.items() if k not in keep]
        for k, _ in stale:
            del self._sessions[k]
        if stale:
            await asyncio.sleep(grace_seconds)
            for _, s in stale:
                await s.close()

    async def close(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for s in sessions:
            await s.close()
