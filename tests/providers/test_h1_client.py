"""The upstream HTTP/1.1 client against a scripted server on a real socket: framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from podium.providers.h1 import CallTimeout, ConnectError, Disconnected, H1Pool, ProtocolError

# Each connection is handed to the script with its index; the script reads requests and writes answers.
Script = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


class Server:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        try:
            await self.script(index, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def timeout(read: float = 5.0, total: float = 10.0) -> CallTimeout:
    return CallTimeout(connect=2.0, read=read, deadline=time.monotonic() + total)


@pytest.fixture
async def pools() -> AsyncIterator[list[H1Pool]]:
    made: list[H1Pool] = []
    yield made
    for p in made:
        await p.close()


def pool(server: Server, made: list[H1Pool], max_connections: int = 10) -> H1Pool:
    p = H1Pool(server.url, max_connections=max_connections, user_agent="podium-test")
    made.append(p)
    return p


async def post(p: H1Pool, server: Server, body: bytes = b'{"q":1}', **kw: float) -> tuple[int, bytes]:
    resp = await p.post(
        server.url + "/chat/completions", body, {"Content-Type": "application/json"}, timeout(**kw)
    )
    try:
        return resp.status, await resp.read()
    finally:
        resp.release()


async def test_requests_reuse_one_keep_alive_connection_and_send_exact_bytes(pools: list[H1Pool]) -> None:
    async def script(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            server.requests.append(await read_request(reader))
            writer.write(OK)

    async with Server(script) as server:
        p = pool(server, pools)
        for _ in range(3):
            assert await post(p, server) == (200, b'{"ok":true}')
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"\r\nContent-Length: 7\r\n" in first and first.endswith(b'\r\n\r\n{"q":1}')
        assert b"\r\nHost: 127.0.0.1:" in first and b"\r\nUser-Agent: podium-test\r\n" in first


async def test_chunked_and_close_delimited_bodies_are_reassembled(pools: list[H1Pool]) -> None:
    async def script(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if index == 0:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            await writer.drain()

    async with Server(script) as server:
        p = pool(server, pools)
        assert await post(p, server) == (200, b"hello world")
        server.script = script
        # The chunked answer left its connection reusable; force a fresh one for the second script branch.
        await p.close()
        p = pool(server, pools)
        assert await post(p, server) == (200, b"until the end")


async def test_stream_chunks_arrive_as_they_are_sent(pools: list[H1Pool]) -> None:
    gate = asyncio.Event()

    async def script(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"7\r\ndata: 1\r\n")
        await writer.drain()
        await gate.wait()
        writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")

    async with Server(script) as server:
        p = pool(server, pools)
        resp = await p.post(server.url + "/chat/completions", b"{}", {}, timeout())
        assert resp.headers.get("content-type") == resp.headers.get("Content-Type") == "text/event-stream"
        got = []
        async for chunk in resp.chunks():
            got.append(chunk)
            gate.set()  # the second piece is only sent once the first was received
        resp.release()
        assert got == [b"data: 1", b"data: 2"]


async def test_upstream_closing_an_idle_connection_as_the_request_leaves_is_retried_once(
    pools: list[H1Pool],
) -> None:
    async def script(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if index == 0:
            writer.write(OK)  # keep-alive, then drop the next request unanswered (the idle-close race)
            await writer.drain()
            await read_request(reader)
            return
        writer.write(OK)
        await writer.drain()

    async with Server(script) as server:
        p = pool(server, pools)
        assert await post(p, server) == (200, b'{"ok":true}')
        assert await post(p, server) == (200, b'{"ok":true}')
        assert server.connections == 2


async def test_a_fresh_connection_cut_before_the_answer_is_not_retried(pools: list[H1Pool]) -> None:
    async def script(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with Server(script) as server:
        with pytest.raises(Disconnected):
            await post(pool(server, pools), server)
        assert server.connections == 1


async def test_garbage_cut_bodies_and_silence_raise_their_own_errors(pools: list[H1Pool]) -> None:
    async def script(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if index == 0:
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        elif index == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        else:
            await asyncio.sleep(30)
        await writer.drain()

    async with Server(script) as server:
        p = pool(server, pools)
        with pytest.raises(ProtocolError):
            await post(p, server)
        with pytest.raises(Disconnected):
            await post(p, server)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await post(p, server, read=0.2)
        assert time.monotonic() - started < 2


async def test_the_deadline_bounds_the_whole_exchange(pools: list[H1Pool]) -> None:
    async def script(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(100):  # each gap is short, the whole is long
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with Server(script) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await post(pool(server, pools), server, read=1.0, total=0.3)
        assert time.monotonic() - started < 2


async def test_a_full_pool_queues_callers_instead_of_opening_more(pools: list[H1Pool]) -> None:
    async def script(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(OK)

    async with Server(script) as server:
        p = pool(server, pools, max_connections=2)
        answers = await asyncio.gather(*(post(p, server) for _ in range(6)))
        assert answers == [(200, b'{"ok":true}')] * 6
        assert server.connections == 2


async def test_a_half_read_answer_never_reaches_the_next_caller(pools: list[H1Pool]) -> None:
    async def script(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"3\r\ntwo\r\n0\r\n\r\n")

    async with Server(script) as server:
        p = pool(server, pools)
        resp = await p.post(server.url + "/x", b"", {}, timeout())
        async for chunk in resp.chunks():
            assert chunk == b"one"
            break
        resp.release()  # abandoned mid-body: the connection is closed, not pooled
        assert await post(p, server) == (200, b"onetwo")
        assert server.connections == 2


async def test_refused_connections_and_bad_headers_fail_before_anything_is_sent(pools: list[H1Pool]) -> None:
    async with Server(lambda *_: asyncio.sleep(0)) as server:
        url = server.url
    p = H1Pool(url, max_connections=1, user_agent="t")
    pools.append(p)
    with pytest.raises(ConnectError):
        await p.post(url + "/x", b"", {}, timeout())
    with pytest.raises(ValueError, match="line break"):
        await p.post(url + "/x", b"", {"X-Evil": "a\r\nHost: elsewhere"}, timeout())
    with pytest.raises(ValueError, match="origin"):
        await p.post("http://elsewhere.example/x", b"", {}, timeout())
