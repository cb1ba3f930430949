"""The admin API for identity: tenants, teams, users, roles, one's own profile, and signing in.

Reads are scoped to the caller's tenant. Tenants are the one exception, and only for the root
tenant's principals holding ``tenants:write``: they create tenants and see them all.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.audit.events import admin_event, denied_event
from podium.errors import AuthenticationError, PermissionDenied, PodiumError, RequestError
from podium.gateway.admin import decode_body
from podium.gateway.http_io import error_response, json_response, new_request_id, read_json_body
from podium.gateway.permissions import OtherTenant, admin_route, public_route
from podium.gateway.router import Route
from podium.identity import tenants as tenant_service
from podium.identity import users as user_service
from podium.identity.passwords import verify_password
from podium.identity.principal import Principal
from podium.storage.identity_records import TeamRecord, TenantRecord, UserRecord
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES"]


# ------------------------------------------------------------------ shapes


class TenantView(msgspec.Struct, frozen=True):
    id: str
    name: str
    created_at: float
    disabled_at: float | None
    audit_content: bool

    @classmethod
    def of(cls, t: TenantRecord) -> TenantView:
        return cls(t.id, t.name, t.created_at, t.disabled_at, t.audit_content)


class NewTenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str | None = None
    audit_content: bool = False


class TenantChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | None = None
    audit_content: bool | None = None
    disabled: bool | None = None


class NewTeam(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str = ""


class UserView(msgspec.Struct, frozen=True):
    """A person as the admin API shows them: never the password hash."""

    id: str
    tenant: str
    username: str
    display_name: str
    email: str | None
    roles: tuple[str, ...]
    team: str | None
    local_account: bool
    created_at: float
    disabled_at: float | None

    @classmethod
    def of(cls, u: UserRecord) -> UserView:
        return cls(
            u.id,
            u.tenant,
            u.username,
            u.display_name,
            u.email,
            u.roles,
            u.team,
            u.password_hash is not None,
            u.created_at,
            u.disabled_at,
        )


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: str
    password: str | None = None  # None: no local sign-in (OIDC only)
    roles: tuple[str, ...] = ()
    team: str | None = None
    email: str | None = None
    display_name: str = ""


class UserChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    roles: tuple[str, ...] | None = None
    team: str | msgspec.UnsetType | None = msgspec.UNSET
    email: str | msgspec.UnsetType | None = msgspec.UNSET
    display_name: str | None = None
    password: str | None = None
    disabled: bool | None = None


class RoleView(msgspec.Struct, frozen=True):
    name: str
    description: str
    builtin: bool
    permissions: tuple[str, ...]


class Profile(msgspec.Struct, frozen=True):
    kind: str
    id: str
    name: str
    tenant: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    team: str | None


class Login(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: str
    password: str
    tenant: str = tenant_service.ROOT_TENANT


class Session(msgspec.Struct, frozen=True):
    token: str  # send as "Authorization: Bearer <token>"
    expires_at: float
    user: UserView


async def _body(gw: Gateway, request: web.BaseRequest, kind: type[Any], what: str) -> Any:
    return decode_body(await read_json_body(request, gw.config.server.max_body_bytes), kind, what)


# ------------------------------------------------------------------ tenants


def _may_manage_tenants(principal: Principal) -> bool:
    return principal.tenant == tenant_service.ROOT_TENANT and principal.can("tenants:write")


@admin_route("tenants:read", response=list[TenantView])
async def list_tenants(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Tenants: all of them for the root tenant's tenant managers, else only the caller's."""
    if _may_manage_tenants(principal):
        tenants = await gw.storage.identity.list_tenants()
    else:
        tenants = [await tenant_service.require_tenant(gw.storage, principal.tenant)]
    return 200, {"object": "list", "data": [TenantView.of(t) for t in tenants]}


def _check_tenant_access(principal: Principal, tenant_id: str) -> None:
    if tenant_id != principal.tenant and not _may_manage_tenants(principal):
        raise OtherTenant(f"No tenant '{tenant_id}'.")


@admin_route("tenants:read", response=TenantView)
async def get_tenant(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, tenant_id: str
) -> tuple[int, Any]:
    """One tenant (the caller's own, unless the caller manages tenants)."""
    _check_tenant_access(principal, tenant_id)
    return 200, TenantView.of(await tenant_service.require_tenant(gw.storage, tenant_id))


