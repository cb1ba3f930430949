"""Knowledge bases in the SQLite file: FTS5 for BM25, vectors as float32 blobs.

Each knowledge base has its own FTS5 index (``kb_fts_<id>``, external content over ``kb_chunks``,
created with the base): BM25 statistics are the base's own, and a query reads no other base's
postings. FTS5 has no dynamic pruning, so a query word found in more than a third of a large base's
chunks (a word that is everywhere ranks nothing) is dropped before the search when other words
remain; its document frequency comes from the index's ``fts5vocab`` table, looked up by the word's
Porter stem (taken from a scratch FTS5 table with the same tokenizer).

SQLite has no vector index: :meth:`SQLiteKnowledgeStore.vector_search` scans the blobs exactly, and
the request path keeps an in-memory index instead (:mod:`podium.knowledge.vectors`), fed by
:meth:`changes`. Each write is one ``BEGIN IMMEDIATE`` transaction: a document's chunks, their FTS
entries and the knowledge base's rev change together or not at all.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiosqlite
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

if TYPE_CHECKING:
    from podium.storage.sqlite import _Database

__all__ = ["SQLiteKnowledgeStore"]

_KB_SELECT = f"SELECT {', '.join(q.KB_COLUMNS)} FROM knowledge_bases"
_DOC_SELECT = f"SELECT {', '.join(q.DOC_COLUMNS)} FROM kb_documents"
_DOCS_IN = "doc_id IN (SELECT value FROM json_each(?))"
_KB_ID = re.compile(r"kb_[0-9a-f]{16}")
_TOKENIZER = "porter unicode61 remove_diacritics 2"
_PRUNE_ABOVE = 3000  # chunks: below this a full-text query is cheap whatever its words


def _fts(kb_id: str) -> str:
    """The knowledge base's FTS5 table (ids are checked: they become part of SQL)."""
    if not _KB_ID.fullmatch(kb_id):
        raise ValueError(f"{kb_id!r} is not a knowledge base id")
    return f"kb_fts_{kb_id[3:]}"


def _fts_query(terms: list[str]) -> str:
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


async def _one(conn: aiosqlite.Connection, sql: str, args: Sequence[Any] = ()) -> Sequence[Any] | None:
    rows = list(await conn.execute_fetchall(sql, args))
    return rows[0] if rows else None


async def _bump(conn: aiosqlite.Connection, kb_id: str, *, docs: int = 0, chunks: int = 0) -> int:
    """Draw the knowledge base's next rev (and move its counts); ``ValueError`` if it does not exist."""
    cursor = await conn.execute(
        "UPDATE knowledge_bases SET rev = rev + 1, updated_at = ?, document_count = document_count + ?, "
        "chunk_count = chunk_count + ? WHERE id = ?",
        (time.time(), docs, chunks, kb_id),
    )
    if cursor.rowcount != 1:
        raise ValueError(f"no knowledge base {kb_id!r}")
    row = await _one(conn, "SELECT rev FROM knowledge_bases WHERE id = ?", (kb_id,))
    assert row is not None
    return int(row[0])


async def _delete_chunks(conn: aiosqlite.Connection, kb_id: str, doc_id: str) -> int:
    """Remove a document's chunks and their FTS entries; how many there were."""
    rows = list(
        await conn.execute_fetchall("SELECT id, heading, text FROM kb_chunks WHERE doc_id = ?", (doc_id,))
    )
    if rows:
        fts = _fts(kb_id)
        # External-content FTS5 forgets a row only when told its exact old values.
        await conn.executemany(
            f"INSERT INTO {fts} ({fts}, rowid, heading, text) VALUES ('delete', ?, ?, ?)",
            [tuple(r) for r in rows],
        )
        await conn.execute("DELETE FROM kb_chunks WHERE doc_id = ?", (doc_id,))
    return len(rows)


