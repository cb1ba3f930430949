"""The storage contract: one Protocol per kind of state, implemented by every backend.

Backends: :mod:`podium.storage.sqlite` (the embedded default: one file, WAL) and
:mod:`podium.storage.postgres` (many replicas). ``tests/storage/test_conformance.py`` runs this whole
contract against each of them on a real database.

Errors: a bad ``storage.url`` is a :class:`~podium.errors.ConfigError`; a database that cannot be
opened or reached is :class:`StorageUnavailable`; a record the database refuses (a duplicate key id
or hash, a null where a value is required) is a ``ValueError``, since it is the calling code's bug;
a page cursor that storage did not write is a :class:`~podium.errors.RequestError` (the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from podium.errors import Conflict, PodiumError
from podium.storage.audit_records import AuditCheckpoint, AuditEntry, AuditEvent
from podium.storage.identity_records import IdentityChanges, TeamRecord, TenantRecord, UserRecord
from podium.storage.knowledge_records import (
    ChunkHit,
    ChunkRecord,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
    KnowledgeChanges,
    StoredChunk,
)
from podium.storage.observability_records import (
    AlertEvent,
    AlertState,
    EvalQuery,
    EvalScore,
    EvalSummary,
    UsageQuery,
    UsageRow,
)
from podium.storage.prompt_records import (
    ApprovalRecord,
    LabelHistoryEntry,
    LabelRecord,
    PromptChanges,
    PromptVersionRecord,
    VersionMetrics,
)
from podium.storage.records import KeyRecord, RequestPage, RequestQuery, RequestRecord
from podium.storage.response_records import StoredResponse
from podium.storage.workflow_records import (
    ReviewQuery,
    ReviewTask,
    RunError,
    RunEvent,
    RunPage,
    RunQuery,
    RunRecord,
    StepRecord,
)

__all__ = [
    "AlertStore",
    "AuditStore",
    "EvalStore",
    "IdentityStore",
    "KeyStore",
    "KnowledgeStore",
    "LeaseLost",
    "MetaStore",
    "PromptStore",
    "RequestLog",
    "ResponseStore",
    "ReviewConflict",
    "Storage",
    "StorageUnavailable",
    "UsageStore",
    "WorkflowStore",
]


class StorageUnavailable(PodiumError):
    """The database cannot be opened or reached; the message names it (never with its password)."""

    status = 503
    code = "storage_unavailable"


class LeaseLost(PodiumError):
    """A workflow run's lease is no longer this executor's: another replica took the run over."""

    status = 409
    code = "lease_lost"


class ReviewConflict(Conflict):
    """A review task was decided already, or is claimed by another reviewer."""

    code = "review_decided"


class KeyStore(Protocol):
    async def create(self, key: KeyRecord) -> KeyRecord:
        """Store a new key; returns it with its ``rev``. A duplicate id or hash raises ``ValueError``."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def revoke(self, key_id: str, *, at: float) -> KeyRecord | None:
        """Mark a key revoked; ``None`` if there is no such key.

        Idempotent: revoking a revoked key keeps its first ``revoked_at`` and draws no new ``rev``.
        """
        ...

    async def changes_since(self, rev: int) -> list[KeyRecord]:
        """Keys written (created or revoked) after ``rev``, in ``rev`` order: how replicas stay in sync."""
        ...

    # Last on purpose: below a method named ``list``, the annotation ``list[...]`` means the method.
    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...


class RequestLog(Protocol):
    async def append_many(self, records: list[RequestRecord]) -> None:
        """Append records in one transaction: all of them or none. A known id is skipped, not doubled."""
        ...

    async def query(self, query: RequestQuery) -> RequestPage: ...


class MetaStore(Protocol):
    """Small named values the server keeps for itself (e.g. whether the first admin key was made)."""

    async def get(self, name: str) -> str | None: ...

    async def set_if_absent(self, name: str, value: str) -> bool:
        """Set ``name`` unless it exists; ``True`` if this call set it. Atomic across processes."""
        ...


