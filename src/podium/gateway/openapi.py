"""The admin API's OpenAPI 3.1 document, generated from the route table, and a docs page for it.

Each admin route declares its permission and its shapes (:class:`~podium.gateway.permissions.RouteSpec`);
bodies and answers become JSON Schemas through ``msgspec.json.schema_components``. ``/admin/docs`` is a
small page of our own that renders the document in the browser: nothing is fetched from elsewhere.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium import __version__
from podium.gateway.http_io import json_response
from podium.gateway.permissions import public_route, spec_of
from podium.gateway.router import Route

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "openapi_document"]

_PARAM = re.compile(r"\{(\w+)(?:\.\.\.)?\}")
# The admin API, and the data-plane APIs that are Podium's own (the OpenAI/Anthropic ones are documented upstream).
DOCUMENTED = ("/admin/", "/v1/flows", "/v1/runs", "/v1/reviews", "/v1/knowledge-bases")

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def openapi_document(routes: Iterable[Route]) -> dict[str, Any]:
    """An OpenAPI 3.1 document of every ``/admin/`` route (and Podium's own ``/v1/`` APIs) in ``routes``."""
    admin = [r for r in routes if r.path.startswith(DOCUMENTED)]
    types: list[Any] = []
    for r in admin:
        spec = spec_of(r.handler)
        if spec is not None:
            types += [t for t in (spec.body, spec.response) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(map(id, types), schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for r in admin:
        spec = spec_of(r.handler)
        if spec is None:
            raise ValueError(
                f"{r.method} {r.path} has no route spec: build it with admin_route or public_route"
            )
        path = _PARAM.sub(r"{\1}", r.path)
        op: dict[str, Any] = {
            "operationId": r.handler.__name__,
            "summary": spec.summary,
            "tags": [r.path.split("/")[2]],
            "x-permission": spec.permission,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(r.path)
            ]
            + [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in spec.query
            ],
            "responses": {
                "default": {"description": "an error", "content": {"application/json": {"schema": _ERROR}}}
            },
        }
        if spec.permission is not None:
            op["description"] = f"Needs the `{spec.permission}` permission."
            op["security"] = [{"bearer": []}]
            op["responses"]["403"] = {"description": f"the caller's roles do not grant {spec.permission}"}
        else:
            op["security"] = []
        if spec.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_type[id(spec.body)]}},
            }
        ok: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            schema = by_type[id(spec.response)]
            if schema.get("type") == "array":
                schema = {
                    "type": "object",
                    "properties": {"object": {"const": "list"}, "data": schema},
                }
            ok["content"] = {spec.content_type: {"schema": schema}}
        elif spec.content_type != "application/json":
            ok["content"] = {spec.content_type: {"schema": {"type": "string"}}}
        op["responses"]["200"] = ok
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Podium admin API",
            "version": __version__,
            "description": "Tenants, teams, users, keys, roles, policies, the request log and the audit trail; "
            "workflow runs, the review queue and knowledge bases. "
            "Send a key, a session token (POST /admin/login) or an OIDC JWT as `Authorization: Bearer …`.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }


_cache: dict[int, bytes] = {}


@public_route("This document: the admin API in OpenAPI 3.1.")
async def openapi_json(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    body = _cache.get(id(gw.router))
    if body is None:
        body = _cache[id(gw.router)] = msgspec.json.encode(openapi_document(gw.router.routes))
    return json_response(body)


@public_route("A page that renders the OpenAPI document (no external assets).", content_type="text/html")
async def docs_page(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    html = (importlib.resources.files("podium") / "data" / "admin_docs.html").read_bytes()
    return web.Response(
        body=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
        },
    )


ROUTES = [
    Route("GET", "/admin/openapi.json", openapi_json),
    Route("GET", "/admin/docs", docs_page),
]
