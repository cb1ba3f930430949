"""The workflow engine through its Python API, on a real gateway, a real SQLite file and the simulator."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium.errors import RequestError
from podium.gateway.server import RunningServer, start_server
from podium.identity.principal import Principal
from podium.keys import create_key
from podium.storage import Storage, open_storage
from podium.storage.base import ReviewConflict
from podium.storage.records import RequestQuery
from podium.storage.workflow_records import ReviewQuery, RunRecord, StepRecord
from podium.workflows import parse_flow, tool
from podium.workflows.service import Workflows
from tests.harness import make_config
from tests.pg import fresh_schema

CALLS: Counter[str] = Counter()
RELEASE = threading.Event()


@tool("engine_test.count")
def _count(name: str, fail_times: int = 0, value: Any = None) -> dict[str, Any]:
    CALLS[name] += 1
    if CALLS[name] <= fail_times:
        raise RuntimeError(f"{name} failed on call {CALLS[name]}")
    return {"calls": CALLS[name], "value": value}


@tool("engine_test.block")
def _block(name: str) -> dict[str, Any]:
    """Counts, then blocks until released (a step that is under way when its process goes)."""
    CALLS[name] += 1
    RELEASE.wait(10)
    return {"calls": CALLS[name]}


@tool("engine_test.sleep")
async def _sleep(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()
    RELEASE.clear()


class Replica:
    """One gateway (a replica) on a shared database, with the flows of the test registered."""

    def __init__(self, server: RunningServer, storage: Storage, key_id: str) -> None:
        self.server = server
        self.storage = storage
        self.principal = Principal(
            kind="key", id=key_id, name="test", tenant="default", roles=(), permissions=frozenset()
        )

    @property
    def wf(self) -> Workflows:
        workflows: Workflows = self.server.gateway.workflows
        return workflows

    def register(self, text: str) -> None:
        flow, problems = parse_flow(yaml.safe_load(text))
        assert flow is not None and problems == [], problems
        self.wf.register(flow)

    async def run(self, flow: str, inputs: dict[str, Any], timeout: float = 10) -> RunRecord:
        run = await self.wf.start(self.principal, flow, inputs)
        return await self.wf.wait(run.id, tenant="default", timeout=timeout)

    async def steps(self, run_id: str) -> dict[str, StepRecord]:
        _, steps = await self.wf.get(run_id, tenant="default")
        return {s.key: s for s in steps}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'podium.db'}"
    else:
        async with fresh_schema() as url:
            yield url


@pytest.fixture
async def replicas(database: str) -> AsyncIterator[list[Replica]]:
    """Two gateways sharing one database, each with its worker (fast polls, short leases)."""
    url = database
    config = make_config({"workflows": {"poll_interval_ms": 20, "lease_seconds": 1.5}})
    opened: list[Replica] = []
    first = await open_storage(url)
    await first.migrate()
    _, key = await create_key(first, name="flows")
    for i in range(2):
        storage = first if i == 0 else await open_storage(url)
        server = await start_server(config, storage, host="127.0.0.1", port=0)
        opened.append(Replica(server, storage, key.id))
    yield opened
    RELEASE.set()
    for replica in opened:
        if not replica.server.gateway.draining:
            await replica.server.stop(drain_seconds=1)
        await replica.storage.close()


@pytest.fixture
async def replica(replicas: list[Replica]) -> Replica:
    """One replica; the other is stopped so that only this one executes runs."""
    await replicas[1].server.stop(drain_seconds=1)
    return replicas[0]


CONTRACT = """
name: contract
inputs: {type: object, properties: {text: {type: string}}, required: [text]}
outputs: {risk: assess.risk, decision: review.decision, summary: summary.text, flags: flags.value}
steps:
  - id: flags
    kind: tool
    function: engine_test.count
    args: {name: '"flags"', value: inputs.text}
  - id: assess
    kind: llm
    model: sim/json
    messages: [{role: user, content: "Assess the risk of: {{ inputs.text }}"}]
    output_schema:
      type: object
      properties: {risk: {type: string, enum: [high, low]}, why: {type: string}}
      required: [risk, why]
  - id: check
    kind: branch
    cases: [{when: 'assess.risk == "high" or "indemnify" in flags.value', goto: review}]
    default: summary
  - id: review
    kind: human_review
    content: assess
    role: legal
    on_reject: rejected
  - id: summary
    kind: llm
    model: sim/echo
    messages: [{role: user, content: "Summarise: {{ review.content.why }}"}]
    next: end
  - id: rejected
    kind: tool
    function: engine_test.count
    args: {name: '"rejected"', value: review.reason}
