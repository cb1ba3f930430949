"""What storage holds for knowledge bases (:mod:`podium.knowledge`), as immutable records.

A knowledge base belongs to one tenant and records the embedding model and dimension its vectors
were made with. A document is one source (a file, an API upload, one line of a JSONL file) with a
content hash; its chunks are replaced all at once whenever it changes. Every change to a knowledge
base's content draws the next number of its ``rev``, so an in-memory index can catch up with the
changes since the rev it has seen (:class:`KnowledgeChanges`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "AccessRule",
    "ChunkHit",
    "ChunkRecord",
    "DocumentError",
    "DocumentRecord",
    "IngestionRecord",
    "IngestionStatus",
    "KnowledgeBaseRecord",
    "KnowledgeChanges",
    "StoredChunk",
]

IngestionStatus = Literal["queued", "running", "done", "failed"]


class _Record(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AccessRule(_Record, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who may read: a key id, a team or a role matches (``"*"`` matches anyone of the tenant).

    A rule whose three lists are all empty matches everyone. ``filter`` narrows what the rule lets
    them read to the documents whose metadata match it (see :mod:`podium.knowledge.filters`).
    """

    keys: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    filter: dict[str, Any] | None = None


class KnowledgeBaseRecord(_Record, frozen=True, kw_only=True):
    id: str  # "kb_" + 16 hex characters
    tenant: str
    name: str  # unique in the tenant
    description: str = ""
    embedding_model: str  # "local:minilm", or a model name served by the gateway ("sim/embed")
    dimension: int
    chunk_tokens: int = 200
    chunk_overlap: int = 30
    access: tuple[AccessRule, ...] = ()  # empty: every principal of the tenant that may read knowledge bases
    min_score: float | None = None  # cosine similarity below which a passage counts as not relevant
    created_at: float
    updated_at: float
    created_by: str
    rev: int = 0  # drawn anew by every change to the content (documents, chunks, vectors)
    document_count: int = 0
    chunk_count: int = 0
    version: int = 1


class DocumentRecord(_Record, frozen=True, kw_only=True):
    id: str  # "doc_" + 16 hex characters
    kb_id: str
    source: str  # a path, file name or caller-chosen id; unique in the knowledge base
    title: str = ""
    media_type: str = "text/plain"
    content_hash: str  # hex SHA-256 of the parsed text and what chunking and embedding depend on
    metadata: dict[str, Any] = {}
    # Document-level access: "team:<name>", "role:<name>" or "key:<id>". Empty: whoever may read the
    # knowledge base (within what their access rule's filter allows).
    allow: tuple[str, ...] = ()
    bytes: int = 0
    chunk_count: int = 0
    created_at: float
    updated_at: float
    rev: int = 0
    version: int = 1


class ChunkRecord(_Record, frozen=True, kw_only=True):
    """A chunk to store: its text, where it came from, and its vector (little-endian float32)."""

    ord: int  # position in the document, from 0
    text: str
    heading: str = ""  # the document title and section path it sits under: "Contract > Termination"
    page: int | None = None
    tokens: int = 0
    embedding: bytes


class StoredChunk(_Record, frozen=True, kw_only=True):
    id: int
    kb_id: str
    doc_id: str
    ord: int
    text: str
    heading: str = ""
    page: int | None = None
    embedding: bytes = b""


class ChunkHit(_Record, frozen=True, kw_only=True, array_like=True):
    id: int
    score: float  # higher is better; comparable only within one search


class KnowledgeChanges(_Record, frozen=True, kw_only=True):
    """What changed in a knowledge base after some rev, for an in-memory index to catch up."""

    rev: int  # the knowledge base's rev these changes bring the reader to
    embedding_model: str
    dimension: int
    documents: tuple[DocumentRecord, ...] = ()  # written (added, replaced or changed) after the rev
    removed: tuple[str, ...] = ()  # ids of documents deleted after the rev
    # (chunk id, document id, vector) of every chunk written after the rev; vectors omitted on request
    chunks: tuple[tuple[int, str, bytes], ...] = ()
    reset: bool = False  # the vectors were all replaced (a new embedding model): start from scratch


class DocumentError(_Record, frozen=True, kw_only=True):
    source: str
    code: str  # "corrupt_document", "password_protected", "empty_document", "unknown_encoding", …
    message: str


class IngestionRecord(_Record, frozen=True, kw_only=True):
    """A batch of documents ingested in the background, and how far it got."""

    id: str  # "ing_" + 16 hex characters
    kb_id: str
    tenant: str
    status: IngestionStatus = "queued"
    total: int = 0  # documents in the batch
    processed: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0
    chunks: int = 0  # chunks written
    errors: tuple[DocumentError, ...] = ()
    created_at: float
    updated_at: float
    created_by: str
    version: int = 1
