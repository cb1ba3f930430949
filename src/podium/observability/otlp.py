"""OTLP/HTTP trace export: spans encoded as OTLP protobuf by hand, sent in batches from a thread.

The SDK's exporter builds a protobuf message object per span and per attribute in Python (tens of
microseconds a span); a gateway that traces every request would spend more on that than on the
request itself. This encoder writes the same wire format directly — the messages of
``opentelemetry/proto/trace/v1/trace.proto`` and ``collector/trace/v1/trace_service.proto`` — and
memoizes each attribute's encoding, since most (model, provider, deployment, operation) repeat.
``tests/observability/test_otlp.py`` decodes its output with the official generated classes.

A full queue drops spans (counted) rather than grow or block; a failed POST drops its batch (counted):
tracing never holds up requests or memory.
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["OtlpExporter", "encode_request"]

log = logging.getLogger("podium.observability")

# (name, span id, parent span id or None, kind (OpenTelemetry API value), start ns, end ns,
#  attributes or None, status code (0 unset, 2 error), status message)
SpanData = tuple[str, int, int | None, int, int, int, Mapping[str, Any] | None, int, str]

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack


_SMALL = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_TAGS = [_varint(f << 3 | 2) if f else b"" for f in range(16)]


def _len(field: int, payload: bytes) -> bytes:
    size = len(payload)
    return _TAGS[field] + (_SMALL[size] if size < 128 else _varint(size)) + payload


def _str(field: int, text: str) -> bytes:
    return _len(field, text.encode("utf-8", "replace"))


def _any(value: Any) -> bytes:
    """An AnyValue message's body."""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")  # bool_value = 2
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int_value = 3 (int64, two's complement)
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)  # double_value = 4
    if isinstance(value, str):
        return _str(1, value)  # string_value = 1
    if isinstance(value, list | tuple):
        return _len(5, b"".join(_len(1, _any(v)) for v in value))  # array_value = 5 { values = 1 }
    return _str(1, str(value))


_KV_MEMO: dict[tuple[int, str, Any], bytes] = {}
_KV_MEMO_LIMIT = 8192


def _kv(field: int, key: str, value: Any) -> bytes:
    """A repeated KeyValue field (``attributes``), memoized for hashable values."""
    memo = (field, key, value) if not isinstance(value, list) else None
    if memo is not None:
        found = _KV_MEMO.get(memo)
        if found is not None:
            return found
    encoded = _len(field, _str(1, key) + _len(2, _any(value)))
    if memo is not None:
        if len(_KV_MEMO) >= _KV_MEMO_LIMIT:
            _KV_MEMO.clear()
        _KV_MEMO[memo] = encoded
    return encoded


_NAME_MEMO: dict[tuple[str, int], bytes] = {}


def _name_kind(name: str, kind: int) -> bytes:
    """name = 5 and kind = 6 (the API's INTERNAL=0 is OTLP's 1): a handful of pairs, memoized."""
    found = _NAME_MEMO.get((name, kind))
    if found is None:
        if len(_NAME_MEMO) >= _KV_MEMO_LIMIT:
            _NAME_MEMO.clear()
        found = _NAME_MEMO[(name, kind)] = _str(5, name) + b"\x30" + _varint(kind + 1)
    return found


def _span(trace_id: bytes, s: SpanData) -> bytes:
    name, span_id, parent_id, kind, start, end, attributes, code, message = s
    parts = [
        b"\x0a\x10" + trace_id,  # trace_id = 1 (16 bytes)
        b"\x12\x08" + span_id.to_bytes(8, "big"),  # span_id = 2
    ]
    if parent_id is not None:
        parts.append(b"\x22\x08" + parent_id.to_bytes(8, "big"))  # parent_span_id = 4
    parts.append(_name_kind(name, kind))
    parts.append(
        b"\x39" + _pack_q(start) + b"\x41" + _pack_q(end)
    )  # start/end_time_unix_nano = 7, 8 (fixed64)
    if attributes:
        parts.extend(_kv(9, k, v) for k, v in attributes.items() if v is not None)
    if code:
        parts.append(_len(15, (_str(2, message) if message else b"") + b"\x18" + _varint(code)))
    parts.append(b"\x85\x01\x01\x00\x00\x00")  # flags = 16 (fixed32): sampled
    return _len(2, b"".join(parts))  # ScopeSpans.spans = 2


def encode_request(
    resource: Mapping[str, Any], scope: tuple[str, str], traces: Iterable[tuple[int, Sequence[SpanData]]]
) -> bytes:
    """An ExportTraceServiceRequest with one resource and one scope holding every span given."""
    spans = b"".join(_span(trace_id.to_bytes(16, "big"), s) for trace_id, batch in traces for s in batch)
    scope_msg = _len(1, _str(1, scope[0]) + _str(2, scope[1]))  # ScopeSpans.scope = 1
    resource_msg = _len(1, b"".join(_kv(1, k, v) for k, v in resource.items()))  # ResourceSpans.resource = 1
    resource_spans = resource_msg + _len(2, scope_msg + spans)  # ResourceSpans.scope_spans = 2
    return _len(1, resource_spans)  # ExportTraceServiceRequest.resource_spans = 1


class OtlpExporter:
    """Queues finished traces and POSTs them in batches to an OTLP/HTTP endpoint from one thread."""

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        resource: Mapping[str, Any],
        scope: tuple[str, str],
        *,
        max_spans: int = 20_000,
        batch_spans: int = 2048,
        interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        self.resource = dict(resource)
        self.scope = scope
        self.max_spans = max_spans
        self.batch_spans = batch_spans
        self.interval = interval
        self.timeout = timeout
        self._queue: collections.deque[tuple[int, Sequence[SpanData]]] = collections.deque()
        self._queued = 0
        self._wake = threading.Event()
        self._stop = False
        self.dropped = 0
        self.exported = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="podium-otlp", daemon=True)
        self._thread.start()

    def add(self, trace_id: int, spans: Sequence[SpanData]) -> None:
        """Queue one trace's spans; never blocks (a full queue drops them)."""
        if self._queued + len(spans) > self.max_spans:
            self.dropped += len(spans)
            return
        self._queue.append((trace_id, spans))
        self._queued += len(spans)
        if self._queued >= self.batch_spans:
            self._wake.set()

    def _take(self) -> list[tuple[int, Sequence[SpanData]]]:
        batch: list[tuple[int, Sequence[SpanData]]] = []
        count = 0
        while self._queue and count < self.batch_spans:
            item = self._queue.popleft()
            batch.append(item)
            count += len(item[1])
        self._queued -= count
        return batch

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        while self._queue:
            batch = self._take()
            body = encode_request(self.resource, self.scope, batch)
            request = urllib.request.Request(self.endpoint, data=body, headers=self.headers, method="POST")
            spans = sum(len(b) for _, b in batch)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    resp.read()
                self.exported += spans
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.failed += spans
                if self.failed == spans or self.failed % 10_000 < spans:
                    log.warning(
                        "OTLP export to %s failed (%d spans dropped so far): %s",
                        self.endpoint,
                        self.failed,
                        exc,
                    )

    def shutdown(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(self.timeout + 1)
        self.flush()
