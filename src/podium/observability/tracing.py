"""OpenTelemetry traces: a root span per request, a child per pipeline step, a child per provider attempt.

Built only when ``observability.tracing.enabled``: with it off nothing here is imported and no span
is ever made. The shape of one chat request's trace::

    POST /v1/chat/completions              (SERVER; GenAI + podium.* attributes)
    ├── podium.auth                         the key lookup
    ├── podium.prompt / .authorize / .limits / .guardrails / .resolve / .cache / .routing …
    ├── chat gpt-4o-mini                    (CLIENT) attempt 1: error.type, status ERROR
    └── chat gpt-4o-mini                    (CLIENT) attempt 2: gen_ai.usage.*, finish reasons

Pipeline steps are middleware — each wraps the rest of the path — but their spans are siblings: a
step's span covers its own work up to the moment it hands the call on, so a trace reads as the
sequence of steps instead of a staircase; the next step's entry is the previous one's end, so a step
costs one clock reading. Provider attempts are models that wrap models (the conventions'
instrumentation seam), so every adapter, present and future, is traced without edits; an attempt
that has begun passes its events through untouched and is completed from the collected answer when
the call is recorded (docs/decisions/0078).

**Why spans are recorded as plain data.** The OpenTelemetry SDK's ``start_span`` costs tens of
microseconds per span in Python (sampler, locked attribute maps, processor callbacks); a request
has seven or more. So on the request path Podium only notes each finished span as one tuple (ids,
times, one attributes dict built in one go) in the request's :class:`_Trace` — no span objects, no
context-variable changes per step — and when the root ends hands the list to the OTLP exporter's
queue (a deque append: encoding and sending happen in its thread, in batches). SDK span processors
(an in-memory exporter in tests) get the SDK's ``ReadableSpan`` objects, made after the response.
Exporters, sampling rules and the GenAI attribute names are OpenTelemetry's; only the bookkeeping is
Podium's. Sampling is decided once, at the root (the caller's sampled flag, else ``sample_ratio`` on
the trace id, as ``TraceIdRatioBased`` does); an unsampled request costs one check per step and
attempt, records nothing, and still passes its trace on.

A W3C ``traceparent`` from the caller is continued; the request's ``traceparent`` (its root span,
and each sampled attempt's own span) is passed upstream through
:data:`podium.observability.propagation.TRACEPARENT`, formatted only if an HTTP request reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from podium import __version__
from podium.accounting import pricing
from podium.canonical import (
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    Event,
    ResponseStart,
    Usage,
)
from podium.config.observability import TracingSettings
from podium.errors import PodiumError, ProviderError
from podium.gateway.pipeline import compose
from podium.observability import conventions as c
from podium.observability.otlp import OtlpExporter, SpanData
from podium.observability.propagation import TRACEPARENT, Traceparent
from podium.observability.redact import messages_json, redact

if TYPE_CHECKING:
    from aiohttp import web

    from podium.collect import Collector
    from podium.gateway.call import Call
    from podium.gateway.pipeline import Handler, Step
    from podium.providers.registry import Models

__all__ = ["Tracing"]

_UNTRACED = frozenset({"/metrics", "/healthz", "/readyz"})
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)
_OK: tuple[int, str] = (0, "")  # (status code: 0 unset, 2 error; message)
_INTERNAL, _SERVER, _CLIENT = SpanKind.INTERNAL.value, SpanKind.SERVER.value, SpanKind.CLIENT.value
_rand = random.Random()
_getrandbits = _rand.getrandbits
_now = time.time_ns
_NAMES: dict[tuple[str, str], str] = {}  # (method, path) -> the root span's name
_REASONS: dict[tuple[str, ...], tuple[str, ...]] = {}

# Step function (or owning class) name -> the pipeline concept it implements, for span names.
_STEP_NAMES = {
    "authorize_model": "authorize",
    "limit": "limits",
    "route": "routing",
    "rag": "retrieval",
    "Guardrails": "guardrails",
    "AnswerCache": "cache",
}

Attributes = dict[str, Any]


def _reasons(finishes: list[str]) -> tuple[str, ...]:
    """Finish reasons as a shared tuple: hashable (the exporter keeps its encoding) and, being old,
    no longer tracked by the garbage collector — so the attributes dict holding it is not either."""
    key = tuple(finishes)
    found = _REASONS.get(key)
    if found is None:
        if len(_REASONS) >= 256:
            _REASONS.clear()
        found = _REASONS[key] = key
    return found


def _new_id() -> int:
    return _getrandbits(64) or 1


class _Trace:
    """One request's (or workflow run's) spans, noted as tuples while it runs."""

    __slots__ = ("attempts", "emitted", "root", "root_attributes", "sampled", "spans", "trace_id")

    def __init__(self, trace_id: int, root: int, sampled: bool) -> None:
        self.trace_id = trace_id
        self.root = root
        self.sampled = sampled
        self.spans: list[SpanData] = []
        self.root_attributes: Attributes | None = None  # set by Tracing.recorded on an HTTP root
        self.attempts: list[_Attempt] = []  # provider attempts begun and not yet recorded (spans open)
        self.emitted = False

    def traceparent(self, span_id: int) -> str:
        return f"00-{self.trace_id:032x}-{span_id:016x}-{'01' if self.sampled else '00'}"

    def __str__(self) -> str:  # what an upstream request made outside any attempt span carries
        return self.traceparent(self.root)


_current: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("podium_trace", default=None)
_parent: contextvars.ContextVar[int | None] = contextvars.ContextVar("podium_parent_span", default=None)


class _Run:
    """One sampled run of the pipeline: the step entered and not yet handed on (its name and start), or
    none. Steps run one after another, so one slot is enough (see :meth:`Tracing.pipeline`)."""

    __slots__ = ("name", "parent", "start", "trace")

    def __init__(self, trace: _Trace, parent: int) -> None:
        self.trace = trace
        self.parent = parent  # the steps' parent span: the request's root, or a workflow step's span
        self.name: str | None = None
        self.start = 0


_current_run: contextvars.ContextVar[_Run | None] = contextvars.ContextVar(
    "podium_pipeline_run", default=None
)


def _parse_traceparent(value: str) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of a W3C traceparent; None if it is malformed."""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, bool(flags & 1)


