"""The OpenAI-compatible edge: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Wire JSON in, canonical request through the pipeline, events back out in OpenAI's format. Streaming
writes each event as it arrives; a non-streaming call collects the same events. Whatever happens, a
call that reached a model name leaves exactly one request record, submitted after the response.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import msgspec
from aiohttp import web

from podium.canonical import Event, Usage
from podium.collect import Collector
from podium.errors import PodiumError, UnknownModel
from podium.gateway.auth import may_use
from podium.gateway.call import Call
from podium.gateway.delivery import CLIENT_CLOSED, collect_answer, headers, stream_answer
from podium.gateway.http_io import (
    error_response,
    json_response,
    new_request_id,
    overhead_header,
    read_json_body,
)
from podium.gateway.router import Route
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "chat_completions", "embeddings", "list_models", "retrieve_model"]

_DONE = b"data: [DONE]\n\n"


def _fail(gw: Gateway, error: PodiumError, request_id: str, started: float) -> web.Response:
    return error_response(error, wire.error_body, request_id=request_id, started=started)


async def chat_completions(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        chat, include_usage = wire.parse_chat_request(body)
    except PodiumError as exc:
        return _fail(gw, exc, request_id, started)
    call = Call(id=request_id, api="chat", headers=request.headers, principal=key, chat=chat, started=started)
    collector = Collector()
    try:
        primed = await gw.chat(call)
    except PodiumError as exc:
        call.error = exc
        gw.record(call, status=exc.status, collector=collector)
        return error_response(
            exc, wire.error_body, request_id=request_id, started=started, upstream_wait=call.upstream_wait
        )
    rest = cast(AsyncIterator[Event], primed.rest)
    if chat.stream:
        return await _stream(gw, request, call, primed.first, rest, collector, include_usage)
    return await _complete(gw, call, primed.first, rest, collector)


async def _complete(
    gw: Gateway, call: Call, first: Event, rest: AsyncIterator[Event], collector: Collector
) -> web.StreamResponse:
    assert call.chat is not None
    failed = await collect_answer(gw, call, first, rest, collector)
    if failed is not None:
        return error_response(
            failed,
            wire.error_body,
            request_id=call.id,
            started=call.started,
            upstream_wait=call.upstream_wait,
        )
    body = wire.encode_completion(collector.result(), model=call.chat.model)
    if call.extensions:  # e.g. RAG citations (podium.knowledge)
        body = wire.with_extensions(body, call.extensions)
    return json_response(body, headers=headers(call))


async def _stream(
    gw: Gateway,
    request: web.BaseRequest,
    call: Call,
    first: Event,
    rest: AsyncIterator[Event],
    collector: Collector,
    include_usage: bool,
) -> web.StreamResponse:
    assert call.chat is not None
    encoder = wire.ChunkEncoder(model=call.chat.model, include_usage=include_usage)
    response, _ = await stream_answer(
        gw,
        request,
        call,
        first,
        rest,
        collector,
        encode=encoder.encode,
        # Read at the end: the upstream's trace (podium.gateway.upstream_trace) arrives with the answer.
        finish=lambda: (encoder.extension(call.extensions) if call.extensions else b"") + _DONE,
        failure=_error_frame,
    )
    return response


def _error_frame(exc: PodiumError) -> bytes:
    # The OpenAI SDKs raise a ``data: {"error": ...}`` event as an APIError.
    return b"data: " + wire.error_body(exc) + b"\n\n"


async def embeddings(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        emb, encoding_format = wire.parse_embedding_request(body)
    except PodiumError as exc:
        return _fail(gw, exc, request_id, started)
    call = Call(
        id=request_id,
        api="embeddings",
        headers=request.headers,
        principal=key,
        embedding=emb,
        started=started,
    )
    status = 200
    usage: Usage | None = None
    try:
        result = await gw.embeddings(call)
        usage = result.usage
    except PodiumError as exc:
        call.error = exc
        status = exc.status
        return error_response(
            exc, wire.error_body, request_id=request_id, started=started, upstream_wait=call.upstream_wait
        )
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        gw.record(call, status=status, usage=usage)
    payload = wire.encode_embedding_response(result, model=emb.model, encoding_format=encoding_format)
    headers = {
        "x-request-id": request_id,
        "x-podium-overhead-ms": overhead_header(started, call.upstream_wait),
    }
    if call.cache is not None:  # hit | miss | skip (podium.cache)
        headers["x-podium-cache"] = call.cache
    return json_response(payload, headers=headers)


class _Model(msgspec.Struct):
    id: str
    created: int = 0
    object: str = "model"
    owned_by: str = "podium"


async def list_models(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
    except PodiumError as exc:
        return _fail(gw, exc, request_id, started)
    models = [_Model(id=name) for name in gw.catalog.public_models() if may_use(key, name)]
    body = msgspec.json.encode({"object": "list", "data": models})
    return json_response(body, headers={"x-request-id": request_id})


async def retrieve_model(gw: Gateway, request: web.BaseRequest, *, model: str) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        if not may_use(key, model) or gw.catalog.resolve(model) is None:
            raise UnknownModel(
                f"The model '{model}' does not exist or this key may not use it.", param="model"
            )
    except PodiumError as exc:
        return _fail(gw, exc, request_id, started)
    return json_response(msgspec.json.encode(_Model(id=model)), headers={"x-request-id": request_id})


ROUTES = [
    Route("POST", "/v1/chat/completions", chat_completions),
    Route("POST", "/chat/completions", chat_completions),
    Route("POST", "/v1/embeddings", embeddings),
    Route("POST", "/embeddings", embeddings),
    Route("GET", "/v1/models", list_models),
    Route("GET", "/models", list_models),
    Route("GET", "/v1/models/{model...}", retrieve_model),
]
