"""Tenants, teams and people as storage holds them. Each record carries its format ``version``."""

from __future__ import annotations

import msgspec

__all__ = ["IdentityChanges", "TeamRecord", "TenantRecord", "UserRecord"]


class TenantRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An organisation whose keys, people, requests and audit entries are kept apart from the others'."""

    id: str  # a slug: "default", "acme"; what KeyRecord.tenant holds
    name: str  # shown in listings
    created_at: float
    disabled_at: float | None = None  # a disabled tenant's keys and people are refused
    audit_content: bool = False  # opt-in: audit entries of model calls keep prompt and completion text
    metadata: dict[str, str] = {}
    rev: int = 0  # assigned by storage on every write (shared with users); replicas sync on it
    version: int = 1


class TeamRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A group within a tenant; keys and people may belong to one (for limits, budgets, reporting)."""

    tenant: str
    name: str  # unique within its tenant
    description: str = ""
    created_at: float
    version: int = 1


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A person: a local account (argon2 password hash) or one first seen through OIDC."""

    id: str  # "usr_" + 16 hex chars
    tenant: str
    username: str  # unique within its tenant
    display_name: str = ""
    email: str | None = None
    password_hash: str | None = None  # argon2id; None: no local sign-in
    roles: tuple[str, ...] = ()
    team: str | None = None
    created_at: float
    disabled_at: float | None = None
    session_version: int = 1  # bumped by a password change or disable: older sessions stop working
    rev: int = 0
    version: int = 1


class IdentityChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Tenants and users written after a rev, in rev order: how replicas keep their mirror in sync."""

    tenants: tuple[TenantRecord, ...] = ()
    users: tuple[UserRecord, ...] = ()
