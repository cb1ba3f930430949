"""Traces through a real server: the span tree of a streamed chat that falls back, GenAI attributes,
the caller's traceparent continued and passed upstream, redacted content capture, and no spans when off."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.gateway.test_upstream import UPSTREAM_KEY, simulator, upstream_config  # noqa: F401 - the fixture
from tests.harness import GatewayThread, make_config, sqlite_url

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


def _traced(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "observability": {"tracing": {"enabled": True, **(extra or {})}},
        "deployments": {
            "broken": {"provider": "sim", "model": "echo?status=500", "price": {"input": 1.0, "output": 2.0}},
            "healthy": {"provider": "sim", "model": "echo", "price": {"input": 1.0, "output": 2.0}},
        },
        "routes": {"flaky": {"deployments": ["broken"], "fallbacks": ["healthy"]}},
    }


def _exporter(gw: GatewayThread) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    gw.gateway.telemetry.tracing.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[GatewayThread, InMemorySpanExporter]]:
    gw = GatewayThread(make_config(_traced()), sqlite_url(tmp_path)).start()
    try:
        yield gw, _exporter(gw)
    finally:
        gw.stop()


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
        key=lambda s: s.start_time or 0,
    )


def test_streamed_fallback_span_tree(traced: tuple[GatewayThread, InMemorySpanExporter]) -> None:
    """A streamed chat whose first deployment fails is one trace: root, steps, two attempts with GenAI attributes."""
    gw, exporter = traced
    client = gw.openai()  # closed by gw.stop() even if the test fails before close()
    stream = client.chat.completions.create(
        model="flaky",
        messages=[{"role": "user", "content": "hello traces"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"traceparent": TRACEPARENT},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    client.close()
    assert text == "hello traces"
    record = gw.wait_records(1)[0]
    spans = list(exporter.get_finished_spans())
    roots = [s for s in spans if s.kind == SpanKind.SERVER]
    assert len(roots) == 1
    root = roots[0]
    assert root.name == "POST /v1/chat/completions"
    # The caller's trace is continued: same trace id, the caller's span as parent.
    assert f"{root.context.trace_id:032x}" == CALLER_TRACE
    assert root.parent is not None and f"{root.parent.span_id:016x}" == CALLER_SPAN
    assert all(s.context.trace_id == root.context.trace_id for s in spans)
    a = root.attributes or {}
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "flaky"
    assert a["gen_ai.provider.name"] == "podium.simulated"
    assert a["gen_ai.response.model"] == "echo"
    assert a["podium.route"] == "flaky"
    assert a["podium.attempts"] == 2
    assert "fallback after" in str(a["podium.route.reason"])
    assert a["gen_ai.usage.input_tokens"] == record.input_tokens
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens
    assert a["podium.cost_usd"] == pytest.approx(record.cost_usd)
    assert a["podium.request_id"] == record.id
    assert "gen_ai.input.messages" not in a  # content is not captured unless enabled
    names = [s.name for s in _children(spans, root)]
    assert names[0] == "podium.auth"
    steps = [n for n in names if n.startswith("podium.")]
    assert {"podium.auth", "podium.authorize", "podium.resolve", "podium.routing"} <= set(steps)
    attempts = [s for s in _children(spans, root) if s.kind == SpanKind.CLIENT]
    assert [s.name for s in attempts] == ["chat echo?status=500", "chat echo"]
    failed, answered = attempts
    assert failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"]
    b = answered.attributes or {}
    assert b["gen_ai.operation.name"] == "chat"
    assert b["gen_ai.provider.name"] == "podium.simulated"
    assert b["gen_ai.request.model"] == "echo"
    assert b["gen_ai.usage.input_tokens"] == record.input_tokens
    assert b["gen_ai.usage.output_tokens"] == record.output_tokens
    assert tuple(b["gen_ai.response.finish_reasons"]) == ("stop",)
    assert b["gen_ai.request.stream"] is True
    assert answered.status.status_code != StatusCode.ERROR
    # Steps end before the attempts start: siblings in order, not a staircase.
    assert all(
        (s.end_time or 0) <= (attempts[0].start_time or 0)
        for s in _children(spans, root)
        if s.name in steps[1:]
    )


def test_content_capture_is_redacted(tmp_path: Path) -> None:
    """With capture_content on, messages and the answer go on the root span with personal data redacted."""
    gw = GatewayThread(make_config(_traced({"capture_content": True})), sqlite_url(tmp_path)).start()
    try:
        exporter = _exporter(gw)
        client = gw.openai()  # closed by gw.stop() even if the test fails before close()
        client.chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": "mail jane.doe@example.com now"}]
        )
        client.close()
        gw.wait_records(1)
        root = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
        a = root.attributes or {}
        sent = json.loads(str(a["gen_ai.input.messages"]))
        assert sent[-1]["parts"][0]["content"] == "mail [EMAIL] now"
        assert a["gen_ai.output.messages"] == "mail [EMAIL] now"
        assert "jane.doe" not in json.dumps(dict(a))
    finally:
        gw.stop()


def _sent_upstream(tmp_path: Path, sim_url: str, traceparent: str) -> tuple[str, list[ReadableSpan]]:
    """A chat through a gateway with tracing on whose caller sent ``traceparent``: the traceparent the
    HTTP upstream received, and the spans recorded."""
    extra = upstream_config(sim_url)
    extra["observability"] = {"tracing": {"enabled": True, "sample_ratio": 1.0}}
    gw = GatewayThread(make_config(extra), sqlite_url(tmp_path)).start()
    try:
        exporter = _exporter(gw)
        client = gw.openai()  # closed by gw.stop() even if the test fails before close()
        client.chat.completions.create(
            model="up-echo",
            messages=[{"role": "user", "content": "propagate"}],
            extra_headers={"traceparent": traceparent},
        )
        client.close()
        gw.wait_records(1)
        with urllib.request.urlopen(sim_url.removesuffix("/v1") + "/sim/requests", timeout=5) as resp:
            seen = json.loads(resp.read())
        chat = [r for r in seen if r["path"].endswith("/chat/completions")][-1]
        return chat["headers"]["traceparent"], list(exporter.get_finished_spans())
    finally:
        gw.stop()


def test_traceparent_reaches_the_upstream(tmp_path: Path, simulator: str) -> None:  # noqa: F811
    """The attempt's own traceparent (same trace as the caller's) is sent to an HTTP upstream."""
    sent, spans = _sent_upstream(tmp_path, simulator, TRACEPARENT)
    attempt = next(s for s in spans if s.kind == SpanKind.CLIENT)
    assert sent == f"00-{CALLER_TRACE}-{attempt.context.span_id:016x}-01"


def test_unsampled_request_passes_its_trace_upstream_and_records_nothing(
    tmp_path: Path,
    simulator: str,  # noqa: F811
) -> None:
    """A caller's unsampled traceparent is continued upstream (same trace, flag 00); no span is recorded."""
    sent, spans = _sent_upstream(tmp_path, simulator, f"00-{CALLER_TRACE}-{CALLER_SPAN}-00")
    version, trace_id, span_id, flags = sent.split("-")
    assert (version, trace_id, flags) == ("00", CALLER_TRACE, "00")
    assert len(span_id) == 16 and int(span_id, 16) != 0
    assert spans == []