"""


async def test_a_flow_runs_end_to_end_through_the_gateway_and_pauses_for_review(replica: Replica) -> None:
    """A flow with model calls, a tool, a branch and a review runs, pauses, is approved and finishes."""
    replica.register(CONTRACT)
    run = await replica.run("contract", {"text": "You shall indemnify us."})
    assert run.status == "waiting", run.error
    tasks = await replica.wf.reviews.list(ReviewQuery(tenant="default"))
    assert [(t.run_id, t.role, t.status) for t in tasks] == [(run.id, "legal", "pending")]
    assert tasks[0].content["risk"] == "high"  # the simulator's schema-conforming answer: enum[0]
    assert tasks[0].schema is not None  # the assessing step's output schema: what a modify must match

    decided = await replica.wf.reviews.decide(
        tasks[0].id, tenant="default", reviewer="user:ann", decision="approve"
    )
    assert decided.diff == [] and decided.task.status == "approved"
    done = await replica.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "succeeded", done.error
    assert (
        done.outputs is not None and done.outputs["decision"] == "approve" and done.outputs["risk"] == "high"
    )
    assert "Summarise:" in done.outputs["summary"]

    steps = await replica.steps(run.id)
    assert list(steps) == ["flags", "assess", "check", "review", "summary"]
    assert all(s.status == "succeeded" for s in steps.values())
    assert steps["check"].output == {"goto": "review", "case": 0}
    assert steps["assess"].input["messages"][0]["content"] == "Assess the risk of: You shall indemnify us."
    assert steps["assess"].cost_usd > 0 and done.cost_usd == pytest.approx(
        steps["assess"].cost_usd + steps["summary"].cost_usd
    )
    assert CALLS["flags"] == 1

    # The model calls went through the gateway's pipeline: recorded as the run's key, with their cost.
    gw = replica.server.gateway
    await gw.recorder.flush()
    records = (await replica.storage.requests.query(RequestQuery(limit=10))).items
    ids = {r.id for r in records}
    assert set(steps["assess"].request_ids) | set(steps["summary"].request_ids) <= ids
    assert {r.key_id for r in records} == {replica.principal.id}

    events = [e.type for e in await replica.storage.workflows.events(run.id)]
    assert events[:2] == ["run.queued", "run.started"]
    assert "review.created" in events and "review.decided" in events and events[-1] == "run.succeeded"


async def test_a_rejection_takes_the_rejection_branch(replica: Replica) -> None:
    """A rejected review routes the run to on_reject, with the reason available to it."""
    replica.register(CONTRACT)
    run = await replica.run("contract", {"text": "plain"})
    [task] = await replica.wf.reviews.list(ReviewQuery(tenant="default"))
    with pytest.raises(RequestError):
        await replica.wf.reviews.decide(task.id, tenant="default", reviewer="user:ann", decision="reject")
    await replica.wf.reviews.decide(
        task.id, tenant="default", reviewer="user:ann", decision="reject", reason="too risky"
    )
    done = await replica.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "succeeded", done.error
    steps = await replica.steps(run.id)
    assert "summary" not in steps and steps["rejected"].output == {"calls": 1, "value": "too risky"}
    assert steps["review"].output["decision"] == "reject"


async def test_a_modify_is_validated_and_a_second_decision_conflicts(replica: Replica) -> None:
    """An edit that breaks the schema is refused and changes nothing; a valid one flows on; deciding again is 409."""
    replica.register(CONTRACT)
    run = await replica.run("contract", {"text": "plain"})
    [task] = await replica.wf.reviews.list(ReviewQuery(tenant="default"))
    with pytest.raises(RequestError) as bad:
        await replica.wf.reviews.decide(
            task.id, tenant="default", reviewer="user:ann", decision="modify", content={"risk": "extreme"}
        )
    assert bad.value.param == "content" and "schema" in bad.value.message
    assert (await replica.wf.reviews.get(task.id, tenant="default")).status == "pending"
    edit = {"risk": "low", "why": "capped liability"}
    decided = await replica.wf.reviews.decide(
        task.id, tenant="default", reviewer="user:ann", decision="modify", content=edit
    )
    assert decided.diff  # what changed, for the audit entry
    with pytest.raises(ReviewConflict):
        await replica.wf.reviews.decide(task.id, tenant="default", reviewer="user:bob", decision="approve")
    done = await replica.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "succeeded" and done.outputs is not None
    assert (
        done.outputs["summary"].endswith("capped liability") or "capped liability" in done.outputs["summary"]
    )


async def test_a_paused_run_is_resumed_by_the_replica_that_is_free(replicas: list[Replica]) -> None:
    """Paused on one replica, decided through the other, the run finishes; nothing held while paused."""
    a, b = replicas
    for r in replicas:
        r.register(CONTRACT)
    run = await a.run("contract", {"text": "x"})
    assert run.status == "waiting" and run.lease_owner is None
    assert not a.wf.worker.running and not b.wf.worker.running
    [task] = await b.wf.reviews.list(ReviewQuery(tenant="default"))
    await a.server.stop(drain_seconds=1)
    await b.wf.reviews.decide(task.id, tenant="default", reviewer="user:ann", decision="approve")
    done = await b.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "succeeded"
    assert CALLS["flags"] == 1


RESUME = """
name: resume
steps:
  - {id: one, kind: tool, function: engine_test.count, args: {name: '"one"'}}
  - {id: two, kind: tool, function: engine_test.block, args: {name: '"two"'}}
  - {id: three, kind: tool, function: engine_test.count, args: {name: '"three"'}}
