"""The Google Gemini adapter: the Gemini API (API key) and Vertex AI (service account → OAuth token).

The wire format is :mod:`podium.wire.gemini`, the same for both endpoints; they differ in the URL
and the credential, which is what :class:`GeminiAccount` holds::

    Gemini API   {base}/models/{model}:generateContent                      x-goog-api-key
    Vertex AI    {base}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent
                                                                             Authorization: Bearer

Streaming uses ``:streamGenerateContent?alt=sse``. Embeddings use ``:batchEmbedContents`` (Gemini
API) or ``:predict`` (Vertex AI).
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
from podium.wire import gemini as wire

__all__ = ["GeminiAccount", "GeminiChatModel", "GeminiEmbeddingModel"]


@dataclass(frozen=True, slots=True)
class GeminiAccount:
    name: str
    base_url: (
        str  # https://generativelanguage.googleapis.com/v1beta, or https://{l}-aiplatform.googleapis.com/v1
    )
    pool: H1Pool  # the model calls
    session: aiohttp.ClientSession  # token endpoints
    api_key: str | None = field(default=None, repr=False)
    token: TokenSource | None = None  # Vertex AI
    project: str | None = None
    location: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def vertex(self) -> bool:
        return self.token is not None

    def url(self, model: str, method: str) -> str:
        # The model is one path segment, percent-encoded whole (a model name may carry '?', ':' or '/').
        m = quote(model, safe="")
        base = self.base_url.rstrip("/")
        if self.vertex:
            return f"{base}/projects/{self.project}/locations/{self.location}/publishers/google/models/{m}:{method}"
        return f"{base}/models/{m}:{method}"

    async def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", **self.extra_headers}
        if self.token is not None:
            h["Authorization"] = "Bearer " + await self.token.get(self.session)
        elif self.api_key:
            h["x-goog-api-key"] = self.api_key
        return h


class GeminiChatModel:
    def __init__(
        self, *, deployment: str, upstream_model: str, account: GeminiAccount, timeouts: Timeouts
    ) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._url = account.url(upstream_model, "generateContent")
        self._stream_url = account.url(upstream_model, "streamGenerateContent") + "?alt=sse"

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        body = wire.encode_request(request)  # refuses what cannot be translated, before any I/O
        call = Exchange(self.deployment)
        timeout = client_timeout(self.timeouts, deadline)
        url = self._stream_url if request.stream else self._url
        await call.open(self.account.pool, url, body, await self.account.headers(), timeout)
        try:
            if not request.stream:
                for event in wire.response_events(await call.read(), deployment=self.deployment):
                    yield event
                return
            call.expect_stream("text/event-stream")
            decoder = wire.StreamDecoder(self.deployment)
            async for _event, data in call.sse():
                for event in decoder.feed(data):
                    yield event
            # Gemini's stream has no end marker: it ends when the body does, after a finish reason.
            if not decoder.finished:
                raise call.cut("a finish reason")
            for event in decoder.finish():
                yield event
        finally:
            call.close()


class GeminiEmbeddingModel:
    def __init__(
        self, *, deployment: str, upstream_model: str, account: GeminiAccount, timeouts: Timeouts
    ) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        method = "predict" if account.vertex else "batchEmbedContents"
        self._url = account.url(upstream_model, method)

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        if self.account.vertex:
            body = wire.encode_predict_embeddings(request)
        else:
            body = wire.encode_batch_embeddings(request, model=self.upstream_model)
        call = Exchange(self.deployment)
        await call.open(
            self.account.pool,
            self._url,
            body,
            await self.account.headers(),
            client_timeout(self.timeouts, deadline),
        )
        try:
            data = await call.read()
        finally:
            call.close()
        if self.account.vertex:
            vectors, usage = wire.decode_predict_embeddings(data, deployment=self.deployment)
        else:
            vectors, usage = wire.decode_batch_embeddings(data, request, deployment=self.deployment)
        if len(vectors) != len(request.inputs):
            raise UpstreamProtocolError(
                f"Deployment '{self.deployment}' returned {len(vectors)} embeddings for {len(request.inputs)} inputs.",
                deployment=self.deployment,
            )
        return EmbeddingResult(model=self.upstream_model, data=tuple(vectors), usage=usage)
