"""Live health of deployments: circuit breakers and the statistics routing chooses by.

One :class:`DeploymentHealth` per deployment holds its breaker (closed → open → half-open → closed)
and its live statistics: moving averages (EWMA) of latency and time to first token, the error rate
over a window, calls in flight, and requests and tokens in the current minute (for RPM/TPM capacity).

:class:`LocalHealth` keeps them in this process — right for one replica. The Redis board
(:mod:`podium.routing.redis_health`) shares them between replicas; it keeps the same local objects for
decisions on the request path (which therefore never wait on Redis) and reconciles them with Redis in
the background every ``routing.sync_interval_ms``: a circuit opened by one replica is honoured by the
others from their next exchange on.

Breaker rules (``routing.breaker``): ``consecutive_failures`` failures in a row, or an error rate of at
least ``error_rate`` over ``window_seconds`` once ``min_requests`` calls were made, open the circuit for
``open_seconds``. Then ``half_open_probes`` calls are let through (per replica); that many successes
close it, a failure opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol

from podium.config.routing import Breaker

__all__ = ["Admit", "DeploymentHealth", "HealthBoard", "LocalHealth", "Snapshot"]

BreakerState = Literal["closed", "open", "half_open"]
_SLOTS = 10  # the error-rate window is kept as this many slots


@dataclass(frozen=True, slots=True)
class Admit:
    """Whether a deployment may be called now; ``probe`` when the call tests a half-open circuit."""

    ok: bool
    probe: bool = False
    reason: str = ""
    retry_in: float = 0.0  # seconds until an open circuit lets a probe through


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What routing sees of one deployment (for explanations and the admin view)."""

    state: BreakerState
    latency_ms: float | None
    ttft_ms: float | None
    error_rate: float
    calls: int
    in_flight: int
    minute_requests: int
    minute_tokens: int
    consecutive_failures: int


_ADMITTED = Admit(ok=True)


