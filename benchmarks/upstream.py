"""A fast fake OpenAI-compatible upstream: ``python -m benchmarks.upstream --port N``.

It must cost far less CPU per request than the gateway, or the benchmark measures the upstream; so it
is a raw asyncio Protocol with httptools' C parser on uvloop, answers from pre-formatted byte
templates, and touches JSON only to read ``model`` and ``stream`` from the request.

``POST /v1/chat/completions`` answers a ``chat.completion`` with realistic ``usage``, or, with
``"stream": true``, SSE ``chat.completion.chunk`` events (role, content pieces, finish, and a usage
chunk when ``stream_options.include_usage``) and ``data: [DONE]``. The model name picks the scenario,
so one upstream serves every point behind a gateway that forwards names unchanged:

- ``-d<N>``: wait N ms before the answer (or its first event): ``fake-gpt-d50``;
- ``-c<N>``: wait N ms between SSE events: ``fake-gpt-c5`` (usage and ``[DONE]`` follow the finish
  event at once, as OpenAI sends them).

``GET /health`` and ``GET /v1/models`` answer too; anything else is a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import httptools
import msgspec

ANSWER = (
    "The sea is a restless mirror that holds the sky, breathing in slow tides and "
    "whispering old stories to the shore while gulls trace white arcs above the waves."
)
ANSWER_WORDS = ANSWER.split(" ")
CONTENT_CHUNKS = 16
_DELAY = re.compile(r"-d(\d+)(?=-|$)")
_CHUNK_DELAY = re.compile(r"-c(\d+)(?=-|$)")
_decode = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a model name asks for: seconds before the answer and between SSE events."""

    delay: float
    chunk_delay: float


_scenarios: dict[str, Scenario] = {}


def scenario(model: str) -> Scenario:
    got = _scenarios.get(model)
    if got is None:
        d, c = _DELAY.search(model), _CHUNK_DELAY.search(model)
        got = Scenario(int(d.group(1)) / 1000 if d else 0.0, int(c.group(1)) / 1000 if c else 0.0)
        if len(_scenarios) < 256:  # a client sending random names must not grow this forever
            _scenarios[model] = got
    return got


class _Clock:
    """The HTTP ``date`` header, formatted once a second rather than per response."""

    second = 0
    value = b""

    @classmethod
    def date(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second, cls.value = now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
        return cls.value


def response(status: bytes, body: bytes, keep_alive: bool, extra: bytes = b"") -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 ",
            status,
            b"\r\ncontent-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\ndate: ",
            _Clock.date(),
            b"\r\nconnection: ",
            b"keep-alive" if keep_alive else b"close",
            b"\r\n",
            extra,
            b"\r\n",
            body,
        )
    )


def usage_json(prompt_tokens: int, completion_tokens: int) -> str:
    return (
        f'{{"prompt_tokens":{prompt_tokens},"completion_tokens":{completion_tokens},'
        f'"total_tokens":{prompt_tokens + completion_tokens},'
        '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
        '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
    )


def completion_body(rid: str, created: int, model_js: str, prompt_tokens: int) -> bytes:
    return (
        f'{{"id":"{rid}","object":"chat.completion","created":{created},"model":{model_js},'
        '"system_fingerprint":"fp_bench01","choices":[{"index":0,"message":{"role":"assistant",'
        f'"content":"{ANSWER}","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],'
        f'"usage":{usage_json(prompt_tokens, len(ANSWER_WORDS))},"service_tier":"default"}}'
    ).encode()


def _pieces() -> list[str]:
    """The answer cut into CONTENT_CHUNKS pieces on word boundaries, as a model streams it."""
    bounds = [i * len(ANSWER_WORDS) // CONTENT_CHUNKS for i in range(CONTENT_CHUNKS + 1)]
    out = []
    for i in range(CONTENT_CHUNKS):
        text = " ".join(ANSWER_WORDS[bounds[i] : bounds[i + 1]])
        out.append(text if i == 0 else " " + text)
    return out


_PIECES_JS = [msgspec.json.encode(p).decode() for p in _pieces()]


def stream_events(
    rid: str, created: int, model_js: str, prompt_tokens: int, include_usage: bool
) -> list[bytes]:
    """Each SSE event framed as one HTTP chunk. The last item — usage (if asked), [DONE] and the end of
    the body — goes out together with the finish event, as OpenAI sends them: only the events before
    it are paced, so a gateway that always asks for usage is not charged an extra interval."""
    head = (
        f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},"model":{model_js},'
        '"system_fingerprint":"fp_bench01","choices":'
    )
    tail = '"logprobs":null,"finish_reason":null}]}\n\n'
    events = [head + '[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},' + tail]
    events += [head + f'[{{"index":0,"delta":{{"content":{p}}},' + tail for p in _PIECES_JS]
    events.append(head + '[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n')
    end = ["data: [DONE]\n\n"]
    if include_usage:
        end.insert(0, head + f'[],"usage":{usage_json(prompt_tokens, len(ANSWER_WORDS))}}}\n\n')
    framed = [b"%x\r\n%s\r\n" % (len(e), e.encode()) for e in events + end]
    framed[len(events) - 1 :] = [b"".join(framed[len(events) - 1 :]) + b"0\r\n\r\n"]
    return framed


