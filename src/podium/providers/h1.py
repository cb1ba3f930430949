"""A lean HTTP/1.1 keep-alive client for the calls to model upstreams (decision 0075).

The upstream call is the one thing every request does, and aiohttp's client spent more CPU on it
than all of Podium's own steps together (cookie jar, tracing signals, URL objects, a request and a
response object graph per call). This client does only what an upstream call needs: ``POST`` a body
to one origin over pooled keep-alive connections, parse the answer with ``httptools`` (the llhttp
parser uvicorn uses: Content-Length, chunked and close-delimited bodies), and hand the body over
whole or as it arrives, with back-pressure.

Timeouts are deadlines, not tasks: ``connect`` bounds opening a connection, ``read`` every wait for
bytes (the first token, then each gap between chunks), ``deadline`` (a ``time.monotonic()`` instant)
the whole exchange. Failures are three exceptions the adapters map into the error tree:
:class:`ConnectError` (nothing was sent), :class:`Disconnected` (the connection ended before the
answer did), :class:`ProtocolError` (bytes that are not HTTP); a timeout is :class:`TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = [
    "CallTimeout",
    "ConnectError",
    "Disconnected",
    "H1Pool",
    "H1Response",
    "HTTPClientError",
    "Headers",
    "ProtocolError",
]

# Above this many unread body bytes, stop reading the socket until the caller catches up.
_HIGH_WATER = 1 << 20
_IDLE_SECONDS = 30.0  # an idle connection older than this is closed instead of reused


class HTTPClientError(Exception):
    """A transport failure of an upstream call."""


class ConnectError(HTTPClientError):
    """The connection could not be opened (refused, unreachable, TLS failure): nothing was sent."""


class Disconnected(HTTPClientError):
    """The connection closed before the answer was complete."""


class ProtocolError(HTTPClientError):
    """The upstream answered with bytes that are not a valid HTTP/1.1 response."""


@dataclass(frozen=True, slots=True)
class CallTimeout:
    connect: float
    read: float
    deadline: float  # time.monotonic() by which the whole exchange must be over


class Headers(dict[str, str]):
    """Response headers by lower-case name; :meth:`get` takes any case."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@lru_cache(maxsize=4096)
