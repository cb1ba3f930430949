"""The admin API under ``/admin/``: the request log and API keys. Each route declares its permission;
every read is scoped to the caller's tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec
from aiohttp import web

from podium import keys as key_service
from podium.errors import NotFound, RequestError
from podium.gateway.http_io import read_json_body
from podium.gateway.permissions import OtherTenant, admin_route, query_float, query_int, query_limit
from podium.gateway.router import Route
from podium.identity.principal import Principal
from podium.identity.roles import key_roles
from podium.identity.tenants import require_team
from podium.storage.records import KeyRecord, RequestQuery, RequestRecord

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = [
    "ROUTES",
    "KeyView",
    "NewKey",
    "create_key",
    "decode_body",
    "list_keys",
    "list_requests",
    "revoke_key",
]


class KeyView(msgspec.Struct, frozen=True):
    """A key as the admin API shows it: never its hash."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    tenant: str
    roles: tuple[str, ...]
    team: str | None
    guardrail_policy: str | None
    allowed_regions: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    @classmethod
    def of(cls, k: KeyRecord) -> KeyView:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            scopes=k.scopes,
            models=k.models,
            tenant=k.tenant,
            roles=key_roles(k),
            team=k.team,
            guardrail_policy=k.guardrail_policy,
            allowed_regions=k.allowed_regions,
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )


class NewKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A key to create in the caller's tenant. ``roles`` govern the admin API (default: application)."""

    name: str
    scopes: tuple[Literal["inference", "admin"], ...] = ("inference",)
    models: tuple[str, ...] = ("*",)
    expires_in: str | None = None  # a duration: "30d", "12h"
    roles: tuple[str, ...] = ()
    team: str | None = None
    guardrail_policy: str | None = None
    allowed_regions: tuple[str, ...] = ()


class CreatedKey(KeyView, frozen=True):
    key: str  # the secret, shown only in this answer


def decode_body(body: bytes, kind: type[Any], what: str) -> Any:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RequestError(f"Invalid {what}: {exc}") from None


_REQUEST_QUERY = (
    ("key_id", "only this key's requests"),
    ("model", "only this requested model"),
    ("deployment", "only this deployment"),
    ("status", "only this HTTP status"),
    ("errors", "1: only failed requests"),
    ("guardrail_action", "only requests a guardrail acted on so: block, redact, pseudonymize, flag"),
    ("since", "epoch seconds, inclusive"),
    ("until", "epoch seconds, exclusive"),
    ("limit", "1 to 1000 (default 50)"),
    ("cursor", "the previous page's next_cursor"),
)


@admin_route("requests:read", response=list[RequestRecord], query=_REQUEST_QUERY)
async def list_requests(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The request log of the caller's tenant, newest first."""
    q = request.query
    limit = query_limit(request, 50)
    page = await gw.storage.requests.query(
        RequestQuery(
            key_id=q.get("key_id") or None,
            tenant=principal.tenant,
            model=q.get("model") or None,
            deployment=q.get("deployment") or None,
            status=query_int(request, "status"),
            errors_only=q.get("errors") in ("1", "true"),
            guardrail_action=q.get("guardrail_action") or None,
            since=query_float(request, "since"),
            until=query_float(request, "until"),
            limit=limit,
            cursor=q.get("cursor") or None,
        )
    )
    return 200, {"object": "list", "data": page.items, "next_cursor": page.next_cursor}


@admin_route("keys:read", response=list[KeyView], query=(("include_revoked", "1: revoked keys too"),))
async def list_keys(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's keys, never their secrets or hashes."""
    include_revoked = request.query.get("include_revoked") in ("1", "true")
    keys = await gw.storage.keys.list(include_revoked=include_revoked)
    return 200, {"object": "list", "data": [KeyView.of(k) for k in keys if k.tenant == principal.tenant]}


async def _tenant_key(gw: Gateway, principal: Principal, key_id: str) -> KeyRecord:
    record = await gw.storage.keys.get(key_id)
    if record is None:
        raise NotFound(f"No key with id '{key_id}'.")
    if record.tenant != principal.tenant:
        raise OtherTenant(f"No key with id '{key_id}'.")
    return record


@admin_route("keys:read", response=KeyView)
async def get_key(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, key_id: str
) -> tuple[int, Any]:
    """One key of the caller's tenant."""
    return 200, KeyView.of(await _tenant_key(gw, principal, key_id))


@admin_route("keys:write", body=NewKey, response=CreatedKey)
async def create_key(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """Create a key in the caller's tenant; its secret is in the answer, once."""
    body = await read_json_body(request, gw.config.server.max_body_bytes)
    spec: NewKey = decode_body(body, NewKey, "key request")
    try:
        expires_in = key_service.parse_duration(spec.expires_in) if spec.expires_in else None
    except ValueError as exc:
        raise RequestError(str(exc), param="expires_in") from None
    book = gw.identity.roles
    roles = book.check_known(spec.roles)
    # The legacy admin scope means owner: granting it is granting owner.
    granted = roles or (("owner",) if "admin" in spec.scopes else ("application",))
    book.check_grant(principal.permissions, granted)
    await require_team(gw.storage, principal.tenant, spec.team)
    policies = gw.config.guardrails.policies
    if (
        spec.guardrail_policy is not None
        and spec.guardrail_policy != "none"
        and spec.guardrail_policy not in policies
    ):
        known = ", ".join(sorted(policies)) or "none are configured"
        raise RequestError(
            f"No guardrail policy '{spec.guardrail_policy}' (known: {known}; 'none' for no guardrails).",
            param="guardrail_policy",
        )
    secret, record = await key_service.create_key(
        gw.storage,
        name=spec.name,
        scopes=spec.scopes,
        models=spec.models,
        tenant=principal.tenant,
        expires_in=expires_in,
        roles=roles,
        team=spec.team,
        guardrail_policy=spec.guardrail_policy,
        allowed_regions=spec.allowed_regions,
    )
    gw.keys.add(record)
    return 201, {"key": secret, **msgspec.structs.asdict(KeyView.of(record))}


@admin_route("keys:write", response=KeyView)
async def revoke_key(
    gw: Gateway, request: web.BaseRequest, principal: Principal, *, key_id: str
) -> tuple[int, Any]:
    """Revoke a key of the caller's tenant; every replica refuses it within a second."""
    await _tenant_key(gw, principal, key_id)
    record = await key_service.revoke_key(gw.storage, key_id, tenant=principal.tenant)
    if record is None:
        raise NotFound(f"No key with id '{key_id}'.")
    gw.keys.add(record)
    return 200, KeyView.of(record)


ROUTES = [
    Route("GET", "/admin/requests", list_requests),
    Route("GET", "/admin/keys", list_keys),
    Route("POST", "/admin/keys", create_key),
    Route("GET", "/admin/keys/{key_id}", get_key),
    Route("DELETE", "/admin/keys/{key_id}", revoke_key),
]
