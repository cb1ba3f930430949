-- Keys, the request log and the server's own small values (SQLite).
-- Every stored record carries the format `version` it was written in. Times are epoch seconds (REAL),
-- exactly as the records hold them. The runner records this file in schema_migrations.

-- One change counter for keys, bumped in the same transaction as the write (BEGIN IMMEDIATE holds
-- the file's write lock, so revs are assigned and committed in the same order in every process).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('key_rev', 0);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    scopes     TEXT NOT NULL,  -- JSON array
    models     TEXT NOT NULL,  -- JSON array
    tenant     TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    metadata   TEXT NOT NULL,  -- JSON object
    rev        INTEGER NOT NULL UNIQUE,
    version    INTEGER NOT NULL
);

-- Append-only, written in batches. Retention deletes by created_at range (the index below makes
-- that a range scan); PostgreSQL partitions the same columns by time.
CREATE TABLE request_log (
    id               TEXT PRIMARY KEY,
    created_at       REAL NOT NULL,
    key_id           TEXT,
    tenant           TEXT NOT NULL,
    api              TEXT NOT NULL,
    requested_model  TEXT NOT NULL,
    route            TEXT,
    deployment       TEXT,
    provider         TEXT,
    upstream_model   TEXT,
    status           INTEGER NOT NULL,
    error_class      TEXT,
    latency_ms       REAL NOT NULL,
    ttft_ms          REAL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cached_tokens    INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    tokens_estimated INTEGER NOT NULL,  -- 0/1
    cost_usd         REAL NOT NULL,
    streamed         INTEGER NOT NULL,  -- 0/1
    attempts         INTEGER NOT NULL,
    overhead_ms      REAL,
    version          INTEGER NOT NULL
);
-- (created_at, id) is the page order and the keyset cursor; key_id is the commonest filter.
CREATE INDEX request_log_created_at ON request_log (created_at, id);
CREATE INDEX request_log_key_id ON request_log (key_id, created_at, id);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
