"""Admin routes declare the permission they need; one function decides whether a key holds it.

A permission is ``"<resource>:<action>"`` — ``keys:read``, ``keys:write``, ``requests:read``… Every
admin route is built with :func:`admin_route`, so no route can forget its check. Today the ``admin``
scope holds every permission; role-based access (tenants, roles, custom roles) replaces
:func:`authorize` without touching the routes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.errors import PermissionDenied, PodiumError, RequestError
from podium.gateway.http_io import error_response, json_response, new_request_id
from podium.storage.records import KeyRecord
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["admin_route", "authorize", "query_float", "query_int"]

_encode = msgspec.json.Encoder().encode

# (gateway, request, caller's key, **path params) -> (status, JSON-encodable payload)
AdminHandler = Callable[..., Awaitable[tuple[int, Any]]]


def authorize(key: KeyRecord, permission: str) -> None:
    if "admin" not in key.scopes:
        raise PermissionDenied(
            f"This endpoint needs the '{permission}' permission, which this key does not have.",
            code="permission_denied",
        )


def admin_route(permission: str) -> Callable[[AdminHandler], Callable[..., Awaitable[web.StreamResponse]]]:
    """Wrap a handler: authenticate, check ``permission``, encode its payload or error as JSON."""

    def wrap(handler: AdminHandler) -> Callable[..., Awaitable[web.StreamResponse]]:
        async def route(gw: Gateway, request: web.BaseRequest, **params: str) -> web.StreamResponse:
            started = time.perf_counter()
            request_id = new_request_id()
            try:
                key = gw.keys.authenticate(request.headers)
                authorize(key, permission)
                status, payload = await handler(gw, request, key, **params)
            except PodiumError as exc:
                return error_response(exc, wire.error_body, request_id=request_id, started=started)
            return json_response(_encode(payload), status=status, headers={"x-request-id": request_id})

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        route.permission = permission  # type: ignore[attr-defined]  # read by the permission tests
        return route

    return wrap


def query_int(request: web.BaseRequest, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise RequestError(f"Query parameter '{name}' must be an integer.", param=name) from None


def query_float(request: web.BaseRequest, name: str) -> float | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise RequestError(
            f"Query parameter '{name}' must be a number (epoch seconds).", param=name
        ) from None
