"""The knowledge-base contract, run against SQLite, PostgreSQL, and PostgreSQL with pgvector (HNSW)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import numpy as np
import pytest

from podium.storage import Storage, open_storage
from podium.storage.knowledge_records import (
    AccessRule,
    ChunkRecord,
    DocumentError,
    DocumentRecord,
    IngestionRecord,
    KnowledgeBaseRecord,
)
from tests import pgvector_server
from tests.pg import fresh_schema

DIM = 8


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("pgvector", marks=pytest.mark.postgres),
    ]
)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """A migrated store of each kind: a SQLite file, a PostgreSQL schema, a schema on a pgvector server."""
    if request.param == "sqlite":
        store = await open_storage(f"sqlite:///{tmp_path / 'podium.db'}")
        await store.migrate()
        yield store
        await store.close()
        return
    schema = fresh_schema() if request.param == "postgres" else pgvector_server.fresh_schema()
    async with schema as url:
        store = await open_storage(url, pool_size=4)
        try:
            await store.migrate()
            yield store
        finally:
            await store.close()


def vec(*values: float) -> bytes:
    """A DIM-float32 vector: the values given, then zeros."""
    padded = list(values) + [0.0] * (DIM - len(values))
    return np.asarray(padded, dtype="<f4").tobytes()


def make_kb(n: int = 1, *, tenant: str = "acme", name: str | None = None) -> KnowledgeBaseRecord:
    return KnowledgeBaseRecord(
        id=f"kb_{n:016x}",
        tenant=tenant,
        name=name or f"kb{n}",
        embedding_model="test:model",
        dimension=DIM,
        access=(AccessRule(teams=("legal",), filter={"public": True}),),
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
        created_by="key:key_a",
    )


def make_doc(kb: KnowledgeBaseRecord, source: str, n: int = 1, **changes: object) -> DocumentRecord:
    doc = DocumentRecord(
        id=f"doc_{n:016x}",
        kb_id=kb.id,
        source=source,
        title=source,
        content_hash=f"{n:064x}",
        metadata={"n": n},
        created_at=1_700_000_000.0,
        updated_at=1_700_000_000.0,
    )
    return msgspec.structs.replace(doc, **changes)


def chunk(ord_: int, text: str, vector: bytes) -> ChunkRecord:
    return ChunkRecord(ord=ord_, text=text, heading="Doc", tokens=len(text.split()), embedding=vector)


async def test_knowledge_bases_are_scoped_by_tenant_and_unique_by_name(storage: Storage) -> None:
    """A knowledge base is found by id or (tenant, name); a second one by the same name in a tenant is refused."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb(1))
    await ks.create_kb(make_kb(2, tenant="other", name="kb1"))
    assert await ks.get_kb(kb.id) == kb
    assert await ks.find_kb("acme", "kb1") == kb
    assert [k.tenant for k in await ks.list_kbs("other")] == ["other"]
    with pytest.raises(ValueError):
        await ks.create_kb(make_kb(3, name="kb1"))
    changed = await ks.update_kb(
        msgspec.structs.replace(kb, description="contracts", min_score=0.3, access=())
    )
    assert (
        changed is not None
        and changed.description == "contracts"
        and changed.access == ()
        and changed.min_score == 0.3
    )
    assert await ks.update_kb(make_kb(9)) is None
    assert await ks.delete_kb(kb.id) is True
    assert await ks.get_kb(kb.id) is None and await ks.delete_kb(kb.id) is False


