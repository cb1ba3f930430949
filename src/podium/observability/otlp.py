"""OTLP/HTTP trace export: spans encoded as OTLP protobuf by hand, sent in batches from a thread.

The SDK's exporter builds a protobuf message object per span and per attribute in Python (tens of
microseconds a span); a gateway that traces every request would spend more on that than on the
request itself. This encoder writes the same wire format directly — the messages of
``opentelemetry/proto/trace/v1/trace.proto`` and ``collector/trace/v1/trace_service.proto`` — and
memoizes each (key, value)'s encoding, since most (model, provider, deployment, operation) repeat; a
span's pieces are appended to one list and joined once per POST, never copied per span.
``tests/observability/test_otlp.py`` decodes its output with the official generated classes.

A full queue drops spans (counted) rather than grow or block; a failed POST drops its batch (counted):
tracing never holds up requests or memory. POSTs reuse one kept-alive connection.
"""

from __future__ import annotations

import collections
import http.client
import logging
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["OtlpExporter", "encode_request"]

log = logging.getLogger("podium.observability")

# (name, span id, parent span id or None, kind (OpenTelemetry API value), start ns, end ns,
#  attributes or None, status code (0 unset, 2 error), status message)
# Attributes: a mapping, or a tuple of (key, value) pairs.
Attributes = Mapping[str, Any] | tuple[tuple[str, Any], ...]
SpanData = tuple[str, int, int | None, int, int, int, Attributes | None, int, str]

_pack_d = struct.Struct("<d").pack


_SMALL = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    if n < 16384:  # a span's length, mostly
        return bytes((n & 0x7F | 0x80, n >> 7))
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


_KV_MEMO: dict[tuple[str, Any], bytes] = {}
_KV_MEMO_LIMIT = 8192
_KEYS: dict[str, bytes] = {}  # key -> its encoded ``key = 1`` field
# Values that differ on every span: encoded directly, never memoized (they would only evict the rest).
_UNIQUE = frozenset({"podium.request_id", "gen_ai.response.id", "podium.cost_usd", "podium.workflow.run_id"})


def _key(key: str) -> bytes:
    found = _KEYS.get(key)
    if found is None:
        found = _KEYS[key] = _str(1, key)
    return found


def _encode_kv(key: str, value: Any) -> bytes:
    """A span's ``attributes = 9`` KeyValue field; strings and doubles (the values that do not repeat) directly."""
    cls = type(value)
    if cls is str:
        text = value.encode("utf-8", "replace")
        size = len(text)
        if (
            size < 126
        ):  # AnyValue { string_value = 1 } fits a one-byte length, and so does the value = 2 field
            kv = _key(key) + b"\x12" + _SMALL[size + 2] + b"\x0a" + _SMALL[size] + text
            return _len(9, kv)
    elif cls is float:
        return _len(9, _key(key) + b"\x12\x09\x21" + _pack_d(value))  # value = 2 { double_value = 4 }
    return _len(9, _key(key) + _len(2, _any(value)))


def _kv(field: int, key: str, value: Any) -> bytes:
    """A repeated KeyValue field (``attributes``) outside spans: the resource's."""
    return _len(field, _key(key) + _len(2, _any(value)))


def _attributes(attributes: Attributes) -> list[bytes]:
    """A span's ``attributes = 9`` fields. The encoding of each (key, value) pair that repeats is kept,
    and found for all of a span's pairs in one ``map`` (no Python-level loop); only the misses — the
    values that differ per request, first sightings — are encoded here."""
    items = attributes if type(attributes) is tuple else tuple(attributes.items())  # type: ignore[union-attr]
    try:
        found: list[bytes | None] = list(map(_memo_get, items))
    except TypeError:  # an unhashable value (a list): pair by pair
        found = [None] * len(items)
    misses = found.count(None)
    if misses:
        memo = _KV_MEMO
        at = -1
        for _ in range(misses):
            at = found.index(None, at + 1)
            k, v = items[at]
            if v is None:
                found[at] = b""
            elif k in _UNIQUE:
                found[at] = _encode_kv(k, v)
            else:
                pair = (k, tuple(v)) if type(v) is list else (k, v)
                try:
                    encoded = memo.get(pair)
                except TypeError:  # unhashable (a dict, a list of lists): encoded, not kept
                    found[at] = _encode_kv(k, v)
                    continue
                if encoded is None:
                    if len(memo) >= _KV_MEMO_LIMIT:
                        memo.clear()
                    encoded = memo[pair] = _encode_kv(k, v)
                found[at] = encoded
    return found  # type: ignore[return-value]  # no None left


