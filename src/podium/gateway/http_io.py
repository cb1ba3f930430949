"""Reading request bodies and writing responses, the same way for every endpoint."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

from aiohttp import web

from podium.errors import BodyTooLarge, PodiumError, UnsupportedMediaType

__all__ = ["error_response", "json_response", "new_request_id", "overhead_header", "read_json_body"]

_CHUNK = 64 * 1024
_JSON = "application/json"


# A random per-process prefix and a counter: unique across replicas and restarts, without a
# system call per request (os.urandom showed up in profiles).
_ID_PREFIX = "req_" + os.urandom(8).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


async def read_json_body(request: web.BaseRequest, limit: int) -> bytes:
    """The whole body, refusing a wrong content type (415) or more than ``limit`` bytes (413)."""
    ctype = request.headers.get("Content-Type")
    if ctype is not None:
        media = ctype.partition(";")[0].strip().lower()
        if media != _JSON and not media.endswith("+json"):
            raise UnsupportedMediaType(
                f"Send the body as JSON with 'Content-Type: application/json', not '{media}'."
            )
    length = request.content_length
    if length is not None:
        if length > limit:
            raise BodyTooLarge(f"The request body is {length} bytes; this gateway accepts at most {limit}.")
        return await request.content.readexactly(length) if length else b""
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body exceeds the {limit} bytes this gateway accepts.")
        parts.append(chunk)
    return b"".join(parts)


def overhead_header(started: float, upstream_wait: float) -> str:
    """Milliseconds Podium itself spent so far: time since arrival, less time waiting on upstreams."""
    return f"{max(0.0, (time.perf_counter() - started - upstream_wait) * 1000):.3f}"


def json_response(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=_JSON, headers=headers)


def error_response(
    error: PodiumError,
    encode: Callable[[PodiumError], bytes],
    *,
    request_id: str,
    started: float,
    upstream_wait: float = 0.0,
) -> web.Response:
    headers = {"x-request-id": request_id, "x-podium-overhead-ms": overhead_header(started, upstream_wait)}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    limit = getattr(error, "limit", None)  # a Podium limit refused the call (podium.limits)
    if limit is not None:
        headers["x-podium-limit"] = limit
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="podium"'
    return json_response(encode(error), status=error.status, headers=headers)
