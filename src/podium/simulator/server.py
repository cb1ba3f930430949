"""The standalone front end: an aiohttp server that speaks the OpenAI wire protocol exactly.

Endpoints::

    POST   /v1/chat/completions   JSON, or SSE ``data: {...}`` … ``data: [DONE]`` when ``stream`` is set
    POST   /v1/embeddings         ``encoding_format`` float or base64
    GET    /v1/models[/{id}]      the modes, as ``sim/<mode>`` models
    GET    /health                ``{"status": "ok"}``
    GET    /sim/requests          what was received, oldest first; DELETE clears it
    GET    /sim/stats             requests seen per model

The model name chooses the behaviour (``sim/echo?ttft_ms=50``); any other name (``gpt-4o-mini``)
gets ``echo``, so a gateway can point any OpenAI-compatible provider here unchanged. Request headers
``x-sim-<option>`` (``x-sim-status: 429``) override the name's options for one request, so a test can
inject a fault where it cannot change the model name.

Faults on the wire: ``status`` / ``error_rate`` answer OpenAI's error JSON (with ``Retry-After`` when
``retry_after`` is set); ``malformed`` answers 200 with a non-JSON body, or an SSE event whose data
is not JSON; ``disconnect_after=N`` sends N chunks and drops the connection without ``[DONE]`` (not
streaming: drops it without an answer); ``hang`` answers nothing until the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

from podium.canonical import Event
from podium.collect import Collector
from podium.errors import PodiumError, RequestError
from podium.simulator.behaviour import SimulatedError, Simulation
from podium.simulator.dialects import check_access, dialect_of, oauth_token
from podium.simulator.recording import RequestLog
from podium.simulator.spec import MODES, SimSpec, parse_spec
from podium.wire.openai import (
    ChunkEncoder,
    encode_completion,
    encode_embedding_response,
    error_body,
    parse_chat_request,
    parse_embedding_request,
)

__all__ = ["LOG_KEY", "create_app", "serve"]

LOG_KEY = web.AppKey("podium.simulator.log", RequestLog)

_MALFORMED_BODY = b"<html>simulated malformed answer: this is not JSON</html>"
_MALFORMED_EVENT = b"data: {simulated malformed event, not JSON\n\n"
_DONE = b"data: [DONE]\n\n"
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_CREATED = 1_700_000_000
_MAX_SIMULATIONS = 1024
_DISCONNECT_POLL_S = 0.05


class _State:
    """The server's simulations, one per (model, header options), so ``seed`` sequences persist."""

    __slots__ = ("api_key", "simulations", "tokens")

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key
        self.tokens: dict[str, float] = {}  # bearer tokens issued by /sim/oauth/token -> expiry
        self.simulations: dict[tuple[str, tuple[tuple[str, str], ...]], Simulation] = {}

    def simulation(self, model: str, headers: Mapping[str, str]) -> Simulation:
        overrides = tuple(sorted((k[6:], v) for k, v in headers.items() if k.lower().startswith("x-sim-")))
        key = (model, overrides)
        sim = self.simulations.get(key)
        if sim is None:
            spec = parse_spec(model, default_mode="echo").with_options(dict(overrides))
            if len(self.simulations) >= _MAX_SIMULATIONS:
                self.simulations.pop(next(iter(self.simulations)))
            sim = self.simulations[key] = Simulation(spec)
        return sim


STATE_KEY = _STATE_KEY = web.AppKey("podium.simulator.state", _State)


# --------------------------------------------------------------------------- responses


