"""Admitting requests under their limits, queueing them when over, and settling their real usage.

One :meth:`Limiter.admit` per request checks every limit of its :class:`~podium.limits.plan.Plan`
in one shared-state call; a refused request waits in the refusing limit's queue (when the limit has
one) or gets a :class:`LimitExceeded` (429 with Retry-After and the limit's name). The request's
:class:`Ticket` then follows it: its leases are released when the call ends (:meth:`finish`), and
its token estimate and spend are corrected from the request record (:meth:`settle`) — the same
record that accounting writes, streamed usage and every endpoint included, off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from podium.config.limits import LimitRule
from podium.errors import ProviderError, RateLimited
from podium.limits.plan import Meter, Metric, Plan, Planner, period_window
from podium.limits.waitlist import Waitlist
from podium.state.base import Adjust, Admission, Counter, Op, Release, Renew, SharedState, StateUnavailable
from podium.storage.records import KeyRecord, RequestRecord

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

__all__ = ["DeploymentLimited", "LimitExceeded", "Limiter", "Ticket"]

log = logging.getLogger("podium.limits")

WINDOW_MS = 60_000
WINDOW_SLOTS = 60  # one-second slots: "per minute" means any 60 s, to the second
LEASE_MS = 30_000  # a crashed replica's concurrency slots free themselves within this
RENEW_SECONDS = LEASE_MS / 3000
DEFAULT_PRIORITY = 5
_POLL_MIN, _POLL_MAX = 0.05, 0.5  # re-checks of a lease-bound limit, whose freeing nobody announces


class LimitExceeded(RateLimited):
    """A Podium limit refused the request; ``limit`` is its name (``per-key.rpm``)."""

    def __init__(self, message: str, *, limit: str, retry_after: float | None, code: str) -> None:
        super().__init__(message, retry_after=retry_after, code=code)
        self.limit = limit


class DeploymentLimited(ProviderError):
    """A deployment is at one of its limits: the executor moves on to the next candidate."""

    status = 429
    type = "rate_limit_error"
    code = "deployment_limit_exceeded"

    def __init__(self, message: str, *, deployment: str, limit: str, retry_after: float | None) -> None:
        super().__init__(message, deployment=deployment, retry_after=retry_after, retryable=True)
        self.limit = limit


@dataclass(slots=True, eq=False)
class _Counted:
    """What one admission counted, to settle later."""

    now_ms: int
    estimate: int
    tpm: list[str] = field(default_factory=list)
    budgets: list[tuple[str, int]] = field(default_factory=list)  # (period key, ms it lives)
    leases: list[str] = field(default_factory=list)
    deployment: str | None = None


@dataclass(slots=True, eq=False)
class Ticket:
    """A request's admission: what it counted and what it still holds."""

    lease_id: str
    plan: Plan
    counted: list[_Counted]
    values: tuple[bytes | None, ...] = ()  # prefetched in the admission
    limit: str | None = None  # the limit that made it wait
    queued_ms: float | None = None
    finished: bool = False


