"""The gateway: configuration, catalog, pipelines and background services of one running server."""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiohttp import web

from podium.accounting.recorder import Recorder
from podium.canonical import Usage
from podium.collect import Collector
from podium.config.model import Config
from podium.errors import MethodNotAllowed, NotFound, PodiumError
from podium.gateway import admin, openai_edge
from podium.gateway.auth import KeyCache
from podium.gateway.call import Call
from podium.gateway.catalog import Catalog
from podium.gateway.executor import execute_chat, execute_embeddings
from podium.gateway.http_io import error_response, json_response, new_request_id
from podium.gateway.pipeline import Handler, Step, compose
from podium.gateway.router import Route, Router
from podium.gateway.steps import authorize_model, resolve_model
from podium.providers.http import ClientPool
from podium.storage.base import Storage
from podium.storage.records import RequestRecord
from podium.wire import openai as wire

__all__ = ["Gateway"]

log = logging.getLogger("podium.gateway")


class Gateway:
    def __init__(self, config: Config, storage: Storage) -> None:
        self.storage = storage
        self.pool = ClientPool()
        self.keys = KeyCache(storage)
        self.recorder = Recorder(
            storage.requests,
            flush_interval=config.storage.flush_interval_ms / 1000,
            batch_size=config.storage.flush_batch_size,
        )
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._apply(config)
        self.router = Router([*openai_edge.ROUTES, *ROUTES, *admin.ROUTES])

    # ------------------------------------------------------------------ configuration

    def _apply(self, config: Config) -> None:
        """Switch to ``config``: requests already under way finish with the catalog they started with."""
        catalog = Catalog(config, self.pool)
        self.config = config
        self.catalog = catalog
        self.chat: Handler = compose(self._steps(catalog, "chat"), execute_chat)
        self.embeddings: Handler = compose(self._steps(catalog, "embeddings"), execute_embeddings)

    def _steps(self, catalog: Catalog, api: str) -> list[Step]:
        """The request path before the executor, in order: the one place that order is written down."""
        return [authorize_model, resolve_model(catalog)]

    def reload(self, config: Config) -> None:
        self._apply(config)
        keep = set(self.catalog.session_keys)
        task = asyncio.create_task(self.pool.retain(keep, grace_seconds=config.server.drain_seconds))
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)
        log.info(
            "configuration reloaded: %d providers, %d deployments, %d routes",
            len(config.providers),
            len(config.deployments),
            len(config.routes),
        )

    # ------------------------------------------------------------------ lifecycle

    def _warm_up(self) -> None:
        """Pay for lazy imports and msgspec's per-type set-up now, not on the first caller's request."""
        chat, _ = wire.parse_chat_request(b'{"model":"w","messages":[{"role":"user","content":"w"}]}')
        wire.encode_chat_request(chat, model="w", stream=True)
        wire.parse_embedding_request(b'{"model":"w","input":"w"}')
        for model in self.catalog.public_models()[:1]:
            self.catalog.resolve(model)
        from podium.accounting import pricing  # noqa: F401 - loads the price table now

    async def start(self) -> None:
        self._warm_up()
        await self.keys.sync()
        self.recorder.start()
        self._tasks.append(asyncio.create_task(self.keys.run(), name="podium-key-sync"))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.close()
        await self.pool.close()

    # ------------------------------------------------------------------ accounting

    def record(
        self,
        call: Call,
        *,
        status: int,
        collector: Collector | None = None,
        usage: Usage | None = None,
        ttft: float | None = None,
    ) -> None:
        """Queue the call's record; the record itself is built after the response, off the path."""
        latency = time.perf_counter() - call.started
        overhead = max(0.0, latency - call.upstream_wait) * 1000 if call.candidate else None
        self.recorder.submit(lambda: _build_record(call, status, collector, usage, latency, ttft, overhead))

    # ------------------------------------------------------------------ HTTP

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            response = await self.router.dispatch(self, request)
            return response if response is not None else self._not_routed(request)
        except (asyncio.CancelledError, ConnectionResetError, web.HTTPException):
            raise
        except Exception:
            # A bug, not a caller's or upstream's fault: log it whole, answer in the caller's format.
            log.exception("unhandled error on %s %s", request.method, request.path)
            error = PodiumError("Podium failed to handle this request; the error has been logged.")
            return error_response(
                error, wire.error_body, request_id=new_request_id(), started=time.perf_counter()
            )

    def _not_routed(self, request: web.BaseRequest) -> web.Response:
        error: PodiumError
        if self.router.knows_path(request.path):
            error = MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}.")
        else:
            error = NotFound(f"No such endpoint: {request.method} {request.path}.", code="unknown_url")
        return error_response(
            error, wire.error_body, request_id=new_request_id(), started=time.perf_counter()
        )


def _build_record(
    call: Call,
    status: int,
    collector: Collector | None,
    usage: Usage | None,
    latency: float,
    ttft: float | None,
    overhead_ms: float | None,
) -> RequestRecord:
    from podium.accounting import pricing, tokens

    cand = call.candidate
    if usage is None and collector is not None:
        usage = collector.usage
    if (
        usage is None
        and call.chat is not None
        and cand is not None
        and collector is not None
        and call.error is None
    ):
        # The upstream answered without usage: count locally, and say so on the record.
        usage = Usage(
            input_tokens=tokens.count_chat_prompt(call.chat),
            output_tokens=tokens.count_text(collector.output_text(), cand.upstream_model),
            estimated=True,
        )
    cost = pricing.cost(cand.price, usage) if (cand is not None and cand.price is not None and usage) else 0.0
    target = call.target
    return RequestRecord(
        id=call.id,
        created_at=call.received_at,
        key_id=call.principal.id,
        tenant=call.principal.tenant,
        api=call.api,
        requested_model=call.model,
        route=target.route if target else None,
        deployment=cand.deployment if cand else None,
        provider=cand.provider if cand else None,
        upstream_model=cand.upstream_model if cand else None,
        status=status,
        error_class=call.error.error_class if call.error else ("client_closed" if status == 499 else None),
        latency_ms=round(latency * 1000, 3),
        ttft_ms=round((ttft - call.started) * 1000, 3) if ttft is not None else None,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_tokens=usage.cached_input_tokens if usage else 0,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
        tokens_estimated=usage.estimated if usage else False,
        cost_usd=round(cost, 10),
        streamed=bool(call.chat and call.chat.stream),
        attempts=call.attempts,
        overhead_ms=round(overhead_ms, 3) if overhead_ms is not None else None,
    )


async def _healthz(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    return json_response(b'{"status":"ok"}')


async def _readyz(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    """Ready when not draining and the key store answered recently (auth would otherwise go stale)."""
    stale = time.monotonic() - gw.keys.last_sync > 5.0
    checks = {"draining": gw.draining, "key_sync_stale": stale}
    ok = not gw.draining and not stale
    body = msgspec.json.encode({"status": "ready" if ok else "not_ready", "checks": checks})
    return json_response(body, status=200 if ok else 503)


ROUTES = [Route("GET", "/healthz", _healthz), Route("GET", "/readyz", _readyz)]
