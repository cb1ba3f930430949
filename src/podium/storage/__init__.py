"""Durable state: keys, the request log and the server's own small values, behind one contract.

``await open_storage(url)`` opens the backend the URL names; call ``migrate()`` before use and
``close()`` at the end::

    sqlite:///relative/path.db            one file next to the server (the default)
    sqlite:////absolute/path.db
    postgresql://user:pw@host/db?schema=podium     shared by every replica (also postgres://)
"""

from __future__ import annotations

from podium.errors import ConfigError, ConfigProblem
from podium.storage.base import KeyStore, MetaStore, RequestLog, Storage, StorageUnavailable
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord

__all__ = [
    "KeyRecord",
    "KeyStore",
    "MetaStore",
    "RequestLog",
    "RequestPage",
    "RequestQuery",
    "RequestRecord",
    "Storage",
    "StorageUnavailable",
    "open_storage",
]


async def open_storage(url: str, *, pool_size: int = 10) -> Storage:
    """Open the storage ``url`` names; ``pool_size`` caps PostgreSQL connections (per process).

    A URL of no known kind is a ``ConfigError`` on ``storage.url``; a database that cannot be opened
    or reached is ``StorageUnavailable``.
    """
    scheme = url.partition("://")[0]
    # Each backend is imported only when used: a SQLite deployment never loads asyncpg.
    if scheme == "sqlite":
        from podium.storage.sqlite import SQLiteStorage

        return await SQLiteStorage.open(url)
    if scheme in ("postgresql", "postgres"):
        from podium.storage.postgres import PostgresStorage

        return await PostgresStorage.open(url, pool_size=pool_size)
    raise ConfigError(
        [
            ConfigProblem(
                "storage.url",
                f"unsupported storage URL {scheme + '://…' if '://' in url else repr(url)}: "
                "use sqlite:///path/to/file.db or postgresql://user@host/database",
            )
        ]
    )
