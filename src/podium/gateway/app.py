"""The gateway: configuration, catalog, pipelines and background services of one running server."""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from aiohttp import web

from podium.accounting.recorder import Recorder
from podium.cache import AnswerCache
from podium.canonical import Usage
from podium.collect import Collector
from podium.config.model import Config
from podium.errors import MethodNotAllowed, NotFound, PodiumError
from podium.gateway import (
    admin,
    admin_audit,
    admin_identity,
    anthropic_edge,
    openai_edge,
    openapi,
    responses_edge,
    reviews_edge,
    workflows_edge,
)
from podium.gateway.auth import KeyCache
from podium.gateway.call import Call
from podium.gateway.catalog import Catalog
from podium.gateway.executor import execute_chat, execute_embeddings
from podium.gateway.governance import Governance
from podium.gateway.http_io import error_response, json_response, new_request_id
from podium.gateway.pipeline import Handler, Step
from podium.gateway.response_cache import ResponseCache
from podium.gateway.router import Route, Router
from podium.gateway.steps import authorize_model, resolve_model
from podium.guardrails.step import Guardrails, strongest_action
from podium.identity.throttle import LoginThrottle
from podium.knowledge import api as knowledge_api
from podium.knowledge.embedding.gateway import through_gateway
from podium.knowledge.kb import Knowledge
from podium.knowledge.rag_step import rag_steps
from podium.limits import Limiter, limit_requests
from podium.limits.deployments import deployment_limits
from podium.observability import admin as observability_admin
from podium.observability import endpoint as metrics_endpoint
from podium.observability.telemetry import Telemetry
from podium.prompts import admin as prompt_admin
from podium.prompts.cache import PromptCache
from podium.prompts.step import prompt_steps
from podium.providers.http import ClientPool
from podium.providers.registry import Instrument
from podium.routing import explain as route_explain
from podium.routing.explain import reset_route_header, route_headers
from podium.routing.health import LocalHealth
from podium.routing.policy import Router as RoutingPolicy
from podium.routing.step import make_board, route_step, same_board
from podium.state import open_state
from podium.storage.base import Storage
from podium.storage.records import RequestRecord
from podium.wire import openai as wire
from podium.workflows.service import Workflows

__all__ = ["Gateway"]

log = logging.getLogger("podium.gateway")


