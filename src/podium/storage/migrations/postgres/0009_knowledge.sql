-- Knowledge bases (PostgreSQL): documents, chunks with their vectors, full-text search, ingestions.
-- Every content change bumps knowledge_bases.rev with an UPDATE that holds the row until commit, so
-- revs of one knowledge base commit in order, and stamps the rows it writes with it (see
-- sqlite/0009_knowledge.sql). Full text is a generated tsvector ('english') under a GIN index.
--
-- Vectors are float32 bytea, always: plain PostgreSQL keeps them there and Podium searches them in
-- memory. Where the pgvector extension is available (and this role may create it), it is created
-- in schema public and chunks also get a `vector` column; each knowledge base then gets an HNSW
-- index of its own (a partial index, created with it: postgres_knowledge.py), and the database
-- answers vector searches itself.

CREATE TABLE knowledge_bases (
    id              text COLLATE "C" PRIMARY KEY,
    tenant          text COLLATE "C" NOT NULL,
    name            text COLLATE "C" NOT NULL,
    description     text NOT NULL,
    embedding_model text NOT NULL,
    dimension       integer NOT NULL,
    chunk_tokens    integer NOT NULL,
    chunk_overlap   integer NOT NULL,
    access          jsonb NOT NULL,
    min_score       double precision,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    created_by      text NOT NULL,
    rev             bigint NOT NULL,
    vectors_rev     bigint NOT NULL,
    document_count  integer NOT NULL,
    chunk_count     integer NOT NULL,
    version         integer NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE kb_documents (
    id           text COLLATE "C" PRIMARY KEY,
    kb_id        text COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    source       text NOT NULL,
    title        text NOT NULL,
    media_type   text NOT NULL,
    content_hash text NOT NULL,
    metadata     jsonb NOT NULL,
    allow        jsonb NOT NULL,
    bytes        bigint NOT NULL,
    chunk_count  integer NOT NULL,
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL,
    rev          bigint NOT NULL,
    version      integer NOT NULL,
    UNIQUE (kb_id, source)
);
CREATE INDEX kb_documents_rev ON kb_documents (kb_id, rev);

CREATE TABLE kb_chunks (
    id        bigserial PRIMARY KEY,
    kb_id     text COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    doc_id    text COLLATE "C" NOT NULL,
    ord       integer NOT NULL,
    heading   text NOT NULL,
    text      text NOT NULL,
    page      integer,
    tokens    integer NOT NULL,
    embedding bytea NOT NULL,
    rev       bigint NOT NULL,
    tsv       tsvector GENERATED ALWAYS AS (
                  setweight(to_tsvector('english', heading), 'B') || to_tsvector('english', text)
              ) STORED
);
CREATE INDEX kb_chunks_doc ON kb_chunks (doc_id);
CREATE INDEX kb_chunks_rev ON kb_chunks (kb_id, rev);
CREATE INDEX kb_chunks_tsv ON kb_chunks USING gin (tsv);

CREATE TABLE kb_tombstones (
    kb_id  text COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    doc_id text COLLATE "C" NOT NULL,
    rev    bigint NOT NULL,
    PRIMARY KEY (kb_id, rev)
);

CREATE TABLE kb_ingestions (
    id         text COLLATE "C" PRIMARY KEY,
    kb_id      text COLLATE "C" NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    tenant     text COLLATE "C" NOT NULL,
    record     jsonb NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX kb_ingestions_kb ON kb_ingestions (kb_id, created_at);

DO $$
DECLARE
    ext_schema text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
        EXCEPTION WHEN insufficient_privilege OR feature_not_supported OR invalid_schema_name THEN
            RAISE NOTICE 'pgvector is available but cannot be created here (%); vectors are searched in Podium', SQLERRM;
        END;
    END IF;
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'vector';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('ALTER TABLE kb_chunks ADD COLUMN embedding_v %I.vector', ext_schema);
    END IF;
END $$;
