"""Every model call leaves an audit entry: who, which model, cost, hashes of prompt and completion —
and their text only for tenants that opted in."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from podium.identity.tenants import create_tenant
from podium.keys import create_key
from tests.harness import GatewayThread, make_config, sqlite_url


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayThread]:
    gateway = GatewayThread(make_config(), sqlite_url(tmp_path)).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def model_calls(gw: GatewayThread, count: int) -> list[Any]:
    deadline = time.monotonic() + 5

    async def read() -> list[Any]:
        await gw.gateway.recorder.flush()
        await gw.gateway.audit.flush()
        return [e for e in await gw.storage.audit.read() if e.action == "model.call"]

    while True:
        found = gw.run(read)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_model_call_is_audited_with_hashes_only(gw: GatewayThread) -> None:
    """A chat call's entry names the key, model, tokens and cost, with SHA-256 of prompt and completion, not their text."""
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key) as client:
        reply = client.chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": "top secret"}]
        )
    [entry] = model_calls(gw, 1)
    record = gw.records()[0]
    assert (
        entry.actor == f"key:{record.key_id}"
        and entry.resource == "model:sim/echo"
        and entry.outcome == "200"
    )
    d = entry.details
    assert (
        d["request_id"] == record.id
        and d["cost_usd"] == record.cost_usd
        and d["input_tokens"] == record.input_tokens
    )
    completion = reply.choices[0].message.content or ""
    assert d["completion_sha256"] == hashlib.sha256(completion.encode()).hexdigest()
    assert len(d["prompt_sha256"]) == 64
    assert "top secret" not in json.dumps(d) and "prompt" not in d and "completion" not in d


def test_tenant_that_opts_in_keeps_content(gw: GatewayThread) -> None:
    """For a tenant with audit_content on, the entry also holds the prompt and the completion."""

    async def setup() -> str:
        await create_tenant(gw.storage, tenant_id="open", audit_content=True)
        secret, record = await create_key(gw.storage, name="open app", tenant="open")
        gw.gateway.keys.add(record)
        await gw.gateway.governance.directory.sync()
        return secret

    secret = gw.run(setup)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=secret) as client:
        client.chat.completions.create(model="sim/echo", messages=[{"role": "user", "content": "keep this"}])
    [entry] = model_calls(gw, 1)
    assert entry.tenant == "open"
    assert "keep this" in entry.details["prompt"] and "keep this" in entry.details["completion"]


def test_failed_call_is_audited_too(gw: GatewayThread) -> None:
    """A call refused for its model is audited with its status and error class."""
    limited = gw.new_key(models=("sim/echo",))
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key=limited) as client,
        pytest.raises(openai.PermissionDeniedError),
    ):
        client.chat.completions.create(model="sim/lorem", messages=[{"role": "user", "content": "x"}])
    [entry] = model_calls(gw, 1)
    assert entry.outcome == "403" and entry.details["error_class"] == "model_not_allowed"
