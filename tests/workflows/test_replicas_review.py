"""Two ``podium serve`` replicas sharing PostgreSQL: a run paused for review on replica A is approved
through replica B after A has gone, and B's worker finishes it — nothing ties a run to a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pg import fresh_schema
from tests.workflows.processes import ADMIN, Server, api, poll
from tests.workflows.surface import CONTRACTS, EXAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONFIG = """
storage: {{url: "{pg}"}}
providers:
  sim: {{type: simulated}}
deployments:
  contract-model: {{provider: sim, model: echo, capabilities: [chat, streaming, json_object, json_schema],
                   price: {{input: 2.5, output: 10.0}}}}
workflows:
  flows: ["{flows}"]
  poll_interval_ms: 50
  lease_seconds: 2
identity:
  roles:
    legal: {{include: [reviewer]}}
guardrails:
  policies:
    no-account-numbers: {{output: [{{type: pii, entities: [IBAN], action: block}}]}}
"""


@pytest.fixture
async def config() -> AsyncIterator[str]:
    async with fresh_schema() as pg:
        yield CONFIG.format(pg=pg, flows=EXAMPLES / "contract-analysis.yaml")


def test_a_review_paused_on_one_replica_is_approved_and_finished_on_another(
    tmp_path: Path, config: str
) -> None:
    """A pauses the contract run for legal; A stops; legal approves through B; B finishes the run."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = {"PODIUM_ADMIN_KEY": ADMIN}
    a = Server(tmp_path / "a", config, env=env)
    b = Server(tmp_path / "b", config, env=env)
    try:
        contract = (CONTRACTS / "saas-subscription.txt").read_text()
        started = api(
            a, "POST", "/v1/flows/contract-analysis/runs", {"inputs": {"contract": contract}, "wait": 30}
        )
        assert started.status == 201, started.body
        run = started.json()
        assert run["status"] == "waiting" and run["review_id"]
        assert a.stop() == 0  # replica A is gone; the paused run holds nothing there

        key = api(b, "POST", "/admin/keys", {"name": "legal", "roles": ["legal"]})
        assert key.status == 201, key.body
        legal = key.json()["key"]
        queue = api(b, "GET", "/v1/reviews?mine=1", token=legal).json()["data"]
        assert [t["id"] for t in queue] == [run["review_id"]]
        decided = api(
            b, "POST", f"/v1/reviews/{run['review_id']}/decision", {"decision": "approve"}, token=legal
        )
        assert decided.status == 200, decided.body

        done = poll(
            lambda: (
                (r := api(b, "GET", f"/v1/runs/{run['id']}").json())["status"] in ("succeeded", "failed")
                and r
            ),
            timeout=30,
            what="replica B to finish the run",
        )
        assert done["status"] == "succeeded", done["error"]
        assert done["output"]["review"] == "approve" and done["output"]["summary"]
        summarize = [s for s in done["steps"] if s["key"] == "summarize"]
        assert len(summarize) == 1 and summarize[0]["started_at"] >= decided.json()["review"]["decided_at"]
    finally:
        a.stop()
        b.stop()
