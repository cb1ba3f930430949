"""Official SDK clients for tests, handed out by a pool that closes them all at once.

``GatewayThread.openai()`` / ``.anthropic()`` use the gateway's pool, closed by ``stop()``; the
``sdk`` fixture is a pool for any other server (a subprocess replica, the simulator), closed at
the test's teardown. A client used in one block is better as ``with openai.OpenAI(...) as c:``;
an async client always as ``async with`` (it can only be closed on the loop that used it).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai

# Tests assert on the first answer, so no retries; a timeout well under pytest's own.
DEFAULTS: dict[str, Any] = {"max_retries": 0, "timeout": 20}


class SdkClients:
    def __init__(self) -> None:
        self._open: list[openai.OpenAI | anthropic.Anthropic] = []

    def openai(self, base_url: str, api_key: str, **options: Any) -> openai.OpenAI:
        """An OpenAI client; ``base_url`` ends in ``/v1``."""
        client = openai.OpenAI(base_url=base_url, api_key=api_key, **{**DEFAULTS, **options})
        self._open.append(client)
        return client

    def anthropic(self, base_url: str, api_key: str, **options: Any) -> anthropic.Anthropic:
        """An Anthropic client; ``base_url`` is the server's root (the SDK adds ``/v1``)."""
        client = anthropic.Anthropic(base_url=base_url, api_key=api_key, **{**DEFAULTS, **options})
        self._open.append(client)
        return client

    def close(self) -> None:
        while self._open:
            self._open.pop().close()
