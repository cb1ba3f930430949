"""What the gateway does for observability, in one object: traces, metrics, sampled evaluation, alerts.

The gateway calls it at four points, each free when its feature is off:

* ``handle`` — :meth:`Telemetry.around` counts requests in flight and opens the root span;
* ``_apply`` — :meth:`pipeline` builds the request path (its steps in spans when sampled), :attr:`instrument` wraps the provider models;
* ``record`` — :meth:`recorded` puts the outcome on the root span and wraps the record builder, so that
  metrics and evaluation sampling happen where the record is built, after the response;
* ``start`` / ``close`` — the evaluation workers and the alert evaluator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from podium.config.model import Config
from podium.config.observability import AlertingSettings, TracingSettings
from podium.evaluation.sampler import LiveEvaluation
from podium.gateway.pipeline import compose
from podium.observability.metrics import Metrics, circuit_value, gauge

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from podium.canonical import Usage
    from podium.collect import Collector
    from podium.gateway.app import Gateway
    from podium.gateway.call import Call
    from podium.gateway.pipeline import Handler, Step
    from podium.observability.tracing import Tracing
    from podium.storage.records import RequestRecord

__all__ = ["Telemetry"]

log = logging.getLogger("podium.observability")

Builder = Callable[[], "RequestRecord"]


class Telemetry:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.metrics = Metrics()
        self.metrics.add_gauges(self._gauges)
        self.tracing: Tracing | None = None
        self.evaluation = LiveEvaluation(gw)
        self.metrics_on = True
        self.on = True  # around() is needed (metrics' in-flight gauge, or tracing)
        self.observing = True  # recorded() is needed
        self.in_flight = 0
        self._started = False
        self._batch = False
        from podium.alerting.engine import AlertEngine

        self.alerts = AlertEngine(gw)

    # ------------------------------------------------------------------ configuration

    def configure(self, config: Config) -> None:
        obs = config.observability
        self._configure_tracing(obs.tracing)
        self.metrics_on = obs.metrics.enabled
        self.metrics.configure({name: p.type for name, p in config.providers.items()})
        self.evaluation.configure(config.evaluation)
        if self._batch:
            self.evaluation.active = False
        if self._started and self.evaluation.active and not self.evaluation._tasks:
            self.evaluation.start()
        self.alerts.configure(config.alerting if not self._batch else AlertingSettings(enabled=False))
        self.on = self.metrics_on or self.tracing is not None
        self.observing = self.on or self.evaluation.active

    def _configure_tracing(self, settings: TracingSettings) -> None:
        old = self.tracing
        if settings.enabled and old is not None and old.settings == settings:
            return
        keys = self.gw.keys
        if settings.enabled:
            from podium.observability.tracing import Tracing

            self.tracing = Tracing(settings)
            # The key lookup is synchronous and in memory: a span around the instance's method.
            keys.authenticate = self.tracing.wrap_sync(type(keys).authenticate.__get__(keys), "podium.auth")  # type: ignore[method-assign]
        else:
            self.tracing = None
            keys.__dict__.pop("authenticate", None)
        if old is not None:
            # Flushing the old exporter may wait on the network: not on the event loop.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().run_in_executor(None, old.shutdown)

    def batch_mode(self) -> None:
        """A command-line gateway (``podium eval run``): no alert evaluation, no live sampling."""
        self._batch = True
        self.evaluation.active = False
        self.alerts.configure(AlertingSettings(enabled=False))
        self.observing = self.on

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[dict[str, Any] | None]:
        """A span for work outside the request path — a workflow run, one of its steps: nested under
        the current span, else the root of a new trace. Yields a dict of attributes to add to while it
        runs, or None when tracing is off or the trace is not sampled (then it costs nothing)."""
        if self.tracing is None:
            yield None
            return
        with self.tracing.span(name, attributes) as a:
            yield a

    def pipeline(self, steps: Sequence[Step], terminal: Handler) -> Handler:
        """The request path: ``steps`` then ``terminal``, each step in a span when the request's trace
        is sampled (the plain path otherwise, and always when tracing is off)."""
        if self.tracing is None:
            return compose(steps, terminal)
        return self.tracing.pipeline(steps, terminal)

    @property
    def instrument(self) -> Callable[..., Any] | None:
        """Wraps each deployment's models so every attempt is a span (None: tracing off)."""
        return self.tracing.instrument if self.tracing is not None else None

    # ------------------------------------------------------------------ the request path

    async def around(
        self, request: web.BaseRequest, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.in_flight += 1
        try:
            if self.tracing is not None:
                return await self.tracing.serve(request, handler)
            return await handler(request)
        finally:
            self.in_flight -= 1

    def recorded(
        self, call: Call, status: int, collector: Collector | None, usage: Usage | None, build: Builder
    ) -> Builder:
        """Called as the call is recorded: span attributes now, metrics and sampling when it is built."""
        tracing = self.tracing
        if tracing is not None:
            tracing.recorded(call, status, collector, usage)
        metrics = self.metrics if self.metrics_on else None
        evaluation = self.evaluation if self.evaluation.active else None
        if metrics is None and evaluation is None:
            return build

        def build_and_observe() -> RequestRecord:
            record = build()
            if metrics is not None:
                metrics.observe(record)
            if evaluation is not None:
                evaluation.offer(record, call, collector)
            return record

        return build_and_observe

    # ------------------------------------------------------------------ live gauges

    def _gauges(self) -> Iterator[Metric]:
        gw = self.gw
        yield gauge(
            "podium_requests_in_flight", "HTTP requests being served.", samples=[((), self.in_flight)]
        )
        queues = getattr(gw.limiter, "_queues", {})
        yield gauge(
            "podium_limit_queue_depth",
            "Requests waiting in limit queues.",
            samples=[((), sum(len(q) for q in queues.values()))],
        )
        import time

        now = time.time()
        yield gauge(
            "podium_circuit_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
            ["deployment"],
            [((name,), circuit_value(h.state(now))) for name, h in gw.health.items()],
        )
        yield gauge(
            "podium_evaluation_backlog",
            "Sampled answers waiting for (or under) evaluation.",
            samples=[((), self.evaluation.backlog)],
        )
        yield gauge(
            "podium_evaluation_dropped",
            "Sampled answers dropped because the queue was full (since start).",
            samples=[((), self.evaluation.dropped)],
        )
        yield gauge(
            "podium_request_records_dropped",
            "Request records dropped because the buffer was full (since start).",
            samples=[((), gw.recorder.dropped)],
        )
        yield gauge(
            "podium_alerts_firing",
            "Alerts firing, per rule (as last evaluated by this replica).",
            ["rule"],
            [((rule,), float(n)) for rule, n in self.alerts.firing_counts().items()],
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._started = True
        if self.evaluation.active:
            self.evaluation.start()
        self.alerts.start()

    async def close(self) -> None:
        await self.alerts.close()
        await self.evaluation.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
