"""The worker inside ``podium serve``: leases runnable runs and executes them, renews its leases.

Three loops: *acquire* (take the oldest runnable run while below ``max_concurrent_runs``; sleep
``poll_interval_ms`` when there is none, or until woken by a local start or decision), *renew*
(every third of ``lease_seconds``: extend the leases held; a run whose lease was lost is abandoned, a
run whose cancel was requested elsewhere is cancelled), and *maintain* (review deadlines and
escalations, the review backlog gauge, retention). On shutdown every lease held is released, so
another replica resumes those runs at once instead of after the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from podium.config.workflows import WorkflowSettings
from podium.knowledge.access import Reader
from podium.storage.base import LeaseLost, ReviewConflict
from podium.storage.records import KeyRecord
from podium.storage.workflow_records import RunError, RunRecord
from podium.workflows.engine import Execution
from podium.workflows.steps import Actor

if TYPE_CHECKING:
    from podium.workflows.service import Workflows

__all__ = ["Worker"]

log = logging.getLogger("podium.workflows")
_PURGE_EVERY_S = 600.0


class Worker:
    def __init__(self, service: Workflows) -> None:
        self.service = service
        self.running: dict[str, tuple[Execution, asyncio.Task[None]]] = {}
        self.backlog = 0
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._purged_at = 0.0

    @property
    def settings(self) -> WorkflowSettings:
        return self.service.gw.config.workflows

    def start(self) -> None:
        self._purged_at = 0.0  # retention applies at once when a worker starts, then every 10 minutes
        if self.settings.worker:
            self._loops.append(asyncio.create_task(self._acquire_loop(), name="podium-workflow-acquire"))
            self._loops.append(asyncio.create_task(self._renew_loop(), name="podium-workflow-renew"))
        self._loops.append(asyncio.create_task(self._maintain_loop(), name="podium-workflow-maintain"))

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, run_id: str, reason: str) -> bool:
        """Stop a run executing here; ``reason`` "cancelled" ends it, anything else lets it go."""
        held = self.running.get(run_id)
        if held is None:
            return False
        execution, task = held
        execution.cancel_reason = reason
        task.cancel()
        return True

    async def close(self) -> None:
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for run_id in list(self.running):
            self.cancel(run_id, "shutdown")
        await asyncio.gather(*(t for _, t in self.running.values()), return_exceptions=True)

    # ------------------------------------------------------------------ loops

    async def _acquire_loop(self) -> None:
        store = self.service.store
        while True:
            settings = self.settings
            run: RunRecord | None = None
            if len(self.running) < settings.max_concurrent_runs:
                try:
                    run = await store.acquire_run(
                        self.service.owner, now=time.time(), lease_s=settings.lease_seconds
                    )
                except Exception:
                    log.exception("workflow worker could not acquire a run")
            if run is not None:
                try:
                    await self._spawn(run)
                except Exception:  # let the run go; it is retried after a poll
                    log.exception("run %s: could not start executing it", run.id)
                    with contextlib.suppress(Exception):
                        await store.release_run(run.id, self.service.owner)
                    await asyncio.sleep(settings.poll_interval_ms / 1000)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.poll_interval_ms / 1000)

    async def _spawn(self, run: RunRecord) -> None:
        actor = await self._actor(run)
        execution = Execution(
            self.service.gw,
            self.service.store,
            run,
            self.service.owner,
            actor,
            self.service.session(),
            self.service.notify,
        )
        task = asyncio.create_task(self._execute(execution), name=f"podium-run-{run.id}")
        self.running[run.id] = (execution, task)
        task.add_done_callback(lambda _: self.running.pop(run.id, None))

    async def _execute(self, execution: Execution) -> None:
        run = execution.run
        try:
            if execution.actor.key.revoked_at is not None:
                error = RunError(
                    code="principal_revoked", message="The key that started this run was revoked."
                )
                await execution.finish("failed", None, error)
                return
            await execution.execute()
        except LeaseLost:
            log.warning("run %s: lease lost, another replica continues it", run.id)
        except asyncio.CancelledError:
            if execution.cancel_reason in ("cancelled", "shutdown", "lost"):
                return  # handled inside execute(); the task ends here
            raise
        except Exception:
            log.exception("run %s: the engine failed", run.id)
            with contextlib.suppress(Exception):
                await self.service.store.release_run(run.id, self.service.owner)
        finally:
            self.wake()  # capacity freed

    async def _actor(self, run: RunRecord) -> Actor:
        p = run.principal
        kind = p.get("kind", "key")
        team = p.get("team")
        roles = tuple(p.get("roles", ()))
        key: KeyRecord | None = None
        if kind == "key":
            key = await self.service.gw.storage.keys.get(str(p.get("id")))
        if key is None:
            key = KeyRecord(
                id=str(p.get("id", "workflow")),
                name=f"workflow run {run.id}",
                hash="-",
                prefix="-",
                tenant=run.tenant,
                team=team,
                roles=roles,
                created_at=0.0,
            )
        reader = Reader(
            tenant=run.tenant,
            actor=run.actor,
            key_id=key.id if kind == "key" else None,
            team=team,
            roles=roles,
            permissions=frozenset(p.get("permissions", ())),
        )
        return Actor(key=key, reader=reader)

    async def _renew_loop(self) -> None:
        store = self.service.store
        while True:
            lease = self.settings.lease_seconds
            await asyncio.sleep(lease / 3)
            held = list(self.running)
            if not held:
                continue
            try:
                kept = await store.renew_leases(self.service.owner, held, now=time.time(), lease_s=lease)
            except Exception:
                log.exception("workflow worker could not renew its leases")
                continue
            for run_id in held:
                if run_id not in kept:
                    if run_id in self.running:
                        log.warning("run %s: lease lost, stopping here", run_id)
                        self.cancel(run_id, "lost")
                elif kept[run_id]:
                    self.cancel(run_id, "cancelled")

    async def _maintain_loop(self) -> None:
        store = self.service.store
        while True:
            try:
                now = time.time()
                for task in await store.due_reviews(now=now):
                    if task.deadline is not None and task.deadline <= now:
                        with contextlib.suppress(ReviewConflict):
                            await store.decide_review(
                                task.id,
                                tenant=task.tenant,
                                reviewer="system:deadline",
                                at=now,
                                status="expired",
                                result=task.content,
                                reason="the deadline passed without a decision",
                            )
                            self.wake()
                    else:
                        await store.escalate_review(task.id, at=now)
                    self.service.notify(task.run_id)
                self.backlog = await store.review_backlog()
                days = self.settings.retention_days
                if days > 0 and now - self._purged_at > _PURGE_EVERY_S:
                    self._purged_at = now
                    purged = await store.purge_runs(before=now - days * 86400)
                    if purged:
                        log.info("workflow retention: deleted %d runs older than %g days", purged, days)
            except Exception:
                log.exception("workflow maintenance failed")
            await asyncio.sleep(max(self.settings.poll_interval_ms / 1000, 1.0))
