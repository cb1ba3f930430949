-- Workflows (SQLite): runs with their lease, step checkpoints, run events and human-review tasks.
-- JSON values are stored as text; booleans as 0/1.

CREATE TABLE workflow_runs (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    flow             TEXT NOT NULL,
    flow_hash        TEXT NOT NULL,
    definition       BLOB NOT NULL,
    status           TEXT NOT NULL,  -- queued | running | waiting | succeeded | failed | cancelled
    inputs           TEXT NOT NULL,
    outputs          TEXT,
    error            TEXT,
    actor            TEXT NOT NULL,
    principal        TEXT NOT NULL,
    metadata         TEXT NOT NULL,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    updated_at       REAL NOT NULL,
    paused_s         REAL NOT NULL,
    cost_usd         REAL NOT NULL,
    current          TEXT,
    cancel_requested INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      REAL,
    event_seq        INTEGER NOT NULL,
    version          INTEGER NOT NULL
);
CREATE INDEX workflow_runs_tenant ON workflow_runs (tenant, created_at, id);
CREATE INDEX workflow_runs_runnable ON workflow_runs (status, lease_until);
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at);

-- One visit of one step: its checkpoint, written before the next step starts.
CREATE TABLE workflow_steps (
    run_id      TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    step        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT NOT NULL,
    error       TEXT,
    attempts    INTEGER NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL,
    duration_ms REAL,
    cost_usd    REAL NOT NULL,
    request_ids TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE workflow_events (
    run_id  TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    at      REAL NOT NULL,
    type    TEXT NOT NULL,
    step    TEXT,
    data    TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE review_tasks (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant          TEXT NOT NULL,
    flow            TEXT NOT NULL,
    step            TEXT NOT NULL,
    step_key        TEXT NOT NULL,
    role            TEXT,
    instructions    TEXT,
    content         TEXT NOT NULL,
    schema          TEXT,
    status          TEXT NOT NULL,  -- pending | claimed | approved | modified | rejected | expired | cancelled
    created_at      REAL NOT NULL,
    deadline        REAL,
    escalate_at     REAL,
    escalation_role TEXT,
    escalated       INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_at      REAL,
    decided_by      TEXT,
    decided_at      REAL,
    reason          TEXT,
    result          TEXT NOT NULL,
    version         INTEGER NOT NULL
);
CREATE INDEX review_tasks_queue ON review_tasks (tenant, status, created_at);
CREATE INDEX review_tasks_run ON review_tasks (run_id);
