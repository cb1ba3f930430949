"""People as a service (local accounts and their roles): what the admin API and the CLI both call."""

from __future__ import annotations

import os
import time

import msgspec

from podium.errors import Conflict, NotFound, RequestError
from podium.identity.passwords import hash_password
from podium.identity.roles import RoleBook
from podium.identity.tenants import require_team, require_tenant
from podium.storage.base import Storage
from podium.storage.identity_records import UserRecord

__all__ = ["create_user", "update_user"]

_UNSET: object = object()


def _check_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 200 or any(c.isspace() for c in username):
        raise RequestError("A username must be 1 to 200 characters without spaces.", param="username")
    return username


async def _password_hash(password: str) -> str:
    try:
        return await hash_password(password)
    except ValueError as exc:
        raise RequestError(str(exc), param="password") from None


async def create_user(
    storage: Storage,
    roles: RoleBook,
    *,
    tenant: str,
    username: str,
    password: str | None = None,
    user_roles: tuple[str, ...] = (),
    team: str | None = None,
    email: str | None = None,
    display_name: str = "",
) -> UserRecord:
    await require_tenant(storage, tenant)
    await require_team(storage, tenant, team)
    record = UserRecord(
        id="usr_" + os.urandom(8).hex(),
        tenant=tenant,
        username=_check_username(username),
        display_name=display_name,
        email=email,
        password_hash=await _password_hash(password) if password is not None else None,
        roles=roles.check_known(user_roles),
        team=team,
        created_at=time.time(),
    )
    try:
        return await storage.identity.create_user(record)
    except ValueError:
        raise Conflict(
            f"The tenant '{tenant}' has a user '{record.username}' already.", param="username"
        ) from None


async def get_user(storage: Storage, *, tenant: str, user_id: str) -> UserRecord:
    """The user, if they belong to ``tenant``: another tenant's user is as unknown as a missing one."""
    user = await storage.identity.get_user(user_id)
    if user is None or user.tenant != tenant:
        raise NotFound(f"No user '{user_id}'.")
    return user


async def update_user(
    storage: Storage,
    roles: RoleBook,
    *,
    tenant: str,
    user_id: str,
    user_roles: tuple[str, ...] | None = None,
    team: object = _UNSET,
    email: object = _UNSET,
    display_name: str | None = None,
    password: str | None = None,
    disabled: bool | None = None,
) -> UserRecord:
    user = await get_user(storage, tenant=tenant, user_id=user_id)
    changes: dict[str, object] = {}
    if user_roles is not None:
        changes["roles"] = roles.check_known(user_roles)
    if team is not _UNSET:
        assert team is None or isinstance(team, str)
        await require_team(storage, tenant, team)
        changes["team"] = team
    if email is not _UNSET:
        changes["email"] = email
    if display_name is not None:
        changes["display_name"] = display_name
    ends_sessions = False
    if password is not None:
        changes["password_hash"] = await _password_hash(password)
        ends_sessions = True
    if disabled is not None:
        changes["disabled_at"] = (user.disabled_at or time.time()) if disabled else None
        ends_sessions = ends_sessions or disabled
    if ends_sessions:
        changes["session_version"] = user.session_version + 1
    updated = await storage.identity.update_user(msgspec.structs.replace(user, **changes))
    if updated is None:
        raise NotFound(f"No user '{user_id}'.")
    return updated
