"""Admin routes declare the permission they need; one function decides whether a principal holds it.

A permission is ``"<resource>:<action>"`` — ``keys:read``, ``keys:write``, ``requests:read``… (the
table is :mod:`podium.identity.permissions`). Every admin route is built with :func:`admin_route`,
so no route can forget its check: it authenticates the caller (API key, session or OIDC token) into
a :class:`~podium.identity.principal.Principal`, checks the permission against the principal's roles,
runs the handler, and audits what happened — every change, and every refusal (a forged or expired
token, a missing permission, another tenant's resource). Handlers scope their reads to
``principal.tenant``. The few routes that need no permission (signing in, the API's own docs) are
built with :func:`public_route`, so the route table says which is which.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.audit.events import admin_event, denied_event
from podium.errors import AuthenticationError, NotFound, PermissionDenied, PodiumError, RequestError
from podium.gateway.http_io import error_response, json_response, new_request_id
from podium.identity.principal import Principal
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = [
    "OtherTenant",
    "Raw",
    "RouteSpec",
    "admin_route",
    "authorize",
    "public_route",
    "query_float",
    "query_int",
    "spec_of",
]

_encode = msgspec.json.Encoder().encode

# (gateway, request, principal, **path params) -> (status, JSON-encodable payload)
AdminHandler = Callable[..., Awaitable[tuple[int, Any]]]
RouteHandler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Raw:
    """A payload that is not JSON (an export): sent as it is, with its content type."""

    body: bytes
    content_type: str


class OtherTenant(NotFound):
    """Another tenant's resource: answered exactly like a missing one (404), but audited as a denial."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What a route declares: its permission (``None``: public), and its shapes for the OpenAPI document."""

    permission: str | None
    summary: str
    body: type | None = None
    response: Any = None
    query: tuple[tuple[str, str], ...] = ()  # (name, description)
    content_type: str = "application/json"


def authorize(principal: Principal, permission: str) -> None:
    if not principal.can(permission):
        roles = ", ".join(principal.roles) or "none"
        raise PermissionDenied(
            f"This endpoint needs the '{permission}' permission, which your roles ({roles}) do not grant.",
            code="permission_denied",
        )


def _remote(request: web.BaseRequest) -> str | None:
    return request.remote


def admin_route(
    permission: str,
    *,
    body: type | None = None,
    response: Any = None,
    query: tuple[tuple[str, str], ...] = (),
    audit_reads: bool = False,
    content_type: str = "application/json",
) -> Callable[[AdminHandler], RouteHandler]:
    """Wrap a handler: authenticate, check ``permission``, audit, encode its payload or error as JSON."""

    def wrap(handler: AdminHandler) -> RouteHandler:
        action = f"admin.{handler.__name__}"

        async def route(gw: Gateway, request: web.BaseRequest, **params: str) -> web.StreamResponse:
            started = time.perf_counter()
            request_id = new_request_id()
            principal: Principal | None = None
            audited = request.method != "GET" or audit_reads
            try:
                principal = await gw.identity.authenticate(request.headers)
                authorize(principal, permission)
                status, payload = await handler(gw, request, principal, **params)
            except PodiumError as exc:
                _audit_failure(gw, request, principal, action, exc, audited)
                return error_response(exc, wire.error_body, request_id=request_id, started=started)
            if audited:
                gw.audit.submit(
                    admin_event(
                        principal,
                        action=action,
                        resource=request.path,
                        details={"status": status, "request_id": request_id, **_ids(payload)},
                    )
                )
            if isinstance(payload, Raw):
                return web.Response(
                    body=payload.body,
                    status=status,
                    content_type=payload.content_type,
                    headers={"x-request-id": request_id},
                )
            return json_response(_encode(payload), status=status, headers={"x-request-id": request_id})

        spec = RouteSpec(permission, _summary(handler), body, response, query, content_type)
        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        route.permission = permission  # type: ignore[attr-defined]  # read by the RBAC matrix test
        route.spec = spec  # type: ignore[attr-defined]  # read by the OpenAPI document
        return route

    return wrap


def public_route(
    summary: str, *, body: type | None = None, response: Any = None, content_type: str = "application/json"
) -> Callable[[RouteHandler], RouteHandler]:
    """Mark a route that needs no permission (it authenticates by itself, or shows public docs)."""

    def wrap(handler: RouteHandler) -> RouteHandler:
        handler.permission = None  # type: ignore[attr-defined]
        handler.spec = RouteSpec(None, summary, body, response, content_type=content_type)  # type: ignore[attr-defined]
        return handler

    return wrap


def spec_of(handler: Callable[..., Any]) -> RouteSpec | None:
    spec = getattr(handler, "spec", None)
    return spec if isinstance(spec, RouteSpec) else None


def _summary(handler: AdminHandler) -> str:
    doc = (handler.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else handler.__name__.replace("_", " ")


def _ids(payload: Any) -> dict[str, Any]:
    """The id of what a change made or touched, for the audit entry (never a secret)."""
    ident = None
    if isinstance(payload, dict):
        ident = payload.get("id")
    elif isinstance(payload, msgspec.Struct):
        ident = getattr(payload, "id", None)
    return {"id": ident} if isinstance(ident, str) else {}


def _audit_failure(
    gw: Gateway,
    request: web.BaseRequest,
    principal: Principal | None,
    action: str,
    exc: PodiumError,
    audited: bool,
) -> None:
    denied = isinstance(exc, AuthenticationError | PermissionDenied | OtherTenant)
    if not denied and not audited:
        return  # a read that failed for an ordinary reason (bad query, missing id) changes nothing
    if principal is None:
        tenant, actor = gw.identity.root_tenant, "anonymous"
    else:
        tenant, actor = principal.tenant, principal.actor
    if denied:
        gw.audit.submit(
            denied_event(
                tenant=tenant,
                actor=actor,
                action=action,
                resource=request.path,
                error=exc,
                remote=_remote(request),
            )
        )
    elif principal is not None:
        gw.audit.submit(
            admin_event(
                principal,
                action=action,
                resource=request.path,
                outcome="error",
                details={"status": exc.status, "code": exc.code, "reason": exc.message},
            )
        )


def query_int(request: web.BaseRequest, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise RequestError(f"Query parameter '{name}' must be an integer.", param=name) from None


def query_limit(request: web.BaseRequest, default: int, most: int = 1000) -> int:
    """The ``limit`` query parameter: ``default`` when absent, a 400 outside 1..``most`` (0 included)."""
    limit = query_int(request, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= most:
        raise RequestError(f"'limit' must be between 1 and {most}.", param="limit")
    return limit


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
