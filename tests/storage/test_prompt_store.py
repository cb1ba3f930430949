"""The prompt store's contract, run against every backend on a real database (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from podium.storage import RequestRecord, Storage
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelRecord,
    LabelTarget,
    MessageTemplate,
    ModelSettings,
    PromptSpec,
    PromptVersionRecord,
    VariableSpec,
)

OpenStorage = Callable[[], Awaitable[Storage]]


def spec(text: str, **variables: VariableSpec) -> PromptSpec:
    return PromptSpec(
        messages=(MessageTemplate(role="user", content=text),),
        variables={"b": VariableSpec(type="integer", default=2), "a": VariableSpec(), **variables},
        config=ModelSettings(model="sim/echo", temperature=0.3),
    )


def version(
    name: str, text: str, *, tenant: str = "default", digest: str | None = None
) -> PromptVersionRecord:
    return PromptVersionRecord(
        tenant=tenant,
        name=name,
        spec=spec(text),
        content_hash=digest or f"hash-{text}",
        message=f"commit {text}",
        author="user:usr_1",
        created_at=1_700_000_000.0,
    )


def label(name: str, label: str, *targets: tuple[int, float], tenant: str = "default") -> LabelRecord:
    return LabelRecord(
        tenant=tenant,
        name=name,
        label=label,
        targets=tuple(LabelTarget(v, w) for v, w in targets),
        updated_at=1_700_000_100.0,
        updated_by="user:usr_1",
    )


def approval(ident: str, base_rev: int, *targets: tuple[int, float]) -> ApprovalRecord:
    return ApprovalRecord(
        id=ident,
        tenant="default",
        name="p",
        label="production",
        targets=tuple(LabelTarget(v, w) for v, w in targets),
        base_rev=base_rev,
        requested_by="user:alice",
        requested_at=1_700_000_200.0,
        note="ship it",
    )


async def test_versions_are_numbered_per_prompt_and_read_back_exactly(storage: Storage) -> None:
    """Versions get numbers 1, 2, … per prompt and tenant, and read back exactly as written (key order too)."""
    first, created = await storage.prompts.add_version(version("p", "one"))
    second, _ = await storage.prompts.add_version(version("p", "two"))
    other, _ = await storage.prompts.add_version(version("q", "one"))
    elsewhere, _ = await storage.prompts.add_version(version("p", "one", tenant="acme"))
    assert created and (first.number, second.number, other.number, elsewhere.number) == (1, 2, 1, 1)
    assert 0 < first.rev < second.rev < other.rev < elsewhere.rev
    got = await storage.prompts.get_version("default", "p", 2)
    assert got == second
    assert list(got.spec.variables) == ["b", "a"]  # order kept: files must round-trip byte for byte
    assert [v.number for v in await storage.prompts.versions("default", "p")] == [1, 2]
    assert [v.name for v in await storage.prompts.latest_versions("default")] == ["p", "q"]
    assert (await storage.prompts.latest_versions("default"))[0].number == 2
    assert await storage.prompts.get_version("default", "p", 3) is None


async def test_only_if_changed_skips_identical_content(storage: Storage) -> None:
    """With only_if_changed, content equal to the latest version's creates nothing and returns the latest."""
    first, _ = await storage.prompts.add_version(version("p", "one"), only_if_changed=True)
    same, created = await storage.prompts.add_version(version("p", "one"), only_if_changed=True)
    assert not created and same == first
    changed, created = await storage.prompts.add_version(version("p", "two"), only_if_changed=True)
    assert created and changed.number == 2


async def test_concurrent_writers_never_share_a_version_number(open_instance: OpenStorage) -> None:
    """Two instances adding versions of one prompt at once get distinct, consecutive numbers."""
    a, b = await open_instance(), await open_instance()
    await a.migrate()
    results = await asyncio.gather(
        *(s.prompts.add_version(version("p", f"t{i}")) for i in range(6) for s in (a, b))
    )
    assert sorted(r.number for r, _ in results) == list(range(1, 13))


async def test_labels_move_keep_history_and_can_be_removed(storage: Storage) -> None:
    """A label write replaces the label, appends its move to the history, and an empty one removes it."""
    await storage.prompts.add_version(version("p", "one"))
    await storage.prompts.add_version(version("p", "two"))
    first = await storage.prompts.set_label(label("p", "production", (1, 100)))
    moved = await storage.prompts.set_label(label("p", "production", (1, 70), (2, 30)))
    assert moved.rev > first.rev
    assert await storage.prompts.labels("default", "p") == [moved]
    history = await storage.prompts.label_history("default", "p", "production")
    assert [h.targets for h in history] == [moved.targets, first.targets]
    assert history[0].previous == first.targets and history[1].previous == ()
    await storage.prompts.set_label(label("p", "production"))
    assert await storage.prompts.labels("default", "p") == []


async def test_expected_rev_refuses_a_label_that_moved(storage: Storage) -> None:
    """A write that expects the label's rev fails with ValueError once someone else moved it."""
    await storage.prompts.add_version(version("p", "one"))
    first = await storage.prompts.set_label(label("p", "staging", (1, 100)), expected_rev=0)
    with pytest.raises(ValueError, match="moved"):
        await storage.prompts.set_label(label("p", "staging", (1, 50)), expected_rev=0)
    again = await storage.prompts.set_label(label("p", "staging", (1, 50)), expected_rev=first.rev)
    assert again.targets == (LabelTarget(1, 50.0),)


