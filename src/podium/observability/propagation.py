"""The ``traceparent`` an upstream request carries: set by the tracing wrapper around each provider
attempt, read by the adapters' HTTP layer when they open the request.

A context variable rather than a parameter, so the provider seam (``ChatModel.stream``) stays one
verb. With tracing off it is never set, and :func:`with_traceparent` costs one ``ContextVar.get``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping

__all__ = ["TRACEPARENT", "with_traceparent"]

TRACEPARENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("podium_traceparent", default=None)


def with_traceparent(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus the current attempt's ``traceparent`` (the same object when there is none)."""
    value = TRACEPARENT.get()
    if value is None:
        return headers
    return {**headers, "traceparent": value}
