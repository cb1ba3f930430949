-- Knowledge bases (SQLite): documents, chunks with their vectors, full-text search, ingestions.
-- Every content change bumps knowledge_bases.rev inside its BEGIN IMMEDIATE transaction and stamps
-- the rows it writes with it, so an in-memory index catches up by reading what is newer than the rev
-- it has seen. Vectors are little-endian float32 blobs, searched in memory (podium.knowledge.vectors).
-- Full text is one FTS5 index per knowledge base, created with it (kb_fts_<id>, external content over
-- kb_chunks: the text is stored once; see sqlite_knowledge.py); every chunk insert or delete also
-- writes the index, in the same transaction.

CREATE TABLE knowledge_bases (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    dimension       INTEGER NOT NULL,
    chunk_tokens    INTEGER NOT NULL,
    chunk_overlap   INTEGER NOT NULL,
    access          TEXT NOT NULL,  -- JSON array of AccessRule
    min_score       REAL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    created_by      TEXT NOT NULL,
    rev             INTEGER NOT NULL,
    vectors_rev     INTEGER NOT NULL,  -- the rev at which every vector was last replaced (a new model)
    document_count  INTEGER NOT NULL,
    chunk_count     INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE kb_documents (
    id           TEXT PRIMARY KEY,
    kb_id        TEXT NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    title        TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    metadata     TEXT NOT NULL,  -- JSON object
    allow        TEXT NOT NULL,  -- JSON array
    bytes        INTEGER NOT NULL,
    chunk_count  INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    rev          INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    UNIQUE (kb_id, source)
);
CREATE INDEX kb_documents_rev ON kb_documents (kb_id, rev);

CREATE TABLE kb_chunks (
    id        INTEGER PRIMARY KEY,
    kb_id     TEXT NOT NULL,
    doc_id    TEXT NOT NULL,
    ord       INTEGER NOT NULL,
    heading   TEXT NOT NULL,
    text      TEXT NOT NULL,
    page      INTEGER,
    tokens    INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    rev       INTEGER NOT NULL
);
CREATE INDEX kb_chunks_doc ON kb_chunks (doc_id);
CREATE INDEX kb_chunks_rev ON kb_chunks (kb_id, rev);

CREATE TABLE kb_tombstones (
    kb_id  TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    rev    INTEGER NOT NULL,
    PRIMARY KEY (kb_id, rev)
);

CREATE TABLE kb_ingestions (
    id         TEXT PRIMARY KEY,
    kb_id      TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    record     TEXT NOT NULL,  -- JSON IngestionRecord
    created_at REAL NOT NULL
);
CREATE INDEX kb_ingestions_kb ON kb_ingestions (kb_id, created_at);
