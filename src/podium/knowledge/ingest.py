"""Ingestion: documents in, chunks with vectors out, one document at a time, each all-or-nothing.

For each :class:`Source`: refuse it if too large, parse it (a worker thread), chunk it, and compare
the chunks' content hash with the stored document of the same source — unchanged, nothing is
written; only the title, metadata or allow list changed, only those are; otherwise the new chunks are
embedded and replace the old ones in one transaction (:meth:`KnowledgeStore.put_document`). A
document that fails (unreadable, empty, the embedding model down) is reported in the batch's error
list and leaves its stored version as it was; the others go on.

:class:`Ingestion` keeps the batch's :class:`IngestionRecord` up to date and, for a background batch,
writes it to storage at most every second, so ``GET …/ingestions/{id}`` shows its progress.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from podium.errors import PodiumError
from podium.knowledge.chunking import Chunk, chunk_document
from podium.knowledge.embedding import Embedder, EmbeddingUnavailable
from podium.knowledge.errors import DocumentRejected
from podium.knowledge.parsing import ParsedDocument, parse
from podium.storage.base import KnowledgeStore
from podium.storage.knowledge_records import (
    ChunkRecord,
    DocumentError,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
)

__all__ = ["Ingestion", "Outcome", "Source", "content_hash", "ingest_source"]

Status = Literal["added", "replaced", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class Source:
    """A document to ingest, as sent: its bytes (or text), its name, and what the caller says of it."""

    source: str  # a path, a file name or a caller-chosen id: unique in the knowledge base
    data: bytes
    media_type: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    size: int | None = None  # the size seen by a reader that stopped early (too large): data is empty then


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    status: Status
    document: DocumentRecord | None = None
    error: DocumentError | None = None
    chunks: int = 0


def content_hash(chunks: list[Chunk], kb: KnowledgeBaseRecord) -> str:
    """What a document's stored chunks depend on, besides the embedding model: text and chunking."""
    digest = hashlib.sha256(f"{kb.chunk_tokens}:{kb.chunk_overlap}\0".encode())
    for c in chunks:
        digest.update(f"{c.heading}\0{c.page}\0{c.text}\0\0".encode())
    return digest.hexdigest()


def _new_id(prefix: str) -> str:
    import secrets

    return f"{prefix}_{secrets.token_hex(8)}"


def _prepare(
    src: Source, kb: KnowledgeBaseRecord, limit: int
) -> list[tuple[str, ParsedDocument, list[Chunk]]]:
    size = src.size if src.size is not None else len(src.data)
    if size > limit:
        raise DocumentRejected(
            f"{src.source} is {size} bytes; this gateway ingests documents of at most {limit} bytes "
            "(knowledge.max_document_bytes).",
            code="document_too_large",
            status=413,
        )
    out = []
    for parsed in parse(src.data, name=src.source, media_type=src.media_type):
        chunks = chunk_document(parsed, max_tokens=kb.chunk_tokens, overlap=kb.chunk_overlap)
        if not chunks:
            raise DocumentRejected(f"{src.source}{parsed.suffix} holds no text.", code="empty_document")
        out.append((src.source + parsed.suffix, parsed, chunks))
    return out