class DeploymentHealth:
    """Breaker and statistics of one deployment in this process (plus what other replicas reported)."""

    __slots__ = (
        "alpha",
        "closed_event",
        "consecutive",
        "in_flight",
        "latency",
        "minute",
        "minute_requests",
        "minute_tokens",
        "open_until",
        "opened_event",
        "probe_successes",
        "probes",
        "remote_in_flight",
        "settings",
        "slot_width",
        "slots",
        "ttft",
    )

    def __init__(self, settings: Breaker, alpha: float) -> None:
        self.settings = settings
        self.alpha = alpha
        self.open_until = 0.0  # epoch seconds; 0: closed
        self.consecutive = 0
        self.slot_width = settings.window_seconds / _SLOTS
        self.slots: dict[int, list[int]] = {}  # slot number -> [ok, failed]
        self.latency: float | None = None
        self.ttft: float | None = None
        self.in_flight = 0
        self.remote_in_flight = 0
        self.minute = 0
        self.minute_requests = 0
        self.minute_tokens = 0
        self.probes = 0  # probes let through since the circuit went half-open
        self.probe_successes = 0
        self.opened_event = 0.0  # an open_until this process decided, not yet shared
        self.closed_event = False  # a close this process decided, not yet shared

    # -------------------------------------------------------------- breaker

    def state(self, now: float) -> BreakerState:
        if self.open_until == 0.0:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    def admit(self, now: float) -> Admit:
        if self.open_until == 0.0 or not self.settings.enabled:
            return _ADMITTED
        if now < self.open_until:
            return Admit(ok=False, reason="circuit open", retry_in=self.open_until - now)
        if self.probes < self.settings.half_open_probes:
            self.probes += 1
            return Admit(ok=True, probe=True)
        return Admit(ok=False, reason="circuit half-open, probe in progress", retry_in=self.slot_width)

    def _open(self, now: float) -> None:
        self.open_until = now + self.settings.open_seconds
        self.opened_event = self.open_until
        self.closed_event = False
        self.probes = 0
        self.probe_successes = 0

    def _close(self) -> None:
        self.open_until = 0.0
        self.consecutive = 0
        self.slots.clear()
        self.probes = 0
        self.probe_successes = 0
        self.closed_event = True
        self.opened_event = 0.0

    def window(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the error-rate window."""
        current = int(now / self.slot_width)
        calls = failed = 0
        for slot, (ok, bad) in list(self.slots.items()):
            if slot <= current - _SLOTS:
                del self.slots[slot]
            else:
                calls += ok + bad
                failed += bad
        return calls, failed

    def result(self, ok: bool, now: float, *, probe: bool = False) -> None:
        """Count one finished call for the breaker."""
        slot = self.slots.setdefault(int(now / self.slot_width), [0, 0])
        if ok:
            slot[0] += 1
            self.consecutive = 0
            if self.open_until and now >= self.open_until:
                self.probe_successes += 1
                if self.probe_successes >= self.settings.half_open_probes:
                    self._close()
            return
        slot[1] += 1
        self.consecutive += 1
        if not self.settings.enabled:
            return
        if self.open_until:
            if probe or now >= self.open_until:
                self._open(now)  # a failed probe: open again for another period
            return
        self.check(now)

    def check(self, now: float) -> None:
        """Open the circuit if the counts say so (after local results, or after a sync)."""
        if not self.settings.enabled or self.open_until:
            return
        s = self.settings
        if self.consecutive >= s.consecutive_failures:
            self._open(now)
            return
        calls, failed = self.window(now)
        if calls >= s.min_requests and failed / calls >= s.error_rate:
            self._open(now)

    # -------------------------------------------------------------- statistics

    def started(self) -> None:
        self.in_flight += 1

    def finished(self, latency_ms: float | None, ttft_ms: float | None) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        a = self.alpha
        if latency_ms is not None:
            self.latency = (
                latency_ms if self.latency is None else self.latency + a * (latency_ms - self.latency)
            )
        if ttft_ms is not None:
            self.ttft = ttft_ms if self.ttft is None else self.ttft + a * (ttft_ms - self.ttft)

    def count(self, now: float, requests: int, tokens: int) -> None:
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.minute_requests, self.minute_tokens = minute, 0, 0
        self.minute_requests += requests
        self.minute_tokens += tokens

    def usage(self, now: float) -> tuple[int, int]:
        """(requests, tokens) in the current clock minute."""
        if int(now // 60) != self.minute:
            return 0, 0
        return self.minute_requests, self.minute_tokens

    def snapshot(self, now: float) -> Snapshot:
        calls, failed = self.window(now)
        requests, tokens = self.usage(now)
        return Snapshot(
            state=self.state(now),
            latency_ms=self.latency,
            ttft_ms=self.ttft,
            error_rate=failed / calls if calls else 0.0,
            calls=calls,
            in_flight=self.in_flight + self.remote_in_flight,
            minute_requests=requests,
            minute_tokens=tokens,
            consecutive_failures=self.consecutive,
        )


class HealthBoard(Protocol):
    """Where routing reads and reports deployment health. Nothing here waits on I/O."""

    def get(self, deployment: str) -> DeploymentHealth: ...

    def begin(self, deployment: str) -> None:
        """A call to ``deployment`` starts: one more in flight, one more request this minute."""
        ...

    def report(
        self,
        deployment: str,
        *,
        ok: bool | None,
        probe: bool,
        latency_ms: float | None,
        ttft_ms: float | None,
        tokens: int,
    ) -> None:
        """A call finished. ``ok`` None: it does not count for the breaker (the request's own fault)."""
        ...

    def status(self) -> dict[str, object]:
        """For ``/readyz``: ``{"backend": ..., "ok": bool, ...}``."""
        ...

    def usable(self) -> bool:
        """False when the shared state is down and ``state.on_unavailable`` is ``closed``."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalHealth:
    """Every deployment's health in this process: one replica's view, shared with nobody."""

    def __init__(self, settings: Breaker, *, alpha: float = 0.2) -> None:
        self.settings = settings
        self.alpha = alpha
        self._by_name: dict[str, DeploymentHealth] = {}

    def configure(self, settings: Breaker, alpha: float) -> None:
        """A reload: new rules for every deployment, keeping what was learnt."""
        self.settings = settings
        self.alpha = alpha
        for h in self._by_name.values():
            h.settings = settings
            h.alpha = alpha
            h.slot_width = settings.window_seconds / _SLOTS

    def get(self, deployment: str) -> DeploymentHealth:
        h = self._by_name.get(deployment)
        if h is None:
            h = self._by_name[deployment] = DeploymentHealth(self.settings, self.alpha)
        return h

    def items(self) -> list[tuple[str, DeploymentHealth]]:
        return list(self._by_name.items())

    def begin(self, deployment: str) -> None:
        h = self.get(deployment)
        h.started()
        h.count(time.time(), 1, 0)
        self._begun(deployment)

    def _begun(self, deployment: str) -> None:
        """A hook for the shared board."""

    def report(
        self,
        deployment: str,
        *,
        ok: bool | None,
        probe: bool,
        latency_ms: float | None,
        ttft_ms: float | None,
        tokens: int,
    ) -> None:
        h = self.get(deployment)
        now = time.time()
        h.finished(latency_ms if ok else None, ttft_ms if ok else None)
        h.count(now, 0, tokens)
        if ok is not None:
            h.result(ok, now, probe=probe)
        elif probe and h.probes:
            h.probes -= 1  # a probe that proved nothing (cancelled, the request's fault): let another try
        self._reported(deployment, h, ok, latency_ms if ok else None, ttft_ms if ok else None, tokens)

    def _reported(
        self,
        deployment: str,
        h: DeploymentHealth,
        ok: bool | None,
        latency_ms: float | None,
        ttft_ms: float | None,
        tokens: int,
    ) -> None:
        """A hook for the shared board: remember what to tell the other replicas."""

    def status(self) -> dict[str, object]:
        return {"backend": "memory", "ok": True}

    def usable(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
