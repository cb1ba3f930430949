"""Two ``podium serve`` processes sharing Redis and PostgreSQL: limits and the cache hold across both.

Redis is reached through a TCP proxy in this test process, so a test can cut it off mid-traffic.
One replica is configured fail-open, the other fail-closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from tests.cli.test_serve import ADMIN, Server
from tests.pg import fresh_schema
from tests.redis_server import fresh_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

RPM = 6

CONFIG = """
providers: {{sim: {{type: simulated}}}}
deployments:
  sim/*: {{provider: sim, model: "*", price: {{input: 1.0, output: 2.0}}}}
server: {{drain_seconds: 2}}
storage: {{url: "{storage}", flush_interval_ms: 20}}
state: {{redis_url: "redis://127.0.0.1:{port}/0", key_prefix: "{prefix}", on_unavailable: {policy}, timeout_ms: 200}}
limits:
  per-key: {{rpm: {rpm}, match: {{keys: [limited]}}}}
cache: {{exact: true}}
"""


class Proxy:
    """A TCP forwarder to Redis that can be cut off (every connection dropped) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if listener.fileno() == -1:  # cut() ran since accept(): it did not see these two
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets = []


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Proxy]]:
    """Replica A (fail-open) and replica B (fail-closed) on one PostgreSQL schema and one Redis prefix."""
    # One loop for enter and exit: asyncio.run() would finalize the generators (drop the schema,
    # delete the prefix) as soon as they are entered, and leave behind what the tests then write.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        schema = fresh_schema()
        storage = runner.run(schema.__aenter__())
        prefix_cm = fresh_prefix()
        redis_url, prefix = runner.run(prefix_cm.__aenter__())
        redis = urlsplit(redis_url)
        proxy = Proxy((redis.hostname or "127.0.0.1", redis.port or 6379))
        servers: list[Server] = []
        try:
            for policy in ("open", "closed"):
                tmp: Path = tmp_path_factory.mktemp(f"replica-{policy}")
                config = CONFIG.format(
                    storage=storage, port=proxy.port, prefix=prefix, policy=policy, rpm=RPM
                )
                servers.append(Server(tmp, config, env={"PODIUM_ADMIN_KEY": ADMIN}))
            yield servers[0], servers[1], proxy
        finally:
            for s in servers:
                s.stop()
            proxy.cut()
            runner.run(prefix_cm.__aexit__(None, None, None))
            runner.run(schema.__aexit__(None, None, None))


def make_key(server: Server, name: str) -> str:
    """A key created through the admin API of one replica; the other learns it from PostgreSQL."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/admin/keys",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return str(json.loads(r.read())["key"])


def readyz(server: Server) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


class Answer:
    def __init__(self, status_code: int, headers: dict[str, str], parsed: Any) -> None:
        self.status_code, self.headers, self._parsed = status_code, headers, parsed

    def parse(self) -> Any:
        return self._parsed


def ask(server: Server, key: str, content: str = "hello", **kw: Any) -> Answer:
    with server.client(key) as client:  # closed each time: no idle connection delays the shutdown
        raw = client.chat.completions.with_raw_response.create(
            model="sim/echo", messages=[{"role": "user", "content": content}], **kw
        )
        return Answer(raw.status_code, dict(raw.headers), raw.parse())


def wait_for(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (openai.APIError, AssertionError):
            if time.monotonic() > deadline:
                raise
        else:
            if result or time.monotonic() > deadline:
                return result
        time.sleep(0.1)


def test_rpm_limit_admits_n_in_total_across_both_replicas(replicas: tuple[Server, Server, Proxy]) -> None:
    """A limit of N requests per minute on a key admits N in total over two replicas, not N each."""
    a, b, _ = replicas
    key = make_key(a, "limited")
    wait_for(lambda: ask(b, key, "sync check").status_code == 200)  # B knows the key (1 request used)
    admitted, refused = 1, 0
    for i in range(2 * RPM):
        try:
            ask(a if i % 2 else b, key, f"request {i}")
            admitted += 1
        except openai.RateLimitError as e:
            assert e.response.headers["x-podium-limit"] == "per-key.rpm"
            refused += 1
    assert admitted == RPM and refused == 2 * RPM + 1 - RPM


def test_cache_entry_written_through_one_replica_is_hit_through_the_other(
    replicas: tuple[Server, Server, Proxy],
) -> None:
    """An answer cached by replica A is served from the cache by replica B."""
    a, b, _ = replicas
    first = ask(a, ADMIN, "cache me across replicas", temperature=0)
    assert first.headers["x-podium-cache"] == "miss"
    second = wait_for(
        lambda: (
            (r := ask(b, ADMIN, "cache me across replicas", temperature=0)).headers["x-podium-cache"] == "hit"
            and r
        )
    )
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content


def test_redis_outage_follows_each_replicas_policy_and_shows_in_readyz(
    replicas: tuple[Server, Server, Proxy],
) -> None:
    """With Redis cut off, the fail-open replica serves past the limit and the fail-closed one answers 503;
    /readyz and the log say so (once); when Redis is back, limits hold again."""
    a, b, proxy = replicas
    key = make_key(a, "limited")  # a new key: a fresh counter
    wait_for(lambda: ask(b, key, "before the outage").status_code == 200)
    proxy.cut()
    try:
        served = sum(ask(a, key, f"open {i}").status_code == 200 for i in range(RPM + 2))
        assert served == RPM + 2  # limits unenforced while Redis is away
        with pytest.raises(openai.InternalServerError) as caught:
            ask(b, key, "closed")
        assert caught.value.status_code == 503 and caught.value.code == "state_unavailable"
        status_a, body_a = readyz(a)
        status_b, body_b = readyz(b)
        assert status_a == 200 and body_a["checks"]["shared_state"].startswith("unreachable")
        assert status_b == 503 and body_b["checks"]["shared_state"].startswith("unreachable")
    finally:
        proxy.start()
    wait_for(lambda: readyz(b)[0] == 200)
    for server in (a, b):
        log = server.stderr()
        assert log.count("shared state unreachable") == 1, log
        assert "shared state reachable again" in log
    fresh = make_key(a, "limited")
    wait_for(lambda: ask(b, fresh, "after").status_code == 200)
    results = []
    for i in range(RPM + 1):
        try:
            results.append(ask(a if i % 2 else b, fresh, f"after {i}").status_code)
        except openai.RateLimitError:
            results.append(429)
    assert results.count(200) == RPM - 1 and results[-1] == 429
