"""Who is calling: an API key, a person with a local session, or a person with an OIDC token.

Every way in resolves to one :class:`Principal`, so authorisation and tenant scoping are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from podium.storage.records import KeyRecord

__all__ = ["Principal", "PrincipalKind"]

PrincipalKind = Literal["key", "user", "oidc", "cli"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str  # key id, user id, OIDC subject, or the operating-system user for the CLI
    name: str  # shown in listings and the audit trail
    tenant: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    team: str | None = None
    key: KeyRecord | None = None  # the key, when the principal is one

    @property
    def actor(self) -> str:
        """How the audit trail names this principal: ``key:key_…``, ``user:usr_…``, ``oidc:<sub>``."""
        return f"{self.kind}:{self.id}"

    def can(self, permission: str) -> bool:
        return permission in self.permissions
