"""The prompt registry's SQL, written once for both backends.

Each backend hands the functions here a :class:`Tx` — one open transaction that can fetch rows,
execute a statement and draw the next ``prompt_rev`` — plus its placeholder mark (``?`` or ``$``).
What differs between SQLite and PostgreSQL (how a rev is drawn, how writers are serialised, the
percentile functions) stays in :mod:`podium.storage.sqlite_prompts` and
:mod:`podium.storage.postgres_prompts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelHistoryEntry,
    LabelRecord,
    LabelTarget,
    PromptChanges,
    PromptSpec,
    PromptVersionRecord,
    VersionMetrics,
)

__all__ = [
    "APPROVAL_COLUMNS",
    "LABEL_COLUMNS",
    "VERSION_COLUMNS",
    "Tx",
    "add_version",
    "approval_from_row",
    "approvals_sql",
    "changes",
    "create_approval",
    "decide_approval",
    "history_from_row",
    "label_from_row",
    "metrics_from_row",
    "set_label",
    "version_from_row",
]

VERSION_COLUMNS = tuple(f.name for f in msgspec.structs.fields(PromptVersionRecord))
LABEL_COLUMNS = tuple(f.name for f in msgspec.structs.fields(LabelRecord))
HISTORY_COLUMNS = tuple(f.name for f in msgspec.structs.fields(LabelHistoryEntry))
APPROVAL_COLUMNS = tuple(f.name for f in msgspec.structs.fields(ApprovalRecord))
_TARGET_COLUMNS = frozenset({"targets", "previous"})

_encode = msgspec.json.Encoder().encode
_spec_decoder = msgspec.json.Decoder(PromptSpec)
_targets_decoder = msgspec.json.Decoder(tuple[LabelTarget, ...])


class Tx(Protocol):
    """One open transaction on either backend."""

    mark: str

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    async def next_rev(self) -> int: ...


def select(table: str, columns: Sequence[str]) -> str:
    return f"SELECT {', '.join(columns)} FROM {table}"


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    values = ", ".join(f"{mark}{i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _row(record: msgspec.Struct, columns: Sequence[str]) -> list[Any]:
    fields = msgspec.structs.asdict(record)
    out: list[Any] = []
    for column in columns:
        value = fields[column]
        if column == "spec" or column in _TARGET_COLUMNS:
            value = _encode(value).decode()
        out.append(value)
    return out


def version_from_row(row: Sequence[Any]) -> PromptVersionRecord:
    fields = dict(zip(VERSION_COLUMNS, row, strict=True))
    fields["spec"] = _spec_decoder.decode(fields["spec"])
    return msgspec.convert(fields, PromptVersionRecord, strict=False)


def _with_targets(row: Sequence[Any], columns: Sequence[str]) -> dict[str, Any]:
    fields = dict(zip(columns, row, strict=True))
    for column in _TARGET_COLUMNS & fields.keys():
        fields[column] = _targets_decoder.decode(fields[column])
    return fields


def label_from_row(row: Sequence[Any]) -> LabelRecord:
    return msgspec.convert(_with_targets(row, LABEL_COLUMNS), LabelRecord, strict=False)


def history_from_row(row: Sequence[Any]) -> LabelHistoryEntry:
    return msgspec.convert(_with_targets(row, HISTORY_COLUMNS), LabelHistoryEntry, strict=False)


def approval_from_row(row: Sequence[Any]) -> ApprovalRecord:
    return msgspec.convert(_with_targets(row, APPROVAL_COLUMNS), ApprovalRecord, strict=False)


async def add_version(
    tx: Tx, record: PromptVersionRecord, *, only_if_changed: bool
) -> tuple[PromptVersionRecord, bool]:
    m = tx.mark
    rows = await tx.fetch(
        f"SELECT latest FROM prompts WHERE tenant = {m}1 AND name = {m}2", (record.tenant, record.name)
    )
    latest = int(rows[0][0]) if rows else 0
    if only_if_changed and latest:
        found = await tx.fetch(
            f"{select('prompt_versions', VERSION_COLUMNS)} WHERE tenant = {m}1 AND name = {m}2 AND number = {m}3",
            (record.tenant, record.name, latest),
        )
        current = version_from_row(found[0])
        if current.content_hash == record.content_hash:
            return current, False
    stored = msgspec.structs.replace(record, number=latest + 1, rev=await tx.next_rev())
    if latest:
        await tx.execute(
            f"UPDATE prompts SET latest = {m}3 WHERE tenant = {m}1 AND name = {m}2",
            (record.tenant, record.name, stored.number),
        )
    else:
        await tx.execute(
            _insert("prompts", ("tenant", "name", "latest", "created_at", "created_by"), m),
            (record.tenant, record.name, 1, float(record.created_at), record.author),
        )
    await tx.execute(_insert("prompt_versions", VERSION_COLUMNS, m), _row(stored, VERSION_COLUMNS))
    return stored, True


async def _current_label(tx: Tx, tenant: str, name: str, label: str) -> LabelRecord | None:
    m = tx.mark
    rows = await tx.fetch(
        f"{select('prompt_labels', LABEL_COLUMNS)} WHERE tenant = {m}1 AND name = {m}2 AND label = {m}3",
        (tenant, name, label),
    )
    return label_from_row(rows[0]) if rows else None


async def set_label(tx: Tx, record: LabelRecord, *, expected_rev: int | None) -> LabelRecord:
    m = tx.mark
    current = await _current_label(tx, record.tenant, record.name, record.label)
    if expected_rev is not None and (current.rev if current else 0) != expected_rev:
        raise ValueError(
            f"label {record.label!r} of prompt {record.name!r} moved meanwhile "
            f"(rev {current.rev if current else 0}, expected {expected_rev})"
        )
    stored = msgspec.structs.replace(record, rev=await tx.next_rev())
    if current is None:
        await tx.execute(_insert("prompt_labels", LABEL_COLUMNS, m), _row(stored, LABEL_COLUMNS))
    else:
        sets = ", ".join(f"{c} = {m}{i}" for i, c in enumerate(LABEL_COLUMNS, 1))
        n = len(LABEL_COLUMNS)
        await tx.execute(
            f"UPDATE prompt_labels SET {sets} WHERE tenant = {m}{n + 1} AND name = {m}{n + 2} AND label = {m}{n + 3}",
            [*_row(stored, LABEL_COLUMNS), record.tenant, record.name, record.label],
        )
    entry = LabelHistoryEntry(
        tenant=stored.tenant,
        name=stored.name,
        label=stored.label,
        targets=stored.targets,
        previous=current.targets if current else (),
        actor=stored.updated_by,
        approved_by=stored.approved_by,
        at=float(stored.updated_at),
        rev=stored.rev,
    )
    await tx.execute(_insert("prompt_label_history", HISTORY_COLUMNS, m), _row(entry, HISTORY_COLUMNS))
    return stored


async def create_approval(tx: Tx, approval: ApprovalRecord) -> None:
    await tx.execute(_insert("prompt_approvals", APPROVAL_COLUMNS, tx.mark), _row(approval, APPROVAL_COLUMNS))


async def decide_approval(
    tx: Tx, approval_id: str, *, approve: bool, decided_by: str, at: float
) -> ApprovalRecord | None:
    m = tx.mark
    rows = await tx.fetch(f"{select('prompt_approvals', APPROVAL_COLUMNS)} WHERE id = {m}1", (approval_id,))
    if not rows:
        return None
    approval = approval_from_row(rows[0])
    if approval.status != "pending":
        return approval
    status = "rejected"
    if approve:
        current = await _current_label(tx, approval.tenant, approval.name, approval.label)
        if (current.rev if current else 0) != approval.base_rev:
            status = "superseded"
        else:
            await set_label(
                tx,
                LabelRecord(
                    tenant=approval.tenant,
                    name=approval.name,
                    label=approval.label,
                    targets=approval.targets,
                    updated_at=at,
                    updated_by=approval.requested_by,
                    approved_by=decided_by,
                ),
                expected_rev=approval.base_rev,
            )
            status = "applied"
    await tx.execute(
        f"UPDATE prompt_approvals SET status = {m}2, decided_by = {m}3, decided_at = {m}4 WHERE id = {m}1",
        (approval_id, status, decided_by, float(at)),
    )
    return msgspec.structs.replace(approval, status=status, decided_by=decided_by, decided_at=at)


async def changes(tx: Tx, rev: int, upto: int | None = None) -> PromptChanges:
    """Versions and labels with a rev in (rev, upto]. The two reads must agree on what has committed:
    either they run in one snapshot, or ``upto`` is a rev below which everything had committed."""
    m = tx.mark
    bound = f" AND rev <= {m}2" if upto is not None else ""
    args = (rev, upto) if upto is not None else (rev,)
    versions = await tx.fetch(
        f"{select('prompt_versions', VERSION_COLUMNS)} WHERE rev > {m}1{bound} ORDER BY rev", args
    )
    labels = await tx.fetch(
        f"{select('prompt_labels', LABEL_COLUMNS)} WHERE rev > {m}1{bound} ORDER BY rev", args
    )
    return PromptChanges(
        versions=tuple(version_from_row(r) for r in versions),
        labels=tuple(label_from_row(r) for r in labels),
    )


def approvals_sql(mark: str, tenant: str, name: str | None, status: str | None) -> tuple[str, list[Any]]:
    clauses = [f"tenant = {mark}1"]
    args: list[Any] = [tenant]
    if name is not None:
        args.append(name)
        clauses.append(f"name = {mark}{len(args)}")
    if status is not None:
        args.append(status)
        clauses.append(f"status = {mark}{len(args)}")
    where = " AND ".join(clauses)
    return (
        f"{select('prompt_approvals', APPROVAL_COLUMNS)} WHERE {where} ORDER BY requested_at DESC, id DESC",
        args,
    )


def metrics_where(mark: str, since: float | None, until: float | None) -> tuple[str, list[Any]]:
    """The request-log filter for one prompt's metrics; the tenant and name are the first two args."""
    clauses = [f"tenant = {mark}1", f"prompt_name = {mark}2", "prompt_version IS NOT NULL"]
    args: list[Any] = []
    if since is not None:
        args.append(float(since))
        clauses.append(f"created_at >= {mark}{len(args) + 2}")
    if until is not None:
        args.append(float(until))
        clauses.append(f"created_at < {mark}{len(args) + 2}")
    return " AND ".join(clauses), args


