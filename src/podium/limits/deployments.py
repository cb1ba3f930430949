"""Deployment limits as a model that wraps a deployment's models (``per: deployment`` rules).

An attempt at a wrapped deployment first counts against the deployment's limits, under the ticket
of the call being served (:data:`~podium.limits.step.current_ticket`). Over a limit it raises
:class:`~podium.limits.limiter.DeploymentLimited`, a retryable upstream error, so the executor moves
on to the route's next deployment; an attempt that fails before answering frees its concurrency
slot at once. Only deployments that some rule could match are wrapped: the others cost nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Callable

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event
from podium.errors import ProviderError
from podium.limits.limiter import Limiter
from podium.limits.step import current_ticket
from podium.providers.base import ChatModel, EmbeddingModel
from podium.providers.registry import Models

__all__ = ["deployment_limits"]


class _LimitedChat:
    def __init__(self, inner: ChatModel, deployment: str, limiter: Limiter) -> None:
        self._inner = inner
        self._deployment = deployment
        self._limiter = limiter

    def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        return self._stream(request, deadline)

    async def _stream(self, request: ChatRequest, deadline: float | None) -> AsyncIterator[Event]:
        ticket = current_ticket.get()
        if ticket is None or not ticket.plan.deployment_rules:
            async for event in self._inner.stream(request, deadline=deadline):
                yield event
            return
        chars = sum(len(m.text()) for m in request.messages)
        await self._limiter.admit_deployment(ticket, self._deployment, chars, request.max_tokens)
        answered = False
        try:
            async for event in self._inner.stream(request, deadline=deadline):
                answered = True
                yield event
        except ProviderError:
            if not answered:
                self._limiter.release_deployment(ticket, self._deployment)
            raise


class _LimitedEmbeddings:
    def __init__(self, inner: EmbeddingModel, deployment: str, limiter: Limiter) -> None:
        self._inner = inner
        self._deployment = deployment
        self._limiter = limiter

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        ticket = current_ticket.get()
        if ticket is not None and ticket.plan.deployment_rules:
            chars = sum(len(i) if isinstance(i, str) else 4 * len(i) for i in request.inputs)
            await self._limiter.admit_deployment(ticket, self._deployment, chars, None)
            try:
                return await self._inner.embed(request, deadline=deadline)
            except ProviderError:
                self._limiter.release_deployment(ticket, self._deployment)
                raise
        return await self._inner.embed(request, deadline=deadline)


def deployment_limits(
    limiter: Limiter,
) -> Callable[[Models, str, str, str], Models]:
    """An instrument for the catalog: wraps the models of deployments a ``per: deployment`` rule may match."""

    def instrument(models: Models, name: str, provider_type: str, upstream_model: str) -> Models:
        rules = limiter.planner.deployment_rules
        patterns = [p for _, rule in rules for p in (rule.match.deployments or ("*",))]
        if not any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns):
            return models
        return Models(
            chat=_LimitedChat(models.chat, name, limiter),
            embeddings=_LimitedEmbeddings(models.embeddings, name, limiter),
        )

    return instrument
