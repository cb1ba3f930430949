"""The request path as data: a list of steps, each ``async (call, call_next) -> outcome``.

Like ASGI middleware, a step may act before and after the rest of the path, or answer on its own.
The order lives in one place (:data:`CHAT_STEPS`, :data:`EMBEDDING_STEPS`); a step that is switched
off is simply not in the list, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from podium.gateway.call import Call

__all__ = ["Handler", "Step", "compose"]

Handler = Callable[[Call], Awaitable[Any]]
Step = Callable[[Call, Handler], Awaitable[Any]]


def compose(steps: Sequence[Step], terminal: Handler) -> Handler:
    """One handler that runs ``steps`` in order, then ``terminal``."""
    handler = terminal
    for step in reversed(steps):
        handler = _bind(step, handler)
    return handler


def _bind(step: Step, call_next: Handler) -> Handler:
    # A plain function handing back the step's awaitable, not a coroutine awaiting it: each request's
    # await chain (resumed on every suspension of the upstream call) holds the steps, not a frame per bind.
    def handler(call: Call) -> Awaitable[Any]:
        return step(call, call_next)

    handler.__name__ = getattr(step, "__name__", "step")
    return handler