def _estimate_tokens(chars: int, max_tokens: int | None) -> int:
    # About four characters a token in English; the real count corrects it after the call.
    return max(1, chars // 4 + (max_tokens or 0))


class Limiter:
    def __init__(
        self, state: SharedState, rules: dict[str, LimitRule], *, policy: Literal["open", "closed"]
    ) -> None:
        self.state = state
        self.policy = policy
        self.planner = Planner(rules)
        self._fixed: dict[str, Counter] = {}  # RPM counters: the same for every request of a subject
        self._live: set[Ticket] = set()
        self._queues: dict[str, Waitlist] = {}
        self._periods: dict[Metric, tuple[float, str, float]] = {}  # metric -> (end, label, end ts)

    def configure(self, rules: dict[str, LimitRule], policy: Literal["open", "closed"]) -> None:
        """New rules (a reload): counters of rules that stay keep their counts."""
        self.planner = Planner(rules)
        self._fixed = {}
        self.policy = policy

    @property
    def active(self) -> bool:
        return bool(self.planner.rules)

    # ------------------------------------------------------------------ admission

    def _period(self, metric: Metric, now: float) -> tuple[str, int]:
        cached = self._periods.get(metric)
        if cached is None or now >= cached[0]:
            label, left_ms = period_window(metric, now)
            cached = self._periods[metric] = (now + left_ms / 1000, label, 0.0)
        return cached[1], max(1, int((cached[0] - now) * 1000))

    def _counters(
        self, meters: Sequence[Meter], estimate: int, lease_id: str
    ) -> tuple[list[Counter], _Counted]:
        """The counters of ``meters`` for one request, and the record of what they count."""
        counters = []
        counted = _Counted(now_ms=0, estimate=estimate)
        now = 0.0
        for m in meters:
            metric = m.metric
            if metric == "rpm":
                counter = self._fixed.get(m.key)
                if counter is None:
                    counter = self._fixed[m.key] = Counter(
                        m.key, "window", m.limit, 1, WINDOW_MS, WINDOW_SLOTS
                    )
                counters.append(counter)
            elif metric == "tpm":
                counters.append(Counter(m.key, "window", m.limit, estimate, WINDOW_MS, WINDOW_SLOTS))
                counted.tpm.append(m.key)
            elif metric == "concurrent":
                counters.append(Counter(m.key, "lease", m.limit, 1, LEASE_MS, lease_id=lease_id))
                counted.leases.append(m.key)
            else:
                now = now or time.time()
                label, left_ms = self._period(metric, now)
                key = f"{m.key}:{label}"
                counters.append(Counter(key, "period", m.limit, 0, left_ms))
                counted.budgets.append((key, left_ms))
        return counters, counted

    async def admit(
        self,
        *,
        lease_id: str,
        key: KeyRecord,
        model: str,
        chars: int,
        max_tokens: int | None,
        headers: CIMultiDictProxy[str],
        prefetch: Sequence[str] = (),
    ) -> Ticket | None:
        """The request's ticket once every limit admits it; ``None`` when no limit applies (or the
        shared state is down and the policy is open). Raises :class:`LimitExceeded`."""
        plan = self.planner.plan(key, model)
        if plan.empty:
            return None
        estimate = _estimate_tokens(chars, max_tokens)
        counters, counted = self._counters(plan.meters, estimate, lease_id)
        try:
            admission = await self.state.admit(counters, prefetch)
            ticket = Ticket(lease_id=lease_id, plan=plan, counted=[], values=admission.values)
            if not admission.allowed:
                meter = plan.meters[admission.failed]
                admission = await self._wait(ticket, meter, admission.retry_after, counters, key, headers)
        except StateUnavailable:
            if self.policy == "closed":
                raise StateUnavailable(
                    f"Limits cannot be checked: the shared state ({self.state.description}) is unreachable, "
                    "and this gateway then refuses requests under a limit (state.on_unavailable: closed)."
                ) from None
            return None
        counted.now_ms = admission.now_ms
        ticket.counted.append(counted)
        self._live.add(ticket)
        return ticket

    async def _wait(
        self,
        ticket: Ticket,
        meter: Meter,
        retry_after: float | None,
        counters: list[Counter],
        key: KeyRecord,
        headers: CIMultiDictProxy[str],
    ) -> Admission:
        """Wait in ``meter``'s queue until the counters admit; the admission, or LimitExceeded."""
        queue = self._queues.get(meter.key)
        if (
            meter.queue_wait <= 0
            or retry_after is None
            or (queue is not None and len(queue) >= meter.queue_size)
        ):
            raise _refusal(meter, retry_after)
        if queue is None:
            queue = self._queues[meter.key] = Waitlist()
        queue_key = meter.key
        started = time.monotonic()
        deadline = started + meter.queue_wait
        ticket.limit = meter.name
        waiter = queue.join(_priority(key, headers))
        poll = _POLL_MIN
        try:
            while True:
                if not await queue.wait_turn(waiter, deadline - time.monotonic()):
                    raise _refusal(meter, retry_after)
                left = deadline - time.monotonic()
                if retry_after is None or retry_after > left:
                    raise _refusal(meter, retry_after)
                if retry_after > 0:
                    pause = retry_after + random.uniform(0.005, 0.02)
                else:  # a lease: nobody announces when another replica frees one, so look again
                    pause, poll = poll, min(poll * 2, _POLL_MAX)
                await queue.pause(min(pause, left))
                if not queue.heads(waiter):  # one of higher priority arrived meanwhile: it goes first
                    continue
                admission = await self.state.admit(counters)
                if admission.allowed:
                    ticket.queued_ms = round((time.monotonic() - started) * 1000, 3)
                    return admission
                meter = (
                    ticket.plan.meters[admission.failed]
                    if admission.failed < len(ticket.plan.meters)
                    else meter
                )
                retry_after = admission.retry_after
                if time.monotonic() >= deadline:
                    raise _refusal(meter, retry_after)
        finally:
            queue.leave(waiter)
            if not len(queue):
                self._queues.pop(queue_key, None)

    # ------------------------------------------------------------------ deployments

    async def admit_deployment(
        self, ticket: Ticket, deployment: str, chars: int, max_tokens: int | None
    ) -> None:
        """Count an attempt at ``deployment`` against its limits; :class:`DeploymentLimited` if over."""
        meters = self.planner.deployment_meters(ticket.plan, deployment)
        if not meters:
            return
        estimate = _estimate_tokens(chars, max_tokens)
        counters, counted = self._counters(meters, estimate, ticket.lease_id)
        try:
            admission = await self.state.admit(counters)
        except StateUnavailable:
            if self.policy == "closed":
                raise
            return
        if not admission.allowed:
            meter = meters[admission.failed]
            raise DeploymentLimited(
                f"Deployment '{deployment}' is at its limit '{meter.name}' ({meter.describe()}).",
                deployment=deployment,
                limit=meter.name,
                retry_after=admission.retry_after,
            )
        counted.now_ms = admission.now_ms
        counted.deployment = deployment
        ticket.counted.append(counted)

    def release_deployment(self, ticket: Ticket, deployment: str) -> None:
        """The attempt at ``deployment`` failed before answering: free its concurrency slots now."""
        for counted in ticket.counted:
            if counted.deployment == deployment and counted.leases:
                self._release(counted, ticket.lease_id)

    # ------------------------------------------------------------------ after the call

    def _release(self, counted: _Counted, lease_id: str) -> None:
        self.state.submit([Release(key=k, lease_id=lease_id) for k in counted.leases])
        for k in counted.leases:
            queue = self._queues.get(k)
            if queue is not None:
                queue.nudge.set()
        counted.leases = []

    def finish(self, ticket: Ticket) -> None:
        """The call has ended (answered, failed or abandoned): release what it holds. Idempotent."""
        if ticket.finished:
            return
        ticket.finished = True
        self._live.discard(ticket)
        for counted in ticket.counted:
            if counted.leases:
                self._release(counted, ticket.lease_id)

    def settling(self, build: Callable[[], RequestRecord], ticket: Ticket) -> Callable[[], RequestRecord]:
        """``build`` that also settles ``ticket`` with the record it builds.

        The recorder builds records in a worker thread, after the response; the settlement itself
        runs back on the event loop.
        """
        loop = asyncio.get_running_loop()

        def build_and_settle() -> RequestRecord:
            record = build()
            loop.call_soon_threadsafe(self.settle, ticket, record)
            return record

        return build_and_settle

    def settle(self, ticket: Ticket, record: RequestRecord) -> None:
        """Correct the ticket's estimates with the request's real tokens, and charge its cost."""
        served = record.cache not in ("hit", "semantic-hit")
        tokens = record.input_tokens + record.output_tokens if served else 0
        cost = record.cost_usd if served else 0.0
        ops: list[Op] = []
        last = ticket.counted[-1].deployment if ticket.counted else None
        for counted in ticket.counted:
            # The key's counters and the deployment that answered take the real usage; a deployment
            # that failed over took none.
            used = counted.deployment is None or (counted.deployment == last == record.deployment)
            delta = (tokens if used else 0) - counted.estimate
            if delta:
                ops += [
                    Adjust(
                        key=k,
                        kind="window",
                        amount=delta,
                        window_ms=WINDOW_MS,
                        slots=WINDOW_SLOTS,
                        at_ms=counted.now_ms,
                    )
                    for k in counted.tpm
                ]
            if used and cost > 0:
                ops += [Adjust(key=k, kind="period", amount=cost, window_ms=ms) for k, ms in counted.budgets]
        if ops:
            self.state.submit(ops)

    async def run(self) -> None:
        """Renew the leases of calls still in flight (long streams) until cancelled."""
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            ops: list[Op] = [
                Renew(key=k, lease_id=t.lease_id, lease_ms=LEASE_MS)
                for t in list(self._live)
                for counted in t.counted
                for k in counted.leases
            ]
            if ops:
                with contextlib.suppress(Exception):
                    self.state.submit(ops)


def _priority(key: KeyRecord, headers: CIMultiDictProxy[str]) -> int:
    """The key's priority (metadata ``priority``, 0..9), lowered — never raised — by ``x-podium-priority``."""
    try:
        granted = int(key.metadata.get("priority", DEFAULT_PRIORITY))
    except ValueError:
        granted = DEFAULT_PRIORITY
    asked = headers.get("x-podium-priority")
    if asked is None:
        return granted
    try:
        return min(granted, int(asked))
    except ValueError:
        return granted


def _refusal(meter: Meter, retry_after: float | None) -> LimitExceeded:
    if retry_after is None:
        return LimitExceeded(
            f"This request alone exceeds the limit '{meter.name}' ({meter.describe()}); it can never be "
            "admitted under it. Send a smaller request.",
            limit=meter.name,
            retry_after=None,
            code="rate_limit_exceeded",
        )
    wait = max(1, round(retry_after)) if retry_after > 0 else 1
    budget = meter.metric.startswith("usd")
    what = "Budget" if budget else "Limit"
    return LimitExceeded(
        f"{what} '{meter.name}' reached ({meter.describe()}). Retry after {wait} s.",
        limit=meter.name,
        retry_after=float(wait),
        code="budget_exceeded" if budget else "rate_limit_exceeded",
    )