def test_tracing_off_makes_no_spans(tmp_path: Path) -> None:
    """With tracing off (the default) the gateway holds no tracer and its models are the bare adapters."""
    gw = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        telemetry = gw.gateway.telemetry
        assert telemetry.tracing is None and telemetry.instrument is None
        target = gw.gateway.catalog.resolve("sim/echo")
        assert type(target.candidates[0].chat).__name__ == "SimulatedChatModel"
        assert "authenticate" not in vars(gw.gateway.keys)
    finally:
        gw.stop()


def test_work_outside_requests_gets_its_own_trace(traced: tuple[GatewayThread, InMemorySpanExporter]) -> None:
    """A span opened for a workflow run roots a trace; the model calls made inside nest under it."""
    from podium.canonical import ChatRequest, Message
    from podium.evaluation.calls import chat_call, internal_principal

    gw, exporter = traced

    async def run() -> None:
        telemetry = gw.gateway.telemetry
        with telemetry.span("podium.workflow.run", **{"podium.workflow": "triage"}) as run_attrs:
            assert run_attrs is not None
            with telemetry.span("podium.workflow.step", **{"podium.step": "classify"}):
                chat = ChatRequest(model="sim/echo", messages=(Message(role="user", content="step"),))
                _, _, error = await chat_call(
                    gw.gateway, internal_principal("wf", "default", "workflow"), chat
                )
                assert error is None
            run_attrs["podium.workflow.status"] = "done"

    gw.run(run)
    gw.wait_records(1)
    spans = list(exporter.get_finished_spans())
    run_span = next(s for s in spans if s.name == "podium.workflow.run")
    assert run_span.parent is None and (run_span.attributes or {})["podium.workflow.status"] == "done"
    step = next(s for s in spans if s.name == "podium.workflow.step")
    assert step.parent is not None and step.parent.span_id == run_span.context.span_id
    attempt = next(s for s in spans if s.kind == SpanKind.CLIENT)
    assert attempt.parent is not None and attempt.parent.span_id == step.context.span_id
    assert {s.context.trace_id for s in spans} == {run_span.context.trace_id}