class _Request:
    __slots__ = ("body", "keep_alive", "method", "path")

    def __init__(self, method: bytes, path: bytes, body: bytes, keep_alive: bool) -> None:
        self.method, self.path, self.body, self.keep_alive = method, path, body, keep_alive


_ids = itertools.count(1)


class UpstreamProtocol(asyncio.Protocol):
    """One connection. Answers without a task when it can; delayed and streamed answers get one."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        # Requests that arrive while a slow answer is in flight wait their turn (HTTP/1.1 order).
        self.waiting: deque[_Request] = deque()
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send(response(b"400 Bad Request", b'{"error":"bad request"}', False), False)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        req = _Request(
            self.parser.get_method(),
            self.url.split(b"?", 1)[0],
            b"".join(self.body),
            self.parser.should_keep_alive(),
        )
        if self.busy:
            self.waiting.append(req)
        else:
            self.dispatch(req)

    def dispatch(self, req: _Request) -> None:
        slow = self.handle(req)
        if slow is not None:
            self.busy = True
            asyncio.ensure_future(slow).add_done_callback(self._slow_done)

    def _slow_done(self, task: asyncio.Future[None]) -> None:
        self.busy = False
        if not task.cancelled() and task.exception() is not None:
            print(f"upstream: handler failed: {task.exception()!r}", file=sys.stderr)
            self.send(b"", False)
            return
        while self.waiting and not self.busy and not self.closed:
            self.dispatch(self.waiting.popleft())

    def send(self, data: bytes, keep_alive: bool) -> None:
        if self.closed or self.transport is None:
            return
        if data:
            self.transport.write(data)
        if not keep_alive:
            self.transport.close()
            self.closed = True

    def handle(self, req: _Request) -> Any:
        """Answers now and returns None, or returns the coroutine that will answer later."""
        if req.method == b"POST" and req.path in (b"/v1/chat/completions", b"/chat/completions"):
            return self.chat(req)
        if req.method == b"GET" and req.path in (b"/health", b"/"):
            self.send(response(b"200 OK", b'{"status":"ok"}', req.keep_alive), req.keep_alive)
            return None
        if req.method == b"GET" and req.path in (b"/v1/models", b"/models"):
            models = ",".join(
                f'{{"id":"{m}","object":"model","created":1700000000,"owned_by":"bench"}}'
                for m in ("fake-gpt", "fake-gpt-d50", "fake-gpt-c5")
            )
            body = f'{{"object":"list","data":[{models}]}}'.encode()
            self.send(response(b"200 OK", body, req.keep_alive), req.keep_alive)
            return None
        body = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
        self.send(response(b"404 Not Found", body, req.keep_alive), req.keep_alive)
        return None

    def chat(self, req: _Request) -> Any:
        try:
            payload = _decode.decode(req.body)
        except msgspec.DecodeError:
            body = b'{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}'
            self.send(response(b"400 Bad Request", body, req.keep_alive), req.keep_alive)
            return None
        model = str(payload.get("model") or "fake-gpt")
        plan = scenario(model)
        rid = f"chatcmpl-bench{next(_ids):012d}"
        created = int(time.time())
        model_js = msgspec.json.encode(model).decode()
        # ~4 bytes a token, like the tokenizers of English text; the exact count does not matter.
        prompt_tokens = max(1, len(req.body) // 4)
        if payload.get("stream") is True:
            options = payload.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            events = stream_events(rid, created, model_js, prompt_tokens, include_usage)
            return self.stream(req.keep_alive, rid, events, plan)
        extra = b"x-request-id: req_" + rid[9:].encode() + b"\r\nopenai-processing-ms: 1\r\n"
        data = response(
            b"200 OK", completion_body(rid, created, model_js, prompt_tokens), req.keep_alive, extra
        )
        if plan.delay <= 0:
            self.send(data, req.keep_alive)
            return None
        return self.later(plan.delay, data, req.keep_alive)

    async def later(self, delay: float, data: bytes, keep_alive: bool) -> None:
        await asyncio.sleep(delay)
        self.send(data, keep_alive)

    async def stream(self, keep_alive: bool, rid: str, events: list[bytes], plan: Scenario) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n"
            b"cache-control: no-cache\r\ndate: "
            + _Clock.date()
            + b"\r\nx-request-id: req_"
            + rid[9:].encode()
            + b"\r\n"
            b"connection: " + (b"keep-alive" if keep_alive else b"close") + b"\r\n\r\n"
        )
        if plan.delay > 0:
            await asyncio.sleep(plan.delay)
        if plan.chunk_delay <= 0:
            self.send(head + b"".join(events), keep_alive)
            return
        self.send(head + events[0], True)
        for event in events[1:-1]:
            await asyncio.sleep(plan.chunk_delay)
            if self.closed:
                return
            self.send(event, True)
        await asyncio.sleep(plan.chunk_delay)
        self.send(events[-1], keep_alive)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=4096, reuse_address=True)
    print(f"upstream listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18000)
    args = ap.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
