"""Server-sent events, parsed incrementally from the bytes an upstream sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

__all__ = ["SSEParser", "iter_sse"]


class SSEParser:
    """Splits a byte stream into ``(event, data)`` pairs; ``event`` is ``b""`` when the frame names none.

    Frames end at a blank line (``\\n\\n`` or ``\\r\\n\\r\\n``); multi-line ``data:`` fields are joined
    with ``\\n``; comments (``:``) are ignored. Most upstream chunks hold whole frames, so the common
    case costs one ``find`` and one slice per frame.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        frames: list[tuple[bytes, bytes]] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            frame = _parse_frame(buf[start:end])
            if frame is not None:
                frames.append(frame)
            start = end + 2
        self._buf = buf[start:]
        return frames

    def pending(self) -> bytes:
        """Bytes received after the last complete frame (a stream cut mid-frame leaves some)."""
        return self._buf


def _parse_frame(block: bytes) -> tuple[bytes, bytes] | None:
    if block.startswith(b"data: ") and b"\n" not in block:
        return b"", block[6:]  # the overwhelmingly common single-line frame
    event = b""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value
    if not data and not event:
        return None
    return event, b"\n".join(data)


async def iter_sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[bytes, bytes]]:
    parser = SSEParser()
    async for chunk in response.content.iter_any():
        for frame in parser.feed(chunk):
            yield frame
