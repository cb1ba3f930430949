"""The limits step of the request path: admit the call under every limit that applies, or refuse it.

It runs right after authentication. When the response cache will look the request up, the step
reads the cache entry in the same shared-state call as the limit check (one round trip for both).
The call's :class:`~podium.limits.limiter.Ticket` stays on ``call.limits``: the gateway releases it
when the call ends and settles it from the request record.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from podium.gateway.call import Call
from podium.gateway.pipeline import Handler, Step
from podium.limits.limiter import Limiter, Ticket

__all__ = ["current_ticket", "limit_requests", "request_size"]

# The ticket of the call this task is serving, for the limits of the deployments it attempts.
current_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("podium_ticket", default=None)


def request_size(call: Call) -> tuple[int, int | None]:
    """``(characters of input, max output tokens)``: what the token estimate is made from."""
    if call.chat is not None:
        chars = 0
        for m in call.chat.messages:
            chars += len(m.content) if isinstance(m.content, str) else len(m.text())
        return chars, call.chat.max_tokens
    if call.embedding is not None:
        inputs = call.embedding.inputs
        return sum(len(i) if isinstance(i, str) else 4 * len(i) for i in inputs), None
    return 0, None


def limit_requests(limiter: Limiter, prefetch: Callable[[Call], str | None] | None) -> Step:
    async def limit(call: Call, call_next: Handler) -> Any:
        chars, max_tokens = request_size(call)
        key = prefetch(call) if prefetch is not None else None
        ticket = await limiter.admit(
            lease_id=call.id,
            key=call.principal,
            model=call.model,
            chars=chars,
            max_tokens=max_tokens,
            headers=call.headers,
            prefetch=(key,) if key is not None else (),
        )
        if ticket is None:
            return await call_next(call)
        call.limits = ticket
        if key is not None and ticket.values:
            call.prefetched = (call.chat if call.chat is not None else call.embedding, key, ticket.values[0])
        token = current_ticket.set(ticket)
        try:
            return await call_next(call)
        except BaseException:
            limiter.finish(ticket)
            raise
        finally:
            current_ticket.reset(token)

    return limit
