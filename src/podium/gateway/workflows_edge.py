"""The workflow API: the flows a server knows, starting runs, reading and cancelling them, their events.

::

    GET  /v1/flows                       the loaded flow definitions          workflows:read
    GET  /v1/flows/{flow}                one definition                       workflows:read
    POST /v1/flows/{flow}/runs           start a run (wait up to `wait` s)    workflows:run
    GET  /v1/runs                        runs, newest first, filtered         workflows:read
    GET  /v1/runs/{run_id}               a run with every step                workflows:read
    POST /v1/runs/{run_id}/cancel        cancel a run                         workflows:run
    GET  /v1/runs/{run_id}/events        its events as server-sent events     workflows:read

Every route authenticates like the admin API (keys, sessions, OIDC), reads and writes only the
caller's tenant (another tenant's run is a 404), and answers errors in OpenAI's shape. Starting a run
answers ``201`` when the run has settled within ``wait`` seconds (finished, or paused for review)
and ``202`` while it is still queued or running — poll it, or follow its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import msgspec
from aiohttp import web

from podium.audit.events import denied_event
from podium.errors import AuthenticationError, PermissionDenied, PodiumError, RequestError
from podium.gateway.admin import decode_body
from podium.gateway.http_io import error_response, new_request_id, read_json_body
from podium.gateway.permissions import RouteSpec, admin_route, authorize, query_float, query_limit
from podium.gateway.router import Route
from podium.gateway.workflow_views import FlowView, RunEventView, RunView, run_view
from podium.identity.principal import Principal
from podium.storage.workflow_records import ReviewQuery, RunEvent, RunQuery, RunStatus
from podium.wire import openai as wire

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["ROUTES"]

log = logging.getLogger("podium.workflows")

MAX_WAIT_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0  # an SSE comment this often, so proxies keep a quiet stream open
_SETTLED = frozenset({"waiting", "succeeded", "failed", "cancelled"})
_STATUSES = ("queued", "running", *sorted(_SETTLED))
_encode = msgspec.json.Encoder().encode


class StartRun(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    inputs: dict[str, Any] = {}
    wait: float = 0.0  # seconds to wait for the run to settle; 0 answers at once
    metadata: dict[str, str] = {}


# ------------------------------------------------------------------ flows


@admin_route("workflows:read", response=list[FlowView])
async def list_flows(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The flow definitions this server has loaded."""
    return 200, {"object": "list", "data": [FlowView.of(f) for f in gw.workflows.flows()]}


@admin_route("workflows:read", response=FlowView)
async def get_flow(gw: Gateway, request: web.BaseRequest, principal: Principal, flow: str) -> tuple[int, Any]:
    """One flow definition: its inputs, outputs and steps."""
    return 200, FlowView.of(gw.workflows.flow(flow))


@admin_route("workflows:run", body=StartRun, response=RunView)
async def start_run(
    gw: Gateway, request: web.BaseRequest, principal: Principal, flow: str
) -> tuple[int, Any]:
    """Start a run of the flow; wait up to `wait` seconds for it to finish or pause for review."""
    raw = await read_json_body(request, gw.config.server.max_body_bytes)
    body: StartRun = decode_body(raw or b"{}", StartRun, "run request")
    if not 0 <= body.wait <= MAX_WAIT_SECONDS:
        raise RequestError(f"'wait' must be between 0 and {MAX_WAIT_SECONDS:.0f} seconds.", param="wait")
    run = await gw.workflows.start(principal, flow, body.inputs, metadata=body.metadata)
    if body.wait > 0:
        run = await gw.workflows.wait(run.id, tenant=principal.tenant, timeout=body.wait)
    found, steps = await gw.workflows.get(run.id, tenant=principal.tenant)
    review = await _open_review(gw, principal, found.id) if found.status == "waiting" else None
    return (201 if found.status in _SETTLED else 202), run_view(found, steps, review)


# ------------------------------------------------------------------ runs

_RUN_QUERY = (
    ("flow", "only runs of this flow"),
    ("status", "queued, running, waiting, succeeded, failed or cancelled"),
    ("since", "epoch seconds, inclusive (created at)"),
    ("until", "epoch seconds, exclusive"),
    ("limit", "1 to 1000 (default 50)"),
    ("cursor", "the previous page's next_cursor"),
)


class RunList(msgspec.Struct, frozen=True):
    data: list[RunView]
    next_cursor: str | None
    object: str = "list"


@admin_route("workflows:read", response=RunList, query=_RUN_QUERY)
async def list_runs(gw: Gateway, request: web.BaseRequest, principal: Principal) -> tuple[int, Any]:
    """The caller's tenant's runs, newest first (without their steps: get a run for those)."""
    q = request.query
    limit = query_limit(request, 50)
    status = q.get("status") or None
    if status is not None and status not in _STATUSES:
        raise RequestError(f"'status' must be one of {', '.join(_STATUSES)}.", param="status")
    page = await gw.workflows.list_runs(
        RunQuery(
            tenant=principal.tenant,
            flow=q.get("flow") or None,
            status=cast(RunStatus | None, status),  # checked against _STATUSES above
            since=query_float(request, "since"),
            until=query_float(request, "until"),
            limit=limit,
            cursor=q.get("cursor") or None,
        )
    )
    return 200, RunList([run_view(r, None, None) for r in page.items], page.next_cursor)