class IdentityStore(Protocol):
    """Tenants, teams and people. Tenants and users share one ``rev`` sequence, like keys have theirs.

    A duplicate (tenant id, team name in a tenant, username in a tenant, user id) raises ``ValueError``.
    Updates replace every field but the id and ``rev`` (drawn anew); ``None`` when there is no such record.
    """

    async def create_tenant(self, tenant: TenantRecord) -> TenantRecord: ...

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None: ...

    async def update_tenant(self, tenant: TenantRecord) -> TenantRecord | None: ...

    async def list_tenants(self) -> list[TenantRecord]:
        """Every tenant, by id."""
        ...

    async def create_team(self, team: TeamRecord) -> TeamRecord: ...

    async def delete_team(self, tenant: str, name: str) -> bool: ...

    async def list_teams(self, tenant: str) -> list[TeamRecord]:
        """The tenant's teams, by name."""
        ...

    async def create_user(self, user: UserRecord) -> UserRecord: ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...

    async def find_user(self, tenant: str, username: str) -> UserRecord | None: ...

    async def update_user(self, user: UserRecord) -> UserRecord | None: ...

    async def list_users(self, tenant: str) -> list[UserRecord]:
        """The tenant's people, by username."""
        ...

    async def changes_since(self, rev: int) -> IdentityChanges:
        """Tenants and users written after ``rev``, each in rev order: how replicas stay in sync."""
        ...