async def test_changes_since_mirrors_versions_and_labels_in_rev_order(open_instance: OpenStorage) -> None:
    """changes_since returns what another instance wrote after a rev, each kind in rev order."""
    writer, reader = await open_instance(), await open_instance()
    await writer.migrate()
    assert await reader.prompts.changes_since(0) == type(await reader.prompts.changes_since(0))()
    v1, _ = await writer.prompts.add_version(version("p", "one"))
    lab = await writer.prompts.set_label(label("p", "production", (1, 100)))
    changes = await reader.prompts.changes_since(0)
    assert changes.versions == (v1,) and changes.labels == (lab,)
    v2, _ = await writer.prompts.add_version(version("p", "two"))
    moved = await writer.prompts.set_label(label("p", "production", (2, 100)))
    later = await reader.prompts.changes_since(lab.rev)
    assert later.versions == (v2,) and later.labels == (moved,)
    assert await reader.prompts.changes_since(moved.rev) == type(later)()


async def test_approval_applies_once_and_is_superseded_by_a_move(storage: Storage) -> None:
    """Approving applies the move with the approver recorded; a label moved since the request supersedes it."""
    await storage.prompts.add_version(version("p", "one"))
    await storage.prompts.add_version(version("p", "two"))
    current = await storage.prompts.set_label(label("p", "production", (1, 100)))
    await storage.prompts.create_approval(approval("apr_1", current.rev, (2, 100)))
    assert [a.id for a in await storage.prompts.approvals("default", status="pending")] == ["apr_1"]
    applied = await storage.prompts.decide_approval("apr_1", approve=True, decided_by="user:bob", at=1.0e9)
    assert applied is not None and applied.status == "applied" and applied.decided_by == "user:bob"
    (now,) = await storage.prompts.labels("default", "p")
    assert now.targets == (LabelTarget(2, 100.0),) and now.approved_by == "user:bob"
    assert (await storage.prompts.label_history("default", "p", "production"))[0].approved_by == "user:bob"
    again = await storage.prompts.decide_approval("apr_1", approve=False, decided_by="user:eve", at=2.0e9)
    assert again is not None and again.status == "applied"  # decided before: unchanged

    await storage.prompts.create_approval(approval("apr_2", current.rev, (1, 100)))  # based on an old rev
    stale = await storage.prompts.decide_approval("apr_2", approve=True, decided_by="user:bob", at=3.0e9)
    assert stale is not None and stale.status == "superseded"
    assert (await storage.prompts.labels("default", "p"))[0].targets == (LabelTarget(2, 100.0),)

    await storage.prompts.create_approval(approval("apr_3", now.rev, (1, 100)))
    rejected = await storage.prompts.decide_approval("apr_3", approve=False, decided_by="user:bob", at=4.0e9)
    assert rejected is not None and rejected.status == "rejected"
    assert await storage.prompts.get_approval("apr_3") == rejected
    assert await storage.prompts.decide_approval("apr_nope", approve=True, decided_by="x", at=1.0) is None
    assert [a.id for a in await storage.prompts.approvals("default", name="p")] == ["apr_3", "apr_2", "apr_1"]


def request(
    n: int, version: int | None, *, latency: float, status: int = 200, **changes: object
) -> RequestRecord:
    record = RequestRecord(
        id=f"req_{n:06d}",
        created_at=1_700_000_000.0 + n,
        key_id="key_a",
        requested_model="sim/echo",
        status=status,
        latency_ms=latency,
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.001,
        prompt_name="p" if version is not None else None,
        prompt_version=version,
    )
    return msgspec.structs.replace(record, **changes)


async def test_version_metrics_come_from_the_request_log(storage: Storage) -> None:
    """Per version: counts, nearest-rank p50/p95 latency, tokens, cost, errors (not 499) and guardrail blocks."""
    records = [request(i, 1, latency=float(i)) for i in range(1, 101)]  # latencies 1..100
    records += [
        request(200, 2, latency=10.0),
        request(201, 2, latency=30.0, status=400, error_class="missing_variable"),
        request(202, 2, latency=20.0, status=400, error_class="guardrail_blocked", guardrail_action="block"),
        request(203, 2, latency=40.0, status=499),
        request(204, None, latency=5.0),  # no prompt
        request(205, 1, latency=5.0, prompt_name="other"),
        request(206, 1, latency=5.0, tenant="acme"),
    ]
    await storage.requests.append_many(records)
    one, two = await storage.prompts.version_metrics("default", "p")
    assert (one.version, one.requests, one.errors, one.latency_p50_ms, one.latency_p95_ms) == (
        1,
        100,
        0,
        50.0,
        95.0,
    )
    assert (one.input_tokens, one.output_tokens, one.cost_usd) == (1000, 500, 0.1)
    assert (two.requests, two.errors, two.error_rate, two.guardrail_blocks) == (4, 2, 0.5, 1)
    assert (two.latency_p50_ms, two.latency_p95_ms) == (20.0, 40.0)
    windowed = await storage.prompts.version_metrics(
        "default", "p", since=1_700_000_051.0, until=1_700_000_201.0
    )
    assert [(m.version, m.requests) for m in windowed] == [(1, 50), (2, 1)]
    assert await storage.prompts.version_metrics("default", "nothing") == []
