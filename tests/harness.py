"""A real Podium server on a real socket, in a background thread, for tests that use the SDKs.

The server runs its own event loop in a thread, so the same test can use the synchronous and the
asynchronous ``openai`` clients. Storage is a real SQLite file (or a PostgreSQL URL).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import msgspec
import openai

from podium.config.model import Config
from podium.gateway.server import RunningServer, start_server
from podium.keys import create_key
from podium.storage import open_storage
from podium.storage.base import Storage
from podium.storage.records import RequestQuery, RequestRecord
from tests.sdk import SdkClients

T = TypeVar("T")

SIM_CONFIG: dict[str, Any] = {
    "providers": {"sim": {"type": "simulated"}},
    "deployments": {
        "sim/*": {
            "provider": "sim",
            "model": "*",
            "capabilities": [
                "chat",
                "streaming",
                "tools",
                "json_object",
                "json_schema",
                "vision",
                "embeddings",
            ],
            "price": {"input": 1.0, "output": 2.0},
        }
    },
}


def make_config(extra: dict[str, Any] | None = None) -> Config:
    """The simulated provider plus ``extra`` sections (merged one level deep)."""
    data: dict[str, Any] = {k: dict(v) for k, v in SIM_CONFIG.items()}
    for section, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section].update(value)
        else:
            data[section] = value
    data.setdefault("storage", {})
    data["storage"] = {"flush_interval_ms": 20, **data["storage"]}
    return msgspec.convert(data, Config)


class GatewayThread:
    def __init__(self, config: Config, storage_url: str) -> None:
        self.config = config
        self.storage_url = storage_url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="podium-test-server", daemon=True)
        self.server: RunningServer
        self.storage: Storage
        self.key = ""
        self.admin_key = ""
        self.sdk = SdkClients()

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout)

    def start(self) -> GatewayThread:
        self._thread.start()

        async def boot() -> None:
            self.storage = await open_storage(self.storage_url)
            await self.storage.migrate()
            self.server = await start_server(self.config, self.storage, host="127.0.0.1", port=0)
            self.key, _ = await create_key(self.storage, name="test")
            self.admin_key, _ = await create_key(self.storage, name="admin", scopes=("admin", "inference"))
            await self.server.gateway.keys.sync()

        self.run(boot)
        return self

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def gateway(self) -> Any:
        return self.server.gateway

    def openai(self, key: str | None = None, **options: Any) -> openai.OpenAI:
        """An OpenAI SDK client for this gateway (``key`` defaults to the test key), closed by ``stop()``."""
        return self.sdk.openai(self.url + "/v1", key or self.key, **options)

    def anthropic(self, key: str | None = None, **options: Any) -> anthropic.Anthropic:
        """An Anthropic SDK client for this gateway, closed by ``stop()``."""
        return self.sdk.anthropic(self.url, key or self.key, **options)

    def new_key(self, **kwargs: Any) -> str:
        async def make() -> str:
            secret, record = await create_key(self.storage, name=kwargs.pop("name", "extra"), **kwargs)
            self.server.gateway.keys.add(record)
            return secret

        return self.run(make)

    def records(self, **filters: Any) -> list[RequestRecord]:
        """Every request record so far, oldest first, after flushing what is buffered."""

        async def read() -> list[RequestRecord]:
            await self.server.gateway.recorder.flush()
            page = await self.storage.requests.query(RequestQuery(limit=1000, **filters))
            return list(reversed(page.items))

        return self.run(read)

    def wait_records(self, count: int, timeout: float = 5.0) -> list[RequestRecord]:
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)

    def leave_mid_stream(self, model: str, words: int = 200) -> None:
        """Start a streamed chat of ``words`` words on a raw socket and hang up once the answer begins."""
        body = json.dumps(
            {
                "model": model,
                "stream": True,
                "messages": [{"role": "user", "content": " ".join(["w"] * words)}],
            }
        )
        with socket.create_connection((self.server.host, self.server.port)) as s:
            s.sendall(
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
            )
            assert b"200" in s.recv(100)

    def reload(self, config: Config) -> None:
        async def apply() -> None:
            self.server.gateway.reload(config)

        self.run(apply)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self.server.stop(drain_seconds=2)
            await self.storage.close()

        self.sdk.close()
        try:
            self.run(shutdown)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.loop.close()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'podium.db'}"
