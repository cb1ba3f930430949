"""Session tokens for people who signed in with a local account (``POST /admin/login``).

A token is ``ps_<payload>.<signature>``: the payload names the person, their tenant, their
``session_version`` and an expiry; the signature is an HMAC with a secret every replica shares. Any
replica can check a token from memory (the people mirror); changing the password or disabling the
person bumps ``session_version`` and so ends every session they had, everywhere, within a second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

import msgspec

from podium.errors import AuthenticationError

__all__ = ["PREFIX", "SessionClaims", "SessionSigner"]

PREFIX = "ps_"


class SessionClaims(msgspec.Struct, frozen=True):
    u: str  # user id
    t: str  # tenant
    v: int  # session_version when issued
    e: float  # expiry, epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self._secret = secret
        self.ttl = ttl_seconds

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(
        self, *, user_id: str, tenant: str, session_version: int, now: float | None = None
    ) -> tuple[str, float]:
        expires = (now or time.time()) + self.ttl
        payload = _b64(msgspec.json.encode(SessionClaims(u=user_id, t=tenant, v=session_version, e=expires)))
        return f"{PREFIX}{payload}.{self._sign(payload)}", expires

    def read(self, token: str) -> SessionClaims:
        """The claims of a genuine, unexpired token; ``AuthenticationError`` otherwise."""
        payload, _, signature = token.removeprefix(PREFIX).partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise AuthenticationError("The session token is not valid.", code="invalid_session")
        try:
            claims = msgspec.json.decode(_unb64(payload), type=SessionClaims)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise AuthenticationError("The session token is not valid.", code="invalid_session") from None
        if claims.e <= time.time():
            raise AuthenticationError("The session has expired; sign in again.", code="expired_session")
        return claims
