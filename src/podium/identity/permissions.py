"""Permissions and the built-in roles: the one table that says who may do what.

A permission is ``"<resource>:<action>"``. Resources are the things an admin route touches; each has
a short list of actions. A role is a named set of permissions; a principal holds the union of its
roles' permissions. The table below is the documented RBAC matrix (docs/access-control.md prints it
from here, and the RBAC matrix test checks every admin endpoint against it).
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALL_PERMISSIONS",
    "BUILTIN_ROLES",
    "RESOURCES",
    "RoleDefinition",
    "is_permission",
    "matches",
]

# resource -> its actions, in the order docs list them.
RESOURCES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "tenants": ("read", "write"),
        "teams": ("read", "write"),
        "users": ("read", "write"),
        "keys": ("read", "write"),
        "roles": ("read",),
        "policies": ("read", "write"),
        "deployments": ("read", "write"),  # deployments and routes
        "configuration": ("read", "write"),
        "prompts": ("read", "write", "promote"),  # promote: move protected labels, approve moves
        "knowledge_bases": ("read", "write"),
        "workflows": ("read", "write", "run"),
        "reviews": ("read", "decide"),
        "audit": ("read", "export"),
        "requests": ("read",),  # the request log
        "usage": ("read",),  # usage analytics: cost, tokens, latency by key, team, model… (GET /admin/usage)
        "evaluations": ("read",),  # quality scores of live traffic and datasets
        "alerts": ("read",),  # alert rules' state and history
        "inference": ("use",),  # the data plane (/v1/...)
        "profile": ("read",),  # one's own identity (GET /admin/me)
    }
)

ALL_PERMISSIONS: frozenset[str] = frozenset(f"{r}:{a}" for r, actions in RESOURCES.items() for a in actions)


def is_permission(text: str) -> bool:
    """A known permission, or a pattern over them: ``keys:*``, ``*:read``, ``*``."""
    if text == "*":
        return True
    resource, sep, action = text.partition(":")
    if not sep:
        return False
    if resource == "*":
        return action == "*" or any(action in actions for actions in RESOURCES.values())
    actions = RESOURCES.get(resource)
    return actions is not None and (action == "*" or action in actions)


def matches(pattern: str) -> frozenset[str]:
    """The permissions a pattern stands for (``keys:*`` → keys:read, keys:write)."""
    if pattern == "*":
        return ALL_PERMISSIONS
    resource, _, action = pattern.partition(":")
    return frozenset(
        p
        for p in ALL_PERMISSIONS
        if (resource in ("*", p.partition(":")[0])) and (action in ("*", p.partition(":")[2]))
    )


class RoleDefinition:
    """A named set of permissions. Built-in roles are below; custom ones come from ``identity.roles``."""

    __slots__ = ("builtin", "description", "name", "permissions")

    def __init__(self, name: str, description: str, permissions: frozenset[str], *, builtin: bool) -> None:
        self.name = name
        self.description = description
        self.permissions = permissions
        self.builtin = builtin

    def __repr__(self) -> str:
        return f"RoleDefinition({self.name!r}, {len(self.permissions)} permissions)"


def _role(name: str, description: str, *patterns: str) -> RoleDefinition:
    permissions: set[str] = set()
    for pattern in patterns:
        assert is_permission(pattern), pattern
        permissions |= matches(pattern)
    return RoleDefinition(name, description, frozenset(permissions), builtin=True)


_READ_EVERYTHING = "*:read"

BUILTIN_ROLES: MappingProxyType[str, RoleDefinition] = MappingProxyType(
    {
        r.name: r
        for r in (
            _role(
                "owner", "Everything in the tenant, including the tenant itself and granting any role.", "*"
            ),
            _role(
                "admin",
                "Everything in the tenant except changing the tenant itself.",
                *(f"{res}:*" for res in RESOURCES if res != "tenants"),
                "tenants:read",
            ),
            _role(
                "operator",
                "Runs the platform: deployments and routes, configuration, keys, policies; reads the request log.",
                "deployments:*",
                "configuration:*",
                "keys:*",
                "policies:*",
                "requests:read",
                "usage:read",
                "evaluations:read",
                "alerts:read",
                "teams:read",
                "users:read",
                "roles:read",
                "workflows:read",
                "tenants:read",
                "profile:read",
                # What the application keys it mints hold: no one grants a permission they lack.
                "inference:use",
                "prompts:read",
                "knowledge_bases:read",
                "workflows:run",
            ),
            _role(
                "prompt-engineer",
                "Versions prompts and moves their labels; reads what prompts run on and how they do.",
                "prompts:*",
                "deployments:read",
                "knowledge_bases:read",
                "workflows:read",
                "workflows:run",
                "requests:read",
                "usage:read",
                "evaluations:read",
                "policies:read",
                "inference:use",
                "profile:read",
            ),
            _role(
                "developer",
                "Builds applications: keys, knowledge bases, workflows; reads prompts and the request log.",
                "keys:*",
                "knowledge_bases:*",
                "workflows:*",
                "prompts:read",
                "deployments:read",
                "requests:read",
                "usage:read",
                "policies:read",
                "roles:read",
                "teams:read",
                "inference:use",
                "profile:read",
            ),
            _role(
                "reviewer",
                "Works the human-review queue.",
                "reviews:*",
                "workflows:read",
                "profile:read",
            ),
            _role(
                "auditor",
                "Reads everything, verifies and exports the audit trail; changes nothing.",
                _READ_EVERYTHING,
                "audit:export",
            ),
            _role(
                "application",
                "A service key: calls models, reads prompts and knowledge bases, runs workflows.",
                "inference:use",
                "prompts:read",
                "knowledge_bases:read",
                "workflows:run",
            ),
        )
    }
)


def matrix_markdown() -> str:
    """The roles x permissions table of docs/access-control.md, generated from the table above."""
    roles = list(BUILTIN_ROLES.values())
    lines = [
        "| permission | " + " | ".join(r.name for r in roles) + " |",
        "|---|" + "|".join(":-:" for _ in roles) + "|",
    ]
    for resource, actions in RESOURCES.items():
        for action in actions:
            permission = f"{resource}:{action}"
            marks = " | ".join("✓" if permission in r.permissions else "·" for r in roles)
            lines.append(f"| `{permission}` | {marks} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m podium.identity.permissions: the table for docs/access-control.md
    print(matrix_markdown())
