"""The Anthropic adapter: the Messages API at ``{base_url}/messages``.

The wire format is :mod:`podium.wire.anthropic`; this module is the account (key, version header,
base URL) and the per-deployment facts (upstream model, default ``max_tokens``, timeouts).
Overloaded (529) is retryable and falls back like a 503 (see :mod:`podium.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from podium.canonical import ChatRequest, Event
from podium.config.model import Timeouts
from podium.providers.h1 import H1Pool
from podium.providers.upstream import Exchange, client_timeout
from podium.wire import anthropic as wire

__all__ = ["AnthropicAccount", "AnthropicChatModel"]

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when neither caller nor config says


@dataclass(frozen=True, slots=True)
class AnthropicAccount:
    name: str
    base_url: str  # https://api.anthropic.com/v1
    pool: H1Pool  # the model calls
    session: aiohttp.ClientSession  # token endpoints
    api_key: str | None = field(default=None, repr=False)
    extra_headers: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        h = {"Content-Type": "application/json", "anthropic-version": wire.API_VERSION, **self.extra_headers}
        if self.api_key:
            h["x-api-key"] = self.api_key
        object.__setattr__(self, "headers", h)


class AnthropicChatModel:
    def __init__(
        self,
        *,
        deployment: str,
        upstream_model: str,
        account: AnthropicAccount,
        timeouts: Timeouts,
        max_tokens: int | None = None,
    ) -> None:
        self.deployment = deployment
        self.upstream_model = upstream_model
        self.account = account
        self.timeouts = timeouts
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self._url = account.base_url.rstrip("/") + "/messages"

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        # Translation first: a request the API cannot express is refused before any network call.
        body = wire.encode_request(
            request, model=self.upstream_model, max_tokens=self.max_tokens, stream=request.stream
        )
        call = Exchange(self.deployment)
        timeout = client_timeout(self.timeouts, deadline)
        await call.open(self.account.pool, self._url, body, self.account.headers, timeout)
        try:
            if not request.stream:
                for event in wire.message_events(await call.read(), deployment=self.deployment):
                    yield event
                return
            call.expect_stream("text/event-stream")
            decoder = wire.StreamDecoder(self.deployment)
            async for _event, data in call.sse():
                for event in decoder.feed(data):
                    yield event
                if decoder.done:
                    return
            raise call.cut("its message_stop event")
        finally:
            call.close()
