"""Over HTTP: latency budgets take their on-timeout path, failures are clear and leave the run
consistent (a schema-breaking answer, a tool that raises or hangs), the error branch catches them,
runs can be cancelled, and a run's events stream as server-sent events."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.workflows.surface import FlowServer, flow_server, steps_by_key

SLOW = "sim/echo?latency_ms=3000"

BUDGETS = """
name: budgets
inputs: {type: object, properties: {mode: {type: string}}}
steps:
  - id: pick
    kind: branch
    cases:
      - {when: 'inputs.mode == "skip"', goto: slow_skip}
      - {when: 'inputs.mode == "fail"', goto: slow_fail}
    default: slow_fallback
  - id: slow_fallback
    kind: llm
    model: "SLOW_MODEL"
    messages: [{role: user, content: "slow"}]
    budget_ms: 200
    on_timeout: fallback
    fallback: quick
    next: done
  - id: slow_skip
    kind: llm
    model: "SLOW_MODEL"
    messages: [{role: user, content: "slow"}]
    budget_ms: 200
    on_timeout: skip
    next: done
  - id: slow_fail
    kind: llm
    model: "SLOW_MODEL"
    messages: [{role: user, content: "slow"}]
    budget_ms: 200
    on_timeout: fail
    next: done
  - id: quick
    kind: llm
    model: sim/echo
    messages: [{role: user, content: "the quick answer"}]
  - id: done
    kind: tool
    function: "helpers.py:note"
    args: {fast: quick.text, slow: slow_skip.text}
""".replace("SLOW_MODEL", SLOW)

FAILURES = """
name: failures
inputs: {type: object, properties: {case: {type: string}}, required: [case]}
steps:
  - id: pick
    kind: branch
    cases:
      - {when: 'inputs.case == "raises"', goto: raises}
      - {when: 'inputs.case == "hangs"', goto: hangs}
    default: bad_json
  - id: bad_json
    kind: llm
    model: "sim/lorem?words=5"
    messages: [{role: user, content: "answer in JSON"}]
    output_schema: {type: object, properties: {n: {type: integer}}, required: [n]}
    retry: {attempts: 2, backoff_ms: 1}
    next: end
  - id: raises
    kind: tool
    function: "helpers.py:boom"
    args: {account: '"ACC-7"'}
    retry: {attempts: 2, backoff_ms: 1}
    next: end
  - id: hangs
    kind: tool
    function: "helpers.py:hang"
    timeout_ms: 200
    next: end
"""

CAUGHT = """
name: caught
on_error: recover
steps:
  - id: caught
    kind: tool
    function: "helpers.py:boom"
    args: {account: '"ACC-9"'}
    next: end
  - id: recover
    kind: tool
    function: "helpers.py:note"
    args: {fast: '"recovered"', slow: error.message}
"""

SLOW_FLOW = """
name: slow
steps:
  - id: wait
    kind: llm
    model: "SLOW_MODEL"
    messages: [{role: user, content: "slow"}]
""".replace("SLOW_MODEL", SLOW)

ESCALATING = """
name: escalating
inputs: {type: object, properties: {mode: {type: string}}}
steps:
  - id: pick
    kind: branch
    cases: [{when: 'inputs.mode == "expire"', goto: expiring}]
    default: review
  - id: review
    kind: human_review
    content: inputs
    role: legal
    escalation: {after_s: 0.3, role: legal-lead}
    next: end
  - id: expiring
    kind: human_review
    content: inputs
    role: legal
    deadline_s: 0.3
    on_timeout: skip
"""

HELPERS = """
import asyncio


def note(fast, slow):
    return {"fast": fast, "slow": slow}


def boom(account):
    raise ValueError(f"no ledger for {account}")


async def hang():
    await asyncio.sleep(60)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowServer]:
    flows = {
        "budgets.yaml": BUDGETS,
        "failures.yaml": FAILURES,
        "slow.yaml": SLOW_FLOW,
        "caught.yaml": CAUGHT,
        "escalating.yaml": ESCALATING,
        "helpers.py": HELPERS,
    }
    with flow_server(tmp_path_factory.mktemp("paths"), flows) as s:
        yield s


