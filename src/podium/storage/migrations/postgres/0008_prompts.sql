-- The prompt registry (PostgreSQL): prompts, immutable versions, labels with their history, approvals.
-- Versions and label moves draw one sequence (prompt_rev_seq); writers lock the prompts table first
-- (see postgres_prompts.py) so revs commit in the order they are drawn and no replica skips one.
-- A version's spec is text, not jsonb: jsonb reorders keys, and `podium prompts pull` must give back
-- exactly what was pushed.

CREATE SEQUENCE prompt_rev_seq;

CREATE TABLE prompts (
    tenant     text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    latest     integer NOT NULL,
    created_at double precision NOT NULL,
    created_by text NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE prompt_versions (
    tenant       text COLLATE "C" NOT NULL,
    name         text COLLATE "C" NOT NULL,
    number       integer NOT NULL,
    spec         text NOT NULL,
    content_hash text NOT NULL,
    message      text NOT NULL,
    author       text NOT NULL,
    created_at   double precision NOT NULL,
    rev          bigint NOT NULL UNIQUE,
    version      integer NOT NULL,
    PRIMARY KEY (tenant, name, number)
);

CREATE TABLE prompt_labels (
    tenant      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    label       text COLLATE "C" NOT NULL,
    targets     text NOT NULL,
    updated_at  double precision NOT NULL,
    updated_by  text NOT NULL,
    approved_by text,
    rev         bigint NOT NULL UNIQUE,
    version     integer NOT NULL,
    PRIMARY KEY (tenant, name, label)
);

CREATE TABLE prompt_label_history (
    rev         bigint PRIMARY KEY,
    tenant      text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    label       text COLLATE "C" NOT NULL,
    targets     text NOT NULL,
    previous    text NOT NULL,
    actor       text NOT NULL,
    approved_by text,
    at          double precision NOT NULL,
    version     integer NOT NULL
);
CREATE INDEX prompt_label_history_label ON prompt_label_history (tenant, name, label, rev);

CREATE TABLE prompt_approvals (
    id           text COLLATE "C" PRIMARY KEY,
    tenant       text COLLATE "C" NOT NULL,
    name         text COLLATE "C" NOT NULL,
    label        text COLLATE "C" NOT NULL,
    targets      text NOT NULL,
    base_rev     bigint NOT NULL,
    requested_by text NOT NULL,
    requested_at double precision NOT NULL,
    note         text NOT NULL,
    status       text NOT NULL,
    decided_by   text,
    decided_at   double precision,
    version      integer NOT NULL
);
CREATE INDEX prompt_approvals_tenant ON prompt_approvals (tenant, requested_at);

ALTER TABLE request_log
    ADD COLUMN prompt_name text,
    ADD COLUMN prompt_version integer;
CREATE INDEX request_log_prompt ON request_log (tenant, prompt_name, created_at) WHERE prompt_name IS NOT NULL;
