"""The shipped examples run out of the box: ``examples/flows.podium.yaml`` as it is, from the
repository's root, on the simulated provider — two sample contracts pause for legal review and two do
not, and every support ticket's drafted reply waits for a support lead."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.config import load_config
from tests.harness import GatewayThread, sqlite_url
from tests.workflows.surface import CONTRACTS, ROOT, TICKETS, FlowServer, steps_by_key


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    """A gateway on the shipped configuration, started in the repository's root (flow paths are relative)."""
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        config = load_config(ROOT / "examples" / "flows.podium.yaml", environ={})
        gw = GatewayThread(config, sqlite_url(tmp_path_factory.mktemp("shipped"))).start()
    finally:
        os.chdir(before)
    try:
        yield FlowServer(gw)
    finally:
        gw.stop()


def test_both_flows_are_served(shipped: FlowServer) -> None:
    """GET /v1/flows lists the two shipped flows with their steps."""
    flows = {f["name"]: f for f in shipped.call("GET", "/v1/flows").json()["data"]}
    assert set(flows) == {"contract-analysis", "support-triage"}
    kinds = {s["kind"] for s in flows["contract-analysis"]["steps"]}
    assert kinds == {"tool", "map", "llm", "branch", "human_review", "validate"}
    assert flows["support-triage"]["inputs"]["required"] == ["customer", "message"]


@pytest.mark.parametrize(
    ("name", "pauses"),
    [
        ("mutual-nda.txt", False),
        ("consulting-services.txt", False),
        ("saas-subscription.txt", True),
        ("exclusive-supply.txt", True),
    ],
)
def test_sample_contracts_pause_when_the_risk_is_high(shipped: FlowServer, name: str, pauses: bool) -> None:
    """Contracts with red-flag clauses wait for the legal role; the others are summarised at once."""
    run = shipped.start("contract-analysis", {"contract": (CONTRACTS / name).read_text()}).json()
    flags = steps_by_key(run)["flags"]["output"]
    assert (flags["level"] == "high") is pauses
    if pauses:
        assert run["status"] == "waiting"
        task = shipped.call("GET", f"/v1/reviews/{run['review_id']}").json()
        assert task["role"] == "legal" and task["escalation_role"] == "legal-lead"
    else:
        assert run["status"] == "succeeded" and run["output"]["summary"]


def test_a_summary_that_repeats_an_account_number_is_withheld(shipped: FlowServer) -> None:
    """The consulting agreement's IBAN reaches the summary on the simulator; the validate step's policy
    refuses it and the flow's on_fail step replaces the summary with a note."""
    run = shipped.start(
        "contract-analysis", {"contract": (CONTRACTS / "consulting-services.txt").read_text()}
    ).json()
    assert run["status"] == "succeeded", run["error"]
    steps = steps_by_key(run)
    assert "GB82 WEST" in steps["summarize"]["output"]["summary"]
    assert steps["check_summary"]["status"] == "failed" and "IBAN" in steps["check_summary"]["error"]
    assert run["output"]["summary"].startswith("Summary withheld")
    nda = shipped.start("contract-analysis", {"contract": (CONTRACTS / "mutual-nda.txt").read_text()}).json()
    assert steps_by_key(nda)["check_summary"]["status"] == "succeeded" and "withhold" not in steps_by_key(nda)


@pytest.mark.parametrize("ticket", sorted(p.name for p in TICKETS.glob("*.json")))
def test_each_sample_ticket_is_routed_and_drafted_for_review(shipped: FlowServer, ticket: str) -> None:
    """Every ticket is classified, given a queue and a response time, and its draft waits for support-lead."""
    run = shipped.start("support-triage", json.loads((TICKETS / ticket).read_text())).json()
    assert run["status"] == "waiting", run["error"]
    steps = steps_by_key(run)
    route = steps["route"]["output"]
    assert route["queue"] and route["sla_hours"] >= 1
    assert route["incident"] is (ticket == "api-outage.json")
    draft = steps["draft"]["output"]
    assert set(draft) == {"subject", "body"} and draft["body"]
    task = shipped.call("GET", f"/v1/reviews/{run['review_id']}").json()
    assert task["role"] == "support-lead" and task["content"] == draft


def test_a_support_lead_edits_the_draft_and_the_edit_is_the_reply(shipped: FlowServer) -> None:
    """A modify that empties the body is refused by the draft's schema; a proper edit becomes the reply."""
    ticket = {
        "customer": {"name": "Aiko", "plan": "Starter"},
        "message": "Locked out after a password reset.",
    }
    run = shipped.start("support-triage", ticket).json()
    owner = shipped.owner
    empty = shipped.decide(
        run["review_id"], key=owner, decision="modify", content={"subject": "Hi", "body": ""}
    )
    assert empty.status == 400 and empty.json()["error"]["param"] == "content"
    reply = {
        "subject": "Your account is unlocked",
        "body": "Hi Aiko, we unlocked your account; please sign in again.",
    }
    assert shipped.decide(run["review_id"], key=owner, decision="modify", content=reply).status == 200
    done = shipped.settle(run["id"])
    assert done["status"] == "succeeded"
    assert done["output"]["reply"] == reply and done["output"]["review"] == "modify"