def test_a_step_over_its_budget_takes_the_fallback_step(server: FlowServer) -> None:
    """The slow step is abandoned at its 200 ms budget and the fallback step answers instead."""
    started = time.monotonic()
    run = server.start("budgets", {"mode": "fallback"}).json()
    elapsed = time.monotonic() - started
    assert run["status"] == "succeeded", run["error"]
    steps = steps_by_key(run)
    assert steps["slow_fallback"]["status"] == "timed_out"
    assert steps["quick"]["status"] == "succeeded"
    assert steps["done"]["output"] == {"fast": "the quick answer", "slow": None}
    assert elapsed < 2.5  # the 3 s model call was not waited for


def test_a_step_over_its_budget_can_be_skipped(server: FlowServer) -> None:
    """With on_timeout: skip the step's output is null and the run continues at the next step."""
    run = server.start("budgets", {"mode": "skip"}).json()
    assert run["status"] == "succeeded", run["error"]
    steps = steps_by_key(run)
    assert steps["slow_skip"]["status"] == "skipped" and steps["slow_skip"]["output"] is None
    assert "quick" not in steps and steps["done"]["output"] == {"fast": None, "slow": None}


def test_a_step_over_its_budget_can_fail_the_run(server: FlowServer) -> None:
    """With on_timeout: fail the run fails naming the step and the budget."""
    run = server.start("budgets", {"mode": "fail"}).json()
    assert run["status"] == "failed"
    assert run["error"]["step"] == "slow_fail" and run["error"]["code"] == "step_timed_out"
    assert "budget of 200 ms" in run["error"]["message"]
    assert "done" not in steps_by_key(run)


def test_an_answer_that_breaks_the_output_schema_fails_the_step_clearly(server: FlowServer) -> None:
    """A model answer that is not JSON for the step's schema is retried, then fails the run with the reason."""
    run = server.start("failures", {"case": "bad_json"}).json()
    assert run["status"] == "failed"
    step = steps_by_key(run)["bad_json"]
    assert step["status"] == "failed" and step["attempts"] == 2 and step["output"] is None
    message = run["error"]["message"].lower()
    assert run["error"]["step"] == "bad_json" and ("schema" in message or "json" in message)


def test_a_tool_that_raises_fails_its_step_with_the_exception(server: FlowServer) -> None:
    """The tool's exception (after its retries) is the step's and the run's error; nothing after it runs."""
    run = server.start("failures", {"case": "raises"}).json()
    assert run["status"] == "failed"
    step = steps_by_key(run)["raises"]
    assert step["status"] == "failed" and step["attempts"] == 2
    assert "no ledger for ACC-7" in step["error"] and "no ledger for ACC-7" in run["error"]["message"]


def test_a_tool_that_hangs_times_out(server: FlowServer) -> None:
    """A tool that never returns is stopped at its timeout and the run fails instead of hanging."""
    started = time.monotonic()
    run = server.start("failures", {"case": "hangs"}).json()
    assert run["status"] == "failed" and run["error"]["step"] == "hangs"
    assert steps_by_key(run)["hangs"]["status"] in ("failed", "timed_out")
    assert time.monotonic() - started < 10


def test_a_failure_goes_to_the_error_branch(server: FlowServer) -> None:
    """With on_error, a failed step's run continues at the error step, which sees the error message."""
    run = server.start("caught", {}).json()
    assert run["status"] == "succeeded", run["error"]
    steps = steps_by_key(run)
    assert steps["caught"]["status"] == "failed"
    assert steps["recover"]["output"]["fast"] == "recovered"
    assert "no ledger for ACC-9" in steps["recover"]["output"]["slow"]


def test_a_running_run_can_be_cancelled(server: FlowServer) -> None:
    """Cancelling a run mid-step ends it as cancelled at once; cancelling it again changes nothing."""
    started = server.start("slow", {}, wait=0)
    assert started.status == 202
    run_id = started.json()["id"]
    answer = server.call("POST", f"/v1/runs/{run_id}/cancel")
    assert answer.status == 200
    run = server.settle(run_id, timeout=5)
    assert run["status"] == "cancelled"
    again = server.call("POST", f"/v1/runs/{run_id}/cancel")
    assert again.status == 200 and again.json()["status"] == "cancelled"


