"""People signed in elsewhere: a JWT from the configured OIDC issuer, checked against its JWKS.

The signing keys are fetched from ``jwks_url`` (or the issuer's discovery document) and cached for
``jwks_cache_seconds``. A token signed with a key id the cache does not know makes one refetch — the
issuer has rotated its keys — at most once every ``REFRESH_COOLDOWN`` seconds, so random key ids cannot
make Podium hammer the issuer. While the issuer is unreachable the last keys fetched keep working.

Only asymmetric algorithms from ``algorithms`` are accepted (never ``none`` or HMAC, whose "key" would
be public); ``iss`` must equal the issuer, ``aud`` must contain the audience, ``exp`` must be in the
future (with ``leeway_seconds``), and ``sub`` must be present. The roles claim is mapped through
``role_map``; values it does not list are ignored or refuse the token (``unknown_roles``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt

from podium.config.governance import OIDCSettings
from podium.errors import AuthenticationError, PodiumError

__all__ = ["IdentityProviderUnavailable", "OIDCIdentity", "OIDCVerifier"]

log = logging.getLogger("podium.identity.oidc")

REFRESH_COOLDOWN = 1.0
FETCH_TIMEOUT = 5.0


class IdentityProviderUnavailable(PodiumError):
    """The OIDC issuer's signing keys could not be fetched, and none cached fits the token."""

    status = 503
    type = "server_error"
    code = "identity_provider_unavailable"


class OIDCIdentity:
    __slots__ = ("claims", "name", "roles", "subject", "tenant")

    def __init__(
        self, subject: str, name: str, tenant: str, roles: tuple[str, ...], claims: dict[str, Any]
    ) -> None:
        self.subject = subject
        self.name = name
        self.tenant = tenant
        self.roles = roles
        self.claims = claims


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


class OIDCVerifier:
    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0  # monotonic; 0: never
        self._last_attempt = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self.fetches = 0  # how many times the JWKS was fetched (for tests and metrics)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ keys

    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        async with self._session.get(url, headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def _jwks_url(self) -> str:
        if self.settings.jwks_url:
            return self.settings.jwks_url
        discovery = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(discovery)
        uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(uri, str):
            raise ValueError(f"{discovery} has no jwks_uri")
        return uri

    async def _refresh(self, *, reason: str) -> None:
        """Fetch the JWKS once, shared by every caller waiting at the same time."""
        started = time.monotonic()
        async with self._lock:
            if self._last_attempt >= started:  # another caller fetched while we waited
                return
            if time.monotonic() - self._last_attempt < REFRESH_COOLDOWN and reason == "unknown key":
                return
            self._last_attempt = time.monotonic()
            try:
                url = await self._jwks_url()
                document = await self._get_json(url)
                keyset = jwt.PyJWKSet.from_dict(document)
            except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWKSetError) as exc:
                log.warning("fetching the OIDC signing keys failed (%s): %s", reason, exc)
                return
            self.fetches += 1
            self._keys = {k.key_id or "": k for k in keyset.keys}
            self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> jwt.PyJWK:
        stale = time.monotonic() - self._fetched_at > self.settings.jwks_cache_seconds
        if not self._fetched_at or stale:
            await self._refresh(reason="expired cache" if self._fetched_at else "first use")
        key = self._keys.get(kid)
        if key is None and self._fetched_at:
            await self._refresh(reason="unknown key")  # the issuer may have rotated its keys
            key = self._keys.get(kid)
        if key is None:
            if not self._fetched_at:
                raise IdentityProviderUnavailable(
                    "The identity provider's signing keys cannot be fetched; try again shortly."
                )
            raise AuthenticationError(
                "The token is signed with a key the identity provider does not publish.", code="invalid_token"
            )
        return key

    # ------------------------------------------------------------------ tokens

    async def verify(self, token: str) -> OIDCIdentity:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthenticationError("The token is not a well-formed JWT.", code="invalid_token") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise AuthenticationError(
                f"The token's algorithm '{alg}' is not accepted (accepted: {', '.join(s.algorithms)}).",
                code="invalid_token",
            )
        key = await self._key(str(header.get("kid") or ""))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired; sign in again.", code="expired_token") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"The token is not meant for this service (audience must include '{s.audience}').",
                code="invalid_audience",
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(
                f"The token was not issued by the configured issuer '{s.issuer}'.", code="invalid_issuer"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("The token's signature is not valid.", code="invalid_token") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"The token is not valid: {exc}.", code="invalid_token") from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, Any]) -> OIDCIdentity:
        s = self.settings
        values = _claim(claims, s.roles_claim)
        if isinstance(values, str):
            values = [values]
        roles: list[str] = []
        for value in values if isinstance(values, list) else []:
            role = s.role_map.get(str(value))
            if role is not None:
                roles.append(role)
            elif s.unknown_roles == "deny":
                raise AuthenticationError(
                    f"The token's '{s.roles_claim}' has '{value}', which maps to no Podium role.",
                    code="unknown_role",
                )
        tenant = s.default_tenant
        if s.tenant_claim:
            value = _claim(claims, s.tenant_claim)
            if isinstance(value, str) and value:
                tenant = value
        name = _claim(claims, s.username_claim)
        subject = str(claims["sub"])
        return OIDCIdentity(
            subject=subject,
            name=str(name) if isinstance(name, str) and name else subject,
            tenant=tenant,
            roles=tuple(dict.fromkeys(roles)),
            claims=claims,
        )


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