@admin_route("tenants:write", body=NewTenant, response=TenantView)
async def create_tenant(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Create a tenant (root tenant only). Give it an owner with POST /admin/tenants/{id}/owner-key."""
    if principal.tenant != tenant_service.ROOT_TENANT:
        raise PermissionDenied(
            f"Only the root tenant ('{tenant_service.ROOT_TENANT}') creates tenants.",
            code="permission_denied",
        )
    spec: NewTenant = await _body(gw, request, NewTenant, "tenant")
    record = await tenant_service.create_tenant(
        gw.storage, tenant_id=spec.id, name=spec.name, audit_content=spec.audit_content
    )
    gw.identity.directory.add_tenant(record)
    return 201, TenantView.of(record)


@admin_route("tenants:write", body=TenantChange, response=TenantView)
async def update_tenant(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, tenant_id: str
) -> tuple[int, Any]:
    """Rename a tenant, opt in or out of content in the audit trail, disable or enable it."""
    _check_tenant_access(principal, tenant_id)
    spec: TenantChange = await _body(gw, request, TenantChange, "tenant change")
    if spec.disabled and tenant_id == principal.tenant:
        raise RequestError("You cannot disable your own tenant.", param="disabled")
    record = await tenant_service.update_tenant(
        gw.storage, tenant_id, name=spec.name, audit_content=spec.audit_content, disabled=spec.disabled
    )
    gw.identity.directory.add_tenant(record)
    return 200, TenantView.of(record)


@admin_route("tenants:write")
async def create_owner_key(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, tenant_id: str
) -> tuple[int, Any]:
    """Create an owner key in a new tenant (root tenant only): how a tenant gets its first owner."""
    from podium import keys as key_service

    if not _may_manage_tenants(principal):
        raise OtherTenant(f"No tenant '{tenant_id}'.")
    await tenant_service.require_tenant(gw.storage, tenant_id)
    secret, record = await key_service.create_key(
        gw.storage, name=f"{tenant_id} owner", tenant=tenant_id, roles=("owner",), scopes=("inference",)
    )
    gw.keys.add(record)
    return 201, {"id": record.id, "key": secret, "tenant": tenant_id, "roles": ["owner"]}


# ------------------------------------------------------------------ teams


@admin_route("teams:read", response=list[TeamRecord])
async def list_teams(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's teams."""
    return 200, {"object": "list", "data": await gw.storage.identity.list_teams(principal.tenant)}


@admin_route("teams:write", body=NewTeam, response=TeamRecord)
async def create_team(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Create a team in the caller's tenant."""
    spec: NewTeam = await _body(gw, request, NewTeam, "team")
    team = await tenant_service.create_team(
        gw.storage, tenant=principal.tenant, name=spec.name, description=spec.description
    )
    return 201, team


@admin_route("teams:write")
async def delete_team(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, team: str
) -> tuple[int, Any]:
    """Delete a team of the caller's tenant (its keys and people keep working, without a team)."""
    await tenant_service.delete_team(gw.storage, tenant=principal.tenant, name=team)
    return 200, {"id": team, "deleted": True}


# ------------------------------------------------------------------ users


async def _tenant_user(gw: Gateway, principal: Principal, user_id: str) -> UserRecord:
    user = await gw.storage.identity.get_user(user_id)
    if user is not None and user.tenant != principal.tenant:
        raise OtherTenant(f"No user '{user_id}'.")
    return await user_service.get_user(gw.storage, tenant=principal.tenant, user_id=user_id)


@admin_route("users:read", response=list[UserView])
async def list_users(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's people."""
    users = await gw.storage.identity.list_users(principal.tenant)
    return 200, {"object": "list", "data": [UserView.of(u) for u in users]}


@admin_route("users:read", response=UserView)
async def get_user(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, user_id: str
) -> tuple[int, Any]:
    """One person of the caller's tenant."""
    return 200, UserView.of(await _tenant_user(gw, principal, user_id))


@admin_route("users:write", body=NewUser, response=UserView)
async def create_user(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Create a person in the caller's tenant; with a password they can sign in locally."""
    spec: NewUser = await _body(gw, request, NewUser, "user")
    book = gw.identity.roles
    book.check_grant(principal.permissions, book.check_known(spec.roles))
    user = await user_service.create_user(
        gw.storage,
        book,
        tenant=principal.tenant,
        username=spec.username,
        password=spec.password,
        user_roles=spec.roles,
        team=spec.team,
        email=spec.email,
        display_name=spec.display_name,
    )
    gw.identity.directory.add_user(user)
    return 201, UserView.of(user)


@admin_route("users:write", body=UserChange, response=UserView)
async def update_user(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, user_id: str
) -> tuple[int, Any]:
    """Change a person's roles, team, details or password, or disable them (ends their sessions)."""
    spec: UserChange = await _body(gw, request, UserChange, "user change")
    current = await _tenant_user(gw, principal, user_id)
    book = gw.identity.roles
    if spec.roles is not None:
        book.check_grant(principal.permissions, book.check_known(spec.roles))
        # Taking roles away is granting in reverse: no one strips a role they could not grant.
        book.check_grant(principal.permissions, current.roles)
    if spec.disabled is not None or spec.password is not None:
        book.check_grant(principal.permissions, current.roles)
    changes: dict[str, Any] = {}
    if spec.team is not msgspec.UNSET:
        changes["team"] = spec.team
    if spec.email is not msgspec.UNSET:
        changes["email"] = spec.email
    user = await user_service.update_user(
        gw.storage,
        book,
        tenant=principal.tenant,
        user_id=user_id,
        user_roles=spec.roles,
        display_name=spec.display_name,
        password=spec.password,
        disabled=spec.disabled,
        **changes,
    )
    gw.identity.directory.add_user(user)
    return 200, UserView.of(user)


@admin_route("users:write", response=UserView)
async def disable_user(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, user_id: str
) -> tuple[int, Any]:
    """Disable a person: their sessions end on every replica within a second."""
    current = await _tenant_user(gw, principal, user_id)
    gw.identity.roles.check_grant(principal.permissions, current.roles)
    user = await user_service.update_user(
        gw.storage, gw.identity.roles, tenant=principal.tenant, user_id=user_id, disabled=True
    )
    gw.identity.directory.add_user(user)
    return 200, UserView.of(user)


# ------------------------------------------------------------------ roles, profile


def _role_view(gw: Gateway, name: str) -> RoleView:
    role = gw.identity.roles.roles[name]
    return RoleView(role.name, role.description, role.builtin, tuple(sorted(role.permissions)))


@admin_route("roles:read", response=list[RoleView])
async def list_roles(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Built-in and custom roles with their permissions."""
    return 200, {"object": "list", "data": [_role_view(gw, n) for n in gw.identity.roles.roles]}


@admin_route("roles:read", response=RoleView)
async def get_role(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """One role and its permissions."""
    if name not in gw.identity.roles.roles:
        from podium.errors import NotFound

        raise NotFound(f"No role '{name}'.")
    return 200, _role_view(gw, name)


@admin_route("profile:read", response=Profile)
async def me(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Who the caller is: tenant, roles and the permissions they grant."""
    return 200, Profile(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        tenant=principal.tenant,
        roles=principal.roles,
        permissions=tuple(sorted(principal.permissions)),
        team=principal.team,
    )


# ------------------------------------------------------------------ signing in


@public_route(
    "Sign in with a local account; the token is a Bearer credential for /admin/.",
    body=Login,
    response=Session,
)
async def login(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    spec: Login | None = None
    try:
        if not gw.config.identity.local_accounts or gw.identity.sessions is None:
            raise PermissionDenied(
                "Local accounts are switched off here; sign in through OIDC.", code="permission_denied"
            )
        spec = decode_body(await read_json_body(request, gw.config.server.max_body_bytes), Login, "sign-in")
        # Over its failures an account or address is refused before its password is even checked.
        at_ms = await gw.login_throttle.check(spec.tenant, spec.username, request.remote)
        user = gw.identity.directory.find(spec.tenant, spec.username)
        ok = await verify_password(user.password_hash if user else None, spec.password)
        if user is None or not ok:
            gw.login_throttle.failed(spec.tenant, spec.username, request.remote, at_ms)
            raise AuthenticationError("Wrong username or password.", code="invalid_credentials")
        if user.disabled_at is not None or not gw.identity.directory.tenant_active(user.tenant):
            raise AuthenticationError("This account is disabled.", code="account_disabled")
        token, expires = gw.identity.sessions.issue(
            user_id=user.id, tenant=user.tenant, session_version=user.session_version
        )
    except PodiumError as exc:
        gw.audit.submit(
            denied_event(
                tenant=spec.tenant
                if spec and spec.tenant in gw.identity.directory.tenants
                else tenant_service.ROOT_TENANT,
                actor=f"login:{spec.username}" if spec else "anonymous",
                action="admin.login",
                resource=request.path,
                error=exc,
                remote=request.remote,
            )
        )
        return error_response(exc, wire.error_body, request_id=request_id, started=started)
    principal = gw.identity.user_principal(user)
    gw.audit.submit(
        admin_event(
            principal, action="admin.login", resource=request.path, details={"remote": request.remote}
        )
    )
    body = msgspec.json.encode(Session(token=token, expires_at=expires, user=UserView.of(user)))
    return json_response(body, headers={"x-request-id": request_id})


ROUTES = [
    Route("POST", "/admin/login", login),
    Route("GET", "/admin/me", me),
    Route("GET", "/admin/tenants", list_tenants),
    Route("POST", "/admin/tenants", create_tenant),
    Route("GET", "/admin/tenants/{tenant_id}", get_tenant),
    Route("PATCH", "/admin/tenants/{tenant_id}", update_tenant),
    Route("POST", "/admin/tenants/{tenant_id}/owner-key", create_owner_key),
    Route("GET", "/admin/teams", list_teams),
    Route("POST", "/admin/teams", create_team),
    Route("DELETE", "/admin/teams/{team}", delete_team),
    Route("GET", "/admin/users", list_users),
    Route("POST", "/admin/users", create_user),
    Route("GET", "/admin/users/{user_id}", get_user),
    Route("PATCH", "/admin/users/{user_id}", update_user),
    Route("DELETE", "/admin/users/{user_id}", disable_user),
    Route("GET", "/admin/roles", list_roles),
    Route("GET", "/admin/roles/{name}", get_role),
]


# ------------------------------------------------------------------ policies


class PolicyView(msgspec.Struct, frozen=True):
    """A guardrail policy (defined in the configuration's ``guardrails.policies``) and where it applies."""

    name: str
    description: str | None
    extends: tuple[str, ...]
    input: tuple[dict[str, Any], ...]  # the scanners, as configured
    output: tuple[dict[str, Any], ...]
    default: bool  # applies to requests no key or route attaches a policy to
    routes: tuple[str, ...]  # public model names that attach it
    keys: tuple[str, ...]  # ids of the caller's tenant's keys that attach it


async def _policies(gw: Gateway, principal: Principal) -> list[PolicyView]:
    settings = gw.config.guardrails
    by_key: dict[str, list[str]] = {}
    for key in await gw.storage.keys.list():
        if key.tenant == principal.tenant and key.guardrail_policy:
            by_key.setdefault(key.guardrail_policy, []).append(key.id)
    return [
        PolicyView(
            name=name,
            description=policy.description,
            extends=policy.extends,
            input=tuple(msgspec.to_builtins(s) for s in policy.input),
            output=tuple(msgspec.to_builtins(s) for s in policy.output),
            default=settings.default == name,
            routes=tuple(sorted(r for r, p in settings.routes.items() if p == name)),
            keys=tuple(by_key.get(name, ())),
        )
        for name, policy in sorted(settings.policies.items())
    ]


@admin_route("policies:read", response=list[PolicyView])
async def list_policies(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Guardrail policies from the configuration, with the routes and the caller's tenant's keys using each."""
    return 200, {"object": "list", "data": await _policies(gw, principal)}


@admin_route("policies:read", response=PolicyView)
async def get_policy(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, name: str
) -> tuple[int, Any]:
    """One guardrail policy."""
    for policy in await _policies(gw, principal):
        if policy.name == name:
            return 200, policy
    from podium.errors import NotFound

    raise NotFound(f"No guardrail policy '{name}'.")


ROUTES.append(Route("GET", "/admin/policies", list_policies))
ROUTES.append(Route("GET", "/admin/policies/{name}", get_policy))
