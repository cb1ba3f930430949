"""Bearer tokens that expire: cached, shared by every request of an account, refreshed before expiry.

Three sources::

    TokenSource                 get(session) -> str: the cached token, or a fresh one
    ├── StaticToken             a token the operator gives (Azure: an Entra token from elsewhere)
    ├── ServiceAccountToken     Google: service-account key → RS256-signed JWT → OAuth access token
    └── ClientCredentialsToken  Microsoft Entra ID: client id + secret → access token

A token is refreshed ``REFRESH_MARGIN`` seconds before it expires, by one request however many
calls are waiting; a failed refresh is an :class:`~podium.errors.UpstreamStatusError` (or connection
error) of the deployment that needed it, so the executor falls back as for any upstream failure.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import msgspec

from podium.errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout

__all__ = [
    "GOOGLE_SCOPE",
    "REFRESH_MARGIN",
    "ClientCredentialsToken",
    "ServiceAccount",
    "ServiceAccountToken",
    "StaticToken",
    "TokenSource",
    "load_service_account",
]

REFRESH_MARGIN = 300.0  # seconds before expiry when a token is replaced
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float = 3600.0
    token_type: str = "Bearer"


class TokenSource:
    """Caches one token; subclasses say how to fetch a new one (``_fetch``)."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0  # how many tokens were fetched (tests check refreshes happen, and only then)

    async def get(self, session: aiohttp.ClientSession) -> str:
        if self._token is not None and time.monotonic() < self._expires - REFRESH_MARGIN:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires - REFRESH_MARGIN:
                token, lifetime = await self._fetch(session)
                self.fetches += 1
                self._token, self._expires = token, time.monotonic() + lifetime
        return self._token

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        raise NotImplementedError

    async def _post_form(
        self, session: aiohttp.ClientSession, url: str, form: dict[str, str], what: str
    ) -> tuple[str, float]:
        try:
            async with session.post(url, data=form, timeout=_TIMEOUT) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise UpstreamStatusError(
                        f"The {what} token endpoint answered HTTP {resp.status}: {body[:300].decode('utf-8', 'replace')}",
                        upstream_status=401 if resp.status in (400, 401, 403) else resp.status,
                    )
        except TimeoutError:
            raise UpstreamTimeout(f"The {what} token endpoint did not answer in time.") from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(f"The {what} token endpoint could not be reached: {exc}") from None
        try:
            answer = msgspec.json.decode(body, type=_TokenAnswer)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamProtocolError(f"The {what} token endpoint answered something else: {exc}") from None
        return answer.access_token, float(answer.expires_in)


class StaticToken(TokenSource):
    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token
        self._expires = float("inf")

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[str, float]:  # pragma: no cover
        raise AssertionError("a static token never expires")


class ServiceAccount(msgspec.Struct, frozen=True):
    """The fields of a Google service-account key file that signing needs."""

    client_email: str
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"
    project_id: str | None = None
    private_key_id: str | None = None


def load_service_account(path: str) -> ServiceAccount:
    """Read a key file; ``ValueError`` saying what is wrong with it."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ValueError(f"cannot read '{path}': {exc.strerror or exc}") from None
    try:
        account = msgspec.json.decode(raw, type=ServiceAccount)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"'{path}' is not a service-account key file: {exc}") from None
    try:
        _private_key(account.private_key)
    except ImportError:
        raise ValueError(
            "Vertex AI needs the 'cryptography' package: pip install 'podium-gateway[vertex]'"
        ) from None
    except ValueError as exc:
        raise ValueError(f"the private_key in '{path}' cannot be read: {exc}") from None
    return account


def _private_key(pem: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    return key


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def signed_jwt(account: ServiceAccount, *, audience: str, scope: str, now: float | None = None) -> str:
    """An RS256 JWT assertion for the OAuth 2.0 JWT-bearer grant (RFC 7523)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    issued = int(time.time() if now is None else now)
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": audience,
        "iat": issued,
        "exp": issued + 3600,
    }
    signing_input = _b64(json.dumps(header).encode()) + b"." + _b64(json.dumps(claims).encode())
    signature = _private_key(account.private_key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode()


class ServiceAccountToken(TokenSource):
    def __init__(
        self, account: ServiceAccount, *, token_url: str | None = None, scope: str = GOOGLE_SCOPE
    ) -> None:
        super().__init__()
        self.account = account
        self.token_url = token_url or account.token_uri
        self.scope = scope

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        assertion = signed_jwt(self.account, audience=self.token_url, scope=self.scope)
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return await self._post_form(session, self.token_url, form, "Google OAuth")


class ClientCredentialsToken(TokenSource):
    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        scope: str = ENTRA_SCOPE,
    ) -> None:
        super().__init__()
        self.token_url = token_url or f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope

    async def _fetch(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": self.scope,
        }
        return await self._post_form(session, self.token_url, form, "Microsoft Entra")