async def test_replacing_a_document_swaps_its_chunks_and_keeps_its_id(storage: Storage) -> None:
    """Writing a known source replaces its chunks in one go; the id stays, rev and counts move."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    first = await ks.put_document(
        make_doc(kb, "a.md"),
        [chunk(0, "the termination notice is ninety days", vec(1)), chunk(1, "renewal", vec(0, 1))],
    )
    assert first.rev == 1 and first.chunk_count == 2
    second = await ks.put_document(
        make_doc(kb, "a.md", 2, metadata={"v": 2}),
        [chunk(0, "the termination notice is thirty days", vec(1))],
    )
    assert second.id == first.id and second.rev == 2 and second.metadata == {"v": 2}
    stored = await ks.get_kb(kb.id)
    assert stored is not None and (stored.document_count, stored.chunk_count, stored.rev) == (1, 1, 2)
    hits = await ks.lexical_search(kb.id, ["ninety"], k=5)
    assert hits == []
    hits = await ks.lexical_search(kb.id, ["thirty"], k=5)
    [found] = await ks.chunks(kb.id, [h.id for h in hits])
    assert found.text == "the termination notice is thirty days" and found.doc_id == first.id
    assert np.frombuffer(found.embedding, dtype="<f4")[0] == 1.0


async def test_a_failed_write_leaves_the_document_as_it_was(storage: Storage) -> None:
    """A write that fails half-way (a vector of the wrong size, a row the database refuses) changes nothing."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    await ks.put_document(make_doc(kb, "a.md"), [chunk(0, "original text", vec(1))])
    with pytest.raises(ValueError):
        await ks.put_document(
            make_doc(kb, "a.md", 2), [chunk(0, "new text", vec(1)), chunk(1, "bad", b"\0" * 4)]
        )
    broken = ChunkRecord(ord=1, text=None, embedding=vec(1))  # type: ignore[arg-type]  # NOT NULL refused mid-write
    with pytest.raises((ValueError, sqlite3.Error, asyncpg.PostgresError)):
        await ks.put_document(make_doc(kb, "a.md", 3), [chunk(0, "new text", vec(1)), broken])
    [doc] = await ks.documents(kb.id)
    assert doc.content_hash == f"{1:064x}" and doc.chunk_count == 1
    assert [h.id for h in await ks.lexical_search(kb.id, ["new"], k=5)] == []
    assert len(await ks.lexical_search(kb.id, ["original"], k=5)) == 1
    stored = await ks.get_kb(kb.id)
    assert stored is not None and (stored.rev, stored.chunk_count) == (1, 1)


async def test_lexical_search_ranks_within_one_knowledge_base_and_its_allowed_documents(
    storage: Storage,
) -> None:
    """Full-text search ranks the chunk with more matching words first, never leaves its knowledge base,
    and keeps to ``doc_ids`` when given."""
    ks = storage.knowledge
    kb, other = await ks.create_kb(make_kb(1)), await ks.create_kb(make_kb(2))
    a = await ks.put_document(make_doc(kb, "a"), [chunk(0, "password reset steps for the portal", vec(1))])
    b = await ks.put_document(make_doc(kb, "b", 2), [chunk(0, "the portal is down on sundays", vec(0, 1))])
    await ks.put_document(make_doc(other, "c", 3), [chunk(0, "password reset portal password", vec(1))])
    hits = await ks.lexical_search(kb.id, ["password", "reset", "portal"], k=10)
    texts = [c.text for c in await ks.chunks(kb.id, [h.id for h in hits])]
    assert len(hits) == 2 and hits[0].score > hits[1].score
    assert sorted(texts) == sorted(["password reset steps for the portal", "the portal is down on sundays"])
    first = await ks.chunks(kb.id, [hits[0].id])
    assert first[0].doc_id == a.id
    only_b = await ks.lexical_search(kb.id, ["password", "portal"], k=10, doc_ids=[b.id])
    assert [c.doc_id for c in await ks.chunks(kb.id, [h.id for h in only_b])] == [b.id]
    assert await ks.lexical_search(kb.id, ["portal"], k=10, doc_ids=[]) == []
    assert await ks.chunks(other.id, [h.id for h in hits]) == []  # chunk ids are scoped by knowledge base


