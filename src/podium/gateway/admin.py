"""The admin API under ``/admin/``: the request log and API keys. Each route declares its permission."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec
from aiohttp import web

from podium import keys as key_service
from podium.errors import NotFound, RequestError
from podium.gateway.http_io import read_json_body
from podium.gateway.permissions import admin_route, query_float, query_int
from podium.gateway.router import Route
from podium.storage.records import KeyRecord, RequestQuery

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "KeyView", "create_key", "list_keys", "list_requests", "revoke_key"]


class KeyView(msgspec.Struct, frozen=True):
    """A key as the admin API shows it: never its hash."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    tenant: str
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
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
        )


class NewKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    scopes: tuple[Literal["inference", "admin"], ...] = ("inference",)
    models: tuple[str, ...] = ("*",)
    expires_in: str | None = None  # a duration: "30d", "12h"


@admin_route("requests:read")
async def list_requests(gw: Gateway, request: web.BaseRequest, key: KeyRecord) -> tuple[int, Any]:
    """``GET /admin/requests?key_id=&model=&deployment=&status=&errors=1&since=&until=&limit=&cursor=``"""
    q = request.query
    limit = query_int(request, "limit") or 50
    if not 1 <= limit <= 1000:
        raise RequestError("'limit' must be between 1 and 1000.", param="limit")
    page = await gw.storage.requests.query(
        RequestQuery(
            key_id=q.get("key_id") or None,
            model=q.get("model") or None,
            deployment=q.get("deployment") or None,
            status=query_int(request, "status"),
            errors_only=q.get("errors") in ("1", "true"),
            since=query_float(request, "since"),
            until=query_float(request, "until"),
            limit=limit,
            cursor=q.get("cursor") or None,
        )
    )
    return 200, {"object": "list", "data": page.items, "next_cursor": page.next_cursor}


@admin_route("keys:read")
async def list_keys(gw: Gateway, request: web.BaseRequest, key: KeyRecord) -> tuple[int, Any]:
    include_revoked = request.query.get("include_revoked") in ("1", "true")
    keys = await gw.storage.keys.list(include_revoked=include_revoked)
    return 200, {"object": "list", "data": [KeyView.of(k) for k in keys]}


@admin_route("keys:write")
async def create_key(gw: Gateway, request: web.BaseRequest, key: KeyRecord) -> tuple[int, Any]:
    body = await read_json_body(request, gw.config.server.max_body_bytes)
    try:
        spec = msgspec.json.decode(body, type=NewKey)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RequestError(f"Invalid key request: {exc}") from None
    try:
        expires_in = key_service.parse_duration(spec.expires_in) if spec.expires_in else None
    except ValueError as exc:
        raise RequestError(str(exc), param="expires_in") from None
    secret, record = await key_service.create_key(
        gw.storage, name=spec.name, scopes=spec.scopes, models=spec.models, expires_in=expires_in
    )
    gw.keys.add(record)
    return 201, {"key": secret, **msgspec.structs.asdict(KeyView.of(record))}


@admin_route("keys:write")
async def revoke_key(
    gw: Gateway, request: web.BaseRequest, key: KeyRecord, *, key_id: str
) -> tuple[int, Any]:
    record = await key_service.revoke_key(gw.storage, key_id)
    if record is None:
        raise NotFound(f"No key with id '{key_id}'.")
    gw.keys.add(record)
    return 200, KeyView.of(record)


ROUTES = [
    Route("GET", "/admin/requests", list_requests),
    Route("GET", "/admin/keys", list_keys),
    Route("POST", "/admin/keys", create_key),
    Route("DELETE", "/admin/keys/{key_id}", revoke_key),
]
