"""Knowledge bases in PostgreSQL: tsvector full text, and pgvector's HNSW where the extension is there.

Vectors are always kept as float32 ``bytea`` (``embedding``). When migration 0009 found pgvector,
chunks also have an ``embedding_v vector`` column and each knowledge base gets a partial HNSW index
of its own over ``embedding_v::vector(<its dimension>)`` — one column serves every dimension, and a
new embedding model rebuilds only that knowledge base's index. Its name and predicate carry the
knowledge base id as a literal, which is why ids are checked against :data:`_KB_ID` before any SQL
is built from them. Without pgvector, :meth:`vector_search` scans exactly and the request path keeps
an in-memory index (:mod:`podium.knowledge.vectors`), as with SQLite.

The extension usually lives in another schema than Podium's tables (``public``), so its type,
operator and operator class are written schema-qualified.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from podium.storage import _knowledge_sql as q
from podium.storage.knowledge_records import (
    ChunkHit,
    ChunkRecord,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
    KnowledgeChanges,
    StoredChunk,
)

__all__ = ["PostgresKnowledgeStore"]

_KB_ID = re.compile(r"kb_[0-9a-f]{16}")
_KB_SELECT = f"SELECT {', '.join(q.KB_COLUMNS)} FROM knowledge_bases"
_DOC_SELECT = f"SELECT {', '.join(q.DOC_COLUMNS)} FROM kb_documents"
_UNKNOWN = object()


def _literal_id(kb_id: str) -> str:
    if not _KB_ID.fullmatch(kb_id):
        raise ValueError(f"{kb_id!r} is not a knowledge base id")
    return kb_id


def _vector_text(blob: bytes) -> str:
    import numpy as np

    return "[" + ",".join(repr(float(x)) for x in np.frombuffer(blob, dtype="<f4")) + "]"


class PostgresKnowledgeStore:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        # pgvector's schema (str), None without it, unknown before the first call
        self._schema: object = _UNKNOWN
        self._common: dict[str, float] = {}  # lexemes in over a third of the chunks, by share (pg_stats)
        self._common_read = -1e9

    # ------------------------------------------------------------------ pgvector

    @property
    def native_vectors(self) -> bool:
        return isinstance(self._schema, str)

    async def _vector_schema(self, conn: Any | None = None) -> str | None:
        if self._schema is _UNKNOWN:
            row = await (conn or self._pool).fetchrow(
                "SELECT to_regclass('kb_chunks') IS NOT NULL, (SELECT n.nspname FROM pg_attribute a "
                "JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE a.attrelid = to_regclass('kb_chunks') AND a.attname = 'embedding_v' AND NOT a.attisdropped)"
            )
            if not row[0]:
                return None  # not migrated yet: ask again next time
            self._schema = row[1]
        return self._schema if isinstance(self._schema, str) else None

    def _index_sql(self, schema: str, kb_id: str, dimension: int) -> str:
        ident = _literal_id(kb_id)
        return (
            f'CREATE INDEX "kb_chunks_hnsw_{ident[3:]}" ON kb_chunks USING hnsw '
            f'((embedding_v::"{schema}".vector({int(dimension)})) "{schema}".vector_cosine_ops) '
            f"WHERE {self._predicate(schema, kb_id, dimension)}"
        )

    def _predicate(self, schema: str, kb_id: str, dimension: int) -> str:
        # The dimension is part of the predicate: rebuilding the index after a model change must skip
        # the old rows' dead versions (CREATE INDEX reads recently dead tuples too), and a query
        # names it so that the planner can use the index.
        return f"kb_id = '{_literal_id(kb_id)}' AND \"{schema}\".vector_dims(embedding_v) = {int(dimension)}"

    # ------------------------------------------------------------------ knowledge bases

    async def create_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord:
        values = ", ".join(f"${i}" for i in range(1, len(q.KB_COLUMNS) + 1))
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                schema = await self._vector_schema(conn)
                await conn.execute(
                    f"INSERT INTO knowledge_bases ({', '.join(q.KB_COLUMNS)}) VALUES ({values})",
                    *q.kb_row(kb),
                )
                if schema is not None:
                    await conn.execute(self._index_sql(schema, kb.id, kb.dimension))
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"knowledge base {kb.tenant}/{kb.name} refused: {e}") from e
        return kb

    async def get_kb(self, kb_id: str) -> KnowledgeBaseRecord | None:
        await self._vector_schema()
        row = await self._pool.fetchrow(f"{_KB_SELECT} WHERE id = $1", kb_id)
        return q.kb_from_row(row) if row else None

    async def find_kb(self, tenant: str, name: str) -> KnowledgeBaseRecord | None:
        await self._vector_schema()
        row = await self._pool.fetchrow(f"{_KB_SELECT} WHERE tenant = $1 AND name = $2", tenant, name)
        return q.kb_from_row(row) if row else None

    async def list_kbs(self, tenant: str) -> list[KnowledgeBaseRecord]:
        rows = await self._pool.fetch(f"{_KB_SELECT} WHERE tenant = $1 ORDER BY name", tenant)
        return [q.kb_from_row(r) for r in rows]

    async def update_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord | None:
        try:
            row = await self._pool.fetchrow(
                "UPDATE knowledge_bases SET name = $2, description = $3, access = $4, min_score = $5, "
                "chunk_tokens = $6, chunk_overlap = $7, updated_at = $8 WHERE id = $1 "
                f"RETURNING {', '.join(q.KB_COLUMNS)}",
                kb.id,
                kb.name,
                kb.description,
                msgspec.json.encode(kb.access).decode(),
                kb.min_score,
                kb.chunk_tokens,
                kb.chunk_overlap,
                kb.updated_at,
            )
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ValueError(f"knowledge base {kb.tenant}/{kb.name} refused: {e}") from e
        return q.kb_from_row(row) if row else None

    async def delete_kb(self, kb_id: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            schema = await self._vector_schema(conn)
            status = await conn.execute("DELETE FROM knowledge_bases WHERE id = $1", kb_id)
            if status != "DELETE 1":
                return False
            if schema is not None:
                await conn.execute(f'DROP INDEX IF EXISTS "kb_chunks_hnsw_{_literal_id(kb_id)[3:]}"')
        return True

    # ------------------------------------------------------------------ documents

    async def get_document(self, kb_id: str, source: str) -> DocumentRecord | None:
        row = await self._pool.fetchrow(f"{_DOC_SELECT} WHERE kb_id = $1 AND source = $2", kb_id, source)
        return q.doc_from_row(row) if row else None

    async def documents(self, kb_id: str) -> list[DocumentRecord]:
        rows = await self._pool.fetch(f"{_DOC_SELECT} WHERE kb_id = $1 ORDER BY source", kb_id)
        return [q.doc_from_row(r) for r in rows]

    async def put_document(self, doc: DocumentRecord, chunks: list[ChunkRecord]) -> DocumentRecord:
        async with self._pool.acquire() as conn, conn.transaction():
            schema = await self._vector_schema(conn)
            # The row lock orders this knowledge base's writers: revs commit in the order drawn.
            kb_row = await conn.fetchrow(f"{_KB_SELECT} WHERE id = $1 FOR UPDATE", doc.kb_id)
            if kb_row is None:
                raise ValueError(f"no knowledge base {doc.kb_id!r}")
            q.check_vectors(q.kb_from_row(kb_row), chunks)
            old = await conn.fetchrow(
                f"{_DOC_SELECT} WHERE kb_id = $1 AND source = $2", doc.kb_id, doc.source
            )
            removed = 0
            if old is not None:
                previous = q.doc_from_row(old)
                status = await conn.execute("DELETE FROM kb_chunks WHERE doc_id = $1", previous.id)
                removed = int(status.split()[-1])
                await conn.execute("DELETE FROM kb_documents WHERE id = $1", previous.id)
                doc = msgspec.structs.replace(doc, id=previous.id, created_at=previous.created_at)
            rev = await conn.fetchval(
                "UPDATE knowledge_bases SET rev = rev + 1, updated_at = $2, document_count = document_count + $3, "
                "chunk_count = chunk_count + $4 WHERE id = $1 RETURNING rev",
                doc.kb_id,
                time.time(),
                0 if old is not None else 1,
                len(chunks) - removed,
            )
            doc = msgspec.structs.replace(doc, rev=int(rev), chunk_count=len(chunks))
            marks = ", ".join(f"${i}" for i in range(1, len(q.DOC_COLUMNS) + 1))
            await conn.execute(
                f"INSERT INTO kb_documents ({', '.join(q.DOC_COLUMNS)}) VALUES ({marks})", *q.doc_row(doc)
            )
            if chunks:
                await self._insert_chunks(conn, schema, doc, chunks)
        return doc

    async def _insert_chunks(
        self, conn: Any, schema: str | None, doc: DocumentRecord, chunks: list[ChunkRecord]
    ) -> None:
        columns = "kb_id, doc_id, ord, heading, text, page, tokens, embedding, rev"
        rows: list[tuple[Any, ...]] = [
            (doc.kb_id, doc.id, c.ord, c.heading, c.text, c.page, c.tokens, c.embedding, doc.rev)
            for c in chunks
        ]
        if schema is None:
            await conn.executemany(
                f"INSERT INTO kb_chunks ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows
            )
            return
        await conn.executemany(
            f"INSERT INTO kb_chunks ({columns}, embedding_v) "
            f'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::"{schema}".vector)',
            [(*row, _vector_text(c.embedding)) for row, c in zip(rows, chunks, strict=True)],
        )

    async def update_document(self, doc: DocumentRecord) -> DocumentRecord | None:
        async with self._pool.acquire() as conn, conn.transaction():
            if (
                await conn.fetchval(
                    "SELECT 1 FROM kb_documents WHERE id = $1 AND kb_id = $2", doc.id, doc.kb_id
                )
                is None
            ):
                return None
            rev = await conn.fetchval(
                "UPDATE knowledge_bases SET rev = rev + 1, updated_at = $2 WHERE id = $1 RETURNING rev",
                doc.kb_id,
                time.time(),
            )
            row = await conn.fetchrow(
                "UPDATE kb_documents SET title = $2, metadata = $3, allow = $4, updated_at = $5, rev = $6 "
                f"WHERE id = $1 RETURNING {', '.join(q.DOC_COLUMNS)}",
                doc.id,
                doc.title,
                msgspec.json.encode(doc.metadata).decode(),
                msgspec.json.encode(doc.allow).decode(),
                doc.updated_at,
                rev,
            )
        return q.doc_from_row(row) if row else None

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if (
                await conn.fetchval(
                    "SELECT 1 FROM kb_documents WHERE id = $1 AND kb_id = $2 FOR UPDATE", doc_id, kb_id
                )
                is None
            ):
                return False
            status = await conn.execute("DELETE FROM kb_chunks WHERE doc_id = $1", doc_id)
            removed = int(status.split()[-1])
            await conn.execute("DELETE FROM kb_documents WHERE id = $1", doc_id)
            rev = await conn.fetchval(
                "UPDATE knowledge_bases SET rev = rev + 1, updated_at = $2, document_count = document_count - 1, "
                "chunk_count = chunk_count - $3 WHERE id = $1 RETURNING rev",
                kb_id,
                time.time(),
                removed,
            )
            await conn.execute(
                "INSERT INTO kb_tombstones (kb_id, doc_id, rev) VALUES ($1, $2, $3)", kb_id, doc_id, rev
            )
        return True

    # ------------------------------------------------------------------ search

    async def lexical_search(
        self, kb_id: str, terms: list[str], *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        if not terms or k <= 0 or (doc_ids is not None and not doc_ids):
            return []
        if len(terms) > 1:
            terms = await self._informative(terms)
        # Terms are plain words (the caller keeps letters and digits only), so ' | ' builds an OR query.
        tsquery = " | ".join(terms)
        sql = (
            "SELECT id, ts_rank(tsv, query) AS s FROM kb_chunks, to_tsquery('english', $2) AS query "
            "WHERE kb_id = $1 AND tsv @@ query"
        )
        extra: list[Any] = []
        if doc_ids is not None:
            sql += " AND doc_id = ANY($4::text[])"
            extra.append(doc_ids)
        rows = await self._pool.fetch(f"{sql} ORDER BY s DESC, id LIMIT $3", kb_id, tsquery, k, *extra)
        return [ChunkHit(id=int(r[0]), score=float(r[1])) for r in rows]

    async def _informative(self, terms: list[str]) -> list[str]:
        """``terms`` without those whose lexemes are in over a third of all chunks (the rarest is kept).

        Ranking every chunk that holds a word found almost everywhere is what makes a full-text query
        slow, and such a word ranks nothing. How common a lexeme is comes from the planner's statistics
        of the tsvector column (``pg_stats.most_common_elems``, refreshed by autovacuum's ANALYZE),
        read at most once a minute.
        """
        if time.monotonic() - self._common_read > 60.0:
            row = await self._pool.fetchrow(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = 'kb_chunks' AND attname = 'tsv'"
            )
            elems, freqs = (row[0], row[1]) if row is not None and row[0] is not None else ([], [])
            self._common = {e: float(f) for e, f in zip(elems, freqs or (), strict=False) if float(f) > 1 / 3}
            self._common_read = time.monotonic()
        if not self._common:
            return terms
        rows = await self._pool.fetch(
            "SELECT w, coalesce((SELECT array_agg(lexeme) FROM unnest(to_tsvector('english', w))), '{}') "
            "FROM unnest($1::text[]) WITH ORDINALITY AS t(w, n) ORDER BY n",
            terms,
        )
        share = [max((self._common.get(x, 0.0) for x in r[1]), default=0.0) for r in rows]
        kept = [str(r[0]) for r, f in zip(rows, share, strict=True) if f <= 1 / 3]
        return kept or [terms[share.index(min(share))]]

    async def vector_search(
        self, kb_id: str, vector: bytes, *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        if k <= 0 or (doc_ids is not None and not doc_ids):
            return []
        async with self._pool.acquire() as conn:
            schema = await self._vector_schema(conn)
            if schema is None:
                sql, args = "SELECT id, embedding FROM kb_chunks WHERE kb_id = $1", [kb_id]
                if doc_ids is not None:
                    sql += " AND doc_id = ANY($2::text[])"
                return q.exact_search(
                    await conn.fetch(sql, *args, *([doc_ids] if doc_ids is not None else [])), vector, k
                )
            dimension = len(vector) // 4
            column = f'embedding_v::"{schema}".vector({dimension})'
            distance = f'{column} OPERATOR("{schema}".<=>) $1::text::"{schema}".vector({dimension})'
            sql = f"SELECT id, 1 - ({distance}) FROM kb_chunks WHERE {self._predicate(schema, kb_id, dimension)}"
            if doc_ids is not None:
                sql += " AND doc_id = ANY($3::text[])"
            extra: list[Any] = [doc_ids] if doc_ids is not None else []
            async with conn.transaction():
                # HNSW returns at most ef_search candidates (before any filter): ask for enough.
                await conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, 4 * k))}")
                rows = await conn.fetch(
                    f"{sql} ORDER BY {distance} LIMIT $2", _vector_text(vector), k, *extra
                )
        return [ChunkHit(id=int(r[0]), score=float(r[1])) for r in rows]

    async def chunks(self, kb_id: str, ids: list[int]) -> list[StoredChunk]:
        if not ids:
            return []
        rows = await self._pool.fetch(
            f"SELECT {', '.join(q.CHUNK_COLUMNS)} FROM kb_chunks WHERE kb_id = $1 AND id = ANY($2::bigint[])",
            kb_id,
            ids,
        )
        return [q.stored_chunk(r) for r in rows]

    async def changes(self, kb_id: str, since_rev: int, *, vectors: bool = True) -> KnowledgeChanges | None:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await self._vector_schema(conn)
            head = await conn.fetchrow(
                "SELECT rev, vectors_rev, embedding_model, dimension FROM knowledge_bases WHERE id = $1",
                kb_id,
            )
            if head is None:
                return None
            rev, vectors_rev, model, dimension = int(head[0]), int(head[1]), str(head[2]), int(head[3])
            reset = since_rev < vectors_rev
            since = 0 if reset else since_rev
            if since >= rev:
                return KnowledgeChanges(rev=rev, embedding_model=model, dimension=dimension)
            docs = await conn.fetch(f"{_DOC_SELECT} WHERE kb_id = $1 AND rev > $2", kb_id, since)
            removed = await conn.fetch(
                "SELECT doc_id FROM kb_tombstones WHERE kb_id = $1 AND rev > $2", kb_id, since
            )
            column = "embedding" if vectors else "''::bytea"
            chunks = await conn.fetch(
                f"SELECT id, doc_id, {column} FROM kb_chunks WHERE kb_id = $1 AND rev > $2 ORDER BY id",
                kb_id,
                since,
            )
        return KnowledgeChanges(
            rev=rev,
            embedding_model=model,
            dimension=dimension,
            documents=tuple(q.doc_from_row(r) for r in docs),
            removed=tuple(str(r[0]) for r in removed),
            chunks=tuple((int(r[0]), str(r[1]), bytes(r[2])) for r in chunks),
            reset=reset or since_rev == 0,
        )

    async def chunk_texts(self, kb_id: str, *, after: int, limit: int) -> list[tuple[int, str, str]]:
        rows = await self._pool.fetch(
            "SELECT id, heading, text FROM kb_chunks WHERE kb_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            kb_id,
            after,
            limit,
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def replace_vectors(
        self,
        kb_id: str,
        *,
        embedding_model: str,
        dimension: int,
        vectors: list[tuple[int, bytes]],
        expected_rev: int,
    ) -> KnowledgeBaseRecord | None:
        size = dimension * 4
        if any(len(v) != size for _, v in vectors):
            raise ValueError(f"every vector must be {dimension} float32s ({size} bytes)")
        async with self._pool.acquire() as conn, conn.transaction():
            schema = await self._vector_schema(conn)
            rev = await conn.fetchval("SELECT rev FROM knowledge_bases WHERE id = $1 FOR UPDATE", kb_id)
            if rev is None or int(rev) != expected_rev:
                return None
            rev = await conn.fetchval(
                "UPDATE knowledge_bases SET rev = rev + 1, updated_at = $2 WHERE id = $1 RETURNING rev",
                kb_id,
                time.time(),
            )
            if schema is None:
                await conn.executemany(
                    "UPDATE kb_chunks SET embedding = $1, rev = $2 WHERE id = $3 AND kb_id = $4",
                    [(v, rev, cid, kb_id) for cid, v in vectors],
                )
            else:
                await conn.execute(f'DROP INDEX IF EXISTS "kb_chunks_hnsw_{_literal_id(kb_id)[3:]}"')
                await conn.executemany(
                    f'UPDATE kb_chunks SET embedding = $1, rev = $2, embedding_v = $5::text::"{schema}".vector '
                    "WHERE id = $3 AND kb_id = $4",
                    [(v, rev, cid, kb_id, _vector_text(v)) for cid, v in vectors],
                )
                await conn.execute(self._index_sql(schema, kb_id, dimension))
            row = await conn.fetchrow(
                "UPDATE knowledge_bases SET embedding_model = $2, dimension = $3, vectors_rev = $4 WHERE id = $1 "
                f"RETURNING {', '.join(q.KB_COLUMNS)}",
                kb_id,
                embedding_model,
                dimension,
                rev,
            )
        return q.kb_from_row(row) if row else None

    # ------------------------------------------------------------------ ingestions

    async def put_ingestion(self, record: IngestionRecord) -> None:
        await self._pool.execute(
            "INSERT INTO kb_ingestions (id, kb_id, tenant, record, created_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            record.id,
            record.kb_id,
            record.tenant,
            msgspec.json.encode(record).decode(),
            record.created_at,
        )

    async def get_ingestion(self, ingestion_id: str) -> IngestionRecord | None:
        value = await self._pool.fetchval("SELECT record FROM kb_ingestions WHERE id = $1", ingestion_id)
        return q.ingestion_from_json(value) if value is not None else None

    async def ingestions(self, kb_id: str, *, limit: int = 20) -> list[IngestionRecord]:
        rows: Sequence[Any] = await self._pool.fetch(
            "SELECT record FROM kb_ingestions WHERE kb_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            kb_id,
            limit,
        )
        return [q.ingestion_from_json(r[0]) for r in rows]
