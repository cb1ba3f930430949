"""The shipped contract-analysis flow end to end over HTTP: straight through when the risk is low,
paused for legal review when it is high, and every review decision (approve, modify, reject)
routing the run as documented, audited, and refused when it cannot apply."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from podium.identity.tenants import create_tenant
from podium.keys import create_key
from tests.workflows.surface import FlowServer, contract, flow_server, steps_by_key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    with flow_server(tmp_path_factory.mktemp("contracts")) as s:
        yield s


def test_low_risk_contract_runs_straight_through(server: FlowServer) -> None:
    """The NDA runs every step once, pauses for no one, and reports each step's output, time and cost."""
    answer = server.start("contract-analysis", contract("mutual-nda.txt"))
    assert answer.status == 201, answer.body
    run = answer.json()
    assert run["status"] == "succeeded" and run["review_id"] is None
    steps = steps_by_key(run)
    sections = steps["parse"]["output"]["sections"]
    assert len(sections) == 8 and sections[0]["title"] == "Purpose"
    extracted = [steps[f"extract[{i}]"] for i in range(8)]
    assert all(s["kind"] == "llm" and s["status"] == "succeeded" for s in extracted)
    assert {"kind", "party", "obligation"} <= set(extracted[0]["output"])
    assert steps["flags"]["output"] == {"level": "low", "flags": []}
    assert steps["assess"]["output"]["risk"] in ("low", "medium", "high")
    assert "review" not in steps and "returned" not in steps
    for step in run["steps"]:
        assert step["status"] == "succeeded", step
        assert step["duration_ms"] is not None and step["finished_at"] >= step["started_at"]
    model_steps = [s for s in run["steps"] if s["kind"] == "llm"]
    assert all(s["cost_usd"] > 0 and len(s["request_ids"]) == 1 for s in model_steps)
    # The map step's cost is its items' (not counted twice in the run's).
    assert steps["extract"]["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in extracted))
    assert run["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in model_steps))
    output = run["output"]
    assert output["title"] == "MUTUAL NON-DISCLOSURE AGREEMENT"
    assert output["review"] is None and output["returned"] is None
    assert isinstance(output["summary"], str) and output["summary"]
    # The model calls went through the governed pipeline: they are in the request log, priced.
    records = {r.id: r for r in server.gw.records()}
    starter = run["created_by"].removeprefix("key:")
    for step in model_steps:
        record = records[step["request_ids"][0]]
        assert record.requested_model == "contract-model" and record.cost_usd > 0
        assert record.key_id == starter and record.tenant == "default"  # as the key that started the run


def test_high_risk_contract_pauses_for_legal_and_an_approval_finishes_it(server: FlowServer) -> None:
    """The SaaS agreement's red flags pause the run for the legal role; an approval by legal finishes it."""
    run = server.start("contract-analysis", contract("saas-subscription.txt")).json()
    assert run["status"] == "waiting" and run["current_step"] == "review"
    review_id = run["review_id"]
    task = server.call("GET", f"/v1/reviews/{review_id}", key=server.keys["legal"]).json()
    assert task["role"] == "legal" and task["status"] == "pending"
    assert task["content"] == steps_by_key(run)["assess"]["output"]
    assert task["deadline"] > task["created_at"] and task["escalation_role"] == "legal-lead"
    listed = server.call("GET", "/v1/reviews?role=legal", key=server.keys["legal"]).json()["data"]
    assert review_id in [t["id"] for t in listed]

    # Other reviewers may read the queue but not decide legal's task; an application key may not even read it.
    refused = server.decide(review_id, key=server.keys["support-lead"], decision="approve")
    assert refused.status == 403 and refused.code == "review_role"
    assert server.call("GET", "/v1/reviews", key=server.keys["application"]).status == 403

    claimed = server.call("POST", f"/v1/reviews/{review_id}/claim", key=server.keys["legal"]).json()
    assert claimed["status"] == "claimed" and claimed["claimed_by"].startswith("key:")
    decided = server.decide(review_id, key=server.keys["legal"], decision="approve")
    assert decided.status == 200, decided.body
    assert decided.json()["review"]["status"] == "approved" and decided.json()["diff"] == []

    done = server.settle(run["id"])
    assert done["status"] == "succeeded"
    assert done["output"]["review"] == "approve"
    assert done["output"]["reviewer"] == claimed["claimed_by"]
    assert done["output"]["summary"]
    assert steps_by_key(done)["review"]["status"] == "succeeded"
    [entry] = [e for e in server.audit("review.decided") if e.details["review_id"] == review_id]
    assert entry.actor == claimed["claimed_by"]
    assert entry.details["decision"] == "approve" and entry.details["run_id"] == run["id"]


def test_a_rejection_takes_the_rejection_branch(server: FlowServer) -> None:
    """Rejecting the exclusive supply agreement returns it with the reason; no summary is written."""
    run = server.start("contract-analysis", contract("exclusive-supply.txt")).json()
    assert run["status"] == "waiting"
    no_reason = server.decide(run["review_id"], key=server.keys["legal"], decision="reject")
    assert no_reason.status == 400 and "reason" in no_reason.json()["error"]["message"]
    reason = "Exclusivity plus a worldwide non-compete: renegotiate sections 2 and 5."
    assert (
        server.decide(run["review_id"], key=server.keys["legal"], decision="reject", reason=reason).status
        == 200
    )
    done = server.settle(run["id"])
    assert done["status"] == "succeeded"
    steps = steps_by_key(done)
    assert "summarize" not in steps
    assert steps["returned"]["output"]["reason"] == reason
    assert done["output"]["review"] == "reject" and done["output"]["summary"] is None
    assert "exclusivity" in done["output"]["returned"]["open_flags"]


def test_a_modify_is_checked_against_the_schema_and_audited_as_a_diff(server: FlowServer) -> None:
    """An edit that breaks the assessment's schema is refused and changes nothing; a valid one is applied
    and audited as a JSON Patch; a second decision on the decided task is a conflict."""
    run = server.start("contract-analysis", contract("saas-subscription.txt")).json()
    review_id = run["review_id"]
    content = server.call("GET", f"/v1/reviews/{review_id}").json()["content"]

    broken = server.decide(
        review_id, key=server.keys["legal"], decision="modify", content={**content, "risk": "dire"}
    )
    assert broken.status == 400 and broken.json()["error"]["param"] == "content"
    assert server.call("GET", f"/v1/reviews/{review_id}").json()["status"] == "pending"
    assert server.run(run["id"])["status"] == "waiting"

    edited = {**content, "risk": "medium", "concerns": ["Liability is uncapped for us only."]}
    answer = server.decide(
        review_id, key=server.keys["legal"], decision="modify", content=edited, reason="cap agreed by phone"
    )
    assert answer.status == 200, answer.body
    diff = answer.json()["diff"]
    assert {"op": "replace", "path": "/risk", "value": "medium"} in diff
    assert answer.json()["review"]["result"] == edited

    again = server.decide(review_id, key=server.keys["legal"], decision="approve")
    assert again.status == 409 and again.code == "review_decided"

    done = server.settle(run["id"])
    assert done["status"] == "succeeded" and done["output"]["review"] == "modify"
    assert done["output"]["risk"] == "medium"  # the run's output carries the reviewed assessment
    assert steps_by_key(done)["review"]["output"]["content"] == edited
    prompt = steps_by_key(done)["summarize"]["input"]["messages"][-1]["content"]
    assert "Liability is uncapped for us only." in prompt  # the summary is written from the edited assessment
    [entry] = [e for e in server.audit("review.decided") if e.details["review_id"] == review_id]
    assert entry.details["diff"] == diff and entry.details["reason"] == "cap agreed by phone"


def test_bad_starts_are_refused_and_create_nothing(server: FlowServer) -> None:
    """Inputs that miss the flow's schema, an unknown flow and an out-of-range wait are clear errors."""
    before = len(server.call("GET", "/v1/runs?flow=contract-analysis&limit=1000").json()["data"])
    missing = server.start("contract-analysis", {"title": "no contract"})
    assert missing.status == 400 and "contract" in missing.json()["error"]["message"]
    assert server.start("no-such-flow", {}).status == 404
    too_long = server.call(
        "POST", "/v1/flows/contract-analysis/runs", {"inputs": contract("mutual-nda.txt"), "wait": 3600}
    )
    assert too_long.status == 400 and too_long.json()["error"]["param"] == "wait"
    after = len(server.call("GET", "/v1/runs?flow=contract-analysis&limit=1000").json()["data"])
    assert after == before


def test_another_tenant_sees_nothing(server: FlowServer) -> None:
    """An owner of another tenant gets 404 for this tenant's run and review, and an empty list."""
    run = server.start("contract-analysis", contract("saas-subscription.txt")).json()

    async def other_owner() -> str:
        await create_tenant(server.gw.storage, tenant_id="acme")
        secret, record = await create_key(server.gw.storage, name="acme", tenant="acme", roles=("owner",))
        server.gw.gateway.keys.add(record)
        return secret

    acme = server.gw.run(other_owner)
    assert server.call("GET", f"/v1/runs/{run['id']}", key=acme).status == 404
    assert server.call("GET", "/v1/runs", key=acme).json()["data"] == []
    assert server.call("GET", "/v1/reviews", key=acme).json()["data"] == []
    assert server.call("GET", f"/v1/reviews/{run['review_id']}", key=acme).status == 404
    assert server.decide(run["review_id"], key=acme, decision="approve").status == 404
    assert server.call("POST", f"/v1/runs/{run['id']}/cancel", key=acme).status == 404
    assert server.run(run["id"])["status"] == "waiting"


def test_a_claimed_task_is_decided_by_its_claimant_only(server: FlowServer) -> None:
    """Once a legal reviewer has claimed a task, nobody else — another reviewer, an owner — claims or decides it."""
    run = server.start("contract-analysis", contract("saas-subscription.txt")).json()
    review_id = run["review_id"]
    other = server.gw.new_key(name="second-legal", roles=("legal",))
    assert server.call("POST", f"/v1/reviews/{review_id}/claim", key=server.keys["legal"]).status == 200
    taken = server.call("POST", f"/v1/reviews/{review_id}/claim", key=other)
    assert taken.status == 409 and taken.code == "review_claimed"
    refused = server.decide(review_id, key=other, decision="approve")
    assert refused.status == 409 and refused.code == "review_claimed"
    assert server.call("GET", f"/v1/reviews/{review_id}").json()["status"] == "claimed"
    assert server.decide(review_id, decision="approve").code == "review_claimed"  # the owner too
    reason = "the claimant's call"
    assert server.decide(review_id, key=server.keys["legal"], decision="reject", reason=reason).status == 200
    assert server.settle(run["id"])["output"]["returned"]["reason"] == reason


def test_malformed_decisions_are_refused_in_openai_shape(server: FlowServer) -> None:
    """An unknown decision, a field the API does not know, content on an approve and a body that is not
    JSON are 400s with OpenAI's error shape; the task stays open."""
    run = server.start("contract-analysis", contract("exclusive-supply.txt")).json()
    review_id, legal = run["review_id"], server.keys["legal"]
    for body in (
        {"decision": "maybe"},
        {"decision": "approve", "comment": "x"},
        {"decision": "approve", "content": {"risk": "low"}},
    ):
        answer = server.decide(review_id, key=legal, **body)
        assert answer.status == 400 and answer.json()["error"]["type"] == "invalid_request_error", body
    request = urllib.request.Request(
        f"{server.url}/v1/reviews/{review_id}/decision", data=b"{not json", method="POST"
    )
    request.add_header("Authorization", f"Bearer {legal}")
    request.add_header("Content-Type", "application/json")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value as error:
        assert error.code == 400 and json.loads(error.read())["error"]["message"]
    assert server.call("GET", f"/v1/reviews/{review_id}").json()["status"] == "pending"