def test_a_step_that_refuses_ends_the_trace_with_its_error(
    traced: tuple[GatewayThread, InMemorySpanExporter],
) -> None:
    """A request for an unknown model: the resolve step's span carries the error; no attempt is made."""
    gw, exporter = traced
    client = gw.openai()  # closed by gw.stop() even if the test fails before close()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    client.close()
    gw.wait_records(1)
    spans = list(exporter.get_finished_spans())
    root = next(s for s in spans if s.kind == SpanKind.SERVER)
    names = [s.name for s in _children(spans, root)]
    assert names[-1] == "podium.resolve" and "podium.routing" not in names
    resolve = next(s for s in spans if s.name == "podium.resolve")
    assert resolve.status.status_code == StatusCode.ERROR
    assert (resolve.attributes or {})["error.type"] == "model_not_found"
    assert not [s for s in spans if s.kind == SpanKind.CLIENT]


def test_a_cache_hit_is_the_last_step_and_makes_no_attempt(tmp_path: Path) -> None:
    """A request answered from the cache: the cache step's span ends the steps, and no attempt is made."""
    gw = GatewayThread(make_config({**_traced(), "cache": {"exact": True}}), sqlite_url(tmp_path)).start()
    try:
        exporter = _exporter(gw)
        client = gw.openai()  # closed by gw.stop() even if the test fails before close()
        messages: Any = [{"role": "user", "content": "cache me"}]
        ask = client.chat.completions.with_raw_response.create
        assert ask(model="sim/echo", messages=messages, temperature=0).headers["x-podium-cache"] == "miss"
        gw.run(gw.gateway.state.flush)  # the answer is stored after the caller has it
        assert ask(model="sim/echo", messages=messages, temperature=0).headers["x-podium-cache"] == "hit"
        client.close()
        spans = list(exporter.get_finished_spans())
        roots = [s for s in spans if s.kind == SpanKind.SERVER]
        missed = next(r for r in roots if (r.attributes or {}).get("podium.cache") == "miss")
        hit = next(r for r in roots if (r.attributes or {}).get("podium.cache") == "hit")
        assert [s.name for s in _children(spans, missed)][-2:] == ["podium.routing", "chat echo"]
        names = [s.name for s in _children(spans, hit)]
        assert names[-1] == "podium.cache" and not any(n.startswith("chat ") for n in names)
    finally:
        gw.stop()


def test_an_abandoned_stream_ends_its_attempt_span(tmp_path: Path) -> None:
    """A caller that leaves mid-stream: the attempt's span ends, marked abandoned, with the root's client_closed."""
    config = _traced()
    config["deployments"]["slow"] = {"provider": "sim", "model": "echo?chunk_delay_ms=20"}
    gw = GatewayThread(make_config(config), sqlite_url(tmp_path)).start()
    try:
        exporter = _exporter(gw)
        gw.leave_mid_stream("slow")
        (record,) = gw.wait_records(1)
        assert record.status == 499
        deadline = time.monotonic() + 5
        while not any(s.kind == SpanKind.SERVER for s in exporter.get_finished_spans()):
            assert time.monotonic() < deadline, "the root span never ended"
            time.sleep(0.01)
        spans = list(exporter.get_finished_spans())
        attempt = next(s for s in spans if s.kind == SpanKind.CLIENT)
        assert (attempt.attributes or {})["podium.abandoned"] is True
        root = next(s for s in spans if s.kind == SpanKind.SERVER)
        assert (root.attributes or {})["error.type"] == "client_closed"
        assert (attempt.end_time or 0) <= (root.end_time or 0)
    finally:
        gw.stop()
