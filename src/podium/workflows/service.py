"""The workflow service of one gateway: what the HTTP API, the CLI and Python callers use.

``gw.workflows`` holds the loaded flows, starts runs (stored as ``queued``; any replica's worker
executes them), reads and cancels runs, streams their events, and works the review queue
(:class:`~podium.workflows.reviews.Reviews`). Every read is scoped to the caller's tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from prometheus_client.core import Metric

from podium.config.model import Config
from podium.errors import ConfigError, ConfigProblem, NotFound
from podium.identity.principal import Principal
from podium.observability.metrics import gauge
from podium.storage.workflow_records import (
    FINAL_STATUSES,
    RunEvent,
    RunPage,
    RunQuery,
    RunRecord,
    StepRecord,
)
from podium.workflows.check import check_flow, check_flows
from podium.workflows.definition import Flow, SubflowStep
from podium.workflows.engine import Snapshot
from podium.workflows.errors import FlowNotFound, InvalidInputs
from podium.workflows.reviews import Reviews
from podium.workflows.schemas import schema_error
from podium.workflows.worker import Worker

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["FINAL_EVENTS", "Workflows"]

log = logging.getLogger("podium.workflows")
FINAL_EVENTS = frozenset({"run.succeeded", "run.failed", "run.cancelled"})
_REMOTE_POLL_S = 0.25  # how often a waiter re-reads a run that another replica executes


class Workflows:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.store = gw.storage.workflows
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._flows: dict[str, Flow] = {}
        self._registered: dict[str, Flow] = {}  # flows added from Python, kept across reloads
        self._changed: dict[str, asyncio.Event] = {}  # any new event of the run (event streams)
        self._settled: dict[str, asyncio.Event] = {}  # the run paused, ended or was requeued (wait)
        self._session: aiohttp.ClientSession | None = None
        self.reviews = Reviews(self)
        self.worker = Worker(self)

    # ------------------------------------------------------------------ flows

    def configure(self, config: Config, *, strict: bool) -> None:
        """Load the configured flow files; with ``strict`` a problem is a ConfigError, else it is logged
        and the flows loaded before stay (a reload never takes flows away over a typo)."""
        paths = config.workflows.flows
        flows, problems = check_flows(paths, policies=set(config.guardrails.policies))
        if problems:
            if strict:
                raise ConfigError([ConfigProblem("workflows.flows", p) for p in problems])
            log.error("workflow flows not reloaded:\n%s", "\n".join(problems))
            return
        self._flows = {**flows, **self._registered}

    def register(self, flow: Flow) -> None:
        """Add (or replace) a flow defined in Python; ConfigError with every problem if it is invalid."""
        problems = check_flow(
            flow, known_flows={*self._flows, flow.name}, policies=set(self.gw.guardrails.policies)
        )
        if problems:
            raise ConfigError(problems)
        self._registered[flow.name] = flow
        self._flows[flow.name] = flow

    def flows(self) -> list[Flow]:
        return sorted(self._flows.values(), key=lambda f: f.name)

    def flow(self, name: str) -> Flow:
        flow = self._flows.get(name)
        if flow is None:
            raise FlowNotFound(f"No flow named '{name}'.", param="flow")
        return flow

    def _snapshot(self, flow: Flow) -> Snapshot:
        subflows: dict[str, Flow] = {}
        pending = [flow]
        while pending:
            for step in pending.pop().steps:
                inner = getattr(step, "step", None)  # a map's inline step
                for s in (step, inner):
                    if isinstance(s, SubflowStep) and s.flow not in subflows:
                        subflows[s.flow] = self.flow(s.flow)
                        pending.append(subflows[s.flow])
        return Snapshot(flow=flow, subflows=subflows)

    # ------------------------------------------------------------------ runs

    async def start(
        self,
        principal: Principal,
        flow: str,
        inputs: dict[str, Any],
        *,
        metadata: dict[str, str] | None = None,
    ) -> RunRecord:
        """Store a new run (queued) and wake the worker; returns at once."""
        definition = self.flow(flow)
        if not isinstance(inputs, dict):
            raise InvalidInputs("inputs must be a JSON object", param="inputs")
        if definition.inputs is not None:
            problem = schema_error(definition.inputs, inputs)
            if problem is not None:
                raise InvalidInputs(
                    f"The inputs do not match the flow's input schema: {problem}", param="inputs"
                )
        snapshot = msgspec.json.encode(self._snapshot(definition))
        now = time.time()
        run = RunRecord(
            id="run_" + secrets.token_hex(12),
            tenant=principal.tenant,
            flow=flow,
            flow_hash=hashlib.sha256(snapshot).hexdigest()[:16],
            definition=snapshot,
            inputs=inputs,
            actor=principal.actor,
            principal={
                "kind": principal.kind,
                "id": principal.id,
                "name": principal.name,
                "team": principal.team,
                "roles": list(principal.roles),
                "permissions": sorted(principal.permissions),
            },
            metadata=dict(metadata or {}),
            created_at=now,
            updated_at=now,
        )
        stored = await self.store.create_run(run, RunEvent(run_id=run.id, at=now, type="run.queued"))
        self.worker.wake()
        return stored

    async def get(self, run_id: str, *, tenant: str) -> tuple[RunRecord, list[StepRecord]]:
        run = await self._run(run_id, tenant)
        return run, await self.store.steps(run_id)

    async def _run(self, run_id: str, tenant: str) -> RunRecord:
        run = await self.store.get_run(run_id, tenant=tenant)
        if run is None:
            raise NotFound(f"No run '{run_id}'.", code="run_not_found")
        return run

    async def list_runs(self, query: RunQuery) -> RunPage:
        return await self.store.list_runs(query)

    async def wait(self, run_id: str, *, tenant: str, timeout: float) -> RunRecord:
        """The run once it is final or waiting for a review, or as it is when ``timeout`` passes."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            run = await self._run(run_id, tenant)
            left = deadline - time.monotonic()
            if run.status in FINAL_STATUSES or run.status == "waiting" or left <= 0:
                return run
            await self._changes(self._settled, run_id, min(left, _REMOTE_POLL_S))

    async def cancel(self, run_id: str, *, tenant: str, actor: str) -> RunRecord:
        """Cancel a run: at once when queued or waiting, within moments when running (here or on
        another replica, whose next lease renewal sees it). A final run comes back unchanged."""
        run = await self.store.request_cancel(run_id, tenant=tenant, at=time.time())
        if run is None:
            raise NotFound(f"No run '{run_id}'.", code="run_not_found")
        if run.status == "running":
            log.info("run %s: cancel requested by %s", run_id, actor)
            if self.worker.cancel(run_id, "cancelled"):
                await self.wait(run_id, tenant=tenant, timeout=5.0)
                run = await self._run(run_id, tenant)
        self.notify(run_id, True)
        return run

    async def events(self, run_id: str, *, tenant: str, after: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events after ``after`` in order, then new ones as they happen, until the final one."""
        await self._run(run_id, tenant)
        seq = after
        while True:
            batch = await self.store.events(run_id, after=seq)
            for event in batch:
                yield event
                seq = event.seq
                if event.type in FINAL_EVENTS:
                    return
            if not batch:
                run = await self._run(run_id, tenant)
                if run.status in FINAL_STATUSES and run.event_seq <= seq:
                    return
                await self._changes(self._changed, run_id, _REMOTE_POLL_S)

    # ------------------------------------------------------------------ change notification

    def notify(self, run_id: str, settled: bool = False) -> None:
        """Something about ``run_id`` changed in this process: wake whoever waits on it. ``settled``:
        its status changed (paused, ended, requeued), which is all :meth:`wait` cares about."""
        for waiting in (self._changed, self._settled) if settled else (self._changed,):
            event = waiting.get(run_id)
            if event is not None:
                event.set()

    async def _changes(self, waiting: dict[str, asyncio.Event], run_id: str, timeout: float) -> None:
        event = waiting.setdefault(run_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()
        if waiting.get(run_id) is event:
            del waiting[run_id]

    # ------------------------------------------------------------------ lifecycle

    def session(self) -> aiohttp.ClientSession:
        """The HTTP client of ``tool: {http: …}`` steps (one pooled session per gateway)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def gauges(self) -> Iterator[Metric]:
        yield gauge(
            "podium_workflow_review_backlog",
            "Open review tasks (pending or claimed), every tenant's, as last counted by this replica.",
            samples=[((), float(self.worker.backlog))],
        )
        yield gauge(
            "podium_workflow_runs_executing",
            "Workflow runs this replica is executing.",
            samples=[((), float(len(self.worker.running)))],
        )

    async def start_worker(self) -> None:
        self.gw.telemetry.metrics.add_gauges(self.gauges)
        self.worker.start()

    async def close(self) -> None:
        await self.worker.close()
        if self._session is not None:
            await self._session.close()
