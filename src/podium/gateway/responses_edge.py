"""The OpenAI Responses edge: ``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}``, and
``GET /v1/responses/{id}/input_items`` (:mod:`podium.wire.openai_response_items`).

A request becomes a canonical chat through :mod:`podium.wire.openai_responses` and goes through the
same pipeline as every other call. With ``store`` on (the default) the answer is kept for its tenant
— in this process at once, in storage within the flush interval (see
:mod:`podium.gateway.response_cache`) — so a later request can continue it with
``previous_response_id``; a key of another tenant gets 404, as for an id that never existed.
Errors use OpenAI's JSON shape, as on ``/v1/chat/completions``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import msgspec
from aiohttp import web

from podium.canonical import Completion, Event, Message
from podium.collect import Collector
from podium.errors import NotFound, PodiumError
from podium.gateway.call import Call
from podium.gateway.delivery import collect_answer, fail, headers, stream_answer
from podium.gateway.http_io import json_response, new_request_id, read_json_body
from podium.gateway.router import Route
from podium.storage.records import KeyRecord
from podium.storage.response_records import StoredResponse
from podium.wire import openai as openai_wire
from podium.wire import openai_response_events as events
from podium.wire import openai_response_items as items
from podium.wire import openai_responses as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES", "create_response", "delete_response", "list_input_items", "retrieve_response"]

_encode_messages = msgspec.json.Encoder().encode
_decode_messages = msgspec.json.Decoder(tuple[Message, ...]).decode


def _fail(error: PodiumError, request_id: str, started: float, upstream_wait: float = 0.0) -> web.Response:
    return fail(
        error, openai_wire.error_body, request_id=request_id, started=started, upstream_wait=upstream_wait
    )


def _not_found(response_id: str, *, param: str | None = None, previous: bool = False) -> NotFound:
    what = "Previous response" if previous else "Response"
    error = NotFound(
        f"{what} with id '{response_id}' not found.",
        code="previous_response_not_found" if previous else "response_not_found",
        param=param,
    )
    error.type = "invalid_request_error"  # OpenAI's type for this 404
    return error


async def create_response(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        body = await read_json_body(request, gw.config.server.max_body_bytes)
        parsed = wire.parse_responses_request(body)
        history: tuple[Message, ...] = ()
        previous_id = parsed.wire.previous_response_id
        if previous_id is not None:
            previous = await gw.responses.get(previous_id, tenant=key.tenant)
            if previous is None:
                raise _not_found(previous_id, param="previous_response_id", previous=True)
            history = _decode_messages(previous.conversation)
        chat = parsed.chat_request(history)
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    call = Call(
        id=request_id, api="responses", headers=request.headers, principal=key, chat=chat, started=started
    )
    collector = Collector()
    try:
        primed = await gw.chat(call)
    except PodiumError as exc:
        call.error = exc
        gw.record(call, status=exc.status, collector=collector)
        return _fail(exc, request_id, started, call.upstream_wait)
    rest = cast(AsyncIterator[Event], primed.rest)
    head = events.ResponseHead(
        parsed, response_id="resp_" + request_id.removeprefix("req_"), model=chat.model
    )
    store = parsed.wire.store is not False
    if chat.stream:
        encoder = events.ResponseEncoder(head, extensions=call.extensions)
        response, status = await stream_answer(
            gw,
            request,
            call,
            primed.first,
            rest,
            collector,
            encode=encoder.encode,
            finish=encoder.finish,
            failure=encoder.failure,
        )
        if status == 200 and store:
            _remember(gw, key, head, history, parsed.input, collector.result(), encoder.final)
        return response
    failed = await collect_answer(gw, call, primed.first, rest, collector)
    if failed is not None:
        return _fail(failed, request_id, started, call.upstream_wait)
    result = collector.result()
    payload = events.encode_response(result, head)
    if call.extensions:  # e.g. RAG citations (podium.knowledge), as on /v1/chat/completions
        payload = openai_wire.with_extensions(payload, call.extensions)
    if store:
        _remember(gw, key, head, history, parsed.input, result, payload)
    return json_response(payload, headers=headers(call))


def _remember(
    gw: Gateway,
    key: KeyRecord,
    head: events.ResponseHead,
    history: tuple[Message, ...],
    new_input: tuple[Message, ...],
    result: Completion,
    payload: bytes,
) -> None:
    answer = wire.assistant_message(result)
    gw.responses.remember(
        StoredResponse(
            id=head.id,
            tenant=key.tenant,
            key_id=key.id,
            created_at=time.time(),
            model=head.model,
            previous_response_id=head.parsed.wire.previous_response_id,
            conversation=_encode_messages((*history, *new_input, answer)),
            body=payload,
        )
    )


async def retrieve_response(gw: Gateway, request: web.BaseRequest, *, response_id: str) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        stored = await gw.responses.get(response_id, tenant=key.tenant)
        if stored is None:
            raise _not_found(response_id)
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    return json_response(stored.body, headers={"x-request-id": request_id})


async def list_input_items(gw: Gateway, request: web.BaseRequest, *, response_id: str) -> web.StreamResponse:
    """The input items of a stored response, a cursor page at a time; another tenant's id is a 404."""
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        query = items.parse_items_query(request.query)
        stored = await gw.responses.get(response_id, tenant=key.tenant)
        if stored is None:
            raise _not_found(response_id)
        conversation = _decode_messages(stored.conversation)[:-1]  # the last message is the answer
        listed = items.input_items(conversation, response_id=response_id, include=query.include)
        page = items.items_page(listed, query)
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    return json_response(msgspec.json.encode(page), headers={"x-request-id": request_id})


async def delete_response(gw: Gateway, request: web.BaseRequest, *, response_id: str) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    try:
        key = gw.keys.authenticate(request.headers)
        if not await gw.responses.delete(response_id, tenant=key.tenant):
            raise _not_found(response_id)
    except PodiumError as exc:
        return _fail(exc, request_id, started)
    body = msgspec.json.encode({"id": response_id, "object": "response", "deleted": True})
    return json_response(body, headers={"x-request-id": request_id})


ROUTES = [
    Route("POST", "/v1/responses", create_response),
    Route("POST", "/responses", create_response),
    Route("GET", "/v1/responses/{response_id}", retrieve_response),
    Route("DELETE", "/v1/responses/{response_id}", delete_response),
    Route("GET", "/v1/responses/{response_id}/input_items", list_input_items),
]