def _error(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> web.Response:
    err = PodiumError(message, code=code, param=param)
    err.type = type_
    err.code = code
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    return web.Response(status=status, body=error_body(err), content_type="application/json", headers=headers)


def _failure(f: SimulatedError) -> web.Response:
    return _error(f.status, f.message, type_=f.type, code=f.code, param=f.param, retry_after=f.retry_after)


def _request_error(e: RequestError) -> web.Response:
    return web.Response(status=e.status, body=error_body(e), content_type="application/json")


def _drop(request: web.Request) -> None:
    """Close the connection as is: whatever was written goes out, nothing more does."""
    if request.transport is not None:
        request.transport.close()


async def _until_client_leaves(request: web.Request) -> web.Response:
    # Our runner cancels the handler when the client leaves; aiohttp offers no disconnect event to
    # wait on, so the poll covers runners (test servers) that do not cancel.
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(_DISCONNECT_POLL_S)
    return web.Response(status=504)


async def _prelude(
    request: web.Request,
    sim: Simulation,
    extra_ms: float,
    fail: Callable[[SimulatedError], web.Response] | None = None,
) -> web.StreamResponse | None:
    """Latency, then hang or failure: the answer to give instead of the real one, if any."""
    spec = sim.spec
    delay = spec.latency_ms + extra_ms
    if delay:
        await asyncio.sleep(delay / 1000.0)
    if spec.hang:
        return await _until_client_leaves(request)
    failure = sim.failure()
    if failure is None:
        return None
    return (fail or _failure)(failure)


def _simulation(request: web.Request, model: str) -> Simulation | web.Response:
    try:
        return request.app[_STATE_KEY].simulation(model, request.headers)
    except ValueError as exc:
        return _error(400, str(exc), type_="invalid_request_error", param="model")


# --------------------------------------------------------------------------- handlers


async def _chat(request: web.Request) -> web.StreamResponse:
    try:
        chat, include_usage = parse_chat_request(await request.read())
    except RequestError as exc:
        return _request_error(exc)
    sim = _simulation(request, request.match_info.get("deployment", chat.model))
    if isinstance(sim, web.Response):
        return sim
    spec = sim.spec
    try:
        events = sim.chat(chat)
    except SimulatedError as failure:
        return _failure(failure)
    extra = 0.0 if chat.stream else spec.ttft_ms + spec.chunk_delay_ms * max(0, len(events) - 2)
    instead = await _prelude(request, sim, extra)
    if instead is not None:
        return instead
    if not chat.stream:
        if spec.malformed:
            return web.Response(body=_MALFORMED_BODY, content_type="application/json")
        if spec.disconnect_after is not None:
            _drop(request)
            return web.Response()
        collector = Collector()
        collector.add_all(events)
        body = encode_completion(collector.result(), model=chat.model)
        return web.Response(body=body, content_type="application/json")
    response = web.StreamResponse(headers=_SSE_HEADERS)
    await response.prepare(request)
    if spec.malformed:
        await response.write(_MALFORMED_EVENT + _DONE)
        return response
    await _stream(
        request, response, events, ChunkEncoder(model=chat.model, include_usage=include_usage).encode, spec
    )
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    events: list[Event],
    encode: Callable[[Event], bytes | None],
    spec: SimSpec,
    tail: bytes = _DONE,
    cut_mid_frame: bool = False,
) -> None:
    """Write ``events`` as ``encode`` frames them, then ``tail``; ``disconnect_after`` drops the
    connection after that many frames (and half of the next one, with ``cut_mid_frame``)."""
    cut = spec.disconnect_after
    paced = bool(spec.ttft_ms or spec.chunk_delay_ms)
    pending: list[bytes] = []  # unpaced, the whole stream goes out in one write
    sent = 0
    for i, event in enumerate(events):
        if paced and i:
            delay = spec.ttft_ms if i == 1 else spec.chunk_delay_ms
            if delay:
                await asyncio.sleep(delay / 1000.0)
        frame = encode(event)
        if frame is None:
            continue
        if cut is not None and sent >= cut:
            if cut_mid_frame:
                pending.append(frame[: len(frame) // 2])
            break
        sent += 1
        if paced:
            await response.write(frame)
        else:
            pending.append(frame)
    if cut is None:
        pending.append(tail)
    if pending:
        await response.write(b"".join(pending))
    if cut is not None:
        _drop(request)


async def _embeddings(request: web.Request) -> web.StreamResponse:
    try:
        embedding_request, encoding = parse_embedding_request(await request.read())
    except RequestError as exc:
        return _request_error(exc)
    sim = _simulation(request, request.match_info.get("deployment", embedding_request.model))
    if isinstance(sim, web.Response):
        return sim
    spec = sim.spec
    instead = await _prelude(request, sim, spec.ttft_ms)
    if instead is not None:
        return instead
    if spec.malformed:
        return web.Response(body=_MALFORMED_BODY, content_type="application/json")
    if spec.disconnect_after is not None:
        _drop(request)
        return web.Response()
    try:
        result = sim.embed(embedding_request)
    except SimulatedError as failure:
        return _failure(failure)
    body = encode_embedding_response(result, model=embedding_request.model, encoding_format=encoding)
    return web.Response(body=body, content_type="application/json")


def _model_object(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "podium-simulator"}


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [_model_object(f"sim/{m}") for m in MODES]})