async def ingest_source(
    store: KnowledgeStore, kb: KnowledgeBaseRecord, src: Source, embedder: Embedder, *, max_bytes: int
) -> list[Outcome]:
    """Ingest one source (one outcome per document it holds: JSONL files hold several)."""
    try:
        prepared = await asyncio.to_thread(_prepare, src, kb, max_bytes)
    except DocumentRejected as exc:
        return [
            Outcome(
                src.source,
                "failed",
                error=DocumentError(
                    source=src.source, code=exc.code or "invalid_document", message=exc.message
                ),
            )
        ]
    outcomes: list[Outcome] = []
    pending: list[tuple[DocumentRecord, list[Chunk], bool]] = []
    now = time.time()
    for source, parsed, chunks in prepared:
        digest = content_hash(chunks, kb)
        metadata = {**parsed.metadata, **src.metadata}
        title = src.title or parsed.title
        old = await store.get_document(kb.id, source)
        if old is not None and old.content_hash == digest:
            if (old.title, old.metadata, old.allow) == (title, metadata, src.allow):
                outcomes.append(Outcome(source, "unchanged", document=old))
                continue
            changed = msgspec.structs.replace(
                old, title=title, metadata=metadata, allow=src.allow, updated_at=now
            )
            updated = await store.update_document(changed)
            outcomes.append(Outcome(source, "replaced", document=updated))
            continue
        doc = DocumentRecord(
            id=old.id if old is not None else _new_id("doc"),
            kb_id=kb.id,
            source=source,
            title=title,
            media_type=parsed.media_type,
            content_hash=digest,
            metadata=metadata,
            allow=src.allow,
            bytes=len(src.data),
            created_at=old.created_at if old is not None else now,
            updated_at=now,
        )
        pending.append((doc, chunks, old is not None))
    if not pending:
        return outcomes
    texts = [f"{c.heading}\n{c.text}" if c.heading else c.text for _, chunks, _ in pending for c in chunks]
    try:
        vectors = await embedder.embed(texts)
    except (PodiumError, EmbeddingUnavailable) as exc:
        message = exc.message if isinstance(exc, PodiumError) else str(exc)
        code = "embedding_failed"
        return outcomes + [
            Outcome(doc.source, "failed", error=DocumentError(source=doc.source, code=code, message=message))
            for doc, _, _ in pending
        ]
    if vectors.shape[1] != kb.dimension:
        message = f"the embedding model answered {vectors.shape[1]} dimensions; the knowledge base holds {kb.dimension}"
        return outcomes + [
            Outcome(
                d.source,
                "failed",
                error=DocumentError(source=d.source, code="embedding_failed", message=message),
            )
            for d, _, _ in pending
        ]
    import numpy as np  # here, not at import: a gateway without knowledge bases never loads it

    row = 0
    for doc, chunks, existed in pending:
        records = [
            ChunkRecord(
                ord=c.ord,
                text=c.text,
                heading=c.heading,
                page=c.page,
                tokens=c.tokens,
                embedding=np.asarray(vectors[row + i], dtype="<f4").tobytes(),
            )
            for i, c in enumerate(chunks)
        ]
        row += len(chunks)
        stored = await store.put_document(doc, records)
        outcomes.append(
            Outcome(doc.source, "replaced" if existed else "added", document=stored, chunks=len(records))
        )
    return outcomes


class Ingestion:
    """One batch: runs the sources in order and keeps its record (and, if asked, storage) up to date."""

    def __init__(
        self,
        store: KnowledgeStore,
        kb: KnowledgeBaseRecord,
        embedder: Embedder,
        *,
        actor: str,
        total: int,
        max_bytes: int,
        persist: bool,
        on_change: Callable[[], None] = lambda: None,
        on_progress: Callable[[IngestionRecord], None] | None = None,
    ) -> None:
        now = time.time()
        self.record = IngestionRecord(
            id=_new_id("ing"),
            kb_id=kb.id,
            tenant=kb.tenant,
            total=total,
            created_at=now,
            updated_at=now,
            created_by=actor,
        )
        self.outcomes: list[Outcome] = []
        self._store, self._kb, self._embedder = store, kb, embedder
        self._max_bytes, self._persist = max_bytes, persist
        self._on_change, self._on_progress = on_change, on_progress
        self._saved = 0.0

    async def save(self) -> None:
        if self._persist:
            await self._store.put_ingestion(self.record)
            self._saved = time.monotonic()

    async def run(self, sources: Iterable[Source] | AsyncIterable[Source]) -> IngestionRecord:
        self._set(status="running")
        await self.save()
        try:
            if isinstance(sources, AsyncIterable):
                async for src in sources:
                    await self._one(src)
            else:
                for src in sources:
                    await self._one(src)
        except BaseException as exc:
            message = (
                "the ingestion was interrupted"
                if isinstance(exc, asyncio.CancelledError)
                else f"the ingestion failed: {exc}"
            )
            error = DocumentError(source="", code="ingestion_failed", message=message)
            self._set(status="failed", errors=(*self.record.errors, error))
            await asyncio.shield(self.save())
            raise
        self._set(status="done")
        await self.save()
        return self.record

    async def _one(self, src: Source) -> None:
        outcomes = await ingest_source(self._store, self._kb, src, self._embedder, max_bytes=self._max_bytes)
        self.outcomes.extend(outcomes)
        r = self.record
        count = {
            s: sum(1 for o in outcomes if o.status == s) for s in ("added", "replaced", "unchanged", "failed")
        }
        if count["added"] or count["replaced"]:
            self._on_change()
        self._set(
            processed=r.processed + 1,
            added=r.added + count["added"],
            replaced=r.replaced + count["replaced"],
            unchanged=r.unchanged + count["unchanged"],
            failed=r.failed + count["failed"],
            chunks=r.chunks + sum(o.chunks for o in outcomes),
            errors=r.errors + tuple(o.error for o in outcomes if o.error is not None),
        )
        if self._on_progress is not None:
            self._on_progress(self.record)
        if self._persist and time.monotonic() - self._saved >= 1.0:
            await self.save()

    def _set(self, **changes: Any) -> None:
        self.record = msgspec.structs.replace(self.record, updated_at=time.time(), **changes)