def _step_name(step: Any) -> str:
    owner = getattr(step, "__self__", None)
    name = type(owner).__name__ if owner is not None else getattr(step, "__name__", "step")
    return "podium." + _STEP_NAMES.get(name, name)


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, PodiumError):
        return exc.code or type(exc).__name__
    return type(exc).__name__


def _error(exc: BaseException) -> tuple[int, str]:
    return (StatusCode.ERROR.value, f"{_error_type(exc)}: {str(exc)[:200]}")


class Tracing:
    """The tracing of one gateway: its span processors, its sampling, its span recording."""

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.resource = Resource.create({"service.name": settings.service_name})
        self.scope = InstrumentationScope("podium", __version__)
        self.processors: list[SpanProcessor] = []  # SDK span processors (an in-memory exporter in tests)
        self.exporter: OtlpExporter | None = None
        if settings.otlp_endpoint:
            resource = {"service.name": settings.service_name, "telemetry.sdk.name": "podium"}
            resource["telemetry.sdk.language"] = "python"
            self.exporter = OtlpExporter(
                settings.otlp_endpoint, settings.otlp_headers, resource, ("podium", __version__)
            )
        self._bound = int(settings.sample_ratio * (1 << 64))  # TraceIdRatioBased's rule
        self.capture = settings.capture_content

    def add_span_processor(self, processor: SpanProcessor) -> None:
        self.processors.append(processor)

    def shutdown(self) -> None:
        if self.exporter is not None:
            self.exporter.shutdown()
        for p in self.processors:
            p.shutdown()

    # ------------------------------------------------------------------ recording and emitting

    def _begin(self, parent: str | None) -> tuple[_Trace, int | None]:
        found = _parse_traceparent(parent) if parent else None
        if found is not None:
            trace_id, parent_id, sampled = found
            return _Trace(trace_id, _new_id(), sampled), parent_id
        trace_id = _rand.getrandbits(128) or 1
        return _Trace(trace_id, _new_id(), (trace_id & 0xFFFFFFFFFFFFFFFF) < self._bound), None

    def _emit(
        self,
        tr: _Trace,
        spans: Sequence[SpanData],
    ) -> None:
        """Hand finished spans to the OTLP exporter, and to SDK processors as ReadableSpans."""
        if self.exporter is not None:
            self.exporter.add(tr.trace_id, spans)
        if not self.processors:
            return
        trace_id = tr.trace_id
        for name, span_id, parent_id, kind, start, end, attributes, code, message in spans:
            span = ReadableSpan(
                name=name,
                context=SpanContext(trace_id, span_id, False, _SAMPLED),
                # Only the root's parent can be remote: the caller's span, from its traceparent.
                parent=SpanContext(trace_id, parent_id, span_id == tr.root, _SAMPLED)
                if parent_id is not None
                else None,
                resource=self.resource,
                attributes=dict(attributes) if attributes else None,
                kind=SpanKind(kind),
                status=Status(StatusCode(code), message or None) if code else Status(StatusCode.UNSET),
                start_time=start,
                end_time=end,
                instrumentation_scope=self.scope,
            )
            for p in self.processors:
                p.on_end(span)

    def _emit_later(self, tr: _Trace, spans: Sequence[SpanData]) -> None:
        try:
            asyncio.get_running_loop().call_soon(self._emit, tr, spans)
        except RuntimeError:  # no loop (a synchronous caller): emit now
            self._emit(tr, spans)

    def _finish(self, tr: _Trace) -> None:
        while tr.attempts:  # an attempt whose call was never recorded: it ends with its trace
            tr.attempts.pop().end()
        tr.emitted = True
        spans = tr.spans
        if not spans:
            return
        tr.spans = []
        if self.processors:  # SDK processors (tests): ReadableSpans are made after the response
            self._emit_later(tr, spans)
        elif self.exporter is not None:  # a deque append; encoding and sending are the exporter thread's
            self.exporter.add(tr.trace_id, spans)

    def _add(
        self,
        tr: _Trace,
        name: str,
        span_id: int,
        parent_id: int | None,
        kind: int,
        start: int,
        attributes: Attributes | None = None,
        status: tuple[int, str] = _OK,
    ) -> None:
        record = (name, span_id, parent_id, kind, start, _now(), attributes, status[0], status[1])
        if tr.emitted:  # a span that outlived its trace's root (an abandoned stream closed late)
            self._emit_later(tr, (record,))
        else:
            tr.spans.append(record)

    # ------------------------------------------------------------------ the request

    async def serve(
        self, request: web.BaseRequest, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Run ``handler`` inside the request's root span, continuing the caller's trace if it sent one."""
        path = request.path
        if path in _UNTRACED:
            return await handler(request)
        tr, remote_parent = self._begin(request.headers.get("traceparent"))
        token = _current.set(tr)
        passed = TRACEPARENT.set(tr)  # upstream requests continue the trace, sampled or not
        if not tr.sampled:
            try:
                return await handler(request)
            finally:
                TRACEPARENT.reset(passed)
                _current.reset(token)
        start = _now()
        status = _OK
        code = 0
        try:
            response = await handler(request)
            code = response.status
            if code >= 500:
                status = (StatusCode.ERROR.value, f"HTTP {code}")
            return response
        except BaseException as exc:
            status = _error(exc)
            raise
        finally:
            TRACEPARENT.reset(passed)
            _current.reset(token)
            method = request.method
            name = _NAMES.get((method, path))
            if name is None:
                if len(_NAMES) >= 1024:
                    _NAMES.clear()
                route = path if path.startswith("/v1/") else "/".join(path.split("/")[:3])
                name = _NAMES[(method, path)] = f"{method} {route}"
            # The attributes recorded() noted for the call, if any: the root's dict, completed here.
            attributes = tr.root_attributes if tr.root_attributes is not None else {}
            attributes["http.request.method"] = method
            attributes["url.path"] = path
            if code:
                attributes["http.response.status_code"] = code
            if status is _OK and attributes.get(c.ERROR_TYPE) == "client_closed":
                status = (StatusCode.ERROR.value, "client_closed")
            tr.spans.append((name, tr.root, remote_parent, _SERVER, start, _now(), attributes, *status))
            self._finish(tr)

    def recorded(self, call: Call, status: int, collector: Collector | None, usage: Usage | None) -> None:
        """Note what the call became: its attempt's span completed, and the attributes (GenAI and
        podium.*) of its request's root span."""
        tr = _current.get()
        if tr is None or not tr.sampled:
            return
        if tr.attempts:
            request = call.chat
            for attempt in [t for t in tr.attempts if t.request is request]:
                tr.attempts.remove(attempt)
                error = call.error if isinstance(call.error, ProviderError) else None
                if status == 499:
                    attempt.a["podium.abandoned"] = True
                attempt.answered(collector, error)
        cand = call.candidate
        usage = usage or (collector.usage if collector is not None else None)
        cost = None
        if cand is not None and cand.price is not None and usage is not None:
            cost = pricing.cost(cand.price, usage)
        a: Attributes = {
            c.OPERATION: c.operation_name(call.api),
            c.REQUEST_MODEL: call.model,
            "podium.request_id": call.id,
            "podium.tenant": call.principal.tenant,
            "podium.key_id": call.principal.id,
            "podium.attempts": call.attempts,
        }
        if cand is not None:
            a[c.PROVIDER] = c.provider_name(cand.provider_type)
            a["podium.deployment"] = cand.deployment
            a[c.RESPONSE_MODEL] = cand.upstream_model
        if call.target is not None and call.target.route is not None:
            a["podium.route"] = call.target.route
        if call.route_reason is not None:
            a["podium.route.reason"] = call.route_reason
        if call.cache is not None:
            a["podium.cache"] = call.cache
        if call.prompt_name is not None:
            a["podium.prompt.name"] = call.prompt_name
            a["podium.prompt.version"] = call.prompt_version or 0
        if call.guardrails:
            a["podium.guardrails.verdicts"] = tuple(
                f"{v.scanner}:{v.stage}:{v.action}" for v in call.guardrails
            )
        if call.error is not None:
            a[c.ERROR_TYPE] = call.error.code or type(call.error).__name__
        elif status == 499:
            a[c.ERROR_TYPE] = "client_closed"
        if usage is not None:
            a[c.INPUT_TOKENS] = usage.input_tokens
            a[c.OUTPUT_TOKENS] = usage.output_tokens
        if cost is not None:
            a["podium.cost_usd"] = cost
        if self.capture:
            if call.chat is not None:
                a[c.INPUT_MESSAGES] = messages_json(call.chat.messages)
            if collector is not None:
                a[c.OUTPUT_MESSAGES] = redact(collector.output_text())
        tr.root_attributes = a

    # ------------------------------------------------------------------ spans for other work

    @contextlib.contextmanager
    def span(self, name: str, attributes: Attributes | None = None) -> Iterator[Attributes | None]:
        """A span around work outside the request path (a workflow run, a step): a new trace when none
        is current. Yields its attributes dict (add to it while it runs), or None when not sampled."""
        tr = _current.get()
        token = passed = None
        if tr is None:
            tr, _ = self._begin(None)
            token = _current.set(tr)
            passed = TRACEPARENT.set(tr)
            span_id, parent_id = tr.root, None
        else:
            span_id, parent_id = _new_id(), _parent.get() or tr.root
        if not tr.sampled:
            try:
                yield None
            finally:
                if token is not None and passed is not None:
                    TRACEPARENT.reset(passed)
                    _current.reset(token)
            return
        a: Attributes = dict(attributes or {})
        start = _now()
        status = _OK
        inner = _parent.set(span_id)
        try:
            yield a
        except BaseException as exc:
            status = _error(exc)
            raise
        finally:
            _parent.reset(inner)
            self._add(tr, name, span_id, parent_id, _INTERNAL, start, a, status)
            if token is not None and passed is not None:
                TRACEPARENT.reset(passed)
                _current.reset(token)
                self._finish(tr)

    # ------------------------------------------------------------------ steps

    def pipeline(self, steps: Sequence[Step], terminal: Handler) -> Handler:
        """``steps`` then ``terminal``, built twice: as they are, for a request whose trace is not
        sampled (no check per step), and with each step in a span, for one that is: a first step that
        opens the run, each step wrapped in a plain function (no coroutine of ours in the request's
        await chain), and a last one marking the hand-over to the executor. A step hands the call on
        by calling the next, so the moment the next step is entered is the moment the one before
        ends: one clock reading and one span per step."""
        plain = compose(steps, terminal)
        traced = compose([self._open_run, *(self._step(s) for s in steps), self._executor], terminal)

        def handler(call: Call) -> Awaitable[Any]:
            tr = _current.get()
            return traced(call) if tr is not None and tr.sampled else plain(call)

        return handler

    def _open_run(self, call: Call, call_next: Handler) -> Awaitable[Any]:
        tr = _current.get()
        assert tr is not None  # the traced path is taken only in a sampled trace
        return self._steps_of(_Run(tr, _parent.get() or tr.root), call, call_next)

    async def _steps_of(self, run: _Run, call: Call, call_next: Handler) -> Any:
        token = _current_run.set(run)
        try:
            result = await call_next(call)
        except BaseException as exc:
            if run.name is not None:  # the step that raised, before handing on
                attributes = {c.ERROR_TYPE: _error_type(exc)}
                self._add(
                    run.trace, run.name, _new_id(), run.parent, _INTERNAL, run.start, attributes, _error(exc)
                )
            raise
        finally:
            _current_run.reset(token)
        if run.name is not None:  # a step answered by itself (a cache hit, a refusal)
            self._add(run.trace, run.name, _new_id(), run.parent, _INTERNAL, run.start)
        return result

    def _step(self, step: Step) -> Step:
        name = _step_name(step)
        late = self._emit_later

        def traced(call: Call, call_next: Handler) -> Awaitable[Any]:
            run = _current_run.get()
            if run is None:  # outside the run's task (cannot happen in the traced path): the bare step
                return step(call, call_next)
            now = _now()
            if run.name is not None:  # the step before handed the call on: its span ends as this one begins
                tr = run.trace
                span = (run.name, _getrandbits(64) or 1, run.parent, _INTERNAL, run.start, now, None, 0, "")
                if tr.emitted:
                    late(tr, (span,))
                else:
                    tr.spans.append(span)
            run.name = name
            run.start = now
            return step(call, call_next)

        traced.__name__ = getattr(step, "__name__", "step")
        return traced

    def _executor(self, call: Call, call_next: Handler) -> Awaitable[Any]:
        """The last step handed the call to the executor: its span ends."""
        run = _current_run.get()
        if run is not None and run.name is not None:
            self._add(run.trace, run.name, _new_id(), run.parent, _INTERNAL, run.start)
            run.name = None
        return call_next(call)

    def wrap_sync(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        """A span around a synchronous call (the key lookup)."""
        add = self._add

        def traced(*args: Any, **kwargs: Any) -> Any:
            tr = _current.get()
            if tr is None or not tr.sampled:
                return func(*args, **kwargs)
            start = _now()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                add(
                    tr,
                    name,
                    _new_id(),
                    tr.root,
                    _INTERNAL,
                    start,
                    {c.ERROR_TYPE: _error_type(exc)},
                    _error(exc),
                )
                raise
            add(tr, name, _new_id(), tr.root, _INTERNAL, start)
            return result

        return traced

    # ------------------------------------------------------------------ provider attempts

    def instrument(self, models: Models, deployment: str, provider_type: str, upstream_model: str) -> Models:
        from podium.providers.registry import Models

        provider = c.provider_name(provider_type)
        return Models(
            chat=_TracedChat(self, models.chat, deployment, provider, upstream_model),
            embeddings=_TracedEmbeddings(self, models.embeddings, deployment, provider, upstream_model),
        )


class _TracedChat:
    """A chat model whose every ``stream`` call in a sampled trace is one CLIENT span: an attempt at one
    deployment. In an unsampled trace (or none) the call goes straight to the adapter: no wrapper at all."""

    def __init__(
        self, tracing: Tracing, inner: Any, deployment: str, provider: str, upstream_model: str
    ) -> None:
        self.inner = inner
        self.tracing = tracing
        self.deployment = deployment
        self.provider = provider
        self.upstream_model = upstream_model
        self.name = f"chat {upstream_model}"
        # The attributes every attempt at this deployment starts with, by the request's stream flag.
        base = {
            c.OPERATION: "chat",
            c.PROVIDER: provider,
            c.REQUEST_MODEL: upstream_model,
            "podium.deployment": deployment,
        }
        self._base = {flag: {**base, c.STREAM: flag} for flag in (False, True)}

    def __getattr__(self, name: str) -> Any:  # adapters' own attributes (account…) stay visible
        return getattr(self.inner, name)

    def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[Event]:
        tr = _current.get()
        if tr is None or not tr.sampled:
            # The request's traceparent (set at the root) still reaches the upstream.
            stream: AsyncIterator[Event] = self.inner.stream(request, deadline=deadline)
            return stream
        return _Attempt(self, tr, request, deadline)

    def attributes(self, request: ChatRequest) -> Attributes:
        a: Attributes = self._base[bool(request.stream)].copy()
        if request.temperature is not None:
            a[c.TEMPERATURE] = request.temperature
        if request.top_p is not None:
            a[c.TOP_P] = request.top_p
        if request.max_tokens is not None:
            a[c.MAX_TOKENS] = request.max_tokens
        return a


class _Attempt:
    """One sampled attempt's stream, passed through untouched once it has begun.

    Its first event is awaited here (the upstream request goes out carrying the attempt's own
    traceparent; a failure to begin ends the span with the error). After that ``__anext__`` hands out
    the adapter's own awaitables — no frame of ours per event — and the span stays open on the trace
    until the call is recorded (:meth:`Tracing.recorded` completes it from the collected answer:
    usage, finish reasons, a failure mid-stream), the stream is closed early (``podium.abandoned``),
    or the trace ends.
    """

    __slots__ = (
        "_deadline",
        "_inner",
        "_next",
        "a",
        "model",
        "parent",
        "request",
        "span_id",
        "start",
        "trace",
    )

    def __init__(self, model: _TracedChat, tr: _Trace, request: ChatRequest, deadline: float | None) -> None:
        self.model = model
        self.trace = tr
        self.request = request
        self._deadline = deadline
        self.span_id = _new_id()
        self.parent = _parent.get() or tr.root
        self.start = _now()
        self.a = model.attributes(request)
        self._inner: AsyncIterator[Event] | None = None  # the adapter's stream, opened by the first read
        self._next: Callable[[], Awaitable[Event]] | None = None

    def __aiter__(self) -> _Attempt:
        return self

    def __anext__(self) -> Awaitable[Event]:
        nxt = self._next
        return nxt() if nxt is not None else self._first()

    async def _first(self) -> Event:
        tr, a = self.trace, self.a
        token = TRACEPARENT.set(Traceparent(tr.trace_id, self.span_id))
        try:
            # The adapter opens the upstream request in its first step: it reads TRACEPARENT then.
            inner: AsyncIterator[Event] = self.model.inner.stream(self.request, deadline=self._deadline)
            self._inner = inner
            event: Event = await inner.__anext__()
        except StopAsyncIteration:
            self.end()
            raise
        except BaseException as exc:
            a[c.ERROR_TYPE] = _error_type(exc)
            self.end(_error(exc))
            raise
        finally:
            TRACEPARENT.reset(token)
        if type(event) is ResponseStart:
            a[c.RESPONSE_ID] = event.id
            a[c.RESPONSE_MODEL] = event.model
        self._next = inner.__anext__
        if tr.emitted:  # begun after its trace ended (work that outlived its request): no record will come
            self.end()
        else:
            tr.attempts.append(self)
        return event

    async def aclose(self) -> None:
        if self in self.trace.attempts:  # closed before the call was recorded: the caller left, or a timeout
            self.a["podium.abandoned"] = True
            self.trace.attempts.remove(self)
            self.end()
        if self._inner is not None:
            await _aclose(self._inner)

    def answered(self, collector: Collector | None, error: BaseException | None) -> None:
        """The call was recorded: complete the span from what was collected."""
        a = self.a
        usage = collector.usage if collector is not None else None
        if usage is not None:
            a[c.INPUT_TOKENS] = usage.input_tokens
            a[c.OUTPUT_TOKENS] = usage.output_tokens
            if usage.cached_input_tokens:
                a[c.CACHE_READ_TOKENS] = usage.cached_input_tokens
            if usage.reasoning_tokens:
                a[c.REASONING_TOKENS] = usage.reasoning_tokens
        if collector is not None and (finishes := collector.finish_reasons()):
            a[c.FINISH_REASONS] = _reasons(finishes)
        if error is not None:
            a[c.ERROR_TYPE] = _error_type(error)
            self.end(_error(error))
        else:
            self.end()

    def end(self, status: tuple[int, str] = _OK) -> None:
        m = self.model
        m.tracing._add(self.trace, m.name, self.span_id, self.parent, _CLIENT, self.start, self.a, status)


class _TracedEmbeddings:
    def __init__(
        self, tracing: Tracing, inner: Any, deployment: str, provider: str, upstream_model: str
    ) -> None:
        self.inner = inner
        self.tracing = tracing
        self.deployment = deployment
        self.provider = provider
        self.upstream_model = upstream_model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def embed(self, request: EmbeddingRequest, *, deadline: float | None = None) -> EmbeddingResult:
        tr = _current.get()
        if tr is None or not tr.sampled:  # the request's traceparent (set at the root) still goes upstream
            result: EmbeddingResult = await self.inner.embed(request, deadline=deadline)
            return result
        span_id = _new_id()
        parent = _parent.get() or tr.root
        token = TRACEPARENT.set(Traceparent(tr.trace_id, span_id))
        start = _now()
        a: Attributes = {
            c.OPERATION: "embeddings",
            c.PROVIDER: self.provider,
            c.REQUEST_MODEL: self.upstream_model,
            "podium.deployment": self.deployment,
        }
        status = _OK
        try:
            result = await self.inner.embed(request, deadline=deadline)
            a[c.INPUT_TOKENS] = result.usage.input_tokens
            a[c.RESPONSE_MODEL] = result.model
            return result
        except BaseException as exc:
            a[c.ERROR_TYPE] = _error_type(exc)
            status = _error(exc)
            raise
        finally:
            TRACEPARENT.reset(token)
            name = f"embeddings {self.upstream_model}"
            self.tracing._add(tr, name, span_id, parent, _CLIENT, start, a, status)


async def _aclose(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing an upstream stream is best effort
            return