async def _model(request: web.Request) -> web.Response:
    return web.json_response(_model_object(request.match_info["model"]))


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _requests(request: web.Request) -> web.Response:
    log = request.app[LOG_KEY]
    if request.method == "DELETE":
        log.clear()
        return web.Response(status=204)
    return web.Response(body=log.to_json(), content_type="application/json")


async def _stats(request: web.Request) -> web.Response:
    log = request.app[LOG_KEY]
    return web.json_response({"total": log.total, "models": log.counts})


async def _not_found(request: web.Request) -> web.Response:
    return _error(
        404,
        f"Unknown request URL: {request.method} {request.path}.",
        type_="invalid_request_error",
        code="unknown_url",
    )


@web.middleware
async def _record_and_authorize(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every API request, then check the credential its dialect requires (see ``dialects``)."""
    dialect = dialect_of(request.path)
    if dialect is None:
        return await handler(request)
    body = await request.read()
    record = request.app[LOG_KEY].add(
        method=request.method,
        path=request.path,
        query=request.query_string,
        headers=request.headers.items(),
        body=body,
    )
    state = request.app[_STATE_KEY]
    response: web.StreamResponse
    refused = check_access(request, dialect, body, state.api_key, state.tokens)
    response = refused if refused is not None else await handler(request)
    record.status = response.status
    return response


async def _oauth(request: web.Request) -> web.Response:
    state = request.app[_STATE_KEY]
    return await oauth_token(request, state.api_key, state.tokens)


def create_app(
    *, api_key: str | None = None, record: int = 1000, log: RequestLog | None = None
) -> web.Application:
    """The simulator as an aiohttp application.

    ``api_key``: when set, ``/v1/`` requests must carry ``Authorization: Bearer <api_key>``.
    ``record``: how many requests the log keeps. ``log``: a log to record into, so an in-process test
    can read it directly instead of over HTTP.
    """
    app = web.Application(middlewares=[_record_and_authorize], client_max_size=64 * 1024 * 1024)
    app[LOG_KEY] = log if log is not None else RequestLog(record)
    app[_STATE_KEY] = _State(api_key)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/v1/embeddings", _embeddings)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{model:.+}", _model)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", _chat)
    app.router.add_post("/openai/deployments/{deployment}/embeddings", _embeddings)
    app.router.add_post("/sim/oauth/token", _oauth)
    # Imported here: each dialect's front end uses this module's helpers.
    from podium.simulator.anthropic_api import add_routes as add_anthropic
    from podium.simulator.bedrock_api import add_routes as add_bedrock
    from podium.simulator.gemini_api import add_routes as add_gemini

    add_anthropic(app)
    add_gemini(app)
    add_bedrock(app)
    app.router.add_get("/health", _health)
    app.router.add_route("GET", "/sim/requests", _requests)
    app.router.add_route("DELETE", "/sim/requests", _requests)
    app.router.add_get("/sim/stats", _stats)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


def make_runner(app: web.Application) -> web.AppRunner:
    """A runner that cancels a handler when its client leaves and does not linger on shutdown."""
    return web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)


async def serve(
    host: str = "127.0.0.1",
    port: int = 8401,
    *,
    api_key: str | None = None,
    record: int = 1000,
    ready: asyncio.Future[str] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the simulator until ``stop`` is set (or the task is cancelled).

    ``ready`` receives the base URL (``http://HOST:PORT/v1``, with the real port when ``port`` is 0).
    """
    runner = make_runner(create_app(api_key=api_key, record=record))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if ready is not None:
            ready.set_result(base_url(runner, host))
        if stop is not None:
            await stop.wait()
        else:
            await asyncio.get_running_loop().create_future()
    finally:
        await runner.cleanup()


def base_url(runner: web.AppRunner, host: str) -> str:
    """``http://HOST:PORT/v1`` for the runner's first listening socket."""
    address = runner.addresses[0]
    port = address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"
