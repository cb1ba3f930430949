"""One pooled keep-alive HTTP client per upstream account, shared across config reloads.

Model calls go through :class:`~podium.providers.h1.H1Pool` (lean, decision 0075); everything else
that speaks HTTP (OAuth token endpoints, JWKS, moderation services) through an aiohttp session.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from podium import __version__
from podium.providers.h1 import H1Pool

__all__ = ["ClientPool"]

log = logging.getLogger("podium.http")

USER_AGENT = f"podium/{__version__}"


class ClientPool:
    """Hands out one ``aiohttp.ClientSession`` and one :class:`H1Pool` per (base URL, connection limit).

    A reload that keeps a provider keeps its warm connections; sessions no longer used by the current
    configuration are closed by :meth:`retain` after in-flight requests had time to finish.
    """

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int], aiohttp.ClientSession] = {}
        self._pools: dict[tuple[str, int], H1Pool] = {}

    def h1(self, base_url: str, *, max_connections: int) -> H1Pool:
        """The keep-alive pool for model calls to ``base_url``'s origin."""
        key = (base_url, max_connections)
        pool = self._pools.get(key)
        if pool is None or pool.closed:
            pool = self._pools[key] = H1Pool(base_url, max_connections=max_connections, user_agent=USER_AGENT)
        return pool

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
        stale_pools = [(k, p) for k, p in self._pools.items() if k not in keep]
        for k, _ in stale:
            del self._sessions[k]
        for k, _ in stale_pools:
            del self._pools[k]
        if stale or stale_pools:
            await asyncio.sleep(grace_seconds)
            for _, s in stale:
                await s.close()
            for _, p in stale_pools:
                await p.close()

    async def close(self) -> None:
        sessions = list(self._sessions.values())
        pools = list(self._pools.values())
        self._sessions.clear()
        self._pools.clear()
        for s in sessions:
            await s.close()
        for p in pools:
            await p.close()