def test_a_paused_run_can_be_cancelled_and_its_review_closes(server: FlowServer) -> None:
    """Cancelling a run waiting for review closes the review; deciding it afterwards is a conflict."""
    ticket = {"customer": {"name": "Dana", "plan": "Team"}, "message": "Charged twice for INV-1."}
    run = server.start("support-triage", ticket).json()
    assert run["status"] == "waiting"
    assert server.call("POST", f"/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"
    review = server.call("GET", f"/v1/reviews/{run['review_id']}").json()
    assert review["status"] == "cancelled"
    late = server.decide(run["review_id"], key=server.keys["support-lead"], decision="approve")
    assert late.status == 409


def _events(
    server: FlowServer, run_id: str, last: int | None = None
) -> list[tuple[int, str, dict[str, Any]]]:
    request = urllib.request.Request(f"{server.url}/v1/runs/{run_id}/events")
    request.add_header("Authorization", f"Bearer {server.owner}")
    if last is not None:
        request.add_header("Last-Event-ID", str(last))
    found: list[tuple[int, str, dict[str, Any]]] = []
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for raw in response:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
    return found


def test_a_runs_events_stream_from_start_to_end_and_resume_after_an_id(server: FlowServer) -> None:
    """The event stream follows a run live to its last event; Last-Event-ID resumes after that event."""
    run_id = server.start("budgets", {"mode": "fallback"}, wait=0).json()["id"]
    events = _events(server, run_id)  # opened while the run is under way; ends when the run does
    types = [e[1] for e in events]
    assert types[0] == "run.queued" and types[-1] == "run.succeeded"
    assert "step.timed_out" in types and types.count("step.succeeded") >= 2
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    assert all(data["run_id"] == run_id and data["type"] == kind for _, kind, data in events)
    tail = _events(server, run_id, last=events[-3][0])
    assert [e[0] for e in tail] == [e[0] for e in events[-2:]]


def test_events_of_an_unknown_run_are_a_404(server: FlowServer) -> None:
    """Asking for the events of a run that does not exist answers 404 in OpenAI's error shape."""
    answer = server.call("GET", "/v1/runs/run_000000000000000000000000/events")
    assert answer.status == 404 and answer.json()["error"]["message"]


def test_a_client_leaving_an_event_stream_leaves_the_run_alone(server: FlowServer) -> None:
    """Closing the stream of a paused run mid-way ends the stream's work only; the run still waits."""
    ticket = {"customer": {"name": "Ravi", "plan": "Enterprise"}, "message": "Export API returns 503."}
    run = server.start("support-triage", ticket).json()
    assert run["status"] == "waiting"
    request = urllib.request.Request(f"{server.url}/v1/runs/{run['id']}/events")
    request.add_header("Authorization", f"Bearer {server.owner}")
    with urllib.request.urlopen(request, timeout=10) as response:
        first = [response.readline() for _ in range(4)]  # id, event, data, blank: the first event
    assert first[1] == b"event: run.queued\n"
    assert server.run(run["id"])["status"] == "waiting"
    assert server.call("POST", f"/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"


def test_an_escalated_review_may_be_decided_by_the_escalation_role(server: FlowServer) -> None:
    """legal-lead is refused before the escalation time and may decide once the task has escalated."""
    run = server.start("escalating", {"mode": "escalate"}).json()
    review_id = run["review_id"]
    early = server.decide(review_id, key=server.keys["legal-lead"], decision="approve")
    assert early.status == 403 and early.code == "review_role"

    def escalated() -> bool:
        return bool(server.call("GET", f"/v1/reviews/{review_id}").json()["escalated"])

    deadline = time.monotonic() + 10
    while not escalated():
        assert time.monotonic() < deadline, "the review never escalated"
        time.sleep(0.05)
    assert server.decide(review_id, key=server.keys["legal-lead"], decision="approve").status == 200
    assert server.settle(run["id"])["status"] == "succeeded"


def test_a_review_past_its_deadline_takes_its_on_timeout_path(server: FlowServer) -> None:
    """With on_timeout: skip an undecided review expires at its deadline and the run goes on as approved."""
    run = server.start("escalating", {"mode": "expire"}, wait=0).json()
    deadline = time.monotonic() + 10
    while (done := server.run(run["id"]))["status"] in ("queued", "running", "waiting"):
        assert time.monotonic() < deadline, "the review never expired"
        time.sleep(0.05)
    assert done["status"] == "succeeded", done["error"]
    [task] = server.call("GET", f"/v1/reviews?run_id={run['id']}&status=expired").json()["data"]
    assert task["decided_by"] == "system:deadline"
    assert [s["status"] for s in done["steps"] if s["key"] == "expiring"] == ["skipped"]
