"""The ``identity`` and ``audit`` sections of ``podium.yaml``, and the checks a type cannot say.

::

    identity:
      roles:                      # custom roles, next to the built-in ones
        billing-viewer:
          permissions: [requests:read, keys:read]
          include: [reviewer]     # every permission of these roles too
      oidc:
        issuer: https://login.example.com/realms/acme
        audience: podium
        roles_claim: groups
        role_map: {podium-admins: admin, sre: operator}
    audit:
      key: ${PODIUM_AUDIT_KEY}
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from podium.errors import ConfigProblem

__all__ = [
    "AuditSettings",
    "CustomRole",
    "IdentitySettings",
    "LoginThrottleSettings",
    "OIDCSettings",
    "check_audit",
    "check_identity",
]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class CustomRole(_Section, frozen=True):
    """A role of your own: permissions (``keys:read``, ``prompts:*``, ``*:read``) and roles it includes."""

    description: Annotated[str, Meta(description="Shown in role listings.")] = ""
    permissions: Annotated[
        tuple[str, ...], Meta(description="Permissions or patterns: 'keys:read', 'prompts:*', '*:read'.")
    ] = ()
    include: Annotated[
        tuple[str, ...], Meta(description="Roles (built-in or custom) whose permissions this role also has.")
    ] = ()


class OIDCSettings(_Section, frozen=True):
    """People sign in with a JWT from this issuer; a claim maps to roles."""

    issuer: Annotated[str, Meta(description="The issuer URL; the JWT's 'iss' must equal it exactly.")]
    audience: Annotated[str, Meta(description="The JWT's 'aud' must contain it (the client id).")]
    jwks_url: Annotated[
        str | None,
        Meta(
            description="Where the signing keys are; found through the issuer's discovery document if omitted."
        ),
    ] = None
    algorithms: Annotated[
        tuple[str, ...], Meta(description="Signature algorithms accepted (never 'none').")
    ] = ("RS256", "ES256", "EdDSA")
    roles_claim: Annotated[
        str, Meta(description="The claim holding groups or roles; a dotted path such as realm_access.roles.")
    ] = "groups"
    role_map: Annotated[
        dict[str, str],
        Meta(
            description="Claim value → Podium role. Values not listed grant nothing (or deny, see unknown_roles)."
        ),
    ] = {}
    unknown_roles: Annotated[
        Literal["ignore", "deny"],
        Meta(description="A claim value missing from role_map: ignore it, or refuse the token."),
    ] = "ignore"
    tenant_claim: Annotated[
        str | None, Meta(description="The claim naming the person's tenant; default_tenant when omitted.")
    ] = None
    default_tenant: Annotated[str, Meta(description="The tenant of people whose token names none.")] = (
        "default"
    )
    username_claim: Annotated[
        str, Meta(description="The claim shown as the person's name in the audit trail.")
    ] = "email"
    leeway_seconds: Annotated[float, Meta(description="Clock skew tolerated on exp/nbf/iat.")] = 30.0
    jwks_cache_seconds: Annotated[
        float, Meta(description="How long fetched signing keys are trusted before they are fetched again.")
    ] = 600.0


class LoginThrottleSettings(_Section, frozen=True):
    """Failed sign-ins allowed before ``POST /admin/login`` refuses an account or an address (429)."""

    enabled: Annotated[bool, Meta(description="Whether failed sign-ins are counted and limited.")] = True
    failures_per_account: Annotated[
        int, Meta(ge=1, description="Failed sign-ins per tenant and username within the window.")
    ] = 5
    failures_per_address: Annotated[
        int, Meta(ge=1, description="Failed sign-ins per client address within the window.")
    ] = 20
    window_seconds: Annotated[
        float, Meta(ge=1, description="How long a failed sign-in counts, in seconds (a sliding window).")
    ] = 900.0


class IdentitySettings(_Section, frozen=True):
    """Tenants, roles, people: how callers of the admin API are identified and what they may do."""

    roles: Annotated[dict[str, CustomRole], Meta(description="Custom roles, by name.")] = {}
    oidc: Annotated[OIDCSettings | None, Meta(description="Single sign-on for people, with JWTs.")] = None
    local_accounts: Annotated[
        bool, Meta(description="Whether people may sign in with a username and password (POST /admin/login).")
    ] = True
    session_ttl_seconds: Annotated[
        float, Meta(description="How long a session token from POST /admin/login is valid.")
    ] = 8 * 3600.0
    session_secret: Annotated[
        str | None,
        Meta(
            description="Signs session tokens (a reference, ${PODIUM_SESSION_SECRET}); generated and stored if omitted."
        ),
    ] = None
    login_throttle: Annotated[
        LoginThrottleSettings,
        Meta(description="Failed sign-ins allowed per account and per address before sign-ins are refused."),
    ] = LoginThrottleSettings()


class AuditSettings(_Section, frozen=True):
    """The hash-chained audit trail."""

    key: Annotated[
        str | None,
        Meta(
            description="The server key that authenticates every entry (HMAC), as a reference: ${PODIUM_AUDIT_KEY}. "
            "Generated and kept in storage if omitted (weaker: see docs/audit.md)."
        ),
    ] = None
    signing_key: Annotated[
        str | None,
        Meta(
            description="Ed25519 private key (base64 of 32 bytes) that signs checkpoints, as a reference. "
            "Generated and kept in storage if omitted."
        ),
    ] = None
    model_calls: Annotated[bool, Meta(description="Whether every model call is audited.")] = True
    checkpoint_interval_seconds: Annotated[
        float, Meta(description="How often a signed checkpoint of the chain head is written (0: never).")
    ] = 3600.0
    flush_interval_ms: Annotated[int, Meta(description="How often buffered audit entries are appended.")] = (
        200
    )


_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def check_identity(settings: IdentitySettings) -> list[ConfigProblem]:
    from podium.identity.permissions import BUILTIN_ROLES, is_permission

    problems: list[ConfigProblem] = []
    known = set(BUILTIN_ROLES) | set(settings.roles)
    for name, role in settings.roles.items():
        path = f"identity.roles.{name}"
        if name in BUILTIN_ROLES:
            problems.append(ConfigProblem(path, f"'{name}' is a built-in role; choose another name"))
        elif not _NAME.fullmatch(name):
            problems.append(ConfigProblem(path, _name_problem(name)))
        for i, permission in enumerate(role.permissions):
            if not is_permission(permission):
                problems.append(
                    ConfigProblem(
                        f"{path}.permissions[{i}]",
                        f"unknown permission '{permission}' (see docs/access-control.md; 'keys:read', 'prompts:*')",
                    )
                )
        for i, included in enumerate(role.include):
            if included not in known:
                problems.append(ConfigProblem(f"{path}.include[{i}]", f"unknown role '{included}'"))
        if not role.permissions and not role.include:
            problems.append(ConfigProblem(path, "grants nothing: give it permissions or include roles"))
    problems += _include_cycles(settings)
    if settings.session_ttl_seconds <= 0:
        problems.append(ConfigProblem("identity.session_ttl_seconds", "must be positive"))
    if settings.session_secret is not None and len(settings.session_secret) < 16:
        problems.append(ConfigProblem("identity.session_secret", "must be at least 16 characters"))
    oidc = settings.oidc
    if oidc is not None:
        for field, url in (("issuer", oidc.issuer), ("jwks_url", oidc.jwks_url)):
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(
                    ConfigProblem(f"identity.oidc.{field}", f"must be an http(s) URL, got '{url}'")
                )
        for value, mapped in oidc.role_map.items():
            if mapped not in known:
                problems.append(ConfigProblem(f"identity.oidc.role_map.{value}", f"unknown role '{mapped}'"))
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
        for i, alg in enumerate(oidc.algorithms):
            if alg not in allowed:
                problems.append(
                    ConfigProblem(
                        f"identity.oidc.algorithms[{i}]",
                        f"'{alg}' is not an asymmetric JWS algorithm ({', '.join(sorted(allowed))})",
                    )
                )
        if not oidc.algorithms:
            problems.append(ConfigProblem("identity.oidc.algorithms", "must name at least one algorithm"))
        if oidc.leeway_seconds < 0:
            problems.append(ConfigProblem("identity.oidc.leeway_seconds", "must not be negative"))
        if oidc.jwks_cache_seconds <= 0:
            problems.append(ConfigProblem("identity.oidc.jwks_cache_seconds", "must be positive"))
    return problems


def _include_cycles(settings: IdentitySettings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []

    def walk(name: str, trail: tuple[str, ...]) -> None:
        role = settings.roles.get(name)
        if role is None:
            return
        for included in role.include:
            if included in trail:
                problems.append(
                    ConfigProblem(
                        f"identity.roles.{trail[0]}.include",
                        f"includes itself: {' → '.join((*trail, included))}",
                    )
                )
                return
            walk(included, (*trail, included))

    for name in settings.roles:
        if not problems:
            walk(name, (name,))
    return problems


def check_audit(settings: AuditSettings) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if settings.key is not None and len(settings.key) < 16:
        problems.append(
            ConfigProblem("audit.key", "must be at least 16 characters (32 random bytes is right)")
        )
    if settings.signing_key is not None:
        try:
            raw = base64.b64decode(settings.signing_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            problems.append(
                ConfigProblem("audit.signing_key", "must be the base64 of a 32-byte Ed25519 private key")
            )
    if settings.checkpoint_interval_seconds < 0:
        problems.append(ConfigProblem("audit.checkpoint_interval_seconds", "must not be negative"))
    if settings.flush_interval_ms < 1:
        problems.append(ConfigProblem("audit.flush_interval_ms", "must be positive"))
    return problems


def _name_problem(name: str) -> str:
    return f"'{name}' must be lowercase letters and digits joined by '-' or '_'"
