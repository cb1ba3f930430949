"""Tenants and teams as a service: the functions the admin API and the CLI both call."""

from __future__ import annotations

import re
import time

import msgspec

from podium.errors import Conflict, NotFound, RequestError
from podium.storage.base import Storage
from podium.storage.identity_records import TeamRecord, TenantRecord

__all__ = [
    "ROOT_TENANT",
    "check_slug",
    "create_team",
    "create_tenant",
    "delete_team",
    "require_tenant",
    "update_tenant",
]

ROOT_TENANT = "default"  # its owners create and list the other tenants
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def check_slug(value: str, *, what: str, param: str) -> str:
    if not _SLUG.fullmatch(value) or value.endswith("-"):
        raise RequestError(
            f"The {what} '{value}' must be 1 to 63 lowercase letters, digits and '-', starting with a letter or digit.",
            param=param,
        )
    return value


async def require_tenant(storage: Storage, tenant_id: str) -> TenantRecord:
    tenant = await storage.identity.get_tenant(tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant '{tenant_id}'.")
    return tenant


async def create_tenant(
    storage: Storage, *, tenant_id: str, name: str | None = None, audit_content: bool = False
) -> TenantRecord:
    check_slug(tenant_id, what="tenant id", param="id")
    record = TenantRecord(
        id=tenant_id, name=name or tenant_id, created_at=time.time(), audit_content=audit_content
    )
    try:
        return await storage.identity.create_tenant(record)
    except ValueError:
        raise Conflict(f"A tenant '{tenant_id}' exists already.", param="id") from None


async def update_tenant(
    storage: Storage,
    tenant_id: str,
    *,
    name: str | None = None,
    audit_content: bool | None = None,
    disabled: bool | None = None,
) -> TenantRecord:
    tenant = await require_tenant(storage, tenant_id)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if audit_content is not None:
        changes["audit_content"] = audit_content
    if disabled is not None:
        if disabled and tenant_id == ROOT_TENANT:
            raise RequestError("The root tenant cannot be disabled.", param="disabled")
        changes["disabled_at"] = (tenant.disabled_at or time.time()) if disabled else None
    updated = await storage.identity.update_tenant(msgspec.structs.replace(tenant, **changes))
    if updated is None:
        raise NotFound(f"No tenant '{tenant_id}'.")
    return updated


async def create_team(storage: Storage, *, tenant: str, name: str, description: str = "") -> TeamRecord:
    await require_tenant(storage, tenant)
    check_slug(name, what="team name", param="name")
    record = TeamRecord(tenant=tenant, name=name, description=description, created_at=time.time())
    try:
        return await storage.identity.create_team(record)
    except ValueError:
        raise Conflict(f"The tenant '{tenant}' has a team '{name}' already.", param="name") from None


async def delete_team(storage: Storage, *, tenant: str, name: str) -> None:
    if not await storage.identity.delete_team(tenant, name):
        raise NotFound(f"No team '{name}'.")


async def require_team(storage: Storage, tenant: str, team: str | None) -> None:
    if team is not None and team not in {t.name for t in await storage.identity.list_teams(tenant)}:
        raise RequestError(f"The tenant '{tenant}' has no team '{team}'.", param="team")