@admin_route("workflows:read", response=RunView)
async def get_run(
    gw: Gateway, request: web.BaseRequest, principal: Principal, run_id: str
) -> tuple[int, Any]:
    """A run with every step's input, output, timings, attempts and cost."""
    run, steps = await gw.workflows.get(run_id, tenant=principal.tenant)
    review = await _open_review(gw, principal, run.id) if run.status == "waiting" else None
    return 200, run_view(run, steps, review)


@admin_route("workflows:run", response=RunView)
async def cancel_run(
    gw: Gateway, request: web.BaseRequest, principal: Principal, run_id: str
) -> tuple[int, Any]:
    """Cancel a run: it stops at its next checkpoint; a pending review is closed. A finished run is unchanged."""
    await gw.workflows.cancel(run_id, tenant=principal.tenant, actor=principal.actor)
    run, steps = await gw.workflows.get(run_id, tenant=principal.tenant)
    return 200, run_view(run, steps, None)


async def _open_review(gw: Gateway, principal: Principal, run_id: str) -> str | None:
    tasks = await gw.workflows.reviews.list(ReviewQuery(tenant=principal.tenant, run_id=run_id, limit=10))
    return tasks[0].id if tasks else None  # open tasks only: pending or claimed


# ------------------------------------------------------------------ events (server-sent)


async def run_events(gw: Gateway, request: web.BaseRequest, run_id: str) -> web.StreamResponse:
    """The run's events as server-sent events, from the first (or after `Last-Event-ID`) to its end."""
    started = time.perf_counter()
    request_id = new_request_id()
    principal: Principal | None = None
    try:
        principal = await gw.identity.authenticate(request.headers)
        authorize(principal, _EVENTS_PERMISSION)
        after = _after(request)
        await gw.workflows.get(run_id, tenant=principal.tenant)  # a 404 before the stream starts
    except PodiumError as exc:
        # Refusals are audited, as on admin routes.
        if isinstance(exc, AuthenticationError | PermissionDenied):
            gw.audit.submit(
                denied_event(
                    tenant=principal.tenant if principal else gw.identity.root_tenant,
                    actor=principal.actor if principal else "anonymous",
                    action="admin.run_events",
                    resource=request.path,
                    error=exc,
                    remote=request.remote,
                )
            )
        return error_response(exc, wire.error_body, request_id=request_id, started=started)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: pass each event through as it comes
            "x-request-id": request_id,
        }
    )
    await response.prepare(request)
    queue: asyncio.Queue[RunEvent | None] = asyncio.Queue()
    pump = asyncio.create_task(
        _pump(gw.workflows.events(run_id, tenant=principal.tenant, after=after), queue)
    )
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is None:
                break
            payload = _encode(RunEventView.of(event))
            await response.write(
                b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), payload)
            )
    except (ConnectionResetError, asyncio.CancelledError):
        pump.cancel()
        raise
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    await response.write_eof()
    return response


async def _pump(events: AsyncIterator[RunEvent], queue: asyncio.Queue[RunEvent | None]) -> None:
    """Move events to the queue until the run's last one; then a ``None``. Closes the iterator."""
    try:
        async for event in events:
            queue.put_nowait(event)
    except PodiumError as exc:  # the run went away mid-stream (retention): end the stream, say why in the log
        log.info("event stream ended early: %s", exc.message)
    finally:
        queue.put_nowait(None)
        if isinstance(events, AsyncGenerator):
            await events.aclose()


def _after(request: web.BaseRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    try:
        after = int(raw)
    except ValueError:
        raise RequestError("'Last-Event-ID' (or 'after') must be an event's number.", param="after") from None
    if after < 0:
        raise RequestError("'after' must be >= 0.", param="after")
    return after


_EVENTS_PERMISSION = "workflows:read"
run_events.permission = _EVENTS_PERMISSION  # type: ignore[attr-defined]
run_events.spec = RouteSpec(  # type: ignore[attr-defined]
    _EVENTS_PERMISSION,
    "The run's events as server-sent events (text/event-stream), until the run ends.",
    response=RunEventView,
    query=(("after", "events after this number (or send Last-Event-ID)"),),
    content_type="text/event-stream",
)


ROUTES = [
    Route("GET", "/v1/flows", list_flows),
    Route("GET", "/v1/flows/{flow}", get_flow),
    Route("POST", "/v1/flows/{flow}/runs", start_run),
    Route("GET", "/v1/runs", list_runs),
    Route("GET", "/v1/runs/{run_id}", get_run),
    Route("POST", "/v1/runs/{run_id}/cancel", cancel_run),
    Route("GET", "/v1/runs/{run_id}/events", run_events),
]
