"""AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

One message on the wire::

    total length  u32 BE ┐
    header length u32 BE ├ prelude, checked by the prelude CRC
    prelude CRC32 u32 BE ┘
    headers       name-len u8, name, value type u8, value   (strings: u16 BE length + UTF-8)
    payload       bytes
    message CRC32 u32 BE  over everything before it

A CRC that does not match is :class:`~podium.errors.UpstreamProtocolError`; bytes left over when the
body ends (a stream cut mid-frame) are for the adapter to report as a connection error
(:meth:`EventStreamDecoder.pending`). Bedrock's ConverseStream is the one user so far.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from podium.errors import UpstreamProtocolError

__all__ = ["EventMessage", "EventStreamDecoder", "encode_message"]

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
_MIN_MESSAGE = 16  # prelude (12) + message CRC (4)
_MAX_MESSAGE = 16 * 1024 * 1024
HeaderValue = str | bytes | int | bool

# value type -> fixed size (None: u16-length-prefixed)
_FIXED = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_INT_FORMAT = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes


def _headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    i = 0
    end = len(data)
    try:
        while i < end:
            n = data[i]
            name = data[i + 1 : i + 1 + n].decode()
            i += 1 + n
            kind = data[i]
            i += 1
            value: HeaderValue
            if kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, i)
                raw = data[i + 2 : i + 2 + length]
                value = raw.decode() if kind == 7 else raw
                i += 2 + length
            elif kind in _FIXED:
                size = _FIXED[kind]
                chunk = data[i : i + size]
                value = chunk if kind == 9 else struct.unpack(_INT_FORMAT[kind], chunk)[0]
                i += size
            else:
                raise UpstreamProtocolError(f"An event-stream header has an unknown value type {kind}.")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError):
        raise UpstreamProtocolError("An event-stream message has malformed headers.") from None
    return headers


class EventStreamDecoder:
    """Feed it bytes as they arrive; it returns every whole message they complete.

    A stream repeats a handful of header blocks (every text delta carries the same three headers),
    so parsed headers are kept by their bytes: the per-message cost is two CRCs and two slices.
    """

    __slots__ = ("_buf", "_headers")

    def __init__(self) -> None:
        self._buf = b""
        self._headers: dict[bytes, dict[str, HeaderValue]] = {}

    def _parse_headers(self, raw: bytes) -> dict[str, HeaderValue]:
        headers = self._headers.get(raw)
        if headers is None:
            headers = _headers(raw)
            if len(self._headers) < 64:
                self._headers[raw] = headers
        return headers

    def feed(self, chunk: bytes) -> list[EventMessage]:
        buf = self._buf + chunk if self._buf else chunk
        view = memoryview(buf)
        out: list[EventMessage] = []
        start = 0
        size = len(buf)
        while size - start >= 12:
            total, header_len, prelude_crc = _PRELUDE.unpack_from(buf, start)
            if zlib.crc32(view[start : start + 8]) != prelude_crc:
                raise UpstreamProtocolError("An event-stream message failed its prelude CRC check.")
            if not _MIN_MESSAGE <= total <= _MAX_MESSAGE or header_len > total - _MIN_MESSAGE:
                raise UpstreamProtocolError(f"An event-stream message claims an impossible length ({total}).")
            if size - start < total:
                break
            end = start + total
            (message_crc,) = _U32.unpack_from(buf, end - 4)
            if zlib.crc32(view[start : end - 4]) != message_crc:
                raise UpstreamProtocolError("An event-stream message failed its CRC check.")
            headers_end = start + 12 + header_len
            headers = self._parse_headers(buf[start + 12 : headers_end])
            out.append(EventMessage(headers, buf[headers_end : end - 4]))
            start = end
        view.release()
        self._buf = buf[start:]
        return out

    def pending(self) -> bytes:
        """Bytes of a message not yet complete: non-empty when the body ends, the stream was cut."""
        return self._buf


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers (what the simulator sends)."""
    raw = bytearray()
    for name, value in headers.items():
        n = name.encode()
        v = value.encode()
        raw += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(raw) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw))
    head = prelude + _U32.pack(zlib.crc32(prelude)) + bytes(raw) + payload
    return head + _U32.pack(zlib.crc32(head))
