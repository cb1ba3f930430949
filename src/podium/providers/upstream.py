"""One HTTP exchange with an upstream: every adapter opens, reads and releases its calls here.

Every transport failure becomes its place in the error tree (:mod:`podium.errors`): a refused or
reset connection :class:`UpstreamConnectionError`, bytes that are not HTTP
:class:`UpstreamProtocolError`, a timeout :class:`UpstreamTimeout`, an error status
:class:`UpstreamStatusError` carrying the upstream's own message, error code and ``Retry-After``.
The codecs stay free of I/O; the adapters stay free of the HTTP client's exceptions.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

from podium.config.model import Timeouts
from podium.errors import UpstreamConnectionError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from podium.observability.propagation import with_traceparent
from podium.providers.h1 import CallTimeout, ConnectError, H1Pool, H1Response, HTTPClientError, ProtocolError
from podium.providers.sse import SSEParser
from podium.wire.openai import upstream_error_message

__all__ = ["Exchange", "client_timeout", "openai_error_code", "retry_after"]

_MAX_ERROR_BODY = 64 * 1024

ErrorMessage = Callable[[bytes], str]
ErrorCode = Callable[[bytes], str | None]


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


def openai_error_code(body: bytes) -> str | None:
    """The ``error.code`` of an OpenAI-shaped error body (``context_length_exceeded``…), if any."""
    try:
        code = msgspec.json.decode(body, type=dict[str, Any]).get("error", {}).get("code")
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError):
        return None
    return str(code) if isinstance(code, str | int) else None


def client_timeout(timeouts: Timeouts, deadline: float | None = None) -> CallTimeout:
    """The bounds of one call: its deployment's timeouts, cut short by the request's ``deadline``."""
    now = time.monotonic()
    end = now + timeouts.total
    if deadline is not None:
        if deadline <= now:
            raise UpstreamTimeout("The request's deadline passed before the upstream call started.")
        end = min(end, deadline)
    # read bounds every wait for bytes: the first token, then each gap between chunks.
    return CallTimeout(connect=timeouts.connect, read=timeouts.first_token, deadline=end)


class Exchange:
    """One request to one deployment: open it, read it whole or as a stream, and always release it."""

    __slots__ = ("deployment", "error_code", "error_message", "response")

    def __init__(
        self,
        deployment: str,
        error_message: ErrorMessage = upstream_error_message,
        error_code: ErrorCode = openai_error_code,
    ) -> None:
        self.deployment = deployment
        self.error_message = error_message
        self.error_code = error_code
        self.response: H1Response | None = None

    def _transport_error(self, exc: HTTPClientError, when: str) -> Exception:
        if isinstance(exc, ProtocolError):
            return UpstreamProtocolError(
                f"Deployment '{self.deployment}' {when}: {exc}", deployment=self.deployment
            )
        return UpstreamConnectionError(
            f"Deployment '{self.deployment}' {when}: {exc}", deployment=self.deployment
        )

    async def open(
        self, pool: H1Pool, url: str, body: bytes, headers: Mapping[str, str], timeout: CallTimeout
    ) -> H1Response:
        """POST ``body``; ``url`` is sent exactly as given (already percent-encoded, as it was signed)."""
        try:
            resp = await pool.post(url, body, with_traceparent(headers), timeout)
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' did not answer in time.", deployment=self.deployment
            ) from None
        except ConnectError as exc:
            raise UpstreamConnectionError(
                f"Deployment '{self.deployment}' could not be reached: {exc}", deployment=self.deployment
            ) from None
        except HTTPClientError as exc:
            raise self._transport_error(exc, "failed before answering") from None
        self.response = resp
        if resp.status >= 400:
            try:
                data = await resp.read(_MAX_ERROR_BODY)
            except (TimeoutError, HTTPClientError):
                data = b""
            finally:
                resp.release()
            raise UpstreamStatusError(
                f"Deployment '{self.deployment}' answered HTTP {resp.status}: {self.error_message(data)}",
                upstream_status=resp.status,
                deployment=self.deployment,
                retry_after=retry_after(resp.headers),
                upstream_code=self.error_code(data),
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
        except HTTPClientError as exc:
            raise self._transport_error(exc, "closed the connection mid-answer") from None

    def expect_stream(self, content_type: str) -> None:
        """Raise ``UpstreamProtocolError`` unless the answer's content type starts with ``content_type``."""
        assert self.response is not None
        ctype = self.response.headers.get("Content-Type") or ""
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
            async for chunk in self.response.chunks():
                yield chunk
        except TimeoutError:
            raise UpstreamTimeout(
                f"Deployment '{self.deployment}' stalled mid-stream.", deployment=self.deployment
            ) from None
        except HTTPClientError as exc:
            raise self._transport_error(exc, "closed the stream early") from None

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
        if self.response is not None:
            self.response.release()