"""


async def test_a_run_left_mid_step_resumes_elsewhere_without_rerunning_finished_steps(
    replicas: list[Replica],
) -> None:
    """A replica that goes away mid-step: another continues the run; finished steps ran once."""
    a, b = replicas
    for r in replicas:
        r.register(RESUME)
    await b.server.gateway.workflows.worker.close()  # b executes nothing until a has gone
    run = await a.wf.start(a.principal, "resume", {})
    for _ in range(500):
        if CALLS["two"] == 1:
            break
        await asyncio.sleep(0.01)
    assert CALLS == {"one": 1, "two": 1}
    await a.server.stop(drain_seconds=1)  # its lease on the run is released
    RELEASE.set()  # the abandoned thread of step two may finish; nobody records it
    b.wf.worker.start()
    done = await b.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "succeeded", done.error
    assert CALLS["one"] == 1 and CALLS["three"] == 1
    assert CALLS["two"] == 2  # it was under way: run again, once
    steps = await b.steps(run.id)
    assert steps["two"].attempts == 2 and steps["one"].attempts == 1


BUDGETS = """
name: budgets
budget_ms: 5000
outputs: {slow: slow, skipped: skipped, fallback: fell.calls}
steps:
  - id: slow
    kind: tool
    function: engine_test.sleep
    args: {seconds: 5}
    budget_ms: 100
    on_timeout: skip
  - id: skipped
    kind: tool
    function: engine_test.sleep
    args: {seconds: 5}
    timeout_ms: 50
    retry: {attempts: 2, backoff_ms: 10}
    on_timeout: fallback
    fallback: fell
  - {id: never, kind: tool, function: engine_test.count, args: {name: '"never"'}}
  - {id: fell, kind: tool, function: engine_test.count, args: {name: '"fell"'}}