class AuditStore(Protocol):
    """The hash-chained audit trail (see :mod:`podium.audit.chain`)."""

    async def append(self, events: list[AuditEvent], *, key: bytes) -> list[AuditEntry]:
        """Chain ``events`` after the current head in one transaction, sealing each with ``key``.

        Safe with many writers (replicas): seqs are consecutive and the chain never forks.
        """
        ...

    async def head(self) -> tuple[int, str]:
        """The last entry's (seq, hash); ``(0, GENESIS)`` when empty."""
        ...

    async def read(self, *, after: int = 0, limit: int = 1000, tenant: str | None = None) -> list[AuditEntry]:
        """Entries with seq > ``after``, oldest first (only ``tenant``'s if given)."""
        ...

    async def recent(
        self, *, tenant: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[AuditEntry]:
        """Entries newest first, with seq < ``before`` when given."""
        ...

    async def add_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        """Store a checkpoint; ``False`` if one for that seq exists already."""
        ...

    async def checkpoints(self) -> list[AuditCheckpoint]:
        """Every stored checkpoint, by seq."""
        ...


class ResponseStore(Protocol):
    """Responses-API answers kept for ``previous_response_id``; every lookup is scoped to a tenant."""

    async def put_many(self, responses: list[StoredResponse]) -> None:
        """Store answers in one transaction: all or none. A known id is skipped, not overwritten."""
        ...

    async def get(self, response_id: str, *, tenant: str) -> StoredResponse | None:
        """The answer, or ``None`` if there is none by that id *in that tenant*."""
        ...

    async def delete(self, response_id: str, *, tenant: str) -> bool:
        """Delete the tenant's answer; ``False`` if it had none by that id."""
        ...


class PromptStore(Protocol):
    """The prompt registry: immutable versions, labels with their history, approvals of label moves.

    Versions and labels share one ``rev`` sequence (replicas mirror both through ``changes_since``);
    approvals are read on demand. Names are scoped by tenant.
    """

    async def add_version(
        self, record: PromptVersionRecord, *, only_if_changed: bool = False
    ) -> tuple[PromptVersionRecord, bool]:
        """Store ``record`` as its prompt's next version (number and rev drawn here); ``(stored, True)``.

        With ``only_if_changed``, when the latest version has the same ``content_hash`` nothing is
        written and ``(latest, False)`` comes back. Two writers never get the same number.
        """
        ...

    async def get_version(self, tenant: str, name: str, number: int) -> PromptVersionRecord | None: ...

    async def versions(self, tenant: str, name: str) -> list[PromptVersionRecord]:
        """Every version of one prompt, by number."""
        ...

    async def latest_versions(self, tenant: str) -> list[PromptVersionRecord]:
        """The newest version of each of the tenant's prompts, by name."""
        ...

    async def labels(self, tenant: str, name: str) -> list[LabelRecord]:
        """The prompt's labels (removed ones left out), by label."""
        ...

    async def set_label(self, record: LabelRecord, *, expected_rev: int | None = None) -> LabelRecord:
        """Point a label at ``record.targets`` (empty: remove it) and append the move to its history.

        With ``expected_rev`` (0: the label must not exist) the move happens only if the label is
        still at that rev; otherwise ``ValueError``. Returns the record with its new rev.
        """
        ...

    async def label_history(
        self, tenant: str, name: str, label: str, *, limit: int = 50
    ) -> list[LabelHistoryEntry]:
        """The label's moves, newest first."""
        ...

    async def create_approval(self, approval: ApprovalRecord) -> ApprovalRecord: ...

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None: ...

    async def decide_approval(
        self, approval_id: str, *, approve: bool, decided_by: str, at: float
    ) -> ApprovalRecord | None:
        """Decide a pending approval in one transaction; ``None`` if there is no such approval.

        Approving applies its move (the label's history names ``decided_by`` as approver) and answers
        status ``applied`` — or ``superseded``, without moving anything, when the label moved since
        the request. Rejecting answers ``rejected``. An approval decided before comes back unchanged.
        """
        ...

    async def approvals(
        self, tenant: str, *, name: str | None = None, status: str | None = None
    ) -> list[ApprovalRecord]:
        """The tenant's approvals (of one prompt, in one status, if given), newest first."""
        ...

    async def changes_since(self, rev: int) -> PromptChanges:
        """Versions and labels (every tenant's) written after ``rev``, each in rev order."""
        ...

    async def version_metrics(
        self, tenant: str, name: str, *, since: float | None = None, until: float | None = None
    ) -> list[VersionMetrics]:
        """Per version of the prompt, from the request log over [since, until): counts, latency
        percentiles, tokens, cost, errors and guardrail blocks. By version number."""
        ...


class KnowledgeStore(Protocol):
    """Knowledge bases (:mod:`podium.knowledge`): documents, their chunks and vectors, full-text search,
    and the background ingestions' progress.

    Every content change (a document written, changed or deleted; the vectors replaced) draws the
    knowledge base's next ``rev`` in the transaction that makes it, and revs of one knowledge base
    commit in order: a reader that has seen rev N has seen every change up to N (``changes``).
    A duplicate (tenant, name) raises ``ValueError``. ``doc_ids`` restricts a search to those documents.
    """

    @property
    def native_vectors(self) -> bool:
        """The database searches vectors itself (PostgreSQL with pgvector's HNSW); known after a first call."""
        ...

    async def create_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord: ...

    async def get_kb(self, kb_id: str) -> KnowledgeBaseRecord | None: ...

    async def find_kb(self, tenant: str, name: str) -> KnowledgeBaseRecord | None: ...

    async def list_kbs(self, tenant: str) -> list[KnowledgeBaseRecord]:
        """The tenant's knowledge bases, by name."""
        ...

    async def update_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord | None:
        """Change name, description, access, min_score and chunking; never the model, counts or rev."""
        ...

    async def delete_kb(self, kb_id: str) -> bool:
        """Delete the knowledge base with its documents, chunks and ingestions."""
        ...

    async def get_document(self, kb_id: str, source: str) -> DocumentRecord | None: ...

    async def documents(self, kb_id: str) -> list[DocumentRecord]:
        """The knowledge base's documents, by source."""
        ...

    async def put_document(self, doc: DocumentRecord, chunks: list[ChunkRecord]) -> DocumentRecord:
        """Add the document, or replace the one with its source (keeping that one's id), with exactly
        ``chunks``, in one transaction; returns it with its id, counts and new rev. ``ValueError`` if
        the knowledge base does not exist or a vector is not ``dimension`` float32s."""
        ...

    async def update_document(self, doc: DocumentRecord) -> DocumentRecord | None:
        """Change a document's title, metadata and allow list (not its chunks); draws a new rev."""
        ...

    async def delete_document(self, kb_id: str, doc_id: str) -> bool: ...

    async def lexical_search(
        self, kb_id: str, terms: list[str], *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        """Chunks matching any of ``terms`` (plain words), best first: BM25 (SQLite FTS5) or the
        full-text rank (PostgreSQL)."""
        ...

    async def vector_search(
        self, kb_id: str, vector: bytes, *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        """The chunks nearest ``vector`` (float32) by cosine similarity, best first, with it as score.
        Exact where the database has no vector index (callers keep an in-memory index instead)."""
        ...

    async def chunks(self, kb_id: str, ids: list[int]) -> list[StoredChunk]:
        """The knowledge base's chunks with those ids (others are left out), in no particular order."""
        ...

    async def changes(self, kb_id: str, since_rev: int, *, vectors: bool = True) -> KnowledgeChanges | None:
        """What changed after ``since_rev`` (everything for 0); ``None`` if there is no such knowledge base."""
        ...

    async def chunk_texts(self, kb_id: str, *, after: int, limit: int) -> list[tuple[int, str, str]]:
        """(id, heading, text) of chunks with id > ``after``, by id: what re-embedding reads."""
        ...

    async def replace_vectors(
        self,
        kb_id: str,
        *,
        embedding_model: str,
        dimension: int,
        vectors: list[tuple[int, bytes]],
        expected_rev: int,
    ) -> KnowledgeBaseRecord | None:
        """Give every chunk its new vector and the knowledge base its new model, in one transaction,
        if its rev is still ``expected_rev`` (``None`` otherwise: the content changed meanwhile)."""
        ...

    async def put_ingestion(self, record: IngestionRecord) -> None:
        """Store a background ingestion's state (insert, or replace the one with its id)."""
        ...

    async def get_ingestion(self, ingestion_id: str) -> IngestionRecord | None: ...

    async def ingestions(self, kb_id: str, *, limit: int = 20) -> list[IngestionRecord]:
        """The knowledge base's ingestions, newest first."""
        ...


class UsageStore(Protocol):
    """Usage analytics computed from the request log (and its evaluation scores) in the database."""

    async def summary(self, query: UsageQuery) -> list[UsageRow]:
        """One row per group of ``query.group_by`` (one row for all when empty; none without requests)."""
        ...


class EvalStore(Protocol):
    """Quality scores, one per (request, evaluator); a NaN score is stored as unmeasured (None)."""

    async def put_many(self, scores: list[EvalScore]) -> None:
        """Store scores in one transaction; a known (request, evaluator) is skipped, not overwritten."""
        ...

    async def for_request(self, request_id: str) -> list[EvalScore]: ...

    async def summary(self, query: EvalQuery) -> list[EvalSummary]:
        """Per group and evaluator: scores, measured scores, their mean and pass rate (score >= 0.5)."""
        ...


class AlertStore(Protocol):
    """Alert state per (rule, group), the history of notifications, and the evaluator's lease."""

    async def acquire_lease(self, name: str, holder: str, *, ttl: float, now: float) -> bool:
        """Take or renew the lease ``name`` until ``now + ttl``; ``False`` while another holder has it."""
        ...

    async def states(self) -> list[AlertState]: ...

    async def record(self, state: AlertState, event: AlertEvent | None = None) -> AlertEvent | None:
        """Replace the (rule, group) state and append ``event`` (returned with its id) in one transaction."""
        ...

    async def events(
        self, *, rule: str | None = None, before: int | None = None, limit: int = 100
    ) -> list[AlertEvent]:
        """Events newest first (with id < ``before`` when given)."""
        ...


class WorkflowStore(Protocol):
    """Workflow runs, step checkpoints, run events and review tasks (:mod:`podium.workflows`).

    Reads take ``tenant`` where a caller's request leads to them: a run or task of another tenant is
    ``None``. Writes by a run's executor take ``owner`` and happen only while it holds the run's lease
    (else :class:`LeaseLost`), so a replica that lost a run can never write to it again. Event seqs of
    a run are consecutive from 1, drawn in the transaction that writes the event.
    """

    async def create_run(self, run: RunRecord, event: RunEvent) -> RunRecord:
        """Store a new (queued) run with its first event; ``ValueError`` on a duplicate id."""
        ...

    async def get_run(self, run_id: str, *, tenant: str | None = None) -> RunRecord | None: ...

    async def list_runs(self, query: RunQuery) -> RunPage:
        """Runs newest first, filtered by ``query``."""
        ...

    async def steps(self, run_id: str) -> list[StepRecord]:
        """The run's step records in the order they were first written."""
        ...

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[RunEvent]:
        """The run's events with seq > ``after``, in order."""
        ...

    async def acquire_run(self, owner: str, *, now: float, lease_s: float) -> RunRecord | None:
        """Lease the oldest runnable run (queued, or running with an expired lease) to ``owner``, status
        running; ``None`` when there is none. Two callers never get the same run."""
        ...

    async def renew_leases(
        self, owner: str, run_ids: Sequence[str], *, now: float, lease_s: float
    ) -> dict[str, bool]:
        """Extend ``owner``'s leases; for each run still held, whether a cancel was requested."""
        ...

    async def release_run(self, run_id: str, owner: str) -> None:
        """Give the lease up (shutting down): another replica may take the run at once."""
        ...

    async def checkpoint(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        step: StepRecord | None = None,
        events: Sequence[RunEvent] = (),
        cost: float = 0.0,
        current: str | None = None,
    ) -> None:
        """Write a step record and events and add ``cost``, in one transaction. A step replaces the
        one with its key, keeping that one's ``seq`` (the executor numbers steps as it first writes them)."""
        ...

    async def finish_run(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        status: Literal["succeeded", "failed", "cancelled"],
        outputs: dict[str, Any] | None,
        error: RunError | None,
        event: RunEvent,
    ) -> RunRecord:
        """End the run (lease released, open review tasks cancelled)."""
        ...

    async def pause_run(
        self,
        owner: str,
        run_id: str,
        *,
        now: float,
        step: StepRecord,
        task: ReviewTask,
        events: Sequence[RunEvent],
    ) -> ReviewTask:
        """Save the review step, create its task and set the run waiting (lease released), at once."""
        ...

    async def request_cancel(self, run_id: str, *, tenant: str, at: float) -> RunRecord | None:
        """Cancel a queued or waiting run now; flag a running one (its executor stops it); a final run
        comes back unchanged; ``None`` if the tenant has no such run."""
        ...

    async def purge_runs(self, *, before: float) -> int:
        """Delete runs that finished before ``before``, with everything they hold; how many."""
        ...

    async def get_review(self, task_id: str, *, tenant: str | None = None) -> ReviewTask | None: ...

    async def list_reviews(self, query: ReviewQuery) -> list[ReviewTask]:
        """Tasks oldest first; open ones (pending or claimed) unless ``query.status`` says otherwise."""
        ...

    async def claim_review(self, task_id: str, *, tenant: str, reviewer: str, at: float) -> ReviewTask | None:
        """Claim an open task for ``reviewer`` (again: no change); :class:`ReviewConflict` if decided
        or claimed by another."""
        ...

    async def decide_review(
        self,
        task_id: str,
        *,
        tenant: str,
        reviewer: str,
        at: float,
        status: Literal["approved", "modified", "rejected", "expired"],
        result: Any,
        reason: str | None,
    ) -> ReviewTask | None:
        """Decide an open task and requeue its run in one transaction; :class:`ReviewConflict` when it
        was decided already (or is claimed by another reviewer)."""
        ...

    async def due_reviews(self, *, now: float) -> list[ReviewTask]:
        """Open tasks past their deadline or due for escalation."""
        ...

    async def escalate_review(self, task_id: str, *, at: float) -> ReviewTask | None:
        """Hand an open task to its escalation role, once; ``None`` if nothing changed."""
        ...

    async def review_backlog(self) -> int:
        """Open review tasks, every tenant's."""
        ...


class Storage(Protocol):
    keys: KeyStore
    requests: RequestLog
    meta: MetaStore
    identity: IdentityStore
    audit: AuditStore
    responses: ResponseStore
    prompts: PromptStore
    knowledge: KnowledgeStore
    usage: UsageStore
    evals: EvalStore
    alerts: AlertStore
    workflows: WorkflowStore

    async def migrate(self) -> list[int]:
        """Apply pending numbered migrations; the numbers applied (empty when up to date)."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...
