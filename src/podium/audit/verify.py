"""Checking the whole stored chain (``podium audit verify``) and exporting it (``podium audit export``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from podium.audit.chain import ChainChecker, Problem
from podium.audit.checkpoints import verify_signature
from podium.storage.audit_records import AuditCheckpoint, AuditEntry
from podium.storage.base import AuditStore

__all__ = ["Report", "entries", "verify_chain"]

PAGE = 2000


@dataclass
class Report:
    checked: int = 0
    head_seq: int = 0
    checkpoints_checked: int = 0
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


async def entries(
    store: AuditStore, *, tenant: str | None = None, after: int = 0
) -> AsyncIterator[AuditEntry]:
    """Every entry after ``after``, oldest first, a page at a time."""
    while True:
        page = await store.read(after=after, limit=PAGE, tenant=tenant)
        for entry in page:
            yield entry
        if len(page) < PAGE:
            return
        after = page[-1].seq


async def verify_chain(
    store: AuditStore,
    key: bytes | None,
    *,
    external: Sequence[AuditCheckpoint] = (),
    trusted_public_key: str | None = None,
) -> Report:
    """Check every entry in seq order, then the head and the checkpoints; the first problem is named.

    ``key`` checks each entry's mac (``None``: hashes only). ``external`` are checkpoints kept
    elsewhere; they and the stored ones must be correctly signed and match the entries they name.
    """
    report = Report()
    stored = await store.checkpoints()
    checkpoints = [*stored, *external]
    for cp in checkpoints:
        if not verify_signature(cp, trusted_public_key=trusted_public_key):
            report.problem = Problem(cp.seq, "a checkpoint for this entry has a bad signature")
            return report
    checker = ChainChecker(key)
    checker.want({cp.seq for cp in checkpoints})
    async for entry in entries(store):
        if not checker.feed(entry):
            break
    head_seq, head_hash = await store.head()
    report.head_seq = head_seq
    report.checked = checker.checked
    problem = checker.finish(head_seq)
    if problem is None and head_seq and head_hash != checker.prev_hash:
        problem = Problem(head_seq, "the chain head's hash does not match the last entry")
    if problem is None:
        for cp in sorted(checkpoints, key=lambda c: c.seq):
            found = checker.hashes.get(cp.seq)
            if found is None:
                problem = Problem(cp.seq, "a signed checkpoint names this entry, which is missing (deleted?)")
                break
            if found != cp.hash:
                problem = Problem(
                    cp.seq, "differs from its signed checkpoint: the chain was rewritten up to here"
                )
                break
            report.checkpoints_checked += 1
    if key is None:
        report.notes.append("no server key: macs not checked (hashes and checkpoints only)")
    report.problem = problem
    return report