"""


async def test_a_step_over_its_budget_takes_its_on_timeout_path(replica: Replica) -> None:
    """Budget exceeded: skip continues with null; fallback goes to its step after the last attempt."""
    replica.register(BUDGETS)
    done = await replica.run("budgets", {})
    assert done.status == "succeeded", done.error
    assert done.outputs == {"slow": None, "skipped": None, "fallback": 1}
    steps = await replica.steps(done.id)
    assert steps["slow"].status == "skipped" and "budget of 100 ms" in (steps["slow"].error or "")
    assert steps["skipped"].status == "timed_out" and steps["skipped"].attempts == 2
    assert "never" not in steps and CALLS["never"] == 0


async def test_the_flow_budget_fails_the_run_or_takes_its_fallback(replica: Replica) -> None:
    """A run over its flow budget fails with budget_exceeded, or goes to the flow's fallback."""
    replica.register(
        """
name: flowbudget
budget_ms: 150
steps:
  - {id: slow, kind: tool, function: engine_test.sleep, args: {seconds: 5}}
"""
    )
    failed = await replica.run("flowbudget", {})
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "budget_exceeded" and failed.error.step == "slow"
    replica.register(
        """
name: flowfallback
budget_ms: 150
on_timeout: fallback
fallback: cheap
outputs: {cheap: cheap.calls}
steps:
  - {id: slow, kind: tool, function: engine_test.sleep, args: {seconds: 5}, next: end}
  - {id: cheap, kind: tool, function: engine_test.count, args: {name: '"cheap"'}}
"""
    )
    done = await replica.run("flowfallback", {})
    assert done.status == "succeeded" and done.outputs == {"cheap": 1}


async def test_retries_then_the_error_branch(replica: Replica) -> None:
    """A failing tool is retried; when it keeps failing the run goes to on_error with the error."""
    replica.register(
        """
name: errors
on_error: handle
outputs: {flaky: flaky.calls, handled: handle.value}
steps:
  - {id: flaky, kind: tool, function: engine_test.count, args: {name: '"flaky"', fail_times: 2}, retry: {attempts: 3, backoff_ms: 5}}
  - {id: broken, kind: tool, function: engine_test.count, args: {name: '"broken"', fail_times: 9}, retry: {attempts: 2, backoff_ms: 5}, next: end}
  - {id: handle, kind: tool, function: engine_test.count, args: {name: '"handle"', value: error.message}}
"""
    )
    done = await replica.run("errors", {})
    assert done.status == "succeeded", done.error
    assert done.outputs is not None and done.outputs["flaky"] == 3
    assert "the tool raised RuntimeError: broken failed on call 2" in done.outputs["handled"]
    steps = await replica.steps(done.id)
    assert (
        steps["flaky"].attempts == 3 and steps["broken"].status == "failed" and steps["broken"].attempts == 2
    )


async def test_a_tool_that_raises_fails_the_run_with_a_clear_error(replica: Replica) -> None:
    """Without an error branch, a failing step fails the run, naming the step and the cause."""
    replica.register(
        """
name: raises
steps:
  - {id: bad, kind: tool, function: engine_test.count, args: {name: '"bad"', fail_times: 5}}
  - {id: after, kind: tool, function: engine_test.count, args: {name: '"after"'}}
"""
    )
    done = await replica.run("raises", {})
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "step_failed" and done.error.step == "bad"
    assert "RuntimeError: bad failed on call 1" in done.error.message
    assert CALLS["after"] == 0