class SQLiteKnowledgeStore:
    native_vectors = False

    def __init__(self, db: _Database) -> None:
        self._db = db
        self._snapshot = asyncio.Lock()  # one read transaction at a time on the shared reader connection
        self._stemming = asyncio.Lock()  # the scratch stemming table is one per connection
        self._stemmer = False

    # ------------------------------------------------------------------ knowledge bases

    async def create_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord:
        values = ", ".join("?" * len(q.KB_COLUMNS))
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    f"INSERT INTO knowledge_bases ({', '.join(q.KB_COLUMNS)}) VALUES ({values})", q.kb_row(kb)
                )
                fts = _fts(kb.id)
                await conn.execute(
                    f"CREATE VIRTUAL TABLE {fts} USING fts5 (heading, text, content = 'kb_chunks', "
                    f"content_rowid = 'id', tokenize = '{_TOKENIZER}')"
                )
                await conn.execute(f"CREATE VIRTUAL TABLE {fts}_v USING fts5vocab ({fts}, 'row')")
        except sqlite3.IntegrityError as e:
            raise ValueError(f"knowledge base {kb.tenant}/{kb.name} refused: {e}") from e
        return kb

    async def get_kb(self, kb_id: str) -> KnowledgeBaseRecord | None:
        rows = await self._db.fetch(f"{_KB_SELECT} WHERE id = ?", (kb_id,))
        return q.kb_from_row(rows[0]) if rows else None

    async def find_kb(self, tenant: str, name: str) -> KnowledgeBaseRecord | None:
        rows = await self._db.fetch(f"{_KB_SELECT} WHERE tenant = ? AND name = ?", (tenant, name))
        return q.kb_from_row(rows[0]) if rows else None

    async def list_kbs(self, tenant: str) -> list[KnowledgeBaseRecord]:
        rows = await self._db.fetch(f"{_KB_SELECT} WHERE tenant = ? ORDER BY name", (tenant,))
        return [q.kb_from_row(r) for r in rows]

    async def update_kb(self, kb: KnowledgeBaseRecord) -> KnowledgeBaseRecord | None:
        try:
            async with self._db.transaction() as conn:
                cursor = await conn.execute(
                    "UPDATE knowledge_bases SET name = ?, description = ?, access = ?, min_score = ?, "
                    "chunk_tokens = ?, chunk_overlap = ?, updated_at = ? WHERE id = ?",
                    (
                        kb.name,
                        kb.description,
                        msgspec.json.encode(kb.access).decode(),
                        kb.min_score,
                        kb.chunk_tokens,
                        kb.chunk_overlap,
                        kb.updated_at,
                        kb.id,
                    ),
                )
                if cursor.rowcount != 1:
                    return None
                row = await _one(conn, f"{_KB_SELECT} WHERE id = ?", (kb.id,))
        except sqlite3.IntegrityError as e:
            raise ValueError(f"knowledge base {kb.tenant}/{kb.name} refused: {e}") from e
        return q.kb_from_row(row) if row else None

    async def delete_kb(self, kb_id: str) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM knowledge_bases WHERE id = ?", (kb_id,))
            if cursor.rowcount != 1:
                return False
            fts = _fts(kb_id)
            await conn.execute(f"DROP TABLE IF EXISTS {fts}_v")
            await conn.execute(f"DROP TABLE IF EXISTS {fts}")
            for table in ("kb_chunks", "kb_documents", "kb_tombstones", "kb_ingestions"):
                await conn.execute(f"DELETE FROM {table} WHERE kb_id = ?", (kb_id,))
        return True

    # ------------------------------------------------------------------ documents

    async def get_document(self, kb_id: str, source: str) -> DocumentRecord | None:
        rows = await self._db.fetch(f"{_DOC_SELECT} WHERE kb_id = ? AND source = ?", (kb_id, source))
        return q.doc_from_row(rows[0]) if rows else None

    async def documents(self, kb_id: str) -> list[DocumentRecord]:
        rows = await self._db.fetch(f"{_DOC_SELECT} WHERE kb_id = ? ORDER BY source", (kb_id,))
        return [q.doc_from_row(r) for r in rows]

    async def put_document(self, doc: DocumentRecord, chunks: list[ChunkRecord]) -> DocumentRecord:
        async with self._db.transaction() as conn:
            kb_row = await _one(conn, f"{_KB_SELECT} WHERE id = ?", (doc.kb_id,))
            if kb_row is None:
                raise ValueError(f"no knowledge base {doc.kb_id!r}")
            q.check_vectors(q.kb_from_row(kb_row), chunks)
            old = await _one(conn, f"{_DOC_SELECT} WHERE kb_id = ? AND source = ?", (doc.kb_id, doc.source))
            removed = 0
            if old is not None:
                previous = q.doc_from_row(old)
                removed = await _delete_chunks(conn, doc.kb_id, previous.id)
                await conn.execute("DELETE FROM kb_documents WHERE id = ?", (previous.id,))
                doc = msgspec.structs.replace(doc, id=previous.id, created_at=previous.created_at)
            rev = await _bump(conn, doc.kb_id, docs=0 if old is not None else 1, chunks=len(chunks) - removed)
            doc = msgspec.structs.replace(doc, rev=rev, chunk_count=len(chunks))
            await conn.execute(
                f"INSERT INTO kb_documents ({', '.join(q.DOC_COLUMNS)}) VALUES ({', '.join('?' * len(q.DOC_COLUMNS))})",
                q.doc_row(doc),
            )
            await conn.executemany(
                "INSERT INTO kb_chunks (kb_id, doc_id, ord, heading, text, page, tokens, embedding, rev) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (doc.kb_id, doc.id, c.ord, c.heading, c.text, c.page, c.tokens, c.embedding, rev)
                    for c in chunks
                ],
            )
            fts = _fts(doc.kb_id)
            await conn.execute(
                f"INSERT INTO {fts} (rowid, heading, text) SELECT id, heading, text FROM kb_chunks WHERE doc_id = ?",
                (doc.id,),
            )
        return doc

    async def update_document(self, doc: DocumentRecord) -> DocumentRecord | None:
        async with self._db.transaction() as conn:
            old = await _one(conn, f"{_DOC_SELECT} WHERE id = ? AND kb_id = ?", (doc.id, doc.kb_id))
            if old is None:
                return None
            rev = await _bump(conn, doc.kb_id)
            await conn.execute(
                "UPDATE kb_documents SET title = ?, metadata = ?, allow = ?, updated_at = ?, rev = ? WHERE id = ?",
                (
                    doc.title,
                    msgspec.json.encode(doc.metadata).decode(),
                    msgspec.json.encode(doc.allow).decode(),
                    doc.updated_at,
                    rev,
                    doc.id,
                ),
            )
            row = await _one(conn, f"{_DOC_SELECT} WHERE id = ?", (doc.id,))
        return q.doc_from_row(row) if row else None

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        async with self._db.transaction() as conn:
            if (
                await _one(conn, "SELECT 1 FROM kb_documents WHERE id = ? AND kb_id = ?", (doc_id, kb_id))
                is None
            ):
                return False
            removed = await _delete_chunks(conn, kb_id, doc_id)
            await conn.execute("DELETE FROM kb_documents WHERE id = ?", (doc_id,))
            rev = await _bump(conn, kb_id, docs=-1, chunks=-removed)
            await conn.execute(
                "INSERT INTO kb_tombstones (kb_id, doc_id, rev) VALUES (?, ?, ?)", (kb_id, doc_id, rev)
            )
        return True

    # ------------------------------------------------------------------ search

    async def lexical_search(
        self, kb_id: str, terms: list[str], *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        if not terms or k <= 0 or (doc_ids is not None and not doc_ids):
            return []
        fts = _fts(kb_id)
        if len(terms) > 1:
            terms = await self._informative(kb_id, fts, terms)
        sql = f"SELECT rowid, bm25({fts}, 0.5, 1.0) AS s FROM {fts} WHERE {fts} MATCH ?"
        args: list[Any] = [_fts_query(terms)]
        if doc_ids is not None:
            sql += f" AND rowid IN (SELECT id FROM kb_chunks WHERE {_DOCS_IN})"
            args.append(msgspec.json.encode(doc_ids).decode())
        rows = await self._db.fetch(f"{sql} ORDER BY s LIMIT ?", [*args, k])
        return [ChunkHit(id=int(r[0]), score=-float(r[1])) for r in rows]

    async def _informative(self, kb_id: str, fts: str, terms: list[str]) -> list[str]:
        """``terms`` without those in more than a third of a large base's chunks (the rarest is kept)."""
        rows = await self._db.fetch("SELECT chunk_count FROM knowledge_bases WHERE id = ?", (kb_id,))
        if not rows or int(rows[0][0]) < _PRUNE_ABOVE:
            return terms
        total = int(rows[0][0])
        stems = await self._stems(terms)
        found = await self._db.fetch(
            f"SELECT term, doc FROM {fts}_v WHERE term IN (SELECT value FROM json_each(?))",
            (msgspec.json.encode([s for s in stems if s]).decode(),),
        )
        frequency = {str(t): int(d) for t, d in found}
        counts = [frequency.get(stem, 0) if stem else 0 for stem in stems]
        kept = [t for t, n in zip(terms, counts, strict=True) if n <= total // 3]
        return kept or [terms[counts.index(min(counts))]]

    async def _stems(self, terms: list[str]) -> list[str | None]:
        """Each term's Porter stem as the index holds it, from a scratch FTS5 table on the reader."""
        reader = self._db.reader
        async with self._stemming:
            if not self._stemmer:
                await reader.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.kb_stem USING fts5 (w, tokenize = '{_TOKENIZER}')"
                )
                await reader.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.kb_stem_v USING fts5vocab (temp, kb_stem, 'instance')"
                )
                self._stemmer = True
            await reader.executemany(
                "INSERT INTO temp.kb_stem (rowid, w) VALUES (?, ?)", list(enumerate(terms, 1))
            )
            rows = await reader.execute_fetchall("SELECT doc, term FROM temp.kb_stem_v")
            await reader.execute("DELETE FROM temp.kb_stem")
        stems: list[str | None] = [None] * len(terms)
        for doc, term in rows:
            stems[int(doc) - 1] = str(term)
        return stems

    async def vector_search(
        self, kb_id: str, vector: bytes, *, k: int, doc_ids: list[str] | None = None
    ) -> list[ChunkHit]:
        sql, args = "SELECT id, embedding FROM kb_chunks WHERE kb_id = ?", [kb_id]
        if doc_ids is not None:
            sql += f" AND {_DOCS_IN}"
            args.append(msgspec.json.encode(doc_ids).decode())
        return q.exact_search(await self._db.fetch(sql, args), vector, k)

    async def chunks(self, kb_id: str, ids: list[int]) -> list[StoredChunk]:
        if not ids:
            return []
        rows = await self._db.fetch(
            # `+kb_id`: look the ids up by primary key, never by scanning the base's rows.
            f"SELECT {', '.join(q.CHUNK_COLUMNS)} FROM kb_chunks WHERE +kb_id = ? "
            "AND id IN (SELECT value FROM json_each(?))",
            (kb_id, msgspec.json.encode(ids).decode()),
        )
        return [q.stored_chunk(r) for r in rows]

    async def changes(self, kb_id: str, since_rev: int, *, vectors: bool = True) -> KnowledgeChanges | None:
        # One read transaction: the rev and the rows it covers come from the same snapshot.
        async with self._snapshot:
            return await self._changes(kb_id, since_rev, vectors=vectors)

    async def _changes(self, kb_id: str, since_rev: int, *, vectors: bool) -> KnowledgeChanges | None:
        conn = self._db.reader
        await conn.execute("BEGIN")
        try:
            head = await _one(
                conn,
                "SELECT rev, vectors_rev, embedding_model, dimension FROM knowledge_bases WHERE id = ?",
                (kb_id,),
            )
            if head is None:
                return None
            rev, vectors_rev, model, dimension = int(head[0]), int(head[1]), str(head[2]), int(head[3])
            reset = since_rev < vectors_rev
            since = 0 if reset else since_rev
            if since >= rev:
                return KnowledgeChanges(rev=rev, embedding_model=model, dimension=dimension)
            docs = await conn.execute_fetchall(f"{_DOC_SELECT} WHERE kb_id = ? AND rev > ?", (kb_id, since))
            removed = await conn.execute_fetchall(
                "SELECT doc_id FROM kb_tombstones WHERE kb_id = ? AND rev > ?", (kb_id, since)
            )
            column = "embedding" if vectors else "x''"
            chunks = await conn.execute_fetchall(
                f"SELECT id, doc_id, {column} FROM kb_chunks WHERE kb_id = ? AND rev > ? ORDER BY id",
                (kb_id, since),
            )
        finally:
            await conn.execute("COMMIT")
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
        rows = await self._db.fetch(
            "SELECT id, heading, text FROM kb_chunks WHERE kb_id = ? AND id > ? ORDER BY id LIMIT ?",
            (kb_id, after, limit),
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
        async with self._db.transaction() as conn:
            row = await _one(conn, "SELECT rev FROM knowledge_bases WHERE id = ?", (kb_id,))
            if row is None or int(row[0]) != expected_rev:
                return None
            rev = await _bump(conn, kb_id)
            await conn.executemany(
                "UPDATE kb_chunks SET embedding = ?, rev = ? WHERE id = ? AND kb_id = ?",
                [(v, rev, cid, kb_id) for cid, v in vectors],
            )
            await conn.execute(
                "UPDATE knowledge_bases SET embedding_model = ?, dimension = ?, vectors_rev = ? WHERE id = ?",
                (embedding_model, dimension, rev, kb_id),
            )
            kb = await _one(conn, f"{_KB_SELECT} WHERE id = ?", (kb_id,))
        return q.kb_from_row(kb) if kb else None

    # ------------------------------------------------------------------ ingestions

    async def put_ingestion(self, record: IngestionRecord) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO kb_ingestions (id, kb_id, tenant, record, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                (
                    record.id,
                    record.kb_id,
                    record.tenant,
                    msgspec.json.encode(record).decode(),
                    record.created_at,
                ),
            )

    async def get_ingestion(self, ingestion_id: str) -> IngestionRecord | None:
        rows = await self._db.fetch("SELECT record FROM kb_ingestions WHERE id = ?", (ingestion_id,))
        return q.ingestion_from_json(rows[0][0]) if rows else None

    async def ingestions(self, kb_id: str, *, limit: int = 20) -> list[IngestionRecord]:
        rows = await self._db.fetch(
            "SELECT record FROM kb_ingestions WHERE kb_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (kb_id, limit),
        )
        return [q.ingestion_from_json(r[0]) for r in rows]