async def test_vector_search_orders_by_cosine_similarity(storage: Storage) -> None:
    """The nearest chunk by cosine comes first with its similarity as score; doc_ids and the knowledge
    base confine the search."""
    ks = storage.knowledge
    kb, other = await ks.create_kb(make_kb(1)), await ks.create_kb(make_kb(2))
    near = await ks.put_document(make_doc(kb, "near"), [chunk(0, "near", vec(1, 0.1))])
    far = await ks.put_document(make_doc(kb, "far", 2), [chunk(0, "far", vec(0.1, 1))])
    await ks.put_document(make_doc(other, "x", 3), [chunk(0, "exact", vec(1))])
    hits = await ks.vector_search(kb.id, vec(1), k=2)
    found = {c.id: c.doc_id for c in await ks.chunks(kb.id, [h.id for h in hits])}
    assert [found[h.id] for h in hits] == [near.id, far.id]
    assert hits[0].score == pytest.approx(1 / np.sqrt(1.01), abs=1e-3)
    only_far = await ks.vector_search(kb.id, vec(1), k=2, doc_ids=[far.id])
    assert [found[h.id] for h in only_far] == [far.id]


async def test_changes_tell_an_index_what_was_written_and_removed(storage: Storage) -> None:
    """``changes`` since a rev lists the documents written after it with their chunks, and the deleted ones."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    a = await ks.put_document(make_doc(kb, "a"), [chunk(0, "one", vec(1)), chunk(1, "two", vec(0, 1))])
    everything = await ks.changes(kb.id, 0)
    assert everything is not None and everything.rev == 1 and everything.reset
    assert [d.id for d in everything.documents] == [a.id] and len(everything.chunks) == 2
    b = await ks.put_document(make_doc(kb, "b", 2), [chunk(0, "three", vec(1, 1))])
    await ks.delete_document(kb.id, a.id)
    relabelled = await ks.update_document(
        msgspec.structs.replace(b, metadata={"dept": "legal"}, allow=("team:legal",))
    )
    assert relabelled is not None and relabelled.allow == ("team:legal",) and relabelled.rev == 4
    later = await ks.changes(kb.id, 1, vectors=False)
    assert later is not None and later.rev == 4 and not later.reset
    assert [d.metadata for d in later.documents] == [{"dept": "legal"}]
    assert later.removed == (a.id,)
    assert [(c[1], c[2]) for c in later.chunks] == [(b.id, b"")]
    current = await ks.changes(kb.id, 4)
    assert current is not None and current.documents == () and current.chunks == ()
    assert await ks.delete_document(kb.id, a.id) is False
    assert await ks.changes("kb_ffffffffffffffff", 0) is None


async def test_replacing_every_vector_is_all_or_nothing_and_resets_readers(storage: Storage) -> None:
    """A new embedding model replaces every vector only if nothing changed meanwhile; readers then start over."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    await ks.put_document(make_doc(kb, "a"), [chunk(0, "alpha", vec(1)), chunk(1, "beta", vec(0, 1))])
    ids = [cid for cid, _, _ in await ks.chunk_texts(kb.id, after=0, limit=10)]
    assert [t for _, _, t in await ks.chunk_texts(kb.id, after=ids[0], limit=10)] == ["beta"]
    wide = [(cid, np.full(4, i + 1, dtype="<f4").tobytes()) for i, cid in enumerate(ids)]
    assert (
        await ks.replace_vectors(kb.id, embedding_model="m2", dimension=4, vectors=wide, expected_rev=0)
        is None
    )
    replaced = await ks.replace_vectors(
        kb.id, embedding_model="m2", dimension=4, vectors=wide, expected_rev=1
    )
    assert replaced is not None and (replaced.embedding_model, replaced.dimension, replaced.rev) == (
        "m2",
        4,
        2,
    )
    changes = await ks.changes(kb.id, 1)
    assert changes is not None and changes.reset and changes.dimension == 4 and len(changes.chunks) == 2
    query = np.asarray([1, 1, 1, 1], dtype="<f4").tobytes()
    assert len(await ks.vector_search(kb.id, query, k=5)) == 2
    with pytest.raises(ValueError):
        await ks.put_document(make_doc(kb, "b", 2), [chunk(0, "old size", vec(1))])


