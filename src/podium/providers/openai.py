"""The OpenAI-compatible adapter: OpenAI itself, Azure OpenAI, and every server that speaks its API.

Split three ways, as the conventions ask: the wire format lives in :mod:`podium.wire.openai`, the
account (base URL, credentials, vendor quirks of URL and auth) in :class:`Account`, and the
per-deployment facts (upstream model, timeouts) in :class:`OpenAIChatModel`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event
from podium.config.model import Timeouts
from podium.errors import UpstreamProtocolError
from podium.providers.h1 import H1Pool
from podium.providers.oauth import TokenSource
from podium.providers.upstream import Exchange, client_timeout
from podium.wire import openai as wire
from podium.wire.dialect import refuse_foreign_extra

__all__ = ["Account", "OpenAIChatModel", "OpenAIEmbeddingModel"]


@dataclass(frozen=True, slots=True)
class Account:
    """Where and how to reach one OpenAI-compatible provider account."""

    name: str
    base_url: str
    pool: H1Pool  # the model calls
    session: aiohttp.ClientSession  # the Microsoft Entra token endpoint, when one is configured
    auth: str = "bearer"  # "bearer" | "api-key" | "none"
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None  # Azure OpenAI
    azure: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
    token: TokenSource | None = None  # Azure with Microsoft Entra ID: a bearer token, refreshed
    headers: dict[str, str] = field(init=False, repr=False)  # built once; the secret never in repr

    def __post_init__(self) -> None:
        h = {"Content-Type": "application/json", **self.extra_headers}
        if self.api_key:
            if self.auth == "bearer":
                h["Authorization"] = f"Bearer {self.api_key}"
            elif self.auth == "api-key":
                h["api-key"] = self.api_key
        object.__setattr__(self, "headers", h)

    def url(self, operation: str, model: str) -> str:
        """``operation`` is ``chat/completions`` or ``embeddings``."""
        base = self.base_url.rstrip("/")
        if self.azure:
            # Azure names the deployment in the path and versions the API in the query.
            return f"{base}/deployments/{quote(model, safe='')}/{operation}?api-version={self.api_version}"
        return f"{base}/{operation}"

    async def headers_now(self) -> dict[str, str]:
        """The request headers, with a fresh Entra bearer token when the account uses one."""
        if self.token is None:
            return self.headers
        return {**self.headers, "Authorization": "Bearer " + await self.token.get(self.session)}


class OpenAIChatModel:
    """Chat through one deployment of an OpenAI-compatible account."""

    def __init__(self, *, deployment: str, upstream_model: str, account: Account, timeouts: Timeouts) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._url = account.url("chat/completions", upstream_model)

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        refuse_foreign_extra(request, speaks="openai", provider=self.account.name)
        # Always ask for usage when streaming: accounting needs it even when the caller did not.
        body = wire.encode_chat_request(request, model=self.upstream_model, stream=request.stream)
        call = Exchange(self.deployment)
        timeout = client_timeout(self.timeouts, deadline)
        account = self.account
        headers = account.headers if account.token is None else await account.headers_now()
        await call.open(account.pool, self._url, body, headers, timeout)
        try:
            if not request.stream:
                for event in wire.completion_events(await call.read(), deployment=self.deployment):
                    yield event
                return
            call.expect_stream("text/event-stream")
            decoder = wire.ChunkDecoder(self.deployment)
            async for _event, data in call.sse():
                if data == b"[DONE]":
                    return
                for event in decoder.feed(data):
                    yield event
            raise call.cut("its final [DONE] event")
        finally:
            # A stream abandoned early (client gone, error) must not return its socket to the pool.
            call.close()


class OpenAIEmbeddingModel:
    def __init__(self, *, deployment: str, upstream_model: str, account: Account, timeouts: Timeouts) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._url = account.url("embeddings", upstream_model)

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        body = wire.encode_embedding_request(request, model=self.upstream_model)
        call = Exchange(self.deployment)
        account = self.account
        headers = account.headers if account.token is None else await account.headers_now()
        await call.open(account.pool, self._url, body, headers, client_timeout(self.timeouts, deadline))
        try:
            data = await call.read()
        finally:
            call.close()
        vectors, usage = wire.decode_embedding_response(data, deployment=self.deployment)
        if len(vectors) != len(request.inputs):
            raise UpstreamProtocolError(
                f"Deployment '{self.deployment}' returned {len(vectors)} embeddings for {len(request.inputs)} inputs.",
                deployment=self.deployment,
            )
        return EmbeddingResult(model=self.upstream_model, data=tuple(vectors), usage=usage)
