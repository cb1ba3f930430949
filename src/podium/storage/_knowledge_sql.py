"""What the two knowledge stores share: columns, row conversion, exact vector search, the changes read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from podium.storage.knowledge_records import (
    AccessRule,
    ChunkHit,
    ChunkRecord,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
    StoredChunk,
)

__all__ = [
    "CHUNK_COLUMNS",
    "DOC_COLUMNS",
    "KB_COLUMNS",
    "check_vectors",
    "doc_from_row",
    "doc_row",
    "exact_search",
    "ingestion_from_json",
    "kb_from_row",
    "kb_row",
    "stored_chunk",
]

KB_COLUMNS: tuple[str, ...] = (
    "id",
    "tenant",
    "name",
    "description",
    "embedding_model",
    "dimension",
    "chunk_tokens",
    "chunk_overlap",
    "access",
    "min_score",
    "created_at",
    "updated_at",
    "created_by",
    "rev",
    "vectors_rev",
    "document_count",
    "chunk_count",
    "version",
)
DOC_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(DocumentRecord))
# What a search result is read back with (the vector too: the caller scores every hit by cosine).
CHUNK_COLUMNS: tuple[str, ...] = ("id", "kb_id", "doc_id", "ord", "text", "heading", "page", "embedding")

_encode = msgspec.json.encode
_access_decoder = msgspec.json.Decoder(tuple[AccessRule, ...])
_ingestion_decoder = msgspec.json.Decoder(IngestionRecord)


def kb_row(kb: KnowledgeBaseRecord, *, vectors_rev: int = 0) -> list[Any]:
    row = msgspec.structs.asdict(kb)
    row["access"] = _encode(kb.access).decode()
    row["vectors_rev"] = vectors_rev
    return [row[c] for c in KB_COLUMNS]


def kb_from_row(row: Sequence[Any]) -> KnowledgeBaseRecord:
    fields = dict(zip(KB_COLUMNS, row, strict=True))
    fields.pop("vectors_rev")
    access = fields.pop("access")
    return KnowledgeBaseRecord(access=_access_decoder.decode(access), **fields)


def doc_row(doc: DocumentRecord) -> list[Any]:
    row = msgspec.structs.asdict(doc)
    row["metadata"] = _encode(doc.metadata).decode()
    row["allow"] = _encode(doc.allow).decode()
    return [row[c] for c in DOC_COLUMNS]


def doc_from_row(row: Sequence[Any]) -> DocumentRecord:
    fields = dict(zip(DOC_COLUMNS, row, strict=True))
    fields["metadata"] = msgspec.json.decode(fields["metadata"])
    fields["allow"] = tuple(msgspec.json.decode(fields["allow"]))
    return msgspec.convert(fields, DocumentRecord)


def stored_chunk(row: Sequence[Any]) -> StoredChunk:
    fields = dict(zip(CHUNK_COLUMNS, row, strict=True))
    fields["embedding"] = bytes(fields["embedding"])
    return StoredChunk(**fields)


def ingestion_from_json(text: str | bytes) -> IngestionRecord:
    return _ingestion_decoder.decode(text)


def check_vectors(kb: KnowledgeBaseRecord, chunks: Sequence[ChunkRecord]) -> None:
    size = kb.dimension * 4
    for chunk in chunks:
        if len(chunk.embedding) != size:
            raise ValueError(
                f"chunk {chunk.ord}: a vector of {len(chunk.embedding)} bytes, but knowledge base {kb.id} "
                f"holds {kb.dimension} float32s ({size} bytes)"
            )


def exact_search(rows: Sequence[Sequence[Any]], vector: bytes, k: int) -> list[ChunkHit]:
    """Cosine similarity of ``vector`` with each (id, embedding) row; the ``k`` best, best first."""
    import numpy as np

    if not rows or k <= 0:
        return []
    query = np.frombuffer(vector, dtype="<f4").astype(np.float32)
    norm = float(np.linalg.norm(query))
    if norm == 0.0:
        return []
    ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f4").reshape(len(rows), -1)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0.0] = 1.0
    scores = (matrix @ (query / norm)) / norms
    take = min(k, len(rows))
    best = np.argpartition(-scores, take - 1)[:take]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [ChunkHit(id=int(ids[i]), score=float(scores[i])) for i in best]
