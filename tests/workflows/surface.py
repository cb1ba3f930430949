"""A gateway serving the shipped example flows (and a test's own), for the API and CLI tests.

The examples run exactly as shipped (``examples/flows``, the deployments of
``examples/flows.podium.yaml`` on the simulated provider); a test adds flows of its own as YAML
text. Keys: ``owner`` (the harness's admin key), and one key per review role.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.admin_client import Answer, call
from tests.harness import GatewayThread, make_config, sqlite_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "flows"
CONTRACTS = EXAMPLES / "contracts"
TICKETS = EXAMPLES / "tickets"

ROLES = {
    "legal": {"include": ["reviewer"]},
    "legal-lead": {"include": ["reviewer"]},
    "support-lead": {"include": ["reviewer"]},
    "support-manager": {"include": ["reviewer"]},
}
GUARDRAILS = {
    "policies": {
        "no-account-numbers": {
            "output": [{"type": "pii", "entities": ["IBAN", "CREDIT_CARD", "SECRET"], "action": "block"}]
        }
    }
}
DEPLOYMENTS = {
    "contract-model": {
        "provider": "sim",
        "model": "echo",
        "capabilities": ["chat", "streaming", "json_object", "json_schema"],
        "price": {"input": 2.5, "output": 10.0},
    },
    "support-model": {
        "provider": "sim",
        "model": "echo",
        "capabilities": ["chat", "streaming", "json_object", "json_schema"],
        "price": {"input": 0.15, "output": 0.6},
    },
}


class FlowServer:
    """The gateway, its keys, and one-line HTTP calls."""

    def __init__(self, gw: GatewayThread) -> None:
        self.gw = gw
        self.owner = gw.admin_key
        self.keys = {role: gw.new_key(name=f"as-{role}", roles=(role,)) for role in ROLES}
        self.keys["application"] = gw.new_key(name="app", roles=("application",))
        self.keys["reviewer"] = gw.new_key(name="plain-reviewer", roles=("reviewer",))

    @property
    def url(self) -> str:
        return self.gw.url

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> Answer:
        return call(self.gw.url, method, path, key or self.owner, body)

    def start(self, flow: str, inputs: dict[str, Any], *, wait: float = 20, key: str | None = None) -> Answer:
        return self.call("POST", f"/v1/flows/{flow}/runs", {"inputs": inputs, "wait": wait}, key=key)

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/v1/runs/{run_id}")
        assert answer.status == 200, answer.body
        found: dict[str, Any] = answer.json()
        return found

    def settle(self, run_id: str, timeout: float = 20) -> dict[str, Any]:
        """The run once it is finished or waiting for review (polled every 20 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run["status"] not in ("queued", "running"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']} after {timeout}s")
            time.sleep(0.02)

    def decide(self, review_id: str, key: str | None = None, **body: Any) -> Answer:
        return self.call("POST", f"/v1/reviews/{review_id}/decision", body, key=key)

    def audit(self, action: str) -> list[Any]:
        async def read() -> list[Any]:
            await self.gw.gateway.audit.flush()
            return await self.gw.storage.audit.recent(tenant="default", limit=200)

        return [e for e in self.gw.run(read) if e.action == action]


@contextmanager
def flow_server(tmp: Path, flows: dict[str, str] | None = None, **workflows: Any) -> Iterator[FlowServer]:
    """A gateway on SQLite in ``tmp`` serving the examples plus ``flows`` (file name -> YAML text)."""
    extra = tmp / "flows"
    extra.mkdir(exist_ok=True)
    for name, text in (flows or {}).items():
        (extra / name).write_text(text)
    config = make_config(
        {
            "deployments": DEPLOYMENTS,
            "workflows": {
                "flows": [str(EXAMPLES), str(extra)],
                "poll_interval_ms": 20,
                "lease_seconds": 2,
                **workflows,
            },
            "identity": {"roles": ROLES},
            "guardrails": GUARDRAILS,
        }
    )
    gw = GatewayThread(config, sqlite_url(tmp)).start()
    try:
        yield FlowServer(gw)
    finally:
        gw.stop()


def contract(name: str) -> dict[str, Any]:
    return {"contract": (CONTRACTS / name).read_text()}


def steps_by_key(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in run["steps"]}
