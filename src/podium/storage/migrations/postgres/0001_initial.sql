-- Keys, the request log and the server's own small values (PostgreSQL).
-- Every stored record carries the format `version` it was written in. Times are epoch seconds
-- (double precision), exactly as the records hold them. Ids use the "C" collation so that pages
-- order exactly as in SQLite (bytewise) and the keyset cursor compares the way the index sorts.
-- The runner applies this file in one transaction under an advisory lock and records it in
-- schema_migrations; unqualified names land in the schema chosen by the storage URL.

-- Revs for key writes. Writers also take a table lock (see postgres.py) so that revs commit in the
-- order they are drawn: a replica that has seen rev N has seen every rev below N.
CREATE SEQUENCE key_rev_seq;

CREATE TABLE api_keys (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    hash       text NOT NULL UNIQUE,
    prefix     text NOT NULL,
    scopes     text[] NOT NULL,
    models     text[] NOT NULL,
    tenant     text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    revoked_at double precision,
    metadata   jsonb NOT NULL,
    rev        bigint NOT NULL UNIQUE,
    version    integer NOT NULL
);

-- Append-only, written in batches. Ready for time partitioning: every query filters or orders on
-- created_at, and nothing references this table, so a later migration can turn it into a table
-- PARTITIONED BY RANGE (created_at) (attaching this one as the first partition) and retention can
-- drop whole partitions. PostgreSQL then needs created_at in the primary key; a retried batch
-- resends identical records, so deduplicating on (created_at, id) keeps the same guarantee.
CREATE TABLE request_log (
    id               text COLLATE "C" PRIMARY KEY,
    created_at       double precision NOT NULL,
    key_id           text,
    tenant           text NOT NULL,
    api              text NOT NULL,
    requested_model  text NOT NULL,
    route            text,
    deployment       text,
    provider         text,
    upstream_model   text,
    status           integer NOT NULL,
    error_class      text,
    latency_ms       double precision NOT NULL,
    ttft_ms          double precision,
    input_tokens     bigint NOT NULL,
    output_tokens    bigint NOT NULL,
    cached_tokens    bigint NOT NULL,
    reasoning_tokens bigint NOT NULL,
    tokens_estimated boolean NOT NULL,
    cost_usd         double precision NOT NULL,
    streamed         boolean NOT NULL,
    attempts         integer NOT NULL,
    overhead_ms      double precision,
    version          integer NOT NULL
);
-- (created_at, id) is the page order and the keyset cursor; key_id is the commonest filter.
CREATE INDEX request_log_created_at ON request_log (created_at, id);
CREATE INDEX request_log_key_id ON request_log (key_id, created_at, id);

CREATE TABLE meta (
    name  text PRIMARY KEY,
    value text NOT NULL
);