def _split(url: str) -> tuple[_Origin, bytes]:
    """``url`` as (origin, request target); the target is sent exactly as written (already encoded)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if any(c in target for c in " \r\n"):
        raise ValueError(f"URL has whitespace in its path: {url!r}")
    return _Origin(parts.scheme, parts.hostname, port), target.encode("ascii")


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One socket: writes requests, parses answers, wakes the one caller waiting on it."""

    def __init__(self, pool: H1Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False  # this exchange runs on a connection an earlier one used
        self._begin()

    def _begin(self) -> None:
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.got_bytes = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.error: HTTPClientError | None = None
        self.waiter: asyncio.Future[None] | None = None

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message is over
        self.complete = True
        self._wake()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = ProtocolError(f"not an HTTP/1.1 response: {exc}")
            self.close()
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self.error is None:
            if self.headers_done and self._until_close():
                self.complete = True  # a body without a length ends when the connection does
            else:
                reason = f": {exc}" if exc else ""
                self.error = Disconnected(f"the connection closed before the answer was complete{reason}")
        self.pool._forget(self)
        self._wake()

    def _until_close(self) -> bool:
        names = {n.lower() for n, _ in self.raw_headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self, timeout: CallTimeout) -> None:
        """Until the parser makes progress, the connection fails, or a timeout passes."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.waiter = fut
        when = min(loop.time() + timeout.read, loop.time() + (timeout.deadline - time.monotonic()))
        handle = loop.call_at(when, _expire, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self.waiter = None

    def take(self) -> bytes:
        data = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


class H1Response:
    """An answer being received: status and headers now, the body by :meth:`read` or :meth:`chunks`.

    Call :meth:`release` when done: a fully read answer gives its connection back to the pool; any
    other is closed, so a half-read body never reaches the next caller.
    """

    __slots__ = ("_conn", "_timeout", "headers", "status")

    def __init__(self, conn: _Connection, status: int, headers: Headers, timeout: CallTimeout) -> None:
        self._conn = conn
        self._timeout = timeout
        self.status = status
        self.headers = headers

    @property
    def at_eof(self) -> bool:
        return self._conn.complete and not self._conn.chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            if conn.chunks:
                yield conn.take()
            elif conn.complete:
                return
            elif conn.error is not None:
                raise conn.error
            else:
                await conn.wait(self._timeout)

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, or its first ``limit`` bytes (then the connection is not reused)."""
        conn = self._conn
        while not conn.complete and (limit is None or conn.buffered < limit):
            if conn.error is not None:
                raise conn.error
            await conn.wait(self._timeout)
        data = conn.take() if conn.chunks else b""
        return data if limit is None else data[:limit]

    def release(self) -> None:
        conn = self._conn
        if conn.complete and conn.keep_alive and not conn.chunks and not conn.closed:
            conn.pool._put_back(conn)
        else:
            self.close()

    def close(self) -> None:
        self._conn.close()
        self._conn.pool._forget(self._conn)


class H1Pool:
    """Keep-alive connections to one origin, at most ``max_connections`` open at once."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        user_agent: str,
        ssl_context: ssl.SSLContext | None = None,
        idle_seconds: float = _IDLE_SECONDS,
    ) -> None:
        self.origin, _ = _split(base_url)
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self._ssl = (ssl_context or ssl.create_default_context()) if self.origin.scheme == "https" else None
        self._fixed = f"Host: {self.origin.authority}\r\nUser-Agent: {user_agent}\r\n".encode("latin-1")
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: CallTimeout
    ) -> H1Response:
        """Send ``body`` to ``url`` (on this pool's origin) and wait for the status line and headers."""
        origin, target = _split(url)
        if origin != self.origin:
            raise ValueError(f"{url!r} is not on this pool's origin {self.origin.authority}")
        head = _request_head(target, self._fixed, headers, len(body))
        retry = True
        while True:
            conn = await self._acquire(timeout)
            try:
                assert conn.transport is not None
                conn.transport.write(head + body)
                while not conn.headers_done:
                    if conn.error is not None:
                        raise conn.error
                    await conn.wait(timeout)
                break
            except Disconnected:
                conn.close()
                self._forget(conn)
                # The keep-alive race: the upstream closed an idle connection as this request went out,
                # so it never saw the request. Once, on a fresh connection (as Go's net/http does).
                if retry and conn.reused and not conn.got_bytes:
                    retry = False
                    continue
                raise
            except BaseException:
                conn.close()
                self._forget(conn)
                raise
        headers_out = Headers((n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in conn.raw_headers)
        return H1Response(conn, conn.parser.get_status_code(), headers_out, timeout)

    async def _acquire(self, timeout: CallTimeout) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ConnectError("the HTTP client is closed")
            now = loop.time()
            while self._idle:
                conn = self._idle.pop()  # the most recently used: the likeliest to be alive
                if not conn.closed and now - conn.idle_since < self.idle_seconds:
                    conn._begin()
                    conn.reused = True
                    self._busy.add(conn)
                    return conn
                conn.close()
            if len(self._busy) + self._opening < self.max_connections:
                return await self._connect(timeout)
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            handle = loop.call_at(loop.time() + (timeout.deadline - time.monotonic()), _expire, fut)
            try:
                await fut
            except BaseException:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._wake_one()  # woken, but leaving (cancelled): pass the turn on
                else:
                    self._discard_waiter(fut)
                raise
            finally:
                handle.cancel()

    def _discard_waiter(self, fut: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already woken and removed
            self._waiters.remove(fut)

    async def _connect(self, timeout: CallTimeout) -> _Connection:
        loop = asyncio.get_running_loop()
        o = self.origin
        self._opening += 1
        try:
            wait = min(timeout.connect, timeout.deadline - time.monotonic())
            async with asyncio.timeout(wait):
                _, proto = await loop.create_connection(
                    lambda: _Connection(self),
                    o.host,
                    o.port,
                    ssl=self._ssl,
                    server_hostname=o.host if self._ssl is not None else None,
                )
        except OSError as exc:  # refused, unreachable, name resolution, TLS (ssl.SSLError is an OSError)
            raise ConnectError(f"{exc.__class__.__name__}: {exc}") from None
        finally:
            self._opening -= 1
        assert isinstance(proto, _Connection)
        if self._closed:
            proto.close()
            raise ConnectError("the HTTP client is closed")
        self._busy.add(proto)
        return proto

    def _put_back(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if self._closed:
            conn.close()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        self._idle.append(conn)
        self._wake_one()

    def _forget(self, conn: _Connection) -> None:
        """``conn`` closed (by us or by the other side): it no longer counts against the limit."""
        was_busy = conn in self._busy
        self._busy.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        if was_busy:
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def close(self) -> None:
        """Close every connection; callers still waiting for one get :class:`ConnectError`."""
        self._closed = True
        for conn in [*self._idle, *self._busy]:
            conn.close()
        self._idle.clear()
        self._busy.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
        await asyncio.sleep(0)  # let the transports' close callbacks run


def _request_head(target: bytes, fixed: bytes, headers: Mapping[str, str], length: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} has a line break in it")
        lines.append(f"{name}: {value}\r\n")
    return b"".join(
        (
            b"POST ",
            target,
            b" HTTP/1.1\r\n",
            fixed,
            "".join(lines).encode("latin-1"),
            b"Content-Length: %d\r\n\r\n" % length,
        )
    )
