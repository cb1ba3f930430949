"""Routing in the request path: the pipeline step, and the health board's life with the gateway.

The step runs after the model name is resolved: it sets the request's deadline (the route's
``timeout_ms`` or the caller's ``x-podium-timeout-ms``, the smaller) and the routing decision the
executor follows. The board of deployment health lives as long as the gateway — across reloads, so
what was learnt about a deployment survives a changed file — and is shared through Redis when
``state.redis_url`` is set.
"""

from __future__ import annotations

import time
from typing import Any

from podium.config.model import Config
from podium.errors import PodiumError
from podium.gateway.call import Call
from podium.gateway.pipeline import Handler, Step
from podium.routing.explain import set_route_header
from podium.routing.health import HealthBoard, LocalHealth
from podium.routing.policy import Router

__all__ = ["RoutingUnavailable", "make_board", "route_step"]


class RoutingUnavailable(PodiumError):
    """Redis holds the shared routing state, cannot be reached, and ``state.on_unavailable`` is closed."""

    status = 503
    code = "state_unavailable"


def make_board(config: Config) -> LocalHealth:
    """The health board for ``config``: in process, or shared through Redis."""
    r = config.routing
    url = config.state.redis_url
    if not url:
        return LocalHealth(r.breaker, alpha=r.ewma_alpha)
    from podium.routing.redis_health import RedisHealth

    return RedisHealth(
        r.breaker,
        url=url,
        prefix=getattr(config.state, "key_prefix", "podium:"),
        alpha=r.ewma_alpha,
        interval=r.sync_interval_ms / 1000,
        fail_closed=config.state.on_unavailable == "closed",
    )


def same_board(board: LocalHealth, config: Config) -> bool:
    """Whether a reload to ``config`` can keep ``board`` (the same shared-state backend)."""
    from podium.routing.redis_health import RedisHealth

    url = config.state.redis_url
    if isinstance(board, RedisHealth):
        return bool(url) and board.url == url
    return not url


def route_step(router: Router) -> Step:
    """Set the deadline and the routing decision; everything else is the executor's."""
    health: HealthBoard = router.health

    async def route(call: Call, call_next: Handler) -> Any:
        if not health.usable():
            raise RoutingUnavailable(
                "The shared routing state (Redis) cannot be reached and this gateway is configured to refuse "
                "requests then (state.on_unavailable: closed)."
            )
        budget = router.budget(call)
        if budget is not None:
            deadline = time.monotonic() + budget
            call.deadline = deadline if call.deadline is None else min(call.deadline, deadline)
        try:
            decision = router.decide(call)
        except PodiumError as exc:
            set_route_header(
                call.target.route if call.target else None, None, f"refused: {exc.code or exc.type}"
            )
            call.route_reason = f"refused: {exc.code or exc.type}"
            raise
        call.decision = decision
        set_route_header(decision.route, decision.plan[0].deployment, decision.reason)
        return await call_next(call)

    return route
