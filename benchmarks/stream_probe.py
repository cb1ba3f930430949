"""Streaming probe: time to the first SSE event and to ``data: [DONE]``, from the request's write.

``python -m benchmarks.stream_probe --url URL -c N --seconds S --model fake-gpt-c5 --key K`` keeps N
keep-alive connections, each sending streaming chat requests one after another, over raw asyncio
streams with httptools' response parser (which undoes chunked encoding), so the client adds little
and adds the same to the direct and the Podium run. Prints one ``RESULT {json}`` line.

Two "first" figures: the first ``data:`` event of any kind, and the first event carrying answer text
(``"content":"`` followed by something). Upstreams usually open with a role-only event whose content
is empty; a gateway that re-encodes events may fold it into the first text event, which moves the
first event but not the first token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from benchmarks.loadgen import chat_body, percentile

_TEXT = re.compile(rb'"content":\s*"[^"]')


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamResult:
    requests: int
    errors: int
    first_p50_ms: float
    first_p99_ms: float
    token_p50_ms: float
    token_p99_ms: float
    done_p50_ms: float
    done_p99_ms: float
    events: int
    first_error: str | None

    @classmethod
    def parse(cls, output: str) -> StreamResult:
        for line in output.splitlines():
            if line.startswith("RESULT "):
                return cls(**json.loads(line[7:]))
        raise RuntimeError(f"the stream probe printed no RESULT line:\n{output[-2000:]}")


class ProbeError(Exception):
    pass


class _Response:
    """httptools callbacks for one response: when the first ``data:`` arrived, and when it ended."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.first: float | None = None
        self.token: float | None = None
        self.complete: float | None = None
        self.close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection" and value.strip().lower() == b"close":
            self.close = True

    def on_body(self, body: bytes) -> None:
        self.body += body
        if self.first is None and b"data:" in self.body:
            self.first = time.perf_counter()
        if self.token is None and _TEXT.search(self.body):
            self.token = time.perf_counter()

    def on_message_complete(self) -> None:
        self.complete = time.perf_counter()


async def one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[float, float, float, int, bool]:
    """Sends one streaming request; returns ms to the first event, to the first text, to the end; events; closing."""
    response = _Response()
    parser = httptools.HttpResponseParser(response)
    t0 = time.perf_counter()
    writer.write(request)
    while response.complete is None:
        data = await reader.read(65536)
        if not data:
            raise ProbeError("connection closed mid-response")
        parser.feed_data(data)
    status = parser.get_status_code()
    if status != 200:
        raise ProbeError(f"status {status}: {bytes(response.body[:200])!r}")
    events = [line for line in bytes(response.body).split(b"\n") if line.startswith(b"data:")]
    if not events or events[-1].strip() != b"data: [DONE]":
        raise ProbeError("the stream did not end with data: [DONE]")
    assert response.first is not None
    token = response.token if response.token is not None else response.complete
    ms = [(t - t0) * 1000 for t in (response.first, token, response.complete)]
    return ms[0], ms[1], ms[2], len(events), response.close


async def probe(url: str, key: str, model: str, concurrency: int, seconds: float) -> StreamResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = chat_body(model, stream=True)
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nAuthorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    firsts: list[float] = []
    tokens: list[float] = []
    dones: list[float] = []
    events: list[int] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < deadline:
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                first, token, done, n, closing = await one(*conn, request)
            except (ProbeError, OSError, httptools.HttpParserError) as exc:
                errors.append(repr(exc)[:300])
                if conn is not None:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            firsts.append(first)
            tokens.append(token)
            dones.append(done)
            events.append(n)
            if closing:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    firsts.sort()
    tokens.sort()
    dones.sort()
    return StreamResult(
        requests=len(firsts),
        errors=len(errors),
        first_p50_ms=percentile(firsts, 50),
        first_p99_ms=percentile(firsts, 99),
        token_p50_ms=percentile(tokens, 50),
        token_p99_ms=percentile(tokens, 99),
        done_p50_ms=percentile(dones, 50),
        done_p99_ms=percentile(dones, 99),
        events=min(events, default=0),
        first_error=errors[0] if errors else None,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:18000")
    ap.add_argument("--key", default="sk-bench")
    ap.add_argument("--model", default="fake-gpt-c5")
    ap.add_argument("-c", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args(argv)
    import uvloop

    result = uvloop.run(probe(args.url, args.key, args.model, args.c, args.seconds))
    fields = {k: getattr(result, k) for k in StreamResult.__dataclass_fields__}
    print("RESULT " + json.dumps(fields), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
