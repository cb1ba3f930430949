"""Delivering a primed answer to the caller, the same way for every inbound API.

An edge parses its dialect into a canonical request and runs the pipeline; what is left is the same
for all of them: collect the events (a non-streaming call) or write each as the dialect's SSE frames
(a streaming one), turn a failure after the first byte into the dialect's error event, cancel the
upstream when the caller goes away, and submit exactly one request record in every case. The edges
differ only in the functions that encode frames and errors, which they pass in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from podium.canonical import Event
from podium.collect import Collector
from podium.errors import PodiumError
from podium.gateway.call import Call
from podium.gateway.http_io import error_response, overhead_header
from podium.gateway.upstream_trace import note_trace
from podium.routing.explain import route_headers

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["CLIENT_CLOSED", "SSE_HEADERS", "collect_answer", "fail", "headers", "stream_answer"]

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # proxies such as nginx must not buffer the stream
}
CLIENT_CLOSED = 499  # nginx's convention: the caller went away before the answer was complete

ErrorEncoder = Callable[[PodiumError], bytes]


def headers(call: Call) -> dict[str, str]:
    """``x-request-id`` and ``x-podium-overhead-ms`` as of now."""
    out = {
        "x-request-id": call.id,
        "x-podium-overhead-ms": overhead_header(call.started, call.upstream_wait),
        **route_headers(),  # x-podium-route: where routing sent the call, and why
    }
    if call.cache is not None:  # hit | semantic-hit | miss | skip (podium.cache)
        out["x-podium-cache"] = call.cache
    return out


def fail(
    error: PodiumError,
    encode: ErrorEncoder,
    *,
    request_id: str,
    started: float,
    upstream_wait: float = 0.0,
    status: Callable[[PodiumError], int] | None = None,
) -> web.Response:
    """The error response in the caller's dialect; ``status`` overrides the error's own status."""
    response = error_response(
        error, encode, request_id=request_id, started=started, upstream_wait=upstream_wait
    )
    if status is not None:
        response.set_status(status(error))
    return response


async def collect_answer(
    gw: Gateway,
    call: Call,
    first: Event,
    rest: AsyncIterator[Event],
    collector: Collector,
    *,
    status_of: Callable[[PodiumError], int] | None = None,
) -> PodiumError | None:
    """Feed the whole answer to ``collector`` and record the call; the failure, if there was one.

    ``status_of`` gives the status the caller's dialect answers a failure with, for the record.
    """
    status = 200
    try:
        collector.add(first)
        async for event in rest:
            collector.add(event)
        note_trace(call, collector.trace)  # e.g. Bedrock's guardrail trace: the answer's extension fields
    except PodiumError as exc:
        call.error = exc
        status = status_of(exc) if status_of is not None else exc.status
        return exc
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        gw.record(call, status=status, collector=collector)
    return None


async def stream_answer(
    gw: Gateway,
    request: web.BaseRequest,
    call: Call,
    first: Event,
    rest: AsyncIterator[Event],
    collector: Collector,
    *,
    encode: Callable[[Event], bytes | None],
    finish: Callable[[], bytes],
    failure: ErrorEncoder,
) -> tuple[web.StreamResponse, int]:
    """Write the answer as SSE frames as it arrives; the response and the status recorded for it.

    ``encode`` turns one event into frames (or nothing), ``finish`` gives the closing frames once the
    upstream is done, ``failure`` the error frame for a failure after the headers went out.
    """
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers(call)})
    status = 200
    ttft: float | None = None
    try:
        await response.prepare(request)
        collector.add(first)
        frame = encode(first)
        if frame is not None:
            await response.write(frame)
        async for event in rest:
            collector.add(event)
            frame = encode(event)
            if frame is not None:
                if ttft is None:
                    ttft = time.perf_counter()
                await response.write(frame)
        note_trace(call, collector.trace)  # before ``finish``, which writes the extension fields
        await response.write(finish())
    except PodiumError as exc:
        # Headers are gone: the error travels as the dialect's stream event.
        call.error = exc
        status = exc.status
        await _try_write(response, failure(exc))
    except (ConnectionResetError, asyncio.CancelledError):
        status = CLIENT_CLOSED
        await _close(rest)
        raise
    finally:
        gw.record(call, status=status, collector=collector, ttft=ttft)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response, status


async def _try_write(response: web.StreamResponse, data: bytes) -> None:
    with contextlib.suppress(ConnectionResetError):
        await response.write(data)


async def _close(stream: AsyncIterator[Event]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        # The caller is gone; closing the upstream is best effort and must not mask the cancellation.
        with contextlib.suppress(Exception):
            await aclose()