# Shared by both backends' metrics queries. A request the caller abandoned (499) is not the version's
# error; a guardrail block is a request whose strongest guardrail action was "block".
AGGREGATES = (
    "count(*)",
    "sum(CASE WHEN status >= 400 AND status <> 499 THEN 1 ELSE 0 END)",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(cost_usd)",
    "sum(CASE WHEN guardrail_action = 'block' THEN 1 ELSE 0 END)",
    "min(created_at)",
    "max(created_at)",
)


def metrics_from_row(row: Sequence[Any]) -> VersionMetrics:
    """A row of (version, p50, p95, *AGGREGATES)."""
    version, p50, p95, requests, errors, tokens_in, tokens_out, cost, blocks, first, last = row
    requests = int(requests)
    return VersionMetrics(
        version=int(version),
        requests=requests,
        errors=int(errors or 0),
        error_rate=round(int(errors or 0) / requests, 6) if requests else 0.0,
        latency_p50_ms=float(p50) if p50 is not None else None,
        latency_p95_ms=float(p95) if p95 is not None else None,
        input_tokens=int(tokens_in or 0),
        output_tokens=int(tokens_out or 0),
        cost_usd=round(float(cost or 0.0), 10),
        guardrail_blocks=int(blocks or 0),
        first_at=float(first) if first is not None else None,
        last_at=float(last) if last is not None else None,
    )
