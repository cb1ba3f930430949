"""The workflow store's contract, on a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import asyncio

import pytest

from podium.errors import RequestError
from podium.storage import Storage
from podium.storage.base import LeaseLost, ReviewConflict
from podium.storage.workflow_records import (
    ReviewQuery,
    ReviewTask,
    RunEvent,
    RunQuery,
    RunRecord,
    StepRecord,
)
from tests.storage.conftest import OpenStorage

T0 = 1_700_000_000.0


def _run(run_id: str, *, tenant: str = "acme", at: float = T0, flow: str = "contract") -> RunRecord:
    return RunRecord(
        id=run_id,
        tenant=tenant,
        flow=flow,
        flow_hash="abc",
        definition=b'{"name":"contract"}',
        inputs={"text": "héllo"},
        actor="key:key_1",
        principal={"kind": "key", "id": "key_1"},
        created_at=at,
        updated_at=at,
    )


def _queued(run_id: str) -> RunEvent:
    return RunEvent(run_id=run_id, at=T0, type="run.queued")


def _step(
    run_id: str, key: str, status: str = "succeeded", output: object = None, seq: int = 1
) -> StepRecord:
    return StepRecord(
        seq=seq,
        run_id=run_id,
        key=key,
        step=key.split("#")[0],
        kind="llm",
        status=status,  # type: ignore[arg-type]
        input={"q": 1},
        output=output,
        started_at=T0,
        attempts=1,
    )


def _task(
    task_id: str, run_id: str, *, deadline: float | None = None, escalate_at: float | None = None
) -> ReviewTask:
    return ReviewTask(
        id=task_id,
        run_id=run_id,
        tenant="acme",
        flow="contract",
        step="review",
        step_key="review",
        role="legal",
        content={"risk": "high"},
        schema={"type": "object"},
        created_at=T0,
        deadline=deadline,
        escalate_at=escalate_at,
        escalation_role="legal-lead",
    )


async def test_created_run_reads_back_whole_and_only_in_its_tenant(storage: Storage) -> None:
    """A run reads back field for field, in its tenant only, with its first event."""
    run = await storage.workflows.create_run(_run("run_1"), _queued("run_1"))
    got = await storage.workflows.get_run("run_1", tenant="acme")
    assert got == run and got.event_seq == 1 and got.definition == b'{"name":"contract"}'
    assert await storage.workflows.get_run("run_1", tenant="other") is None
    assert [e.type for e in await storage.workflows.events("run_1")] == ["run.queued"]
    with pytest.raises(ValueError):
        await storage.workflows.create_run(_run("run_1"), _queued("run_1"))


async def test_one_runnable_run_goes_to_exactly_one_of_two_replicas(open_instance: OpenStorage) -> None:
    """Two replicas acquiring at once: one gets the run, the other nothing."""
    a = await open_instance()
    await a.migrate()
    b = await open_instance()
    await a.workflows.create_run(_run("run_1"), _queued("run_1"))
    got = await asyncio.gather(
        a.workflows.acquire_run("A", now=T0, lease_s=10), b.workflows.acquire_run("B", now=T0, lease_s=10)
    )
    winners = [r for r in got if r is not None]
    assert len(winners) == 1
    assert winners[0].status == "running" and winners[0].started_at == T0


async def test_an_expired_lease_is_taken_over_and_the_old_owner_is_fenced_off(storage: Storage) -> None:
    """After its lease expires, a run goes to another owner, and the first one's writes are refused."""
    wf = storage.workflows
    await wf.create_run(_run("run_1"), _queued("run_1"))
    assert (await wf.acquire_run("A", now=T0, lease_s=5)) is not None
    assert await wf.acquire_run("B", now=T0 + 1, lease_s=5) is None  # still A's
    await wf.checkpoint("A", "run_1", now=T0 + 1, step=_step("run_1", "parse", output={"x": 1}))
    taken = await wf.acquire_run("B", now=T0 + 6, lease_s=5)
    assert taken is not None and taken.lease_owner == "B"
    with pytest.raises(LeaseLost):
        await wf.checkpoint("A", "run_1", now=T0 + 7, step=_step("run_1", "extract"))
    assert await wf.renew_leases("A", ["run_1"], now=T0 + 7, lease_s=5) == {}
    assert await wf.renew_leases("B", ["run_1"], now=T0 + 7, lease_s=5) == {"run_1": False}
    assert [s.key for s in await wf.steps("run_1")] == ["parse"]


