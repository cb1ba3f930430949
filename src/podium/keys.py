"""API keys as a service: the functions the admin API and the CLI both call.

A key's secret is ``pk-`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored; the secret is returned once, by :func:`create_key`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence

from podium.gateway.auth import hash_secret
from podium.storage.base import Storage
from podium.storage.records import KeyRecord, Scope

__all__ = ["create_key", "new_secret", "parse_duration", "revoke_key"]

SECRET_PREFIX = "pk-"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def key_record(
    secret: str,
    *,
    name: str,
    scopes: Sequence[Scope] = ("inference",),
    models: Sequence[str] = ("*",),
    tenant: str = "default",
    expires_in: float | None = None,
    metadata: dict[str, str] | None = None,
    roles: Sequence[str] = (),
    team: str | None = None,
    guardrail_policy: str | None = None,
    allowed_regions: Sequence[str] = (),
) -> KeyRecord:
    now = time.time()
    return KeyRecord(
        id="key_" + os.urandom(8).hex(),
        name=name,
        hash=hash_secret(secret),
        prefix=secret[:10],
        scopes=tuple(scopes),
        models=tuple(models) or ("*",),
        tenant=tenant,
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
        metadata=dict(metadata or {}),
        roles=tuple(roles),
        team=team,
        guardrail_policy=guardrail_policy,
        allowed_regions=tuple(allowed_regions),
    )


async def create_key(
    storage: Storage,
    *,
    name: str,
    scopes: Sequence[Scope] = ("inference",),
    models: Sequence[str] = ("*",),
    tenant: str = "default",
    expires_in: float | None = None,
    secret: str | None = None,
    roles: Sequence[str] = (),
    team: str | None = None,
    guardrail_policy: str | None = None,
    allowed_regions: Sequence[str] = (),
) -> tuple[str, KeyRecord]:
    """Store a new key; returns ``(secret, record)``. The secret is not kept anywhere."""
    secret = secret or new_secret()
    record = key_record(
        secret,
        name=name,
        scopes=scopes,
        models=models,
        tenant=tenant,
        expires_in=expires_in,
        roles=roles,
        team=team,
        guardrail_policy=guardrail_policy,
        allowed_regions=allowed_regions,
    )
    return secret, await storage.keys.create(record)


async def revoke_key(storage: Storage, key_id: str, *, tenant: str | None = None) -> KeyRecord | None:
    """Revoke a key; ``None`` if there is none (or, given ``tenant``, none in that tenant)."""
    if tenant is not None:
        existing = await storage.keys.get(key_id)
        if existing is None or existing.tenant != tenant:
            return None
    return await storage.keys.revoke(key_id, at=time.time())


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``30d``, ``2w`` (or plain seconds) → seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"'{text}' is not a duration such as 90s, 15m, 12h, 30d or 2w") from None
    if value <= 0:
        raise ValueError("a duration must be positive")
    return value
