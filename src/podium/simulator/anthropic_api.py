"""The simulator's Anthropic Messages front end: ``POST /v1/messages``, JSON or the SSE event sequence.

It parses and answers with the same codec as Podium's own ``/v1/messages`` edge
(:mod:`podium.wire.anthropic_messages`, :mod:`podium.wire.anthropic_message_events`), so both speak one dialect by construction, and the
Anthropic adapter is tested against it over a real socket. Usage reaches the client only in
``message_delta`` at the end of a stream, the hardest case for accounting. The fault knobs are the
server's: a status answers Anthropic's error JSON (``overloaded_error`` for 529), ``malformed``
an unreadable body or event, ``disconnect_after`` a stream cut before ``message_stop``. With thinking
on, the history's thinking blocks are checked as Claude checks them (:mod:`podium.simulator.thinking`).
"""

from __future__ import annotations

from aiohttp import web

from podium.collect import Collector
from podium.errors import RequestError
from podium.simulator import server as core
from podium.simulator import thinking
from podium.simulator.behaviour import SimulatedError
from podium.simulator.dialects import error_response
from podium.wire.anthropic_message_events import MessageEncoder, encode_message
from podium.wire.anthropic_messages import parse_messages_request

__all__ = ["add_routes"]

_MALFORMED_EVENT = b"event: content_block_delta\ndata: {simulated malformed event, not JSON\n\n"


def _fail(f: SimulatedError) -> web.Response:
    return error_response("anthropic", f.status, f.message, retry_after=f.retry_after)


async def _messages(request: web.Request) -> web.StreamResponse:
    try:
        chat = parse_messages_request(await request.read())
    except RequestError as exc:
        return error_response("anthropic", exc.status, exc.message)
    sim = core._simulation(request, chat.model)
    if isinstance(sim, web.Response):
        return error_response("anthropic", 400, f"model: {chat.model!r} is not a simulator model")
    spec = sim.spec
    if thinking.requested(chat, knob=spec.thinking or spec.redacted_thinking):
        try:
            thinking.check_history(chat)
        except thinking.SimulatedReasoningError as exc:
            return error_response("anthropic", 400, str(exc))
    try:
        events = sim.chat(chat)
    except SimulatedError as failure:
        return _fail(failure)
    extra = 0.0 if chat.stream else spec.ttft_ms + spec.chunk_delay_ms * max(0, len(events) - 2)
    instead = await core._prelude(request, sim, extra, _fail)
    if instead is not None:
        return instead
    message_id = "msg_" + sim.new_id("")[:24]
    if not chat.stream:
        if spec.malformed:
            return web.Response(body=core._MALFORMED_BODY, content_type="application/json")
        if spec.disconnect_after is not None:
            core._drop(request)
            return web.Response()
        collector = Collector()
        collector.add_all(events)
        body = encode_message(collector.result(), model=chat.model, message_id=message_id)
        return web.Response(body=body, content_type="application/json")
    response = web.StreamResponse(headers=core._SSE_HEADERS)
    await response.prepare(request)
    if spec.malformed:
        await response.write(_MALFORMED_EVENT)
        return response
    encoder = MessageEncoder(model=chat.model, message_id=message_id)
    # The tail (message_delta with the usage, message_stop) is built after every event was encoded.
    frames = [encoder.encode(e) for e in events]
    tail = encoder.finish()
    iterator = iter(frames)
    await core._stream(request, response, events, lambda _e: next(iterator), spec, tail=tail)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", _messages)
