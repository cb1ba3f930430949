"""API keys on the request path: hashed lookup in an in-process mirror of the key store.

The mirror is filled at start and kept in sync by polling ``changes_since`` every half second, so
authentication never waits on I/O, and a key revoked anywhere (another replica, the CLI) stops
working everywhere within a second.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import logging
import time

from multidict import CIMultiDictProxy

from podium.errors import AuthenticationError, PermissionDenied
from podium.storage.base import Storage
from podium.storage.records import KeyRecord

__all__ = ["KeyCache", "bearer_secret", "hash_secret", "may_use"]

log = logging.getLogger("podium.auth")

SYNC_INTERVAL_SECONDS = 0.5


def hash_secret(secret: str) -> str:
    # Keys are 256-bit random secrets, so a fast hash is as safe as a slow one and costs ~1 µs.
    return hashlib.sha256(secret.encode()).hexdigest()


_HASH_MEMO_LIMIT = 10_000
_hash_memo: dict[str, str] = {}


def _memo_hash(secret: str) -> str:
    """``hash_secret`` for the request path: the few keys a server sees are hashed once, not per request."""
    digest = _hash_memo.get(secret)
    if digest is None:
        if len(_hash_memo) >= _HASH_MEMO_LIMIT:  # a flood of random keys must not grow memory
            _hash_memo.clear()
        digest = _hash_memo[secret] = hash_secret(secret)
    return digest


def _secret(headers: CIMultiDictProxy[str]) -> str | None:
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    key = headers.get("x-api-key")
    return key.strip() if key else None


bearer_secret = _secret  # the credential a request carries, for the admin API's other ways in


class KeyCache:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._by_hash: dict[str, KeyRecord] = {}
        self._rev = 0
        self.last_sync = 0.0

    async def sync(self) -> None:
        for key in await self._storage.keys.changes_since(self._rev):
            self._by_hash[key.hash] = key
            self._rev = max(self._rev, key.rev)
        self.last_sync = time.monotonic()

    async def run(self) -> None:
        """Keep the mirror in sync until cancelled; a failing store keeps the last known keys."""
        failing = False
        while True:
            await asyncio.sleep(SYNC_INTERVAL_SECONDS)
            try:
                await self.sync()
            except Exception as exc:  # noqa: BLE001 - any storage failure: keep serving from memory
                if not failing:
                    log.warning("key sync failed, serving the last known keys: %s", exc)
                failing = True
            else:
                if failing:
                    log.info("key sync recovered")
                failing = False

    def add(self, key: KeyRecord) -> None:
        """Make a key known at once (one this process created, or an in-memory session key)."""
        self._by_hash[key.hash] = key

    def authenticate(self, headers: CIMultiDictProxy[str]) -> KeyRecord:
        secret = _secret(headers)
        if secret is None:
            raise AuthenticationError(
                "No API key: send it as 'Authorization: Bearer <key>' or in the 'x-api-key' header."
            )
        key = self._by_hash.get(_memo_hash(secret))
        if key is None:
            raise AuthenticationError("The API key is not valid.")
        if key.revoked_at is not None:
            raise AuthenticationError("The API key has been revoked.", code="revoked_api_key")
        if key.expires_at is not None and key.expires_at <= time.time():
            raise AuthenticationError("The API key has expired.", code="expired_api_key")
        return key


def may_use(key: KeyRecord, model: str) -> bool:
    models = key.models
    if "*" in models or model in models:
        return True
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in models)


def check_model(key: KeyRecord, model: str) -> None:
    if not may_use(key, model):
        raise PermissionDenied(f"This API key may not use the model '{model}'.", param="model")
