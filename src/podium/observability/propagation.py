"""The ``traceparent`` an upstream request carries: set by tracing for the request (its root span) and
for each provider attempt (the attempt's span), read by the adapters' HTTP layer when they open the request.

A context variable rather than a parameter, so the provider seam (``ChatModel.stream``) stays one
verb. Its value is the header itself or an object whose ``str()`` is the header, formatted only when
an upstream request is actually sent (most attempts at the simulator, a cache hit… never need it).
With tracing off it is never set, and :func:`with_traceparent` costs one ``ContextVar.get``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

__all__ = ["TRACEPARENT", "Traceparent", "with_traceparent"]


class Traceparent:
    """A sampled span's W3C ``traceparent``, formatted when read."""

    __slots__ = ("span_id", "trace_id")

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id

    def __str__(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"


TRACEPARENT: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "podium_traceparent", default=None
)


def with_traceparent(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus the current span's ``traceparent`` (the same object when there is none)."""
    value = TRACEPARENT.get()
    if value is None:
        return headers
    return {**headers, "traceparent": str(value)}
