"""Every routing decision explained: the ``x-podium-route`` header and ``POST /v1/route/explain``.

The header reads ``route=auto; deployment=coder; reason=rule code, task code`` and is on every
data-plane response whose request reached routing (errors included, with ``deployment=-``). The same
reason is stored on the request record (``route_reason``).

``POST /v1/route/explain`` takes the body of a chat completion request (with the same key and
headers) and returns the decision without calling a model: the facts, the classifier's answer, the
rule that matched, every candidate with the reason it was chosen or left out, and the plan of
attempts. A request nothing can serve gets the same error a real call would.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from podium.errors import PodiumError, UnknownModel
from podium.gateway.auth import check_model
from podium.gateway.call import Call
from podium.gateway.http_io import error_response, json_response, new_request_id, read_json_body
from podium.gateway.router import Route
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["HEADER", "ROUTES", "current_route_header", "explain", "reset_route_header", "set_route_header"]

HEADER = "x-podium-route"

# The header of the request being handled: set by routing and the executor, read when the response
# is written (each request is handled in its own task, so its own context).
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("podium_route", default=None)


def _clean(text: str) -> str:
    # A header value is one line of visible ASCII.
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def set_route_header(route: str | None, deployment: str | None, reason: str) -> None:
    _current.set(_clean(f"route={route or '-'}; deployment={deployment or '-'}; reason={reason}"))


def current_route_header() -> str | None:
    return _current.get()


def reset_route_header() -> None:
    _current.set(None)


def route_headers() -> dict[str, str]:
    """``{"x-podium-route": ...}`` for the response being written, or nothing."""
    value = _current.get()
    return {HEADER: value} if value is not None else {}


async def explain(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        chat, _ = wire.parse_chat_request(body)
        check_model(key, chat.model)
        call = Call(
            id=request_id, api="chat", headers=request.headers, principal=key, chat=chat, started=started
        )
        target = gw.catalog.resolve(chat.model)
        if target is None or not target.candidates:
            raise UnknownModel(
                f"The model '{chat.model}' does not exist or is not served by this gateway.", param="model"
            )
        call.target = target
        router = gw.routing
        budget = router.budget(call)
        decision = router.decide(call, explain=True)
    except PodiumError as exc:
        return error_response(exc, wire.error_body, request_id=request_id, started=started)
    c = decision.classification
    payload: dict[str, Any] = {
        "object": "route.explanation",
        "model": chat.model,
        "route": decision.route,
        "deployment": decision.plan[0].deployment,
        "reason": decision.reason,
        "strategy": decision.strategy,
        "rule": decision.rule,
        "classification": (
            {"task": c.task, "confidence": round(c.confidence, 4), "complexity": round(c.complexity, 4)}
            if c
            else None
        ),
        "facts": decision.facts,
        "budget_ms": round(budget * 1000, 3) if budget is not None else None,
        "first_token_timeout_ms": (
            round(decision.first_token_timeout * 1000, 3)
            if decision.first_token_timeout is not None
            else None
        ),
        "retry": msgspec.structs.asdict(decision.retry),
        "plan": [c.deployment for c in decision.plan],
        "candidates": [
            {"deployment": x.deployment, "region": x.region, "verdict": x.verdict, "reason": x.reason}
            for x in decision.considered
        ],
        "on_content_policy": [c.deployment for c in decision.on_content_policy],
        "on_context_overflow": [c.deployment for c in decision.on_context_overflow],
        "residency": {
            "allowed": list(decision.residency.allowed),
            "policy": decision.residency.policy() or None,
        },
        "health": {x.deployment: _health(gw, x.deployment) for x in decision.considered},
    }
    header = (
        f"route={decision.route or '-'}; deployment={decision.plan[0].deployment}; reason={decision.reason}"
    )
    return json_response(
        msgspec.json.encode(payload), headers={"x-request-id": request_id, HEADER: _clean(header)}
    )


def _health(gw: Gateway, deployment: str) -> dict[str, Any]:
    snap = gw.routing.health.get(deployment).snapshot(time.time())
    out = dataclasses.asdict(snap)
    out["error_rate"] = round(snap.error_rate, 4)
    return out


ROUTES = [Route("POST", "/v1/route/explain", explain), Route("POST", "/route/explain", explain)]
