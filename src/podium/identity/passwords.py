"""Local-account passwords, hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes).

Hashing takes tens of milliseconds on purpose, so it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MIN_LENGTH", "check_strength", "hash_password", "verify_password"]

MIN_LENGTH = 12
_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """Verified when the username does not exist, so a miss takes as long as a wrong password.

    Made on first use: hashing at import time cost every CLI command tens of milliseconds.
    """
    return _hasher.hash("podium-no-such-user-0123456789")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password must be at least {MIN_LENGTH} characters")


async def hash_password(password: str) -> str:
    check_strength(password)
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: no such account, still costs one verify)."""
    return await asyncio.to_thread(_verify, stored, password)