_memo_get = _KV_MEMO.get
_NAME_MEMO: dict[tuple[str, int], tuple[bytes, bytes]] = {}


def _name_kind(name: str, kind: int) -> tuple[bytes, bytes]:
    """name = 5 and kind = 6 (the API's INTERNAL=0 is OTLP's 1), and the ``spans = 2`` tag and length
    of a span with that name and kind, a parent and nothing else (a pipeline step); a handful of
    names, memoized."""
    nk = _str(5, name) + b"\x30" + _varint(kind + 1)
    found = (nk, _tag_size(_FIXED + 18 + len(nk)))
    if len(_NAME_MEMO) >= _KV_MEMO_LIMIT:
        _NAME_MEMO.clear()
    _NAME_MEMO[(name, kind)] = found
    return found


def _tag_size(size: int) -> bytes:
    return b"\x12" + (_SMALL[size] if size < 128 else _varint(size))


# span_id = 2 (8 bytes, big-endian), then parent_span_id = 4; start/end_time_unix_nano = 7, 8 (fixed64).
_IDS = struct.Struct(">Q2sQ").pack
_ID = struct.Struct(">Q").pack
_TIMES = struct.Struct("<cQcQ6s").pack
_FLAGS = b"\x85\x01\x01\x00\x00\x00"  # flags = 16 (fixed32): sampled, after the times
# Bytes of a span besides its ids, name and kind, attributes and status: trace_id (2 + 16), span_id's
# tag (2), the times (9 + 9), flags (6).
_FIXED = 18 + 2 + 18 + 6


def _spans(trace_id: int, spans: Sequence[SpanData], out: list[bytes]) -> None:
    """Append the pieces of each span's ``ScopeSpans.spans = 2`` field to ``out`` (joined by the caller)."""
    head = b"\x0a\x10" + trace_id.to_bytes(16, "big") + b"\x12\x08"  # trace_id = 1, then span_id's tag
    names = _NAME_MEMO
    append = out.append
    for name, span_id, parent_id, kind, start, end, attributes, code, message in spans:
        nk, step_tag = names.get((name, kind)) or _name_kind(name, kind)
        times = _TIMES(b"\x39", start, b"\x41", end, _FLAGS)
        if parent_id is not None:
            ids = _IDS(span_id, b"\x22\x08", parent_id)
            if attributes is None and not code:  # a pipeline step: its size is known
                out += (step_tag, head, ids, nk, times)
                continue
        else:
            ids = _ID(span_id)
        size = _FIXED + len(ids) + len(nk)
        attrs = _attributes(attributes) if attributes else ()
        size += sum(map(len, attrs))
        status = _len(15, (_str(2, message) if message else b"") + b"\x18" + _varint(code)) if code else b""
        size += len(status)
        append(_tag_size(size))
        append(head)
        append(ids)
        append(nk)
        out += attrs
        append(status)
        append(times)


def encode_request(
    resource: Mapping[str, Any], scope: tuple[str, str], traces: Iterable[tuple[int, Sequence[SpanData]]]
) -> bytes:
    """An ExportTraceServiceRequest with one resource and one scope holding every span given."""
    encoded: list[bytes] = []
    for trace_id, batch in traces:
        _spans(trace_id, batch, encoded)
    return _envelope(resource, scope, b"".join(encoded))


def _envelope(resource: Mapping[str, Any], scope: tuple[str, str], spans: bytes) -> bytes:
    """The request around ``spans``, the encoded ``ScopeSpans.spans`` fields."""
    scope_msg = _len(1, _str(1, scope[0]) + _str(2, scope[1]))  # ScopeSpans.scope = 1
    resource_msg = _len(1, b"".join(_kv(1, k, v) for k, v in resource.items()))  # ResourceSpans.resource = 1
    resource_spans = resource_msg + _len(2, scope_msg + spans)  # ResourceSpans.scope_spans = 2
    return _len(1, resource_spans)  # ExportTraceServiceRequest.resource_spans = 1


