"""One HTTP exchange with an upstream, for the adapters that are not OpenAI-compatible.

Every transport failure becomes its place in the error tree (:mod:`podium.errors`): a refused or
reset connection :class:`UpstreamConnectionError`, a timeout :class:`UpstreamTimeout`, an error status
:class:`UpstreamStatusError` carrying the upstream's own message and ``Retry-After``. The codecs stay
free of I/O; the adapters stay free of aiohttp's exception zoo.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from email.utils import parsedate_to_datetime

import aiohttp
from yarl import URL

from podium.config.model import Timeouts
from podium.errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from podium.observability.propagation import with_traceparent
from podium.providers.sse import SSEParser
from podium.wire.openai import upstream_error_message

__all__ = ["Exchange", "client_timeout", "retry_after"]

_MAX_ERROR_BODY = 64 * 1024

ErrorMessage = Callable[[bytes], str]


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
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


def client_timeout(timeouts: Timeouts, deadline: float | None = None) -> aiohttp.ClientTimeout:
    total = timeouts.total
    if deadline is not None:
        total = min(total, deadline - time.monotonic())
        if total <= 0:
            raise UpstreamTimeout("The request's deadline passed before the upstream call started.")
    # sock_read bounds every wait for bytes: the first token, then each gap between chunks.
    return aiohttp.ClientTimeout(total=total, connect=timeouts.connect, sock_read=timeouts.first_token)


class Exchange:
    """One request to one deployment: open it, read it whole or as a stream, and always release it."""

    __slots__ = ("deployment", "error_message", "response")

    def __init__(self, deployment: str, error_message: ErrorMessage = upstream_error_message) -> None:
        self.deployment = deployment
        self.error_message = error_message
        self.response: aiohttp.ClientResponse | None = None

    async def open(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """POST ``body``; ``url`` is sent exactly as given (already percent-encoded, as it was signed)."""
        try:
            resp = await session.post(
                URL(url, encoded=True), data=body, headers=with_traceparent(headers), timeout=timeout
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
        self.response = resp
        if resp.status >= 400:
            try:
                data = await resp.content.read(_MAX_ERROR_BODY)
            except (TimeoutError, aiohttp.ClientError):
                data = b""
            finally:
                resp.release()
            raise UpstreamStatusError(
                f"Deployment '{self.deployment}' answered HTTP {resp.status}: {self.error_message(data)}",
                upstream_status=resp.status,
                deployment=self.deployment,
                retry_after=retry_after(resp.headers),
            )
        return resp

    async def read(self) -> bytes:
        assert self.response is not None
        try:
            return await self.response.read()
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

    def expect_stream(self, content_type: str) -> None:
        """Raise ``UpstreamProtocolError`` unless the answer's content type starts with ``content_type``."""
        assert self.response is not None
        ctype = self.response.headers.get("Content-Type", "")
        if not ctype.startswith(content_type):
            raise UpstreamProtocolError(
                f"Deployment '{self.deployment}' answered a streaming request with "
                f"'{ctype or 'no content type'}' instead of {content_type}.",
                deployment=self.deployment,
            )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; a stall or a cut connection raises from the error tree."""
        assert self.response is not None
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' stalled mid-stream.", deployment=self.deployment
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"Deployment '{self.deployment}' closed the stream early: {exc}", deployment=self.deployment
            ) from None

    async def sse(self) -> AsyncIterator[tuple[bytes, bytes]]:
        """``(event, data)`` pairs of a server-sent-events body."""
        parser = SSEParser()
        async for chunk in self.chunks():
            for frame in parser.feed(chunk):
                yield frame

    def cut(self, what: str) -> UpstreamConnectionError:
        return UpstreamConnectionError(
            f"Deployment '{self.deployment}' ended the stream without {what}.", deployment=self.deployment
        )

    def close(self) -> None:
        """Return the connection to the pool if the body was read to the end, else drop it."""
        resp = self.response
        if resp is None:
            return
        if resp.content.at_eof():
            resp.release()
        else:
            resp.close()
