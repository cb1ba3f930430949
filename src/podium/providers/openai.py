"""The OpenAI-compatible adapter: OpenAI itself, Azure OpenAI, and every server that speaks its API.

Split three ways, as the conventions ask: the wire format lives in :mod:`podium.wire.openai`, the
account (base URL, credentials, vendor quirks of URL and auth) in :class:`Account`, and the
per-deployment facts (upstream model, timeouts) in :class:`OpenAIChatModel`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event
from podium.config.model import Timeouts
from podium.errors import (
    UpstreamConnectionError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from podium.observability.propagation import with_traceparent
from podium.providers.oauth import TokenSource
from podium.providers.sse import SSEParser
from podium.wire import openai as wire
from podium.wire.dialect import refuse_foreign_extra

__all__ = ["Account", "OpenAIChatModel", "OpenAIEmbeddingModel"]

_MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Account:
    """Where and how to reach one OpenAI-compatible provider account."""

    name: str
    base_url: str
    session: aiohttp.ClientSession
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


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_code(body: bytes) -> str | None:
    """The ``error.code`` of an OpenAI-shaped error body (``context_length_exceeded``…), if any."""
    try:
        code = msgspec.json.decode(body, type=dict[str, Any]).get("error", {}).get("code")
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError):
        return None
    return str(code) if isinstance(code, str | int) else None


def _client_timeout(timeouts: Timeouts, deadline: float | None = None) -> aiohttp.ClientTimeout:
    total = timeouts.total
    if deadline is not None:
        total = min(total, deadline - time.monotonic())
        if total <= 0:
            raise UpstreamTimeout("The request's deadline passed before the upstream call started.")
    # sock_read bounds every wait for bytes: the first token, then each gap between chunks.
    return aiohttp.ClientTimeout(total=total, connect=timeouts.connect, sock_read=timeouts.first_token)


class _Call:
    """One HTTP exchange with the upstream; maps every transport failure into the error tree."""

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment

    async def open(
        self, account: Account, url: str, body: bytes, timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        try:
            headers = account.headers
            if account.token is not None:
                headers = {**headers, "Authorization": "Bearer " + await account.token.get(account.session)}
            resp = await account.session.post(
                url, data=body, headers=with_traceparent(headers), timeout=timeout
            )
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' did not answer in time.", deployment=self.deployment
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"Deployment '{self.deployment}' could not be reached: {exc.__class__.__name__}: {exc}",
                deployment=self.deployment,
            ) from None
        if resp.status >= 400:
            try:
                data = await resp.content.read(_MAX_ERROR_BODY)
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.release()
            raise UpstreamStatusError(
                f"Deployment '{self.deployment}' answered HTTP {resp.status}: {wire.upstream_error_message(data)}",
                upstream_status=resp.status,
                deployment=self.deployment,
                retry_after=_retry_after(resp.headers),
                upstream_code=_error_code(data),
            )
        return resp

    async def read(self, resp: aiohttp.ClientResponse) -> bytes:
        try:
            return await resp.read()
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' did not finish its answer in time.",
                deployment=self.deployment,
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"Deployment '{self.deployment}' closed the connection mid-answer: {exc}",
                deployment=self.deployment,
            ) from None


class OpenAIChatModel:
    """Chat through one deployment of an OpenAI-compatible account."""

    def __init__(self, *, deployment: str, upstream_model: str, account: Account, timeouts: Timeouts) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._url = account.url("chat/completions", upstream_model)
        self._timeout = _client_timeout(timeouts)

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        refuse_foreign_extra(request, speaks="openai", provider=self.account.name)
        # Always ask for usage when streaming: accounting needs it even when the caller did not.
        body = wire.encode_chat_request(request, model=self.upstream_model, stream=request.stream)
        call = _Call(self.deployment)
        timeout = self._timeout if deadline is None else _client_timeout(self.timeouts, deadline)
        resp = await call.open(self.account, self._url, body, timeout)
        try:
            if not request.stream:
                for event in wire.completion_events(await call.read(resp), deployment=self.deployment):
                    yield event
                return
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("text/event-stream"):
                data = await call.read(resp)
                raise UpstreamProtocolError(
                    f"Deployment '{self.deployment}' answered a streaming request with '{ctype or 'no content type'}' "
                    f"instead of server-sent events: {data[:120]!r}",
                    deployment=self.deployment,
                )
            async for event in self._events(resp):
                yield event
        finally:
            # A stream abandoned early (client gone, error) must not return its socket to the pool.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    async def _events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[Event]:
        parser = SSEParser()
        decoder = wire.ChunkDecoder(self.deployment)
        try:
            async for chunk in resp.content.iter_any():
                for _event, data in parser.feed(chunk):
                    if data == b"[DONE]":
                        return
                    for event in decoder.feed(data):
                        yield event
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' stalled mid-stream.", deployment=self.deployment
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"Deployment '{self.deployment}' closed the stream early: {exc}", deployment=self.deployment
            ) from None
        raise UpstreamConnectionError(
            f"Deployment '{self.deployment}' ended the stream without its final [DONE] event.",
            deployment=self.deployment,
        )


class OpenAIEmbeddingModel:
    def __init__(self, *, deployment: str, upstream_model: str, account: Account, timeouts: Timeouts) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._url = account.url("embeddings", upstream_model)

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        body = wire.encode_embedding_request(request, model=self.upstream_model)
        call = _Call(self.deployment)
        resp = await call.open(self.account, self._url, body, _client_timeout(self.timeouts, deadline))
        try:
            data = await call.read(resp)
        finally:
            resp.release()
        vectors, usage = wire.decode_embedding_response(data, deployment=self.deployment)
        if len(vectors) != len(request.inputs):
            raise UpstreamProtocolError(
                f"Deployment '{self.deployment}' returned {len(vectors)} embeddings for {len(request.inputs)} inputs.",
                deployment=self.deployment,
            )
        return EmbeddingResult(model=self.upstream_model, data=tuple(vectors), usage=usage)
