"""Credentials → :class:`Principal`, for the admin API. Three ways in, one result:

* ``Authorization: Bearer pk-…`` (or ``x-api-key``) — an API key, from the in-memory key mirror;
* ``Authorization: Bearer ps_…`` — a session from ``POST /admin/login`` (local account), checked
  against the people mirror;
* ``Authorization: Bearer eyJ…`` — an OIDC JWT, checked against the issuer's JWKS (cached).

Keys and sessions cost no I/O. A JWT costs a signature check, plus a JWKS fetch when the cache is
cold or the issuer rotated its keys.
"""

from __future__ import annotations

from multidict import CIMultiDictProxy

from podium.errors import AuthenticationError
from podium.gateway.auth import KeyCache, bearer_secret
from podium.identity.directory import Directory
from podium.identity.oidc import OIDCVerifier, looks_like_jwt
from podium.identity.principal import Principal
from podium.identity.roles import RoleBook, key_roles
from podium.identity.sessions import PREFIX as SESSION_PREFIX
from podium.identity.sessions import SessionSigner
from podium.identity.tenants import ROOT_TENANT
from podium.storage.identity_records import UserRecord
from podium.storage.records import KeyRecord

__all__ = ["Authenticator"]


class Authenticator:
    def __init__(
        self,
        *,
        keys: KeyCache,
        directory: Directory,
        roles: RoleBook,
        sessions: SessionSigner | None,
        oidc: OIDCVerifier | None,
    ) -> None:
        self.keys = keys
        self.directory = directory
        self.roles = roles
        self.sessions = sessions
        self.oidc = oidc
        self.root_tenant = ROOT_TENANT

    async def authenticate(self, headers: CIMultiDictProxy[str]) -> Principal:
        secret = bearer_secret(headers)
        if secret is not None and secret.startswith(SESSION_PREFIX) and self.sessions is not None:
            return self._session(secret)
        if secret is not None and self.oidc is not None and looks_like_jwt(secret):
            return await self._oidc(secret)
        return self.key_principal(self.keys.authenticate(headers))

    def key_principal(self, key: KeyRecord) -> Principal:
        self._check_tenant(key.tenant)
        roles = key_roles(key)
        return Principal(
            kind="key",
            id=key.id,
            name=key.name,
            tenant=key.tenant,
            roles=roles,
            permissions=self.roles.permissions(roles),
            team=key.team,
            key=key,
        )

    def _session(self, token: str) -> Principal:
        assert self.sessions is not None
        claims = self.sessions.read(token)
        user = self.directory.users.get(claims.u)
        if user is None or user.tenant != claims.t:
            raise AuthenticationError("The session token is not valid.", code="invalid_session")
        if user.disabled_at is not None:
            raise AuthenticationError("This account is disabled.", code="account_disabled")
        if user.session_version != claims.v:
            raise AuthenticationError(
                "The session has ended (password changed or signed out); sign in again.",
                code="expired_session",
            )
        self._check_tenant(user.tenant)
        return self.user_principal(user)

    def user_principal(self, user: UserRecord) -> Principal:
        return Principal(
            kind="user",
            id=user.id,
            name=user.username,
            tenant=user.tenant,
            roles=user.roles,
            permissions=self.roles.permissions(user.roles),
            team=user.team,
        )

    async def _oidc(self, token: str) -> Principal:
        assert self.oidc is not None
        identity = await self.oidc.verify(token)
        if identity.tenant not in self.directory.tenants:
            raise AuthenticationError(
                f"The token names the tenant '{identity.tenant}', which does not exist here.",
                code="unknown_tenant",
            )
        self._check_tenant(identity.tenant)
        return Principal(
            kind="oidc",
            id=identity.subject,
            name=identity.name,
            tenant=identity.tenant,
            roles=identity.roles,
            permissions=self.roles.permissions(identity.roles),
        )

    def _check_tenant(self, tenant: str) -> None:
        record = self.directory.tenants.get(tenant)
        if record is not None and record.disabled_at is not None:
            raise AuthenticationError(f"The tenant '{tenant}' is disabled.", code="tenant_disabled")