async def test_checkpoints_replace_by_key_keep_their_seq_and_number_events(storage: Storage) -> None:
    """A step written twice (running, then succeeded) keeps its first seq; events are numbered 1, 2, 3…"""
    wf = storage.workflows
    await wf.create_run(_run("run_1"), _queued("run_1"))
    await wf.acquire_run("A", now=T0, lease_s=30)
    started = RunEvent(run_id="run_1", at=T0, type="step.started", step="parse")
    await wf.checkpoint(
        "A", "run_1", now=T0, step=_step("run_1", "parse", "running", seq=1), events=[started]
    )
    await wf.checkpoint("A", "run_1", now=T0, step=_step("run_1", "other", output=[1, 2], seq=2))
    done = RunEvent(run_id="run_1", at=T0, type="step.succeeded", step="parse", data={"ms": 3})
    await wf.checkpoint(
        "A",
        "run_1",
        now=T0,
        step=_step("run_1", "parse", output={"a": "b"}, seq=3),
        events=[done],
        cost=0.25,
        current="parse",
    )
    steps = await wf.steps("run_1")
    assert [(s.key, s.status, s.output, s.seq) for s in steps] == [
        ("parse", "succeeded", {"a": "b"}, 1),
        ("other", "succeeded", [1, 2], 2),
    ]
    events = await wf.events("run_1")
    assert [(e.seq, e.type) for e in events] == [
        (1, "run.queued"),
        (2, "step.started"),
        (3, "step.succeeded"),
    ]
    assert events[2].data == {"ms": 3}
    assert [e.seq for e in await wf.events("run_1", after=2)] == [3]
    run = await wf.get_run("run_1")
    assert run is not None and run.cost_usd == 0.25 and run.current == "parse"


async def test_a_review_pauses_the_run_and_its_decision_requeues_it_once(open_instance: OpenStorage) -> None:
    """A paused run is not runnable; one decision requeues it; a second decision is a conflict."""
    a = await open_instance()
    await a.migrate()
    b = await open_instance()
    await a.workflows.create_run(_run("run_1"), _queued("run_1"))
    await a.workflows.acquire_run("A", now=T0, lease_s=30)
    await a.workflows.pause_run(
        "A",
        "run_1",
        now=T0,
        step=_step("run_1", "review", "waiting"),
        task=_task("rev_1", "run_1"),
        events=[RunEvent(run_id="run_1", at=T0, type="run.waiting")],
    )
    run = await b.workflows.get_run("run_1")
    assert run is not None and run.status == "waiting" and run.lease_owner is None
    assert await b.workflows.acquire_run("B", now=T0 + 100, lease_s=30) is None
    assert [t.id for t in await b.workflows.list_reviews(ReviewQuery(tenant="acme"))] == ["rev_1"]
    assert await b.workflows.list_reviews(ReviewQuery(tenant="other")) == []
    assert await b.workflows.review_backlog() == 1

    claimed = await b.workflows.claim_review("rev_1", tenant="acme", reviewer="user:ann", at=T0 + 5)
    assert claimed is not None and claimed.status == "claimed"
    with pytest.raises(ReviewConflict):
        await a.workflows.claim_review("rev_1", tenant="acme", reviewer="user:bob", at=T0 + 6)
    outcomes = await asyncio.gather(
        a.workflows.decide_review(
            "rev_1",
            tenant="acme",
            reviewer="user:ann",
            at=T0 + 10,
            status="approved",
            result={"risk": "high"},
            reason=None,
        ),
        b.workflows.decide_review(
            "rev_1",
            tenant="acme",
            reviewer="user:ann",
            at=T0 + 10,
            status="rejected",
            result=None,
            reason="no",
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, ReviewConflict) for o in outcomes) == 1
    run = await a.workflows.get_run("run_1")
    assert run is not None and run.status == "queued" and run.paused_s == 10
    assert await a.workflows.review_backlog() == 0
    resumed = await b.workflows.acquire_run("B", now=T0 + 11, lease_s=30)
    assert resumed is not None and resumed.id == "run_1"
    types = [e.type for e in await a.workflows.events("run_1")]
    assert types[-3:] == ["run.waiting", "review.claimed", "review.decided"]
    assert (
        await a.workflows.decide_review(
            "rev_1", tenant="other", reviewer="x", at=T0, status="approved", result=None, reason=None
        )
        is None
    )