class Gateway:
    def __init__(self, config: Config, storage: Storage) -> None:
        self.storage = storage
        self.pool = ClientPool()
        self.keys = KeyCache(storage)
        self.governance = Governance(config, storage, self.keys)
        self.identity = self.governance.authenticator  # the admin API's callers (keys, sessions, OIDC)
        self.audit = self.governance.writer  # the audit trail, appended off the request path
        self.recorder = Recorder(
            storage.requests,
            flush_interval=config.storage.flush_interval_ms / 1000,
            batch_size=config.storage.flush_batch_size,
        )
        # Responses-API answers: in memory at once, written to storage in batches like the records.
        self.responses = ResponseCache(
            storage.responses, flush_interval=config.storage.flush_interval_ms / 1000
        )
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self.health: LocalHealth = make_board(config)  # deployment health: breakers and live statistics
        # Limit counters and cached answers: in process, or shared by every replica through Redis.
        self.state = open_state(config)
        self.limiter = Limiter(self.state, config.limits, policy=config.state.on_unavailable)
        self.answers = AnswerCache(self.state, config.cache)
        self.prompts = PromptCache(
            storage.prompts
        )  # the prompt registry's in-memory mirror, synced like keys
        # Knowledge bases: ingestion, retrieval and the RAG step (podium.knowledge)
        self.knowledge = Knowledge(storage.knowledge, config.knowledge, through_gateway(self))
        self.telemetry = Telemetry(self)  # traces, metrics, sampled evaluation, alerts (podium.observability)
        self.workflows = Workflows(
            self
        )  # flows, runs, the review queue and the run worker (podium.workflows)
        self._apply(config)
        self.workflows.configure(config, strict=True)
        self.router = Router(
            [
                *openai_edge.ROUTES,
                *anthropic_edge.ROUTES,
                *responses_edge.ROUTES,
                *ROUTES,
                *route_explain.ROUTES,
                *admin.ROUTES,
                *admin_identity.ROUTES,
                *admin_audit.ROUTES,
                *prompt_admin.ROUTES,
                *knowledge_api.ROUTES,
                *openapi.ROUTES,
                *metrics_endpoint.ROUTES,
                *observability_admin.ROUTES,
                *workflows_edge.ROUTES,
                *reviews_edge.ROUTES,
            ]
        )

    # ------------------------------------------------------------------ configuration

    def _apply(self, config: Config) -> None:
        """Switch to ``config``: requests already under way finish with the catalog they started with."""
        self.telemetry.configure(config)
        self.limiter.configure(config.limits, config.state.on_unavailable)
        self.answers.configure(config.cache)
        catalog = Catalog(config, self.pool, instrument=self._instrument())
        self.config = config
        self.catalog = catalog
        self.routing = _routing(self, config, catalog)
        self.guardrails = Guardrails(config, self.pool)  # policies built once per configuration
        self.login_throttle = LoginThrottle(self.state, config.identity.login_throttle, config.state)
        self.knowledge.reload(config.knowledge)
        self.chat: Handler = self.telemetry.pipeline(self._steps(catalog, "chat"), execute_chat)
        self.embeddings: Handler = self.telemetry.pipeline(
            self._steps(catalog, "embeddings"), execute_embeddings
        )

    def _instrument(self) -> Instrument | None:
        """What wraps every deployment's models: tracing, and deployment limits when a rule has them."""
        tracing = self.telemetry.instrument
        if not self.limiter.planner.deployment_rules:
            return tracing
        limited = deployment_limits(self.limiter)
        if tracing is None:
            return limited
        return lambda models, *names: tracing(limited(models, *names), *names)

    def _steps(self, catalog: Catalog, api: str) -> list[Step]:
        """The request path before the executor, in order: the one place that order is written down."""
        limits = [limit_requests(self.limiter, self.answers.prefetch_key if self.answers.active else None)]
        cache = [self.answers.chat if api == "chat" else self.answers.embeddings]
        return [
            *prompt_steps(self.prompts, api, self.config.prompts),  # a prompt reference → messages, model
            authorize_model,
            *(limits if self.limiter.active else []),
            *rag_steps(self, api),  # podium.rag / knowledge.rag: retrieved passages with citations
            *self.guardrails.steps(api),  # input guardrails, passages included; output on the way back
            resolve_model(catalog),
            *(cache if self.answers.active else []),
            route_step(self.routing),
        ]

    def reload(self, config: Config) -> None:
        self._apply(config)
        self.workflows.configure(config, strict=False)
        self.governance.reload(config)
        semantic = asyncio.create_task(self.answers.start())  # loads the embedding model if newly needed
        self._tasks.append(semantic)
        semantic.add_done_callback(self._tasks.remove)
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

        self.routing.warm_up()

    async def start(self) -> None:
        self._warm_up()
        await self.keys.sync()
        await self.prompts.sync()
        await self.governance.start()
        await self.health.start()
        await self.state.start()
        await self.answers.start()
        self._tasks.append(asyncio.create_task(self.limiter.run(), name="podium-lease-renewal"))
        self.recorder.start()
        self.telemetry.start()
        self.responses.start()
        await self.workflows.start_worker()
        self._tasks.append(asyncio.create_task(self.keys.run(), name="podium-key-sync"))
        self._tasks.append(asyncio.create_task(self.prompts.run(), name="podium-prompt-sync"))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.workflows.close()  # before the recorder: runs let go of their leases, last calls recorded
        await self.recorder.close()
        await self.telemetry.close()  # after the recorder: its last records are counted
        await self.responses.close()
        await self.governance.close()  # after the recorder: its last records queue audit events
        await self.health.close()
        await self.knowledge.close()  # background ingestions stop; their records say so
        await self.answers.close()
        await self.state.close()  # after the recorder: its last records settle limits
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
        # One closure: building the record (after the response) also queues the call's audit event.
        build = lambda: self.governance.observe(  # noqa: E731
            _build_record(call, status, collector, usage, latency, ttft, overhead), call, collector
        )
        if (
            call.limits is not None
        ):  # release its concurrency now; settle its tokens and spend from the record
            self.limiter.finish(call.limits)
            build = self.limiter.settling(build, call.limits)
        if self.telemetry.observing:  # span attributes now; metrics and evaluation sampling as it is built
            build = self.telemetry.recorded(call, status, collector, usage, build)
        self.recorder.submit(build)

    # ------------------------------------------------------------------ HTTP

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        reset_route_header()
        if self.telemetry.on:  # the in-flight gauge and the request's root span (podium.observability)
            return await self.telemetry.around(request, self._handle)
        return await self._handle(request)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            response = await self.router.dispatch(self, request)
            if response is not None and not response.prepared:
                response.headers.update(route_headers())  # x-podium-route, when routing ran
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


def _routing(gw: Gateway, config: Config, catalog: Catalog) -> RoutingPolicy:
    """The routing policy for ``config``; the health board is kept (or replaced if its backend changed)."""
    board = getattr(gw, "health", None)
    if board is not None and not same_board(board, config):
        old, gw.health = board, make_board(config)
        task = asyncio.create_task(_swap_boards(old, gw.health))
        gw._tasks.append(task)
        task.add_done_callback(gw._tasks.remove)
    gw.health.configure(config.routing.breaker, config.routing.ewma_alpha)
    return RoutingPolicy(config, catalog, gw.health)


async def _swap_boards(old: LocalHealth, new: LocalHealth) -> None:
    await new.start()
    await old.close()


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
        prompt_name=call.prompt_name,
        prompt_version=call.prompt_version,
        route_reason=call.route_reason,
        cache=call.cache,
        limit_hit=getattr(call.error, "limit", None) or (call.limits.limit if call.limits else None),
        queued_ms=call.limits.queued_ms if call.limits else None,
        guardrail_action=strongest_action(call.guardrails),
        guardrails=call.guardrails,
        team=call.principal.team,
    )


async def _healthz(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    return json_response(b'{"status":"ok"}')


async def _readyz(gw: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    """Ready when not draining and the key store answered recently (auth would otherwise go stale)."""
    stale = time.monotonic() - gw.keys.last_sync > 5.0
    checks: dict[str, object] = {"draining": gw.draining, "key_sync_stale": stale}
    ok = not gw.draining and not stale
    checks["routing_state"] = gw.health.status()  # breakers and live statistics (Redis when shared)
    ok = ok and gw.health.usable()
    # Limits and caches: an unreachable Redis is reported; it makes the replica unready only when the
    # policy refuses requests then (with "open", every replica keeps serving, unlimited).
    checks["shared_state"] = "ok" if gw.state.available else f"unreachable: {gw.state.description}"
    ok = ok and (gw.state.available or gw.config.state.on_unavailable == "open")
    body = msgspec.json.encode({"status": "ready" if ok else "not_ready", "checks": checks})
    return json_response(body, status=200 if ok else 503)


ROUTES = [Route("GET", "/healthz", _healthz), Route("GET", "/readyz", _readyz)]