async def test_map_fans_out_with_a_limit_and_subflows_and_validation_run(replica: Replica) -> None:
    """A map runs its items (checkpointed each), a subflow returns its outputs, validate routes on_fail."""
    replica.register(
        """
name: child
inputs: {type: object, properties: {n: {type: integer}}, required: [n]}
outputs: {doubled: twice.value}
steps:
  - {id: twice, kind: tool, function: engine_test.count, args: {name: '"child"', value: inputs.n}}
"""
    )
    replica.register(
        """
name: parent
outputs: {items: each, sub: sub.doubled, valid: check.valid}
steps:
  - id: each
    kind: map
    over: inputs.items
    as: it
    concurrency: 2
    step: {kind: tool, function: engine_test.count, args: {name: '"item"', value: it}}
  - {id: sub, kind: subflow, flow: child, inputs: {n: inputs.n}}
  - id: check
    kind: validate
    input: sub
    schema: {type: object, properties: {doubled: {type: string}}, required: [doubled]}
    on_fail: fix
  - {id: ok, kind: tool, function: engine_test.count, args: {name: '"ok"'}, next: end}
  - {id: fix, kind: tool, function: engine_test.count, args: {name: '"fix"'}}
"""
    )
    done = await replica.run("parent", {"items": ["a", "b", "c"], "n": 4})
    assert done.status == "succeeded", done.error
    assert done.outputs is not None
    assert [i["value"] for i in done.outputs["items"]] == ["a", "b", "c"] and done.outputs["sub"] == 4
    steps = await replica.steps(done.id)
    assert {"each[0]", "each[1]", "each[2]", "sub/twice"} <= set(steps)
    assert steps["check"].status == "failed" and CALLS["fix"] == 1 and CALLS["ok"] == 0


async def test_cancel_stops_a_running_run_and_a_waiting_one(replica: Replica) -> None:
    """Cancelling ends a running run (its step abandoned) and a paused one (its review closed)."""
    replica.register(RESUME)
    replica.register(CONTRACT)
    run = await replica.wf.start(replica.principal, "resume", {})
    for _ in range(500):
        if CALLS["two"] == 1:
            break
        await asyncio.sleep(0.01)
    cancelled = await replica.wf.cancel(run.id, tenant="default", actor="key:test")
    assert (
        cancelled.status == "cancelled"
        and cancelled.error is not None
        and cancelled.error.code == "cancelled"
    )
    assert CALLS["three"] == 0

    paused = await replica.run("contract", {"text": "x"})
    assert paused.status == "waiting"
    assert (await replica.wf.cancel(paused.id, tenant="default", actor="key:test")).status == "cancelled"
    [task] = await replica.wf.reviews.list(ReviewQuery(tenant="default", status="cancelled"))
    with pytest.raises(ReviewConflict):
        await replica.wf.reviews.decide(task.id, tenant="default", reviewer="user:ann", decision="approve")
    events = [e.type async for e in replica.wf.events(paused.id, tenant="default")]
    assert events[-1] == "run.cancelled"


async def test_bad_model_output_and_unbounded_loops_fail_the_run_clearly(replica: Replica) -> None:
    """An answer that is not the schema's JSON fails its step after its retries; a loop stops at max_visits."""
    replica.register(
        """
name: badjson
steps:
  - id: ask
    kind: llm
    model: sim/lorem?words=5
    messages: [{role: user, content: "answer in JSON"}]
    output_schema: {type: object, properties: {a: {type: string}}, required: [a]}
    retry: {attempts: 2, backoff_ms: 1}
"""
    )
    done = await replica.run("badjson", {})
    assert done.status == "failed" and done.error is not None and done.error.code == "step_failed"
    assert "the model's answer is not JSON" in done.error.message
    steps = await replica.steps(done.id)
    assert steps["ask"].attempts == 2 and len(steps["ask"].request_ids) == 2

    replica.register(
        """
name: loop
steps:
  - {id: again, kind: tool, function: engine_test.count, args: {name: '"again"'}}
  - id: back
    kind: branch
    max_visits: 3
    cases: [{when: "again.calls < 10", goto: again}]
"""
    )
    done = await replica.run("loop", {})
    assert done.status == "failed" and done.error is not None and done.error.code == "max_visits"
    assert done.error.step == "back#4" and CALLS["again"] == 4
    steps = await replica.steps(done.id)
    assert list(steps) == ["again", "back", "again#2", "back#2", "again#3", "back#3", "again#4"]


