"""The Anthropic Messages edge: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The ``anthropic`` SDK (and coding agents built on it) point ``base_url`` at Podium and send the key in
``x-api-key``. Requests go through the same pipeline as Chat Completions to whatever provider serves
the model; answers and every error come back in Anthropic's shapes — ``overloaded_error`` with 529
when the upstream was overloaded, an ``event: error`` frame after a stream began.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from podium.canonical import Event
from podium.collect import Collector
from podium.errors import PodiumError, UnknownModel
from podium.gateway.auth import check_model
from podium.gateway.call import Call
from podium.gateway.delivery import collect_answer, fail, headers, stream_answer
from podium.gateway.http_io import json_response, new_request_id, read_json_body
from podium.gateway.router import Handler, Route
from podium.wire import anthropic_message_events as events
from podium.wire import anthropic_messages as wire
from podium.wire.openai import with_extensions

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "count_tokens", "messages"]

log = logging.getLogger("podium.gateway")


def _status(error: PodiumError) -> int:
    return wire.error_status(error)[0]


def _fail(error: PodiumError, request_id: str, started: float, upstream_wait: float = 0.0) -> web.Response:
    def encode(err: PodiumError) -> bytes:
        return wire.error_body(err, request_id=request_id)

    return fail(
        error, encode, request_id=request_id, started=started, upstream_wait=upstream_wait, status=_status
    )


def _guarded(handler: Handler) -> Handler:
    """A bug answers as Anthropic's ``api_error`` (logged whole), so the SDK can read it."""

    @functools.wraps(handler)
    async def guarded(gw: Gateway, request: web.BaseRequest, **params: Any) -> web.StreamResponse:
        try:
            return await handler(gw, request, **params)
        except (asyncio.CancelledError, ConnectionResetError, web.HTTPException):
            raise
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            error = PodiumError("Podium failed to handle this request; the error has been logged.")
            return _fail(error, new_request_id(), time.perf_counter())

    return guarded


@_guarded
async def messages(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        chat = wire.parse_messages_request(body)
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    call = Call(
        id=request_id, api="messages", headers=request.headers, principal=key, chat=chat, started=started
    )
    collector = Collector()
    try:
        primed = await gw.chat(call)
    except PodiumError as exc:
        call.error = exc
        gw.record(call, status=_status(exc), collector=collector)
        return _fail(exc, request_id, started, call.upstream_wait)
    rest = cast(AsyncIterator[Event], primed.rest)
    message_id = "msg_" + request_id.removeprefix("req_")
    if chat.stream:
        encoder = events.MessageEncoder(model=chat.model, message_id=message_id, extensions=call.extensions)
        response, _ = await stream_answer(
            gw,
            request,
            call,
            primed.first,
            rest,
            collector,
            encode=encoder.encode,
            finish=encoder.finish,
            failure=wire.error_event,
        )
        return response
    failed = await collect_answer(gw, call, primed.first, rest, collector, status_of=_status)
    try:
        if failed is not None:
            raise failed
        payload = events.encode_message(collector.result(), model=chat.model, message_id=message_id)
    except PodiumError as exc:
        return _fail(exc, request_id, started, call.upstream_wait)
    if call.extensions:  # e.g. RAG citations (podium.knowledge), as on /v1/chat/completions
        payload = with_extensions(payload, call.extensions)
    return json_response(payload, headers=headers(call))


@_guarded
async def count_tokens(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    """``{"input_tokens": N}``: OpenAI's tokenizers, exact for OpenAI models, an estimate for others."""
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        chat = wire.parse_messages_request(body, count_only=True)
        check_model(key, chat.model)
        target = gw.catalog.resolve(chat.model)
        if target is None or not target.candidates:
            raise UnknownModel(f"The model '{chat.model}' does not exist or is not served by this gateway.")
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    from podium.accounting import tokens

    # A worker thread: the first count loads a tokenizer (about a second), later ones are CPU work.
    count = await asyncio.to_thread(tokens.count_chat_prompt, chat, target.candidates[0].upstream_model)
    return json_response(events.encode_count(count), headers={"x-request-id": request_id})


ROUTES = [
    Route("POST", "/v1/messages", messages),
    Route("POST", "/v1/messages/count_tokens", count_tokens),
]
