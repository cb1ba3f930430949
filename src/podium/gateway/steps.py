"""The request-path steps that every call goes through, whatever its API."""

from __future__ import annotations

from typing import Any

from podium.errors import UnknownModel
from podium.gateway.auth import check_model
from podium.gateway.call import Call
from podium.gateway.catalog import Catalog
from podium.gateway.pipeline import Handler, Step

__all__ = ["authorize_model", "resolve_model"]


async def authorize_model(call: Call, call_next: Handler) -> Any:
    """The key may use the model it asks for (exact name or one of its glob patterns)."""
    check_model(call.principal, call.model)
    return await call_next(call)


def resolve_model(catalog: Catalog) -> Step:
    """The public model name becomes a target: a route or deployment and its fallback order."""

    async def resolve(call: Call, call_next: Handler) -> Any:
        target = catalog.resolve(call.model)
        if target is None or not target.candidates:
            raise UnknownModel(
                f"The model '{call.model}' does not exist or is not served by this gateway "
                "(GET /v1/models lists the models this key may use).",
                param="model",
            )
        call.target = target
        return await call_next(call)

    return resolve