async def test_an_output_that_cannot_be_computed_fails_the_run_once(replica: Replica) -> None:
    """A flow output whose expression cannot be evaluated fails the run (it is not retried forever)."""
    replica.register(
        """
name: badout
outputs: {x: 'inputs.n < "text"'}
steps:
  - {id: one, kind: tool, function: engine_test.count, args: {name: '"one"'}}
"""
    )
    done = await replica.run("badout", {"n": 1})
    assert done.status == "failed" and done.error is not None and done.error.code == "engine_error"
    assert "cannot compare int < str" in done.error.message
    assert CALLS["one"] == 1


async def test_a_cancel_asked_of_a_replica_that_then_died_is_honoured_by_the_next(
    replicas: list[Replica],
) -> None:
    """A run flagged for cancelling whose executor vanished is cancelled, not executed, by the replica that takes it."""
    a, b = replicas
    for r in replicas:
        r.register(RESUME)
    await b.wf.worker.close()
    await a.wf.worker.close()  # nobody executes: the run is leased by hand, as a replica that then dies would
    run = await a.wf.start(a.principal, "resume", {})
    store = a.storage.workflows
    assert await store.acquire_run("gone", now=time.time(), lease_s=1.0) is not None
    flagged = await a.wf.cancel(run.id, tenant="default", actor="key:test")
    assert flagged.status == "running" and flagged.cancel_requested
    b.wf.worker.start()
    done = await b.wf.wait(run.id, tenant="default", timeout=10)
    assert done.status == "cancelled" and CALLS["one"] == 0


async def test_a_failing_subflow_fails_its_step_and_the_parent_error_branch_handles_it(
    replica: Replica,
) -> None:
    """A subflow that fails makes its step fail (not the whole run at once): the parent's on_error runs."""
    replica.register(
        """
name: failing-child
steps:
  - {id: boom, kind: tool, function: engine_test.count, args: {name: '"boom"', fail_times: 5}}
"""
    )
    replica.register(
        """
name: guarded
on_error: cleanup
outputs: {why: cleanup.value}
steps:
  - {id: child, kind: subflow, flow: failing-child, next: end}
  - {id: cleanup, kind: tool, function: engine_test.count, args: {name: '"cleanup"', value: error.message}}
"""
    )
    done = await replica.run("guarded", {})
    assert done.status == "succeeded", done.error
    assert done.outputs is not None
    assert (
        "subflow 'failing-child': step 'child/boom' failed: the tool raised RuntimeError"
        in done.outputs["why"]
    )
    steps = await replica.steps(done.id)
    assert steps["child"].status == "failed" and steps["child/boom"].status == "failed"


async def test_finished_runs_older_than_the_retention_are_deleted(replica: Replica) -> None:
    """The worker deletes finished runs (with steps, events and reviews) past workflows.retention_days."""
    replica.register(RESUME)
    RELEASE.set()
    done = await replica.run("resume", {})
    assert done.status == "succeeded"
    await asyncio.sleep(0.2)
    gw = replica.server.gateway
    await gw.workflows.worker.close()
    gw.reload(make_config({"workflows": {"poll_interval_ms": 20, "retention_days": 0.1 / 86400}}))
    gw.workflows.worker.start()  # its first maintenance round purges
    for _ in range(200):
        if await replica.storage.workflows.get_run(done.id) is None:
            break
        await asyncio.sleep(0.02)
    assert await replica.storage.workflows.get_run(done.id) is None
    assert await replica.storage.workflows.steps(done.id) == []
