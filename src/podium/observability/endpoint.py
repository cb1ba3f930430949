"""``GET /metrics``: the Prometheus text exposition of this replica's metrics.

Open on the listen address by default, like most exporters (scrapers rarely carry credentials); with
``observability.metrics.bearer_token`` set it needs ``Authorization: Bearer <token>``. A 404 when
metrics are switched off.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from podium.errors import AuthenticationError, NotFound, PodiumError
from podium.gateway.http_io import error_response, new_request_id
from podium.gateway.permissions import public_route
from podium.gateway.router import Route
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES"]


@public_route(
    "Prometheus metrics (text exposition); a bearer token when configured.", content_type=CONTENT_TYPE_LATEST
)
async def metrics(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    import time

    settings = gw.config.observability.metrics
    error: PodiumError
    if not settings.enabled:
        error = NotFound("Metrics are switched off (observability.metrics.enabled).", code="unknown_url")
        return error_response(
            error, wire.error_body, request_id=new_request_id(), started=time.perf_counter()
        )
    token = settings.bearer_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            error = AuthenticationError(
                "GET /metrics needs 'Authorization: Bearer <observability.metrics.bearer_token>'."
            )
            return error_response(
                error, wire.error_body, request_id=new_request_id(), started=time.perf_counter()
            )
    body = gw.telemetry.metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


ROUTES = [Route("GET", "/metrics", metrics)]
