"""OTLP/HTTP export through a real server: the hand-written protobuf decodes with the official
OpenTelemetry classes into the same span tree, with GenAI attributes of every value type."""

from __future__ import annotations

import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from podium.observability.otlp import encode_request
from tests.alerting.receiver import Receiver
from tests.harness import GatewayThread, make_config, sqlite_url


def _value(v: object) -> object:
    kind = v.WhichOneof("value")  # type: ignore[attr-defined]
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]  # type: ignore[attr-defined]
    return getattr(v, kind)


def test_encoding_round_trips_through_the_official_classes() -> None:
    """Every field and attribute type Podium writes decodes back to what was written."""
    attrs = {"s": "text ü", "i": 42, "neg": -3, "f": 0.25, "b": True, "list": ["stop", "length"]}
    spans = [
        ("root", 0xA1, 0xB2, 1, 1_000, 2_000, attrs, 0, ""),
        ("child", 0xC3, 0xA1, 2, 1_100, 1_900, None, 2, "upstream_server_error: boom"),
    ]
    body = encode_request(
        {"service.name": "podium"}, ("podium", "1.2.3"), [(0x4BF92F3577B34DA6A3CE929D0E0E4736, spans)]
    )
    request = ExportTraceServiceRequest.FromString(body)
    rs = request.resource_spans[0]
    assert {kv.key: _value(kv.value) for kv in rs.resource.attributes} == {"service.name": "podium"}
    ss = rs.scope_spans[0]
    assert (ss.scope.name, ss.scope.version) == ("podium", "1.2.3")
    root, child = ss.spans
    assert root.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert root.span_id.hex() == f"{0xA1:016x}" and root.parent_span_id.hex() == f"{0xB2:016x}"
    assert root.kind == Span.SPAN_KIND_SERVER and child.kind == Span.SPAN_KIND_CLIENT
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (1_000, 2_000)
    assert {kv.key: _value(kv.value) for kv in root.attributes} == attrs
    assert child.parent_span_id == root.span_id
    assert child.status.code == Status.STATUS_CODE_ERROR and child.status.message.startswith("upstream")
    assert root.status.code == Status.STATUS_CODE_UNSET and root.flags & 0xFF == 1


def test_server_exports_the_request_trace(tmp_path: Path) -> None:
    """A gateway with an OTLP endpoint posts each request's spans, which decode into its trace."""
    sink = Receiver()
    bodies: list[bytes] = []

    async def collect(request: object) -> object:
        from aiohttp import web

        bodies.append(await request.read())  # type: ignore[attr-defined]
        return web.Response(status=200)

    sink._handle = collect  # type: ignore[method-assign,assignment]
    sink.start()
    try:
        config = make_config(
            {"observability": {"tracing": {"enabled": True, "otlp_endpoint": sink.url + "/traces"}}}
        )
        gw = GatewayThread(config, sqlite_url(tmp_path)).start()
        try:
            client = gw.openai()  # closed by gw.stop() even if the test fails before close()
            client.chat.completions.create(model="sim/echo", messages=[{"role": "user", "content": "otlp"}])
            client.close()
            record = gw.wait_records(1)[0]
            gw.run(lambda: _flush(gw))
            deadline = time.monotonic() + 10
            while not bodies and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            gw.stop()
        spans = [s for body in bodies for rs in ExportTraceServiceRequest.FromString(body).resource_spans
                 for ss in rs.scope_spans for s in ss.spans]  # fmt: skip
        root = next(s for s in spans if s.kind == Span.SPAN_KIND_SERVER)
        attrs = {kv.key: _value(kv.value) for kv in root.attributes}
        assert attrs["podium.request_id"] == record.id
        assert attrs["gen_ai.usage.output_tokens"] == record.output_tokens
        children = {s.name for s in spans if s.parent_span_id == root.span_id}
        assert {"podium.auth", "podium.routing", "chat echo"} <= children
    finally:
        sink.stop()


async def _flush(gw: GatewayThread) -> None:
    import asyncio

    await asyncio.sleep(0.05)  # the spans are handed over after the response
    exporter = gw.gateway.telemetry.tracing.exporter
    await asyncio.to_thread(exporter.flush)


def test_exporter_counts_a_failed_post_and_recovers_on_one_connection() -> None:
    """A collector that is down costs the batch (counted, never raised); once it is up, batches from
    the same exporter arrive on one kept-alive connection."""
    import socket

    from podium.observability.otlp import OtlpExporter

    spans = [("step", 0xA1, None, 0, 1_000, 2_000, None, 0, "")]
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/traces"
    exporter = OtlpExporter(down, {}, {"service.name": "podium"}, ("podium", "1"), interval=60)
    try:
        exporter.add(1, spans)
        exporter.flush()
        assert (exporter.failed, exporter.exported) == (1, 0)
    finally:
        exporter.shutdown()

    sink = Receiver()
    bodies: list[bytes] = []
    peers: set[object] = set()

    async def collect(request: object) -> object:
        from aiohttp import web

        peers.add(request.transport.get_extra_info("peername"))  # type: ignore[attr-defined]
        bodies.append(await request.read())  # type: ignore[attr-defined]
        return web.Response(status=200)

    sink._handle = collect  # type: ignore[method-assign,assignment]
    sink.start()
    exporter = OtlpExporter(
        sink.url + "/traces", {}, {"service.name": "podium"}, ("podium", "1"), interval=60
    )
    try:
        for trace_id in (2, 3):
            exporter.add(trace_id, spans)
            exporter.flush()
        assert exporter.exported == 2 and len(bodies) == 2 and len(peers) == 1
        decoded = [
            ExportTraceServiceRequest.FromString(b).resource_spans[0].scope_spans[0].spans for b in bodies
        ]
        assert [s.trace_id.hex() for batch in decoded for s in batch] == [f"{2:032x}", f"{3:032x}"]
    finally:
        exporter.shutdown()
        sink.stop()


def test_unhashable_attribute_values_are_encoded() -> None:
    """A value the encoder cannot memoize (a dict, nested lists) is still written, as text or an array."""
    attrs = {"plain": "x", "mapping": {"a": 1}, "nested": [["a"], ["b"]]}
    body = encode_request(
        {"service.name": "podium"}, ("podium", "1"), [(7, [("s", 1, None, 0, 1, 2, attrs, 0, "")])]
    )
    span = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0]
    decoded = {kv.key: _value(kv.value) for kv in span.attributes}
    assert decoded["plain"] == "x" and decoded["mapping"] == "{'a': 1}"
    assert decoded["nested"] == [["a"], ["b"]]
