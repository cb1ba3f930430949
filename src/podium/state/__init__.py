"""Fast state shared by replicas: limit counters, leases, cached answers (see :mod:`podium.state.base`).

``open_state(config)`` returns the backend ``state.redis_url`` names: Redis when set, this
process otherwise. Call ``start()`` before use and ``close()`` at the end.
"""

from __future__ import annotations

from podium.config.model import Config
from podium.state.base import (
    Adjust,
    Admission,
    Append,
    Counter,
    Op,
    Put,
    Release,
    Renew,
    SharedState,
    StateUnavailable,
)

__all__ = [
    "Adjust",
    "Admission",
    "Append",
    "Counter",
    "Op",
    "Put",
    "Release",
    "Renew",
    "SharedState",
    "StateUnavailable",
    "open_state",
]


def open_state(config: Config) -> SharedState:
    """The backend ``config.state`` names; the in-process one keeps at most ``cache.max_entries`` values."""
    settings = config.state
    if settings.redis_url:
        # Imported only when used: a single replica never loads the Redis client.
        from podium.state.redis import RedisState

        return RedisState(
            settings.redis_url,
            prefix=settings.key_prefix,
            timeout=settings.timeout_ms / 1000,
            on_unavailable=settings.on_unavailable,
        )
    from podium.state.memory import MemoryState

    return MemoryState(max_values=config.cache.max_entries)
