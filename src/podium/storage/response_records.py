"""Stored Responses-API answers: what ``previous_response_id`` continues and ``GET /v1/responses/{id}`` shows."""

from __future__ import annotations

import msgspec

__all__ = ["StoredResponse"]


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """One answer of ``POST /v1/responses`` with ``store`` on, visible to its tenant only.

    ``conversation`` is the JSON of the canonical messages a continuation starts from: every earlier
    turn, this request's input and this answer (``instructions`` are not carried over, as in OpenAI's
    API). ``body`` is the ``response`` object exactly as the caller received it.
    """

    id: str  # "resp_…"
    tenant: str
    key_id: str | None
    created_at: float  # epoch seconds
    model: str  # the public model name the caller asked for
    previous_response_id: str | None = None
    conversation: bytes
    body: bytes
    version: int = 1