class OtlpExporter:
    """Queues finished traces and POSTs them in batches to an OTLP/HTTP endpoint from one thread.

    The thread encodes queued traces every ``encode_spans`` spans (a few dozen requests) and keeps the
    bytes until a batch of ``batch_spans`` is due or ``interval`` has passed: the spans are dropped
    young, before the garbage collector promotes them (a second of queued spans, promoted, would make
    it run full collections of the whole process more often), while the POSTs stay large.
    """

    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        resource: Mapping[str, Any],
        scope: tuple[str, str],
        *,
        max_spans: int = 20_000,
        batch_spans: int = 2048,
        encode_spans: int = 256,
        interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        self.resource = dict(resource)
        self.scope = scope
        self.max_spans = max_spans
        self.batch_spans = batch_spans
        self.encode_spans = encode_spans
        self.interval = interval
        self.timeout = timeout
        self._queue: collections.deque[tuple[int, Sequence[SpanData]]] = collections.deque()
        # Spans queued = added - taken: each counter has one writer (the event loop; the sending thread).
        self._added = 0
        self._taken = 0
        self._wake = threading.Event()
        self._stop = False
        self.dropped = 0
        self.exported = 0
        self.failed = 0
        self._encoded: list[bytes] = []  # encoded spans waiting for their POST
        self._encoded_spans = 0
        self._posted = time.monotonic()
        self._conn: http.client.HTTPConnection | None = None
        self._path = "/"
        self._sending = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="podium-otlp", daemon=True)
        self._thread.start()

    def add(self, trace_id: int, spans: Sequence[SpanData]) -> None:
        """Queue one trace's spans; never blocks (a full queue drops them)."""
        n = len(spans)
        queued = self._added - self._taken + n
        if queued > self.max_spans:
            self.dropped += n
            return
        self._queue.append((trace_id, spans))
        self._added += n
        if queued >= self.encode_spans and not self._wake.is_set():
            self._wake.set()

    def _take(self) -> list[tuple[int, Sequence[SpanData]]]:
        batch: list[tuple[int, Sequence[SpanData]]] = []
        count = 0
        while self._queue and count < self.batch_spans:
            item = self._queue.popleft()
            batch.append(item)
            count += len(item[1])
        self._taken += count
        return batch

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                with self._sending:
                    self._encode()
                    if (
                        self._encoded_spans >= self.batch_spans
                        or time.monotonic() - self._posted >= self.interval
                    ):
                        self._send()
            except Exception:  # a span that cannot be encoded must not stop the export of the others
                log.exception("OTLP export: could not encode spans")

    def flush(self) -> None:
        """Encode and send everything queued (from any thread; the exporter's own does it on its own)."""
        with (
            self._sending
        ):  # the exporter's thread and an explicit flush (shutdown, tests) share the connection
            self._encode()
            self._send()

    def _encode(self) -> None:
        while self._queue:
            for trace_id, spans in self._take():
                _spans(trace_id, spans, self._encoded)
                self._encoded_spans += len(spans)
                if self._encoded_spans >= self.batch_spans:
                    self._send()

    def _send(self) -> None:
        self._posted = time.monotonic()
        if not self._encoded:
            return
        body = _envelope(self.resource, self.scope, b"".join(self._encoded))
        spans = self._encoded_spans
        self._encoded, self._encoded_spans = [], 0
        try:
            self._post(body)
            self.exported += spans
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._close()
            self.failed += spans
            if self.failed == spans or self.failed % 10_000 < spans:
                log.warning(
                    "OTLP export to %s failed (%d spans dropped so far): %s", self.endpoint, self.failed, exc
                )

    def _post(self, body: bytes) -> None:
        """POST one batch on a kept-alive connection (opened again after a failure or a close)."""
        if self._conn is None:
            url = urllib.parse.urlsplit(self.endpoint)
            kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            self._conn = kind(url.hostname or "", url.port, timeout=self.timeout)
            self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._conn.request("POST", self._path, body, self.headers)
        resp = self._conn.getresponse()
        resp.read()
        if resp.status >= 300:
            raise ValueError(f"HTTP {resp.status}")
        if resp.will_close:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def shutdown(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(self.timeout + 1)
        self.flush()
        with self._sending:
            self._close()
