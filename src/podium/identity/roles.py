"""The role book: built-in roles plus the custom ones from ``identity.roles``, resolved to permissions."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from podium.config.governance import IdentitySettings
from podium.errors import PermissionDenied, RequestError
from podium.identity.permissions import BUILTIN_ROLES, RoleDefinition, matches
from podium.storage.records import KeyRecord

__all__ = ["RoleBook", "key_roles"]

log = logging.getLogger("podium.identity")


def key_roles(key: KeyRecord) -> tuple[str, ...]:
    """A key's roles: its own; else the legacy ``admin`` scope means ``owner``; else ``application``."""
    if key.roles:
        return key.roles
    if "admin" in key.scopes:
        return ("owner",)
    return ("application",)


class RoleBook:
    def __init__(self, settings: IdentitySettings) -> None:
        roles: dict[str, RoleDefinition] = dict(BUILTIN_ROLES)
        pending = dict(settings.roles)
        # Resolve includes in dependency order (the loader has refused unknown names and cycles).
        while pending:
            progressed = False
            for name, custom in list(pending.items()):
                if any(inc in pending for inc in custom.include):
                    continue
                permissions: set[str] = set()
                for pattern in custom.permissions:
                    permissions |= matches(pattern)
                for included in custom.include:
                    permissions |= roles[included].permissions
                roles[name] = RoleDefinition(name, custom.description, frozenset(permissions), builtin=False)
                del pending[name]
                progressed = True
            if not progressed:
                raise ValueError(f"role includes form a cycle: {sorted(pending)}")
        self.roles = roles
        self._cache: dict[tuple[str, ...], frozenset[str]] = {}
        self._warned: set[str] = set()

    def permissions(self, roles: tuple[str, ...]) -> frozenset[str]:
        """The union of ``roles``' permissions; a role no longer defined grants nothing (logged once)."""
        found = self._cache.get(roles)
        if found is None:
            union: set[str] = set()
            for name in roles:
                role = self.roles.get(name)
                if role is None:
                    if name not in self._warned:
                        self._warned.add(name)
                        log.warning("role '%s' is assigned but not defined; it grants nothing", name)
                    continue
                union |= role.permissions
            found = self._cache[roles] = frozenset(union)
        return found

    def check_known(self, roles: Iterable[str], *, param: str = "roles") -> tuple[str, ...]:
        roles = tuple(dict.fromkeys(roles))
        unknown = [r for r in roles if r not in self.roles]
        if unknown:
            raise RequestError(
                f"Unknown role(s) {', '.join(repr(r) for r in unknown)}; known: {', '.join(sorted(self.roles))}.",
                param=param,
            )
        return roles

    def check_grant(self, granter: frozenset[str], roles: Iterable[str]) -> None:
        """No one grants a role holding a permission they do not hold themselves."""
        for name in roles:
            missing = self.roles[name].permissions - granter
            if missing:
                raise PermissionDenied(
                    f"You cannot grant the role '{name}': it has permissions you do not "
                    f"({', '.join(sorted(missing)[:5])}{'…' if len(missing) > 5 else ''}).",
                    code="permission_denied",
                    param="roles",
                )
