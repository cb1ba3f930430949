"""The AWS Bedrock adapter: Converse / ConverseStream for chat, InvokeModel for Titan and Cohere embeddings.

Every request is signed with SigV4 (:mod:`podium.providers.sigv4`) for service ``bedrock`` in the
account's region, with the credentials the config loader resolved at start-up (static keys, the
standard ``AWS_*`` environment variables, or a profile of ``~/.aws/credentials``). The model id is
one percent-encoded path segment (``anthropic.claude-3-5-sonnet-20241022-v2:0`` → ``…v2%3A0``).

ConverseStream answers in AWS's binary event-stream framing (:mod:`podium.wire.eventstream`): a
stream cut mid-frame is an :class:`~podium.errors.UpstreamConnectionError`, a CRC mismatch an
:class:`~podium.errors.UpstreamProtocolError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import aiohttp

from podium.canonical import ChatRequest, EmbeddingRequest, EmbeddingResult, Event
from podium.config.model import Timeouts
from podium.errors import UpstreamProtocolError
from podium.providers.h1 import CallTimeout, H1Pool
from podium.providers.sigv4 import AwsCredentials, sign
from podium.providers.upstream import Exchange, client_timeout
from podium.wire import bedrock as wire
from podium.wire.eventstream import EventStreamDecoder
from podium.wire.translation import refuse

__all__ = ["BedrockAccount", "BedrockChatModel", "BedrockEmbeddingModel"]


@dataclass(frozen=True, slots=True)
class BedrockAccount:
    name: str
    base_url: str  # https://bedrock-runtime.{region}.amazonaws.com
    pool: H1Pool  # the model calls
    session: aiohttp.ClientSession  # token endpoints
    region: str
    credentials: AwsCredentials = field(repr=False)
    guardrail: dict[str, str] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    host: str = field(init=False)
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        url = urlsplit(self.base_url)
        object.__setattr__(self, "host", url.netloc)
        object.__setattr__(self, "prefix", url.path.rstrip("/"))

    def path(self, model: str, operation: str) -> str:
        return f"{self.prefix}/model/{quote(model, safe='')}/{operation}"

    def signed(self, path: str, body: bytes, accept: str = "application/json") -> tuple[str, dict[str, str]]:
        """The URL and the headers, signed for this body (a signature is per request)."""
        headers = {"content-type": "application/json", "accept": accept, **self.extra_headers}
        headers.update(
            sign(
                method="POST",
                host=self.host,
                path=path,
                headers=headers,
                body=body,
                credentials=self.credentials,
                region=self.region,
                service="bedrock",
            )
        )
        return f"{self.base_url.rstrip('/').removesuffix(self.prefix)}{path}", headers


class BedrockChatModel:
    def __init__(
        self, *, deployment: str, upstream_model: str, account: BedrockAccount, timeouts: Timeouts
    ) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self._path = account.path(upstream_model, "converse")
        self._stream_path = account.path(upstream_model, "converse-stream")

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        body = wire.encode_request(request, guardrail=self.account.guardrail)  # refuses before any I/O
        if request.stream:
            url, headers = self.account.signed(self._stream_path, body, "application/vnd.amazon.eventstream")
        else:
            url, headers = self.account.signed(self._path, body)
        call = Exchange(self.deployment)
        timeout = client_timeout(self.timeouts, deadline)
        resp = await call.open(self.account.pool, url, body, headers, timeout)
        request_id = resp.headers.get("x-amzn-requestid") or f"bedrock-{time.time_ns():x}"
        try:
            if not request.stream:
                events = wire.converse_events(
                    await call.read(),
                    model=self.upstream_model,
                    request_id=request_id,
                    deployment=self.deployment,
                )
                for event in events:
                    yield event
                return
            call.expect_stream("application/vnd.amazon.eventstream")
            frames = EventStreamDecoder()
            decoder = wire.StreamDecoder(
                model=self.upstream_model, request_id=request_id, deployment=self.deployment
            )
            async for chunk in call.chunks():
                for message in frames.feed(chunk):
                    for event in decoder.feed(message):
                        yield event
            if frames.pending():
                raise call.cut(
                    f"the rest of an event-stream frame ({len(frames.pending())} bytes of it arrived)"
                )
            for event in decoder.end():
                yield event
            if not decoder.done:
                raise call.cut("its messageStop event")
        finally:
            call.close()


class BedrockEmbeddingModel:
    def __init__(
        self, *, deployment: str, upstream_model: str, account: BedrockAccount, timeouts: Timeouts
    ) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self.family = wire.embedding_family(upstream_model)
        self._path = account.path(upstream_model, "invoke")

    async def _invoke(self, body: bytes, timeout: CallTimeout) -> bytes:
        url, headers = self.account.signed(self._path, body)
        call = Exchange(self.deployment)
        await call.open(self.account.pool, url, body, headers, timeout)
        try:
            return await call.read()
        finally:
            call.close()

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        if self.family is None:
            raise refuse(
                wire.PROVIDER,
                "model",
                f"Podium embeds with Titan and Cohere models on Bedrock, not '{self.upstream_model}'.",
            )
        bodies = wire.encode_embeddings(request, family=self.family)
        timeout = client_timeout(self.timeouts, deadline)
        answers = list(await asyncio.gather(*(self._invoke(b, timeout) for b in bodies)))
        vectors, usage = wire.decode_embeddings(
            answers, request, family=self.family, deployment=self.deployment
        )
        if len(vectors) != len(request.inputs):
            raise UpstreamProtocolError(
                f"Deployment '{self.deployment}' returned {len(vectors)} embeddings for {len(request.inputs)} inputs.",
                deployment=self.deployment,
            )
        return EmbeddingResult(model=self.upstream_model, data=tuple(vectors), usage=usage)
