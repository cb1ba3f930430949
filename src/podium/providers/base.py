"""The provider seam: what every adapter implements, and nothing more.

A chat adapter has one verb, :meth:`ChatModel.stream`: a canonical request in, canonical events out.
A non-streaming call is the same stream collected, so adapters have one code path. An adapter may
fetch a non-streaming upstream response when the caller did not ask to stream (it is cheaper) and
yield it as a short stream; the caller cannot tell the difference.

An adapter is built for one deployment (upstream model, account, timeouts), so ``stream`` needs
nothing but the request. It raises only :class:`podium.errors.ProviderError` subclasses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event

__all__ = ["ChatModel", "EmbeddingModel"]


@runtime_checkable
class ChatModel(Protocol):
    def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        """Answer ``request`` as events, the first a ``ResponseStart``.

        ``deadline`` is a ``time.monotonic()`` instant after which the call must give up with
        ``UpstreamTimeout``; ``None`` leaves only the deployment's own timeouts.
        """
        ...


@runtime_checkable
class EmbeddingModel(Protocol):
    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        """Embed every input; vectors come back in input order."""
        ...