async def test_cancel_stops_queued_runs_now_and_flags_running_ones(storage: Storage) -> None:
    """Cancel: a queued run ends at once; a running one is flagged for its executor; a final one is unchanged."""
    wf = storage.workflows
    await wf.create_run(_run("run_q"), _queued("run_q"))
    cancelled = await wf.request_cancel("run_q", tenant="acme", at=T0 + 1)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert (await wf.get_run("run_q")) == cancelled
    assert (await wf.events("run_q"))[-1].type == "run.cancelled"
    assert await wf.request_cancel("run_q", tenant="other", at=T0) is None

    await wf.create_run(_run("run_r", at=T0 + 2), _queued("run_r"))
    assert await wf.acquire_run("A", now=T0, lease_s=30) is not None
    flagged = await wf.request_cancel("run_r", tenant="acme", at=T0 + 3)
    assert flagged is not None and flagged.status == "running" and flagged.cancel_requested
    assert await wf.renew_leases("A", ["run_r"], now=T0 + 4, lease_s=30) == {"run_r": True}
    done = await wf.finish_run(
        "A",
        "run_r",
        now=T0 + 5,
        status="cancelled",
        outputs=None,
        error=None,
        event=RunEvent(run_id="run_r", at=T0 + 5, type="run.cancelled"),
    )
    assert done.status == "cancelled" and done.lease_owner is None
    again = await wf.request_cancel("run_r", tenant="acme", at=T0 + 9)
    assert again == done


async def test_runs_list_newest_first_filtered_and_paged(storage: Storage) -> None:
    """Runs page newest first with a cursor, filtered by tenant, flow and status."""
    wf = storage.workflows
    for i in range(5):
        await wf.create_run(_run(f"run_{i}", at=T0 + i, flow="a" if i % 2 else "b"), _queued(f"run_{i}"))
    await wf.create_run(_run("run_x", tenant="other"), _queued("run_x"))
    first = await wf.list_runs(RunQuery(tenant="acme", limit=2))
    assert [r.id for r in first.items] == ["run_4", "run_3"] and first.next_cursor
    second = await wf.list_runs(RunQuery(tenant="acme", limit=2, cursor=first.next_cursor))
    third = await wf.list_runs(RunQuery(tenant="acme", limit=2, cursor=second.next_cursor))
    assert [r.id for r in second.items + third.items] == ["run_2", "run_1", "run_0"]
    assert third.next_cursor is None
    assert [r.id for r in (await wf.list_runs(RunQuery(tenant="acme", flow="a"))).items] == ["run_3", "run_1"]
    assert (await wf.list_runs(RunQuery(tenant="acme", status="succeeded"))).items == ()
    with pytest.raises(RequestError):
        await wf.list_runs(RunQuery(cursor="not-a-cursor"))


async def test_due_reviews_escalate_once_and_purge_drops_old_finished_runs(storage: Storage) -> None:
    """Escalation is due once; purge deletes finished runs with their rows, never open ones."""
    wf = storage.workflows
    await wf.create_run(_run("run_1"), _queued("run_1"))
    await wf.acquire_run("A", now=T0, lease_s=30)
    await wf.pause_run(
        "A",
        "run_1",
        now=T0,
        step=_step("run_1", "review", "waiting"),
        task=_task("rev_1", "run_1", escalate_at=T0 + 60),
        events=[],
    )
    assert await wf.due_reviews(now=T0 + 30) == []
    assert [t.id for t in await wf.due_reviews(now=T0 + 61)] == ["rev_1"]
    escalated = await wf.escalate_review("rev_1", at=T0 + 61)
    assert escalated is not None and escalated.role == "legal-lead"
    assert await wf.escalate_review("rev_1", at=T0 + 62) is None
    assert await wf.due_reviews(now=T0 + 61) == []

    await wf.create_run(_run("run_2"), _queued("run_2"))
    await wf.acquire_run("A", now=T0, lease_s=30)
    await wf.checkpoint("A", "run_2", now=T0, step=_step("run_2", "parse"))
    await wf.finish_run(
        "A",
        "run_2",
        now=T0 + 10,
        status="succeeded",
        outputs={"ok": True},
        error=None,
        event=RunEvent(run_id="run_2", at=T0 + 10, type="run.succeeded"),
    )
    assert await wf.purge_runs(before=T0 + 5) == 0
    assert await wf.purge_runs(before=T0 + 11) == 1
    assert (
        await wf.get_run("run_2") is None and await wf.steps("run_2") == [] and await wf.events("run_2") == []
    )
    assert await wf.get_run("run_1") is not None
