-- The prompt registry (SQLite): prompts, immutable versions, labels with their history, approvals.
-- Versions and label moves draw one change counter ('prompt_rev') inside their BEGIN IMMEDIATE
-- transaction, so every replica's in-memory mirror follows them in commit order, like keys.
-- A version's spec is stored as the JSON text it was written in (key order kept, byte for byte).

INSERT INTO counters (name, value) VALUES ('prompt_rev', 0);

CREATE TABLE prompts (
    tenant     TEXT NOT NULL,
    name       TEXT NOT NULL,
    latest     INTEGER NOT NULL,  -- the newest version's number: the next one is latest + 1
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE prompt_versions (
    tenant       TEXT NOT NULL,
    name         TEXT NOT NULL,
    number       INTEGER NOT NULL,
    spec         TEXT NOT NULL,  -- JSON object (PromptSpec)
    content_hash TEXT NOT NULL,
    message      TEXT NOT NULL,
    author       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    rev          INTEGER NOT NULL UNIQUE,
    version      INTEGER NOT NULL,
    PRIMARY KEY (tenant, name, number)
);

CREATE TABLE prompt_labels (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    label       TEXT NOT NULL,
    targets     TEXT NOT NULL,  -- JSON array of [version, weight]; empty: removed
    updated_at  REAL NOT NULL,
    updated_by  TEXT NOT NULL,
    approved_by TEXT,
    rev         INTEGER NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant, name, label)
);

CREATE TABLE prompt_label_history (
    rev         INTEGER PRIMARY KEY,  -- the label's rev after this move
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    label       TEXT NOT NULL,
    targets     TEXT NOT NULL,
    previous    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    approved_by TEXT,
    at          REAL NOT NULL,
    version     INTEGER NOT NULL
);
CREATE INDEX prompt_label_history_label ON prompt_label_history (tenant, name, label, rev);

CREATE TABLE prompt_approvals (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    name         TEXT NOT NULL,
    label        TEXT NOT NULL,
    targets      TEXT NOT NULL,
    base_rev     INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at REAL NOT NULL,
    note         TEXT NOT NULL,
    status       TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   REAL,
    version      INTEGER NOT NULL
);
CREATE INDEX prompt_approvals_tenant ON prompt_approvals (tenant, requested_at);

-- Which prompt version served each request: metrics per version are computed from these.
ALTER TABLE request_log ADD COLUMN prompt_name TEXT;
ALTER TABLE request_log ADD COLUMN prompt_version INTEGER;
CREATE INDEX request_log_prompt ON request_log (tenant, prompt_name, created_at) WHERE prompt_name IS NOT NULL;