async def test_ingestions_keep_their_progress(storage: Storage) -> None:
    """A background ingestion's record is stored, replaced as it progresses, and listed newest first."""
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    first = IngestionRecord(
        id="ing_1", kb_id=kb.id, tenant="acme", total=3, created_at=1.0, updated_at=1.0, created_by="cli:x"
    )
    await ks.put_ingestion(first)
    done = msgspec.structs.replace(
        first,
        status="done",
        processed=3,
        failed=1,
        errors=(DocumentError(source="x.pdf", code="corrupt_document", message="bad"),),
    )
    await ks.put_ingestion(done)
    await ks.put_ingestion(msgspec.structs.replace(first, id="ing_2", created_at=2.0))
    assert await ks.get_ingestion("ing_1") == done
    assert [i.id for i in await ks.ingestions(kb.id)] == ["ing_2", "ing_1"]
    assert await ks.get_ingestion("ing_404") is None


async def test_pgvector_is_used_where_the_extension_is_installed(
    storage: Storage, request: pytest.FixtureRequest
) -> None:
    """On a server with pgvector the store searches vectors itself (HNSW); elsewhere it says it does not."""
    await storage.knowledge.create_kb(make_kb())
    assert storage.knowledge.native_vectors is (request.node.callspec.params["storage"] == "pgvector")


async def test_words_in_most_chunks_of_a_large_base_do_not_slow_the_full_text_search(tmp_path: Path) -> None:
    """In a large SQLite base, a query word found in over a third of the chunks is dropped when a rarer
    word remains (FTS5 cannot prune it), so only the rare word's chunks come back."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'podium.db'}")
    await storage.migrate()
    try:
        await _prunes_common_words(storage)
    finally:
        await storage.close()


async def _prunes_common_words(storage: Storage) -> None:
    ks = storage.knowledge
    kb = await ks.create_kb(make_kb())
    chunks = [chunk(i, f"company policy number {i}", vec(1)) for i in range(3200)]
    await ks.put_document(make_doc(kb, "bulk"), [*chunks, chunk(3200, "company zeppelin policy", vec(1))])
    hits = await ks.lexical_search(kb.id, ["company", "zeppelins"], k=5)
    assert [c.text for c in await ks.chunks(kb.id, [h.id for h in hits])] == ["company zeppelin policy"]
    assert len(await ks.lexical_search(kb.id, ["company", "policy"], k=5)) == 5  # all common: the rarest kept


@pytest.mark.postgres
async def test_postgres_drops_words_its_statistics_say_are_everywhere() -> None:
    """On PostgreSQL, a query word whose lexeme the planner's statistics put in over a third of the chunks
    is dropped when a rarer word remains, so only the rare word's chunks are ranked."""
    async with fresh_schema() as url:
        storage = await open_storage(url, pool_size=2)
        try:
            await storage.migrate()
            ks = storage.knowledge
            kb = await ks.create_kb(make_kb())
            chunks = [chunk(i, f"company policy number {i}", vec(1)) for i in range(3200)]
            await ks.put_document(
                make_doc(kb, "bulk"), [*chunks, chunk(3200, "company zeppelin policy", vec(1))]
            )
            conn = await asyncpg.connect(
                url.split("?")[0], server_settings={"search_path": url.split("schema=")[1]}
            )
            try:
                await conn.execute("ANALYZE kb_chunks")
            finally:
                await conn.close()
            hits = await ks.lexical_search(kb.id, ["company", "zeppelins"], k=5)
            assert [c.text for c in await ks.chunks(kb.id, [h.id for h in hits])] == [
                "company zeppelin policy"
            ]
            assert len(await ks.lexical_search(kb.id, ["company", "policy"], k=5)) == 5
        finally:
            await storage.close()
