from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.harness import GatewayThread, make_config, sqlite_url


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], GatewayThread]]:
    """Start a gateway with the simulated provider plus the given sections; stopped after the test."""
    started: list[GatewayThread] = []

    def start(extra: dict[str, Any]) -> GatewayThread:
        gw = GatewayThread(make_config(extra), sqlite_url(tmp_path / str(len(started)))).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def client(gw: GatewayThread, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key or gw.key, max_retries=0, timeout=20)


def ask(c: openai.OpenAI, model: str, text: str = "hello", **kw: Any) -> Any:
    """The raw response (``.headers``, ``.parse()``) of a chat completion."""
    return c.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )
