"""The alert evaluator: every ``alerting.interval_seconds``, on one replica at a time.

Each replica tries to take (or renew) the ``alerting`` lease in storage; the holder judges every rule
(:mod:`podium.alerting.rules`), compares each verdict with the stored state of its (rule, group), and
on a change — or, with ``repeat_seconds``, a long-firing alert — notifies the rule's channels and
stores the new state with an event in one transaction. State lives in storage, not in the process, so
when the lease moves to another replica it carries on without repeating or losing a notification:
that is the deduplication. Resolving is the same path: a firing alert whose verdict is no longer
firing (or whose group has no data left in the window) resolves and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

import aiohttp
import msgspec

from podium.alerting.notifiers import Notice, deliver
from podium.alerting.rules import Verdict, judge_rule
from podium.config.observability import AlertingSettings, AlertRule
from podium.storage.observability_records import AlertEvent, AlertState

if TYPE_CHECKING:
    from podium.gateway.app import Gateway

__all__ = ["LEASE", "AlertEngine"]

log = logging.getLogger("podium.alerting")

LEASE = "alerting"


class AlertEngine:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.settings = AlertingSettings()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._firing: dict[str, int] = {}
        self.evaluations = 0  # rounds this replica ran as the lease holder

    def configure(self, settings: AlertingSettings) -> None:
        self.settings = settings
        self._wake.set()  # a reload re-evaluates at once

    @property
    def active(self) -> bool:
        return self.settings.enabled and bool(self.settings.rules)

    def firing_counts(self) -> dict[str, int]:
        return dict(self._firing)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="podium-alerting")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            if self.active:
                try:
                    await self.evaluate_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("evaluating alert rules failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.interval_seconds)

    async def evaluate_once(self, now: float | None = None) -> list[AlertEvent]:
        """One round, if this replica holds the lease; the events it produced."""
        now = time.time() if now is None else now
        store = self.gw.storage.alerts
        ttl = max(3 * self.settings.interval_seconds, 2.0)
        if not await store.acquire_lease(LEASE, self.holder, ttl=ttl, now=now):
            return []
        self.evaluations += 1
        states = {(s.rule, s.group): s for s in await store.states()}
        events: list[AlertEvent] = []
        firing: dict[str, int] = {}
        for name, rule in self.settings.rules.items():
            verdicts = await judge_rule(self.gw.storage.usage, rule, now)
            seen = set()
            for v in verdicts:
                seen.add(v.group)
                event = await self._settle(name, rule, v, states.get((name, v.group)), now)
                if event is not None:
                    events.append(event)
                if v.firing:
                    firing[name] = firing.get(name, 0) + 1
            for (rule_name, group), state in states.items():
                if rule_name == name and group not in seen and state.status == "firing":
                    gone = Verdict(group, False, None, f"{rule.metric}: no data in the window", 0)
                    event = await self._settle(name, rule, gone, state, now)
                    if event is not None:
                        events.append(event)
        self._firing = firing
        return events

    async def _settle(
        self, name: str, rule: AlertRule, v: Verdict, state: AlertState | None, now: float
    ) -> AlertEvent | None:
        was_firing = state is not None and state.status == "firing"
        if v.firing and not was_firing:
            kind = "fired"
        elif v.firing and was_firing:
            repeat = self.settings.repeat_seconds
            assert state is not None
            last = state.notified_at or state.since
            if repeat is None or now - last < repeat:
                return None
            kind = "repeated"
        elif was_firing:
            kind = "resolved"
        else:
            return None
        since = state.since if (kind == "repeated" and state is not None) else now
        notice = Notice(
            kind=kind,
            rule=name,
            group=v.group,
            group_by=rule.group_by,
            severity=rule.severity,
            metric=rule.metric,
            value=v.value,
            condition=v.condition,
            since=since,
            at=now,
            description=rule.description,
        )
        deliveries = await self._notify(rule, notice)
        new_state = AlertState(
            rule=name,
            group=v.group,
            status="firing" if v.firing else "resolved",
            value=v.value,
            condition=v.condition,
            since=since,
            updated_at=now,
            notified_at=now,
            severity=rule.severity,
        )
        event = AlertEvent(
            rule=name,
            group=v.group,
            kind=kind,  # type: ignore[arg-type]  # one of the three literals above
            value=v.value,
            condition=v.condition,
            message=notice.text(),
            severity=rule.severity,
            at=now,
            deliveries=deliveries,
        )
        log.warning("alert %s", notice.text())
        return await self.gw.storage.alerts.record(new_state, event)

    async def _notify(self, rule: AlertRule, notice: Notice) -> dict[str, str]:
        if not rule.channels:
            return {}
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        channels = [(n, self.settings.channels[n]) for n in rule.channels if n in self.settings.channels]
        results = await asyncio.gather(*(deliver(self._session, c, notice) for _, c in channels))
        out = {n: r for (n, _), r in zip(channels, results, strict=True)}
        for n, r in out.items():
            if r != "ok":
                log.error("alert channel %s failed: %s", n, r)
        return out


def describe_rules(settings: AlertingSettings) -> dict[str, object]:
    """The configured rules, for the admin view."""
    return {name: msgspec.to_builtins(rule) for name, rule in settings.rules.items()}
